"""TOTP (RFC 6238, pyotp): enrolment confirmed by one code, ±1 time step, no code twice."""

from __future__ import annotations

import binascii
import hmac
import re
import time

import pyotp
from flask import current_app
from flask_babel import force_locale, gettext
from sqlalchemy import select

from idp.authenticators.models import Authenticator, AuthenticatorKind
from idp.citizens.models import Citizen
from idp.citizens.service import CitizenData, InvalidCitizenData, create_citizen
from idp.core import crypto
from idp.core.dbtypes import utcnow
from idp.core.extensions import db, store

STEP_SECONDS = 30
DIGITS = 6
WINDOW = 1  # one step either side: clocks drift, and people type slowly
ISSUER_LABEL = "Tillid"
_ENCRYPTION_CONTEXT = "authenticator.totp_secret"
_CODE_RE = re.compile(r"[0-9]{6}")
_BASE32_RE = re.compile(r"[A-Z2-7]{23,128}")


class InvalidSecret(ValueError):
    pass


def normalise_secret(raw: str) -> str:
    """An operator-supplied base32 seed (spaces and case ignored), at least 112 bits: what
    pyotp computes codes from (a shorter seed, or a length no base32 text has, would only
    fail later, at the citizen's first login)."""
    secret = re.sub(r"[\s-]", "", raw or "").upper().rstrip("=")
    try:
        if not _BASE32_RE.fullmatch(secret):
            raise ValueError(secret)
        pyotp.TOTP(secret).byte_secret()
    except (ValueError, binascii.Error):  # under 112 bits, or a length base32 never has
        raise InvalidSecret(
            "a TOTP secret is base32 (A–Z, 2–7) of at least 112 bits in whole bytes, at most"
            " 128 characters: 24, 26, 28, 29, 31 or 32 characters, for example"
        ) from None
    return secret


def _store(authenticator: Authenticator, secret: str) -> None:
    authenticator.totp_secret_encrypted = crypto.encrypt(secret.encode(), _ENCRYPTION_CONTEXT)


def secret_of(authenticator: Authenticator) -> str:
    return crypto.decrypt(authenticator.totp_secret_encrypted, _ENCRYPTION_CONTEXT).decode()


def begin(citizen: Citizen, name: str) -> Authenticator:
    """A new, unconfirmed TOTP authenticator; earlier unconfirmed ones are dropped."""
    for stale in db.session.scalars(
        select(Authenticator).where(
            Authenticator.citizen_id == citizen.id,
            Authenticator.kind == AuthenticatorKind.TOTP,
            Authenticator.confirmed_at.is_(None),
        )
    ):
        db.session.delete(stale)
    authenticator = Authenticator(citizen_id=citizen.id, kind=AuthenticatorKind.TOTP, name=name)
    _store(authenticator, pyotp.random_base32())  # 160 bits, as RFC 4226 recommends
    db.session.add(authenticator)
    db.session.commit()
    return authenticator


def enrol_confirmed(citizen: Citizen, secret: str, name: str) -> Authenticator:
    """Enrol a known seed directly (operators, migration, tests): active at once."""
    authenticator = Authenticator(
        citizen_id=citizen.id, kind=AuthenticatorKind.TOTP, name=name, confirmed_at=utcnow()
    )
    _store(authenticator, normalise_secret(secret))
    db.session.add(authenticator)
    return authenticator


def provisioning_uri(authenticator: Authenticator, account_name: str) -> str:
    return pyotp.TOTP(secret_of(authenticator)).provisioning_uri(
        name=account_name, issuer_name=ISSUER_LABEL
    )


def _matching_step(secret: str, code: str, now: float) -> int | None:
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now // STEP_SECONDS)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _claim_step(authenticator: Authenticator, step: int) -> bool:
    """Mark the step used; False if it already was. One atomic SET NX in the store, so two
    concurrent requests with the same code cannot both pass."""
    key = store.key("totp-used", authenticator.id, str(step))
    return bool(store.redis.set(key, 1, nx=True, ex=STEP_SECONDS * (2 * WINDOW + 2)))


class CodeReplayed(Exception):
    """The code was right but has been accepted before."""


def verify(authenticator: Authenticator, raw_code: str, now: float | None = None) -> bool:
    """Check a code for this authenticator; a code accepted once raises ``CodeReplayed``."""
    code = re.sub(r"\s", "", raw_code or "")
    if not _CODE_RE.fullmatch(code):
        return False
    step = _matching_step(secret_of(authenticator), code, time.time() if now is None else now)
    if step is None:
        return False
    if not _claim_step(authenticator, step):
        raise CodeReplayed()
    authenticator.last_used_at = utcnow()
    if authenticator.confirmed_at is None:
        authenticator.confirmed_at = authenticator.last_used_at
    db.session.commit()
    return True


def register_with_app(data: CitizenData, *, username: str | None, password: str | None,
                      secret: str) -> Citizen:  # fmt: skip
    """Register a citizen whose authenticator app is set up already, with this base32 seed
    (operators, migration, tests): active at once, with its second factor, in one transaction."""
    if username is None:
        raise InvalidCitizenData("totp_secret", "needs a username and password as well")
    try:
        secret = normalise_secret(secret)
    except InvalidSecret as exc:
        raise InvalidCitizenData("totp_secret", str(exc)) from None

    def enrol(citizen: Citizen) -> None:
        # Named in the citizens' language, as a citizen setting it up would have it named.
        with force_locale(current_app.config["DEFAULT_LANGUAGE"]):
            name = gettext("Authenticator app")
        enrol_confirmed(citizen, secret, name=name)

    return create_citizen(data, username=username, password=password, enrol=enrol)
