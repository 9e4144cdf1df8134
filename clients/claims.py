"""The vocabulary services ask in: scopes, the claims each brings, and the legal bases."""

from __future__ import annotations

import enum

CPR_CLAIM = "https://data.gov.dk/model/core/eid/cprNumber"
# Not a claim in any token: the right to read the citizen's own Tillid account (access log,
# consents, sign-in methods) through /api/me. Brought by the `me` scope; always by consent.
ACCOUNT_ACCESS = "tillid_account_read"

# OpenID Connect standard claims, plus the Danish CPR number under NemLog-in's name and the
# derived age_over_18 (data minimisation: the age without the birthdate).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": (),
    "profile": ("given_name", "family_name", "name"),
    "birthdate": ("birthdate",),
    "age": ("age_over_18",),
    "address": ("address",),
    "email": ("email",),
    "phone": ("phone_number",),
    "cpr": (CPR_CLAIM,),
    "offline_access": (),
    "me": (ACCOUNT_ACCESS,),
}
# Attributes of the citizen that can be released (and appear in the access log).
CITIZEN_CLAIMS = frozenset(
    claim for claims in SCOPE_CLAIMS.values() for claim in claims if claim != ACCOUNT_ACCESS
)
# Scopes of service-to-service tokens (client_credentials), each for one authority API.
API_SCOPES = ("attributes:read", "ledger:report")


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
