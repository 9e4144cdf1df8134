"""Jinja filters for dates and devices, formatted for the citizen's locale, and the labels
of claims, legal bases and channels (claims and bases from their registries)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from clients import claims
from consent import legal_basis

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


def claim_label(claim: str) -> str:
    label = claims.label(claim)
    return str(label) if label is not None else claim


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
        legal_basis_label=legal_basis.label,
        authenticator_kind_label=authenticator_kind_label,
        channel_label=channel_label,
    )
