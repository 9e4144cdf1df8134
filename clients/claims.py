"""The claim registry: every claim Tillid releases, the scopes, and the legal bases.

For each claim: the scope that brings it, how its value is read from the citizen, its label
in Danish and English, its source register, and whether only public authorities may receive
it. Releases (consent/release.py), the consent and notice pages and the access log
(idp/templating.py), my data and its export (idp/account/my_data.py), discovery, the OpenAPI
document and the client registry's validation all read this table. Adding a claim is one
entry in CLAIMS plus its tests (tests/clients/test_claim_registry.py walks the table).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from idp.core.dbtypes import utcnow

if TYPE_CHECKING:
    from idp.citizens.models import Citizen

# The scopes of Tillid's own APIs, named here and nowhere else (each constant is its scope
# in capitals). A service's own token (client_credentials) carries the first three, for the
# authorities' attribute, report and guardianship APIs; `me` is a citizen's scope, by
# consent, for /api/me.
ATTRIBUTES_READ = "attributes:read"
LEDGER_REPORT = "ledger:report"
MANDATES_WRITE = "mandates:write"
ME = "me"
API_SCOPES = (ATTRIBUTES_READ, LEDGER_REPORT, MANDATES_WRITE)

# The scopes a wallet asks for credentials by: each is the identifier of an OpenID4VCI
# credential configuration (idp/wallet/configurations.py), the PID as an SD-JWT VC and as
# an ISO/IEC 18013-5 mdoc. A wallet's token carries them; no claim comes with them (the
# credential is the citizen's own, issued to their wallet, and its issuance is ledgered).
PID_SD_JWT_SCOPE = "eu.europa.ec.eudi.pid.1"
PID_MDOC_SCOPE = "eu.europa.ec.eudi.pid.1.mso_mdoc"
CREDENTIAL_SCOPES = (PID_SD_JWT_SCOPE, PID_MDOC_SCOPE)

CPR_CLAIM = "https://data.gov.dk/model/core/eid/cprNumber"
# Not a claim in any token: the right to read the citizen's own Tillid account (access log,
# consents, sign-in methods) through /api/me. Brought by the `me` scope; always by consent.
ACCOUNT_ACCESS = "tillid_account_read"
ACCOUNT_ACCESS_LABEL = _l(
    "To read your Tillid account: who received your information, what you have"
    " agreed to, and how you log in"
)


class Source(enum.StrEnum):
    """Where what Tillid holds about a citizen comes from."""

    CPR_REGISTER = "cpr_register"
    CONTACT_DETAILS = "contact_details"
    TILLID = "tillid"


# Each source's name, and where a wrong value is put right. Lazy: in the reader's language.
SOURCES: dict[Source, tuple[LazyString, LazyString]] = {
    Source.CPR_REGISTER: (
        _l("The Civil Registration System (CPR)"),
        _l("Your municipality corrects these in the CPR register."),
    ),
    Source.CONTACT_DETAILS: (
        _l("Contact details delivered with the register extract"),
        _l("Ask the operator of Tillid to correct them."),
    ),
    Source.TILLID: (
        _l("Tillid itself, from your activation"),
        _l("You chose these when you activated your account."),
    ),
}


@dataclass(frozen=True)
class Claim:
    """One attribute of a citizen that a service may receive."""

    name: str  # as it appears in tokens, userinfo and the APIs
    # The OpenID Connect scope that brings it; None for an attribute only a wallet credential
    # carries (the PID, idp/wallet/pid.py): no service receives it from Tillid directly,
    # but the citizen's access log names it when it was issued to their wallet.
    scope: str | None
    # What the citizen reads on the consent and notice pages, in the access log and on my
    # data (lazy: translated in the request's language when shown).
    label: LazyString
    noun: str  # how messages to operators and services name it ("the CPR number")
    source: Source
    # The value in OpenID Connect's shape, or None when the citizen has none (then the
    # claim is not released).
    read: Callable[[Citizen], object]
    # The citizen's fields the value is read from: my data shows each of them.
    fields: tuple[str, ...]
    # Only public authorities may receive it, and only on a basis in law (never consent
    # or a legitimate interest), whatever a registration says.
    public_authorities_only: bool = False
    # Claims that say one thing to the citizen share a line where the citizen reads what a
    # service receives (consent and notice pages, the consents page, the access log and its
    # summary): the key of that line in SHARED_LABELS, itself the name of the claim that
    # stands for the line. The first, last and full name are all "your name" ("name").
    shown_as: str | None = None


# The lines several claims share (Claim.shown_as), as the citizen reads them.
SHARED_LABELS: dict[str, LazyString] = {"name": _l("Your name")}


def _age(born: dt.date, today: dt.date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _address(citizen: Citizen) -> dict | None:
    if not citizen.street:
        return None
    town = f"{citizen.postcode or ''} {citizen.city or ''}".strip()
    return {
        "street_address": citizen.street,
        "postal_code": citizen.postcode,
        "locality": citizen.city,
        "country": "DK",
        "formatted": f"{citizen.street}\n{town}",
    }


# OpenID Connect's standard claims, the derived age_over_18 (data minimisation: the age
# without the birthdate), and the CPR number under NemLog-in's name. In scope order: the
# order of scopes_supported in discovery.
CLAIMS: dict[str, Claim] = {
    claim.name: claim
    for claim in (
        Claim(
            "given_name",
            scope="profile",
            label=_l("Your first name"),
            noun="the first name",
            source=Source.CPR_REGISTER,
            read=lambda citizen: citizen.given_name,
            fields=("given_name",),
            shown_as="name",
        ),
        Claim(
            "family_name",
            scope="profile",
            label=_l("Your last name"),
            noun="the last name",
            source=Source.CPR_REGISTER,
            read=lambda citizen: citizen.family_name,
            fields=("family_name",),
            shown_as="name",
        ),
        Claim(
            "name",
            scope="profile",
            label=_l("Your full name"),
            noun="the full name",
            source=Source.CPR_REGISTER,
            read=lambda citizen: citizen.full_name,
            fields=("given_name", "family_name"),
            shown_as="name",
        ),
        Claim(
            "birthdate",
            scope="birthdate",
            label=_l("Your date of birth"),
            noun="the date of birth",
            source=Source.CPR_REGISTER,
            read=lambda citizen: citizen.birthdate.isoformat(),
            fields=("birthdate",),
        ),
        Claim(
            "age_over_18",
            scope="age",
            label=_l("Whether you are over 18 (not your age or birthdate)"),
            noun="whether the citizen is over 18",
            source=Source.CPR_REGISTER,
            read=lambda citizen: _age(citizen.birthdate, utcnow().date()) >= 18,
            fields=("birthdate",),
        ),
        Claim(
            "address",
            scope="address",
            label=_l("Your address"),
            noun="the address",
            source=Source.CPR_REGISTER,
            read=_address,
            fields=("street", "postcode", "city"),
        ),
        Claim(
            "email",
            scope="email",
            label=_l("Your e-mail address"),
            noun="the e-mail address",
            source=Source.CONTACT_DETAILS,
            read=lambda citizen: citizen.email or None,
            fields=("email",),
        ),
        Claim(
            "phone_number",
            scope="phone",
            label=_l("Your phone number"),
            noun="the phone number",
            source=Source.CONTACT_DETAILS,
            read=lambda citizen: citizen.phone or None,
            fields=("phone",),
        ),
        Claim(
            CPR_CLAIM,
            scope="cpr",
            label=_l("Your CPR number"),
            noun="the CPR number",
            source=Source.CPR_REGISTER,
            read=lambda citizen: citizen.cpr,  # decrypted here, only when released
            fields=("cpr",),
            public_authorities_only=True,
        ),
        # The PID rulebook's mandatory attributes that OpenID Connect has no scope for.
        Claim(
            "place_of_birth",
            scope=None,
            label=_l("Your place of birth"),
            noun="the place of birth",
            source=Source.CPR_REGISTER,
            read=lambda citizen: citizen.place_of_birth or None,
            fields=("birth_country", "birth_region", "birth_locality"),
        ),
        Claim(
            "nationalities",
            scope=None,
            label=_l("Your nationalities"),
            noun="the nationalities",
            source=Source.CPR_REGISTER,
            read=lambda citizen: list(citizen.nationalities or ()) or None,
            fields=("nationalities",),
        ),
    )
}
# Attributes of the citizen that services can receive (tokens, userinfo, the APIs).
CITIZEN_CLAIMS = frozenset(name for name, claim in CLAIMS.items() if claim.scope is not None)
# Every attribute a release can name in the access log: those, and the wallet's own.
LOGGED_CLAIMS = frozenset(CLAIMS)


def _scopes() -> dict[str, tuple[str, ...]]:
    by_scope: dict[str, tuple[str, ...]] = {"openid": ()}
    for claim in CLAIMS.values():
        if claim.scope is None:
            continue
        by_scope[claim.scope] = (*by_scope.get(claim.scope, ()), claim.name)
    return {**by_scope, "offline_access": (), ME: (ACCOUNT_ACCESS,)}


# The scopes a citizen's token may carry, each with the claims it brings.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = _scopes()


class LegalBasis(enum.StrEnum):
    """GDPR Art. 6(1) (a)–(f)."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTEREST = "vital_interest"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTEREST = "legitimate_interest"


def claims_for(scopes: list[str]) -> list[str]:
    return [claim for scope in scopes for claim in SCOPE_CLAIMS.get(scope, ())]


def for_public_authorities_only(name: str) -> bool:
    """Whether only a public authority may receive the claim ``name``."""
    claim = CLAIMS.get(name)
    return claim is not None and claim.public_authorities_only


def label(name: str) -> LazyString | None:
    """What the citizen reads for the claim ``name`` (or the account access the `me` scope
    asks for); None for a name Tillid does not release."""
    if name == ACCOUNT_ACCESS:
        return ACCOUNT_ACCESS_LABEL
    claim = CLAIMS.get(name)
    return claim.label if claim is not None else None


def line_of(name: str) -> str:
    """The claim whose line stands for ``name`` where claims share one (Claim.shown_as names
    it: "name" for every part of the name); else ``name`` itself."""
    claim = CLAIMS.get(name)
    return claim.shown_as if claim is not None and claim.shown_as is not None else name


# The claims that share a line, by the claim that stands for it ("name": the three names).
SHARED_LINES: dict[str, tuple[str, ...]] = {
    line: tuple(name for name, claim in CLAIMS.items() if claim.shown_as == line)
    for line in SHARED_LABELS
}


# Where each claim comes in the registry: what the citizen reads lists claims in this order
# everywhere (the consent page and the consents page alike), whatever order a request named
# them in. The account access comes last; a name Tillid does not know, after it.
_ORDER = {name: index for index, name in enumerate((*CLAIMS, ACCOUNT_ACCESS))}


def registry_order(name: str) -> int:
    return _ORDER.get(name, len(_ORDER))


def labels(names: Iterable[str]) -> list[LazyString | str]:
    """What the citizen reads for the claims ``names``: one line each in registry order,
    claims that share a line (the parts of the name) once, as that line; a name Tillid does
    not release as it is."""
    lines: dict[str, LazyString | str] = {}
    for name in sorted(dict.fromkeys(names), key=registry_order):
        claim = CLAIMS.get(name)
        if claim is not None and claim.shown_as is not None:
            lines.setdefault(f"shared:{claim.shown_as}", SHARED_LABELS[claim.shown_as])
        else:
            lines.setdefault(name, label(name) or name)
    return list(lines.values())
