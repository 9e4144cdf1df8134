"""What Tillid holds about a citizen, field by field, and where each comes from.

One source of truth (the citizen row), read by the /me page, its JSON twin and the export.
A field that holds a claim's value as it is carries the claim's label and source from the
claim registry (clients/claims.py), so my data, the consent page and the access log name
it in the same words; every field a claim is read from is here, so the citizen sees all
that can be released about them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from clients.claims import CLAIMS, CPR_CLAIM, SOURCES, Source
from idp.citizens import cpr
from idp.citizens.models import Citizen


@dataclass(frozen=True)
class Attribute:
    name: str
    label: str
    value: str | None
    source: str  # a key of sources()


@dataclass(frozen=True)
class _Field:
    name: str  # the citizen's attribute
    label: LazyString
    source: Source


def _claim(field: str, claim: str) -> _Field:
    """The field that holds ``claim``'s value as it is."""
    return _Field(field, CLAIMS[claim].label, CLAIMS[claim].source)


# The citizen's fields, in the order the page shows them.
FIELDS = (
    _claim("cpr", CPR_CLAIM),
    _claim("given_name", "given_name"),
    _claim("family_name", "family_name"),
    _claim("birthdate", "birthdate"),
    _Field("street", _l("Street address"), Source.CPR_REGISTER),
    _Field("postcode", _l("Postcode"), Source.CPR_REGISTER),
    _Field("city", _l("Town"), Source.CPR_REGISTER),
    _Field("municipality_code", _l("Municipality code"), Source.CPR_REGISTER),
    # What the PID (the EU wallet's identity credential) carries beside the above.
    _Field("birth_country", _l("Country of birth"), Source.CPR_REGISTER),
    _Field("birth_region", _l("Region of birth"), Source.CPR_REGISTER),
    _Field("birth_locality", _l("Place of birth"), Source.CPR_REGISTER),
    _Field("nationalities", _l("Nationalities"), Source.CPR_REGISTER),
    _claim("email", "email"),
    _claim("phone", "phone_number"),
    _Field("username", _l("User ID"), Source.TILLID),
    _Field("activated_at", _l("Account activated"), Source.TILLID),
    _Field("identity_proofed_at", _l("Identity confirmed by the activation letter"), Source.TILLID),
)


def sources() -> dict[str, dict[str, str]]:
    """Where the attributes come from, and where a wrong one is put right."""
    return {
        str(source): {"name": str(name), "correction": str(correction)}
        for source, (name, correction) in SOURCES.items()
    }


def _value(citizen: Citizen, field: str, full_cpr: bool) -> str | None:
    if field == "cpr":
        return citizen.cpr if full_cpr else cpr.masked(citizen.cpr)
    value = getattr(citizen, field)
    if isinstance(value, list):  # nationalities: ISO 3166-1 codes, in the register's order
        return ", ".join(value) or None
    return value.isoformat() if isinstance(value, dt.date) else value


def attributes(citizen: Citizen, *, full_cpr: bool = False) -> list[Attribute]:
    """The citizen's data as held; the CPR number masked unless ``full_cpr`` (the export)."""
    return [
        Attribute(field.name, str(field.label), _value(citizen, field.name, full_cpr),
                  str(field.source))
        for field in FIELDS
    ]  # fmt: skip


def as_json(citizen: Citizen, *, full_cpr: bool = False) -> dict:
    return {
        "attributes": [
            {"name": a.name, "label": a.label, "value": a.value, "source": a.source}
            for a in attributes(citizen, full_cpr=full_cpr)
        ],
        "sources": sources(),
        "updated_at": citizen.updated_at.isoformat(),
    }
