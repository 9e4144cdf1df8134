"""The vocabulary services ask in: scopes, the claims each brings, and the legal bases."""

from __future__ import annotations

import enum

CPR_CLAIM = "https://data.gov.dk/model/core/eid/cprNumber"

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
}
CITIZEN_CLAIMS = frozenset(claim for claims in SCOPE_CLAIMS.values() for claim in claims)


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
