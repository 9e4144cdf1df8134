"""Jinja filters for dates and devices, formatted for the citizen's locale."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

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


# Lazy: only the label asked for is translated (a log page asks for hundreds).
_CHANNEL_LABELS = {
    "login": _l("When you logged in"),
    "userinfo": _l("Asked for afterwards (userinfo)"),
    "attribute_api": _l("Looked up by the authority"),
    "reported_lookup": _l("A lookup the authority reported"),
}


def channel_label(channel: str) -> str:
    label = _CHANNEL_LABELS.get(str(channel))
    return str(label) if label is not None else str(channel)


_CLAIM_LABELS = {
    "given_name": _l("Your first name"),
    "family_name": _l("Your last name"),
    "name": _l("Your full name"),
    "birthdate": _l("Your date of birth"),
    "age_over_18": _l("Whether you are over 18 (not your age or birthdate)"),
    "address": _l("Your address"),
    "email": _l("Your e-mail address"),
    "phone_number": _l("Your phone number"),
    CPR_CLAIM: _l("Your CPR number"),
    ACCOUNT_ACCESS: _l(
        "To read your Tillid account: who received your information, what you have"
        " agreed to, and how you log in"
    ),
}


def claim_label(claim: str) -> str:
    label = _CLAIM_LABELS.get(claim)
    return str(label) if label is not None else claim


_LEGAL_BASIS_LABELS = {
    "consent": _l("your consent"),
    "contract": _l("a contract with you"),
    "legal_obligation": _l("a legal obligation"),
    "vital_interest": _l("to protect your vital interests"),
    "public_task": _l("a task in the public interest"),
    "legitimate_interest": _l("a legitimate interest"),
}


def legal_basis_label(basis: str) -> str:
    label = _LEGAL_BASIS_LABELS.get(str(basis))
    return str(label) if label is not None else str(basis)


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
