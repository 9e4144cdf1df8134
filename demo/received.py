"""What a demo service received, in words: each claim under the label the citizen reads for it
at Tillid (the claim registry), its value as a person reads it, in the page's language.

A real service would write its own labels; the demo takes Tillid's, so its page names each
attribute exactly as the consent page and the access log did.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import format_date, format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from clients import claims
from idp.authenticators import assurance

# The ID token's own claims (OpenID Connect Core 2), in the order the page shows them.
_LOGIN_CLAIMS = {
    "sub": _l(
        "Your pseudonym at this service (the same at every login, another at other services)"
    ),
    "acr": _l("Assurance level of the login (NSIS)"),
    "amr": _l("How you logged in"),
    "auth_time": _l("Logged in at"),
    "iss": _l("Issued by"),
    "aud": _l("Issued to (client ID)"),
    "iat": _l("Issued at"),
    "exp": _l("Valid until"),
    "nonce": _l("Nonce (ties the token to this login request)"),
    "sid": _l("Login session at Tillid"),
    "at_hash": _l("Fingerprint of the access token"),
}
_TIMES = frozenset({"auth_time", "iat", "exp"})
# NSIS's names for its levels, as the Danish rules call them.
_LEVELS = {
    assurance.LOW: _l("NSIS Low"),
    assurance.SUBSTANTIAL: _l("NSIS Substantial"),
    assurance.HIGH: _l("NSIS High"),
}
# RFC 8176's authentication method references, the ones Tillid sends.
_METHODS = {
    "pwd": _l("password"),
    "otp": _l("one-time code from an app"),
    "mfa": _l("two factors"),
    "hwk": _l("key bound to a device"),
    "swk": _l("key in software (passkey)"),
    "user": _l("fingerprint, face or PIN on the device"),
}


@dataclass(frozen=True)
class Received:
    label: str
    name: str  # the claim's name, shown beside its label for those who integrate
    value: str


def describe(received: dict) -> list[Received]:
    """The claims of an ID token, a userinfo answer or an API answer, each in words: the
    citizen's attributes first (in the registry's order), then the login's, then the rest."""
    order = [*claims.CLAIMS, *_LOGIN_CLAIMS]
    names = sorted(
        received, key=lambda name: (order.index(name) if name in order else len(order), name)
    )
    return [Received(_label(name), name, _value(name, received[name])) for name in names]


def describe_answer(body) -> list[Received]:
    """An API's answer in words: the attribute API's attributes of the citizen, or the
    fields of any other answer (a report's entry, userinfo after CIBA, a problem)."""
    if not isinstance(body, dict):
        return []
    if isinstance(body.get("attributes"), dict):
        return describe(body["attributes"])
    return describe(body)


def _label(name: str) -> str:
    label = claims.label(name) or _LOGIN_CLAIMS.get(name)
    return str(label) if label is not None else name


def _value(name: str, value) -> str:
    if name in _TIMES and isinstance(value, int | float) and not isinstance(value, bool):
        return format_datetime(dt.datetime.fromtimestamp(value, dt.UTC), "long")
    if name == "acr":
        return str(_LEVELS.get(value, value))
    if name == "amr" and isinstance(value, list):
        return ", ".join(str(_METHODS.get(method, method)) for method in value)
    if name == "attributes" and isinstance(value, list):  # a report names the claims it covers
        return ", ".join(_label(claim) for claim in value)
    if name == "birthdate" and isinstance(value, str):
        try:
            return format_date(dt.date.fromisoformat(value), "long")
        except ValueError:
            return value
    return in_words(value)


def in_words(value) -> str:
    """Any JSON value as a person reads it: yes or no, lists joined, an address on lines."""
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if value is None:
        return _("Not given")
    if isinstance(value, list):
        return ", ".join(in_words(item) for item in value)
    if isinstance(value, dict):
        if isinstance(value.get("formatted"), str):  # an address (OIDC Core 5.1.1)
            return value["formatted"]
        return "; ".join(f"{key}: {in_words(item)}" for key, item in value.items())
    return str(value)
