"""The two demo services Tillid registers for itself: a tax authority and a bank."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from clients import service
from clients.claims import ATTRIBUTES_READ, CPR_CLAIM, LEDGER_REPORT
from clients.models import Client
from idp.core.extensions import db


@dataclass(frozen=True)
class DemoService:
    name: str
    kind: str
    port: int
    scope: str
    legal_basis: str
    purpose: str
    # What the service is, in the reader's language; the list of what it receives is read
    # from its scope on the page itself, so the two never disagree.
    description: str | LazyString
    # Its sector for pairwise subjects. In production each organisation has a host of its
    # own and the sector follows from its redirect URIs; here all of them share localhost,
    # so each is registered with the sector its own host would give it (`clients create
    # --sector`): the bank and the tax authority receive different `sub` values.
    sector: str
    # The authority APIs it calls with its own client_credentials token (none for a bank).
    api_scopes: str = ""
    ciba: bool = False  # asks citizens to approve on their phone (CIBA, poll mode)
    # It accepts representation (a parent logs in for their child, docs/representation.md)
    # and receives these of the principal's claims then (each one of its scope's, on its
    # legal basis); none: it does not.
    representation_claims: tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def backchannel_logout_uri(self) -> str:
        """Where it receives logout tokens (demo/service.py) when the citizen's session at
        Tillid ends."""
        return f"{self.url}/backchannel-logout"


TAX = DemoService(
    name="Skattestyrelsen (demo)",
    kind="public_authority",
    port=5001,
    scope="openid profile cpr address",
    legal_basis="public_task",
    purpose="To assess your income tax",
    description=_l(
        "A public authority. It does not ask for your consent: the law gives it the right to"
        " your information for its public task, and Tillid tells you before it is sent."
    ),
    sector="skattestyrelsen.example",
    api_scopes=f"{ATTRIBUTES_READ} {LEDGER_REPORT}",
    ciba=True,
    representation_claims=("given_name", "family_name", "name", CPR_CLAIM, "address"),
)
BANK = DemoService(
    name="Nordbank (demo)",
    kind="private_service",
    port=5002,
    scope="openid profile age",
    legal_basis="consent",
    purpose="To know who you are, and that you are an adult, before you open an account",
    description=_l(
        "A private service. It receives your information only if you agree, and learns"
        " that you are over 18 without your date of birth or CPR number."
    ),
    sector="nordbank.example",
)
DEMO_SERVICES = (TAX, BANK)


def ensure(demo: DemoService) -> Client:
    """Register the demo service unless it is registered already; a registration from before
    the demo services had sectors of their own gets its sector, one from before they accepted
    representation its representation, one from before they received logout tokens its
    back-channel logout address."""
    existing = service.find_by_name(demo.name)
    if existing is not None:
        if existing.sector_identifier != demo.sector:
            existing.sector_identifier = demo.sector
            db.session.commit()
        if existing.backchannel_logout_uri != demo.backchannel_logout_uri:
            existing.backchannel_logout_uri = demo.backchannel_logout_uri
            existing.backchannel_logout_session_required = True
            db.session.commit()
        return _with_representation(existing, demo)
    client, _ = service.register(
        {
            "name": demo.name,
            "kind": demo.kind,
            "redirect_uris": [f"{demo.url}/callback"],
            "post_logout_redirect_uris": [f"{demo.url}/"],
            "scope": f"{demo.scope} {demo.api_scopes}".strip(),
            "grant_types": ["authorization_code"]
            + (["client_credentials"] if demo.api_scopes else [])
            + ([service.CIBA_GRANT] if demo.ciba else []),
            "legal_basis": demo.legal_basis,
            "purpose": demo.purpose,
            "sector_identifier": demo.sector,
            "backchannel_logout_uri": demo.backchannel_logout_uri,
            "backchannel_logout_session_required": True,
        }
    )
    return _with_representation(client, demo)


def _with_representation(client: Client, demo: DemoService) -> Client:
    """Whether it accepts representation and with which claims, set on the registration."""
    accepts, claims = bool(demo.representation_claims), list(demo.representation_claims)
    if (client.accepts_representation, client.representation_claims) != (accepts, claims):
        client.accepts_representation, client.representation_claims = accepts, claims
        db.session.commit()
    return client
