"""What Tillid holds about a citizen, attribute by attribute, and where each comes from.

One source of truth (the citizen row), read by the /me page, its JSON twin and the export.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _

from idp.citizens import cpr
from idp.citizens.models import Citizen


@dataclass(frozen=True)
class Attribute:
    name: str
    label: str
    value: str | None
    source: str  # a key of sources()


def sources() -> dict[str, dict[str, str]]:
    """Where the attributes come from, and where a wrong one is put right."""
    return {
        "cpr_register": {
            "name": _("The Civil Registration System (CPR)"),
            "correction": _("Your municipality corrects these in the CPR register."),
        },
        "contact_details": {
            "name": _("Contact details delivered with the register extract"),
            "correction": _("Ask the operator of Tillid to correct them."),
        },
        "tillid": {
            "name": _("Tillid itself, from your activation"),
            "correction": _("You chose these when you activated your account."),
        },
    }


def attributes(citizen: Citizen, *, full_cpr: bool = False) -> list[Attribute]:
    """The citizen's data as held; the CPR number masked unless ``full_cpr`` (the export)."""

    def iso(moment) -> str | None:
        return moment.isoformat() if moment else None

    return [
        Attribute(
            "cpr",
            _("CPR number"),
            citizen.cpr if full_cpr else cpr.masked(citizen.cpr),
            "cpr_register",
        ),
        Attribute("given_name", _("First name"), citizen.given_name, "cpr_register"),
        Attribute("family_name", _("Last name"), citizen.family_name, "cpr_register"),
        Attribute("birthdate", _("Date of birth"), citizen.birthdate.isoformat(), "cpr_register"),
        Attribute("street", _("Street address"), citizen.street, "cpr_register"),
        Attribute("postcode", _("Postcode"), citizen.postcode, "cpr_register"),
        Attribute("city", _("Town"), citizen.city, "cpr_register"),
        Attribute(
            "municipality_code", _("Municipality code"), citizen.municipality_code, "cpr_register"
        ),
        Attribute("email", _("E-mail address"), citizen.email, "contact_details"),
        Attribute("phone", _("Phone number"), citizen.phone, "contact_details"),
        Attribute("username", _("User ID"), citizen.username, "tillid"),
        Attribute("activated_at", _("Account activated"), iso(citizen.activated_at), "tillid"),
        Attribute(
            "identity_proofed_at",
            _("Identity confirmed by the activation letter"),
            iso(citizen.identity_proofed_at),
            "tillid",
        ),
    ]


def as_json(citizen: Citizen, *, full_cpr: bool = False) -> dict:
    return {
        "attributes": [
            {"name": a.name, "label": a.label, "value": a.value, "source": a.source}
            for a in attributes(citizen, full_cpr=full_cpr)
        ],
        "sources": sources(),
        "updated_at": citizen.updated_at.isoformat(),
    }
