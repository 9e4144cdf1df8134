"""Jinja filters for dates and devices, formatted for the citizen's locale, and the labels
of claims, legal bases and channels (claims and bases from their registries)."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import force_locale, format_date, format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from clients import claims
from consent import disclosure, legal_basis
from idp.i18n import LANGUAGES

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


# Dates the way each language writes them, the day before the month and the month in words:
# English never as 3/12/2026 or Dec 3 (which a reader elsewhere takes for 12 March or
# misreads), and every page the same way. In the display time zone (Flask-Babel's).
_DATE_PATTERNS = {"en": "d MMMM y", "da": "d. MMMM y"}
_DATETIME_PATTERNS = {"en": "d MMMM y, HH:mm", "da": "d. MMMM y 'kl.' HH.mm"}


def _pattern(patterns: dict[str, str]) -> str:
    locale = get_locale()
    return patterns.get(locale.language if locale is not None else "", patterns["en"])


def format_timestamp(seconds: float) -> str:
    """A time given in seconds since the epoch (the sessions' clocks), as a date and time."""
    return format_datetime_short(dt.datetime.fromtimestamp(seconds, dt.UTC))


def format_date_long(value: dt.date) -> str:
    """A date: "3 December 2026", "3. december 2026"."""
    return format_date(value, _pattern(_DATE_PATTERNS))


def format_datetime_short(value: dt.datetime) -> str:
    """A moment: "3 December 2026, 14:05", "3. december 2026 kl. 14.05"."""
    return format_datetime(value, _pattern(_DATETIME_PATTERNS))


def authenticator_kind_label(kind: str) -> str:
    labels = {
        "totp": _("Authenticator app (6-digit codes)"),
        "webauthn": _("Passkey"),
        "phone": _("Phone app (approve logins on the phone)"),
    }
    return labels.get(str(kind), str(kind))


# What an authenticator is called when the citizen gave it no name of their own. Stored as
# the words of the language the page had when it was set up ("Adgangsnøgle"), so it is
# shown in the reader's language instead: a stored name that is one of these words in any
# language Tillid speaks is the default, not a name the citizen chose.
_DEFAULT_AUTHENTICATOR_NAMES = {
    "totp": _l("Authenticator app"),
    "webauthn": _l("Passkey"),
    "phone": _l("Phone"),
}
_default_names_in_any_language: dict[str, str] | None = None


def _defaults_in_any_language() -> dict[str, str]:
    """Each default name in every language, to its kind (made once per process)."""
    global _default_names_in_any_language
    if _default_names_in_any_language is None:
        found = {}
        for language in LANGUAGES:
            with force_locale(language):
                for kind, name in _DEFAULT_AUTHENTICATOR_NAMES.items():
                    found[str(name).casefold()] = kind
        _default_names_in_any_language = found
    return _default_names_in_any_language


def authenticator_name(authenticator) -> str:
    """The authenticator's name as the citizen reads it: their own name for it, else the
    default for its kind in the page's language."""
    name = (authenticator.name or "").strip()
    kind = str(authenticator.kind)
    if not name or _defaults_in_any_language().get(name.casefold()) == kind:
        default = _DEFAULT_AUTHENTICATOR_NAMES.get(kind)
        return str(default) if default is not None else name
    return name


# Lazy: only the label asked for is translated (a log page asks for hundreds).
_CHANNEL_LABELS = {
    "login": _l("When you logged in"),
    "userinfo": _l("Asked for afterwards (userinfo)"),
    "attribute_api": _l("Looked up by the authority"),
    "reported_lookup": _l("A lookup the authority reported"),
    "wallet_issuance": _l("Issued to your wallet"),
    "wallet_revocation": _l("Revoked in your wallet"),
    "mandate": _l("A mandate"),
}


# A mandate's origin as the access log names it (docs/representation.md).
_MANDATE_ORIGINS = {
    "granted": _l("a power of attorney"),
    "custody": _l("parental custody"),
    "guardianship": _l("a guardianship"),
}


# What happened to a mandate, as each of the two people reads it in their access log.
_MANDATE_EVENTS = {
    ("principal", "granted"): _l("You gave %(name)s a mandate to act for you."),
    ("agent", "granted"): _l("%(name)s gave you a mandate to act for them."),
    ("principal", "accepted"): _l("%(name)s accepted your mandate: it is in force."),
    ("agent", "accepted"): _l("You accepted the mandate to act for %(name)s."),
    ("principal", "appointed"): _l("%(name)s may act for you: %(origin)s."),
    ("agent", "appointed"): _l("You may act for %(name)s: %(origin)s."),
    ("principal", "ended"): _l("The mandate for %(name)s to act for you ended."),
    ("agent", "ended"): _l("Your mandate to act for %(name)s ended."),
    ("principal", "expired"): _l("The mandate for %(name)s to act for you reached its end date."),
    ("agent", "expired"): _l("Your mandate to act for %(name)s reached its end date."),
}


def mandate_event_text(representation: dict) -> str:
    role, event = representation.get("role"), representation.get("event")
    other = representation.get("agent" if role == "principal" else "principal") or ""
    text = _MANDATE_EVENTS.get((role, event))
    if text is None:
        return str(event)
    origin = mandate_origin_label(representation.get("origin", ""))
    return str(text) % {"name": other, "origin": origin}


def mandate_origin_label(origin: str) -> str:
    label = _MANDATE_ORIGINS.get(str(origin))
    return str(label) if label is not None else str(origin)


def channel_label(channel: str) -> str:
    label = _CHANNEL_LABELS.get(str(channel))
    return str(label) if label is not None else str(channel)


def claim_label(claim: str) -> str:
    label = claims.label(claim)
    return str(label) if label is not None else claim


def claim_labels(names) -> list[str]:
    """Several claims as the citizen reads them: in registry order, the parts of the name
    as one line ("Your name")."""
    return [str(label) for label in claims.labels(names or ())]


def consent_purposes(rules) -> list[disclosure.Purpose]:
    """Of ``rules``, those on consent, by purpose (consent/disclosure.py)."""
    return disclosure.by_purpose(r for r in rules if legal_basis.withdrawable(r.legal_basis))


def init_app(app: Flask) -> None:
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.filters.update(
        device_name=device_name,
        format_timestamp=format_timestamp,
        format_date_long=format_date_long,
        format_datetime_short=format_datetime_short,
        authenticator_name=authenticator_name,
    )
    app.jinja_env.globals.update(
        claim_label=claim_label,
        claim_labels=claim_labels,
        consent_purposes=consent_purposes,
        notice_bases=disclosure.by_basis,
        legal_basis_label=legal_basis.label,
        authenticator_kind_label=authenticator_kind_label,
        channel_label=channel_label,
        mandate_origin_label=mandate_origin_label,
        mandate_event_text=mandate_event_text,
    )
