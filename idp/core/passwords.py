"""Passwords: argon2id hashing with rehash on parameter change, and the NIST SP 800-63B policy."""

from __future__ import annotations

import functools
import unicodedata
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l

MIN_LENGTH = 8
MAX_LENGTH = 256  # 800-63B asks for at least 64; beyond this it is only a hashing cost


class WeakPassword(ValueError):
    """The password breaks the policy; the message is shown to the citizen."""


@functools.cache
def _common_passwords() -> frozenset[str]:
    text = resources.files("idp").joinpath("data/common-passwords.txt").read_text()
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip())


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    params = (cfg["ARGON2_TIME_COST"], cfg["ARGON2_MEMORY_COST"], cfg["ARGON2_PARALLELISM"])
    cache = current_app.extensions.setdefault("tillid_hashers", {})
    if params not in cache:
        cache[params] = PasswordHasher(
            time_cost=params[0], memory_cost=params[1], parallelism=params[2], type=Type.ID
        )
    return cache[params]


def normalise(password: str) -> str:
    # 800-63B 5.1.1.2: apply NFKC so the same password typed on two keyboards matches.
    return unicodedata.normalize("NFKC", password)


def check_policy(password: str, *, username: str | None = None) -> None:
    """Raise ``WeakPassword`` unless the password may be chosen. No composition rules."""
    if any(unicodedata.category(ch) == "Cs" for ch in password):
        raise WeakPassword(_l("The password is not valid text; type it again."))
    password = normalise(password)
    if len(password) < MIN_LENGTH:
        raise WeakPassword(_l("Use at least %(num)d characters.", num=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        raise WeakPassword(_l("Use at most %(num)d characters.", num=MAX_LENGTH))
    folded = password.casefold()
    if folded in _common_passwords():
        raise WeakPassword(_l("This password is among the most common ones. Choose another."))
    if username and username.casefold() in folded:
        raise WeakPassword(_l("The password must not contain your user ID."))


def hash_password(password: str) -> str:
    return _hasher().hash(normalise(password))


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, normalise(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher().check_needs_rehash(password_hash)


def burn_equal_time(password: str) -> None:
    """Do the work of one verify when there is no account, so timing reveals nothing."""
    cache = current_app.extensions.setdefault("tillid_dummy_hash", {})
    hasher = _hasher()
    if hasher not in cache:
        cache[hasher] = hasher.hash("tillid-no-such-account")
    verify_password(cache[hasher], password)
