"""Pairing a phone with a citizen, and the phone app's own key.

The citizen, logged in with two factors on a computer, starts a pairing: a one-time link
(10 minutes) shown as a QR code, with the secret in the fragment, so it never reaches a
server log. On the phone, /app/pair makes a WebAuthn credential with user verification
(fingerprint, face or PIN) bound to the citizen, and the phone gets a long-lived app key
(a cookie). The key only lets the app see its pending requests; approving one always
takes a fresh assertion from the phone's credential.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from flask import Response, current_app, request
from sqlalchemy import select

from idp.authenticators import assurance, passkeys
from idp.authenticators.models import Authenticator, AuthenticatorKind
from idp.citizens.models import Citizen, CitizenStatus
from idp.core.config import issuer_is_https
from idp.core.extensions import db, store

PAIRING_SECONDS = 10 * 60
APP_KEY_SECONDS = 400 * 24 * 60 * 60  # the longest a browser keeps a cookie
_PAIRING = "pair-phone"


def _pairing_key(token: str) -> str:
    return store.key("phone-pairing", hashlib.sha256(token.encode()).hexdigest())


def start(citizen: Citizen, bound_level: str) -> str:
    """A pairing link for ``citizen``; the phone it pairs is bound to ``bound_level`` (the
    level of the session that started it)."""
    token = secrets.token_urlsafe(24)
    held = json.dumps({"citizen_id": citizen.id, "bound_level": bound_level})
    store.redis.set(_pairing_key(token), held, ex=PAIRING_SECONDS)
    return token


def pending(token: str) -> bool:
    """The pairing link has not been used and has not expired."""
    return bool(store.redis.exists(_pairing_key(token)))


def _started(held: bytes | None) -> tuple[Citizen, str] | None:
    """The active citizen a held pairing is for, and its binding level."""
    try:
        pairing = json.loads(held) if held is not None else None
    except ValueError:
        pairing = None  # a link made before links carried their level: start again
    if not isinstance(pairing, dict):
        return None
    found = db.session.get(Citizen, pairing["citizen_id"])
    if found is None or found.status != CitizenStatus.ACTIVE:
        return None
    return found, pairing.get("bound_level", assurance.SUBSTANTIAL)


def registration_options(token) -> str | None:
    """Options for the phone's credential; None if the link is unknown or used."""
    if not isinstance(token, str) or len(token) > 64:
        return None
    started = _started(store.redis.get(_pairing_key(token)))
    if started is None:
        return None
    return passkeys.registration_options(started[0], purpose=_PAIRING, discoverable=False)


def complete(token, credential: dict, name: str) -> tuple[Authenticator, str] | None:
    """Spend the link (once, before anything else) and register the phone; the phone and
    its new app key, or None if the link is unknown, used or expired."""
    if not isinstance(token, str) or len(token) > 64:
        return None
    started = _started(store.redis.getdel(_pairing_key(token)))
    if started is None:
        return None
    citizen, bound_level = started
    phone = passkeys.register(citizen, credential, name, purpose=_PAIRING,
                              kind=AuthenticatorKind.PHONE, bound_level=bound_level)  # fmt: skip
    app_key = secrets.token_urlsafe(32)
    phone.app_token_hash = hashlib.sha256(app_key.encode()).hexdigest()
    db.session.commit()
    return phone, app_key


def app_cookie_name() -> str:
    return "__Host-tillid_app" if issuer_is_https(current_app.config) else "tillid_app"


def set_app_cookie(response: Response, app_key: str) -> None:
    response.set_cookie(app_cookie_name(), app_key, max_age=APP_KEY_SECONDS, path="/",
                        secure=issuer_is_https(current_app.config), httponly=True,
                        samesite="Strict")  # fmt: skip


def this_phone() -> Authenticator | None:
    """The paired phone this request comes from (by its app key), if it is still paired."""
    app_key = request.cookies.get(app_cookie_name())
    if not app_key or len(app_key) > 64:
        return None
    phone = db.session.scalar(
        select(Authenticator).where(
            Authenticator.app_token_hash == hashlib.sha256(app_key.encode()).hexdigest(),
            Authenticator.kind == AuthenticatorKind.PHONE,
        )
    )
    if phone is None or phone.suspect_at is not None:
        return None
    owner = db.session.get(Citizen, phone.citizen_id)
    return phone if owner is not None and owner.status == CitizenStatus.ACTIVE else None


def phones_of(citizen_id: str) -> list[Authenticator]:
    return passkeys.passkeys_of(citizen_id, AuthenticatorKind.PHONE)


def approval_methods(phone: Authenticator) -> list[str]:
    """RFC 8176 methods of an approval: the phone's key (possession) and the biometric or
    PIN that unlocked it (inherence or knowledge): two factors, NSIS Substantial."""
    return ["swk" if phone.backup_eligible else "hwk", "user", "mfa"]
