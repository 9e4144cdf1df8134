"""The two demo services Tillid registers for itself: a tax authority and a bank."""

from __future__ import annotations

from dataclasses import dataclass

from clients import service
from clients.claims import ATTRIBUTES_READ, LEDGER_REPORT
from clients.models import Client


@dataclass(frozen=True)
class DemoService:
    name: str
    kind: str
    port: int
    scope: str
    legal_basis: str
    purpose: str
    description: str
    # The authority APIs it calls with its own client_credentials token (none for a bank).
    api_scopes: str = ""
    ciba: bool = False  # asks citizens to approve on their phone (CIBA, poll mode)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"


TAX = DemoService(
    name="Skattestyrelsen (demo)",
    kind="public_authority",
    port=5001,
    scope="openid profile cpr address",
    legal_basis="public_task",
    purpose="To assess your income tax",
    description="A public authority: it receives your name, CPR number and address by law.",
    api_scopes=f"{ATTRIBUTES_READ} {LEDGER_REPORT}",
    ciba=True,
)
BANK = DemoService(
    name="Nordbank (demo)",
    kind="private_service",
    port=5002,
    scope="openid profile age",
    legal_basis="consent",
    purpose="To know who you are, and that you are an adult, before you open an account",
    description="A private service: it asks your consent and learns only that you are over 18.",
)
DEMO_SERVICES = (TAX, BANK)


def ensure(demo: DemoService) -> Client:
    """Register the demo service unless it is registered already."""
    existing = service.find_by_name(demo.name)
    if existing is not None:
        return existing
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
        }
    )
    return client
