"""Jinja filters for dates and devices, formatted for the citizen's locale."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _

from clients.claims import ACCOUNT_ACCESS, CPR_CLAIM

_BROWSERS = (
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device_name(user_agent: str) -> str:
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return _("%(browser)s on %(system)s", browser=browser, system=system)
    return browser or system or _("Unknown device")


def format_timestamp(seconds: float) -> str:
    return format_datetime(dt.datetime.fromtimestamp(seconds, dt.UTC), "medium")


def format_date_long(value: dt.date) -> str:
    return format_date(value, "long")


def format_datetime_short(value: dt.datetime) -> str:
    return format_datetime(value, "medium")


def authenticator_kind_label(kind: str) -> str:
    labels = {
        "totp": _("Authenticator app (6-digit codes)"),
        "webauthn": _("Passkey"),
        "phone": _("Phone app (approve logins on the phone)"),
    }
    return labels.get(str(kind), str(kind))


def channel_label(channel: str) -> str:
    labels = {
        "login": _("When you logged in"),
        "userinfo": _("Asked for afterwards (userinfo)"),
        "attribute_api": _("Looked up by the authority"),
        "reported_lookup": _("A lookup the authority reported"),
    }
    return labels.get(str(channel), str(channel))


def claim_label(claim: str) -> str:
    labels = {
        "given_name": _("Your first name"),
        "family_name": _("Your last name"),
        "name": _("Your full name"),
        "birthdate": _("Your date of birth"),
        "age_over_18": _("Whether you are over 18 (not your age or birthdate)"),
        "address": _("Your address"),
        "email": _("Your e-mail address"),
        "phone_number": _("Your phone number"),
        CPR_CLAIM: _("Your CPR number"),
        ACCOUNT_ACCESS: _(
            "To read your Tillid account: who received your information, what you have"
            " agreed to, and how you log in"
        ),
    }
    return labels.get(claim, claim)


def legal_basis_label(basis: str) -> str:
    labels = {
        "consent": _("your consent"),
        "contract": _("a contract with you"),
        "legal_obligation": _("a legal obligation"),
        "vital_interest": _("to protect your vital interests"),
        "public_task": _("a task in the public interest"),
        "legitimate_interest": _("a legitimate interest"),
    }
    return labels.get(str(basis), str(basis))


def init_app(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters.update(
        device_name=device_name,
        format_timestamp=format_timestamp,
        format_date_long=format_date_long,
        format_datetime_short=format_datetime_short,
    )
    app.jinja_env.globals.update(
        claim_label=claim_label,
        legal_basis_label=legal_basis_label,
        authenticator_kind_label=authenticator_kind_label,
        channel_label=channel_label,
    )
