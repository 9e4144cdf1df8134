"""Checking a username and password, with lockout and equal work for unknown accounts."""

from __future__ import annotations

import logging

from sqlalchemy import update

from idp.auth import lockout
from idp.citizens import service as citizens
from idp.citizens.models import Citizen, CitizenStatus
from idp.core import passwords
from idp.core.extensions import db

log = logging.getLogger(__name__)


class LoginFailed(Exception):
    """Unknown user ID or wrong password: deliberately the same error."""


class LockedOut(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"locked for {retry_after}s")
        self.retry_after = retry_after


class AccountUnavailable(Exception):
    """The password was right but the account may not log in (locked, blocked, deceased)."""

    def __init__(self, status: CitizenStatus):
        super().__init__(status.value)
        self.status = status


def check_password(raw_username: str, password: str) -> Citizen:
    """Return the citizen whose credentials these are, or raise.

    Lockout is keyed by the typed user ID whether or not it exists, and an unknown one
    costs one argon2 verify like a real one, so neither the answer nor its timing tells
    which user IDs exist.
    """
    subject = citizens.canonical_username(raw_username)
    before = lockout.standing(subject)
    if before.wait:
        passwords.burn_equal_time(password)
        raise LockedOut(before.wait)
    citizen = citizens.find_by_username(subject)
    if citizen is None or citizen.password_hash is None:
        passwords.burn_equal_time(password)
        ok = False
    else:
        ok = passwords.verify_password(citizen.password_hash, password)
    if not ok:
        wait = lockout.record_failure(subject)
        log.info("login failed", extra={"event": "login_failed", "locked_for": wait})
        if wait:
            raise LockedOut(wait)
        raise LoginFailed()
    lockout.clear(subject, before)
    if citizen.status != CitizenStatus.ACTIVE:
        log.info(
            "login refused for status",
            extra={"event": "login_refused", "citizen_id": citizen.id, "status": citizen.status},
        )
        raise AccountUnavailable(citizen.status)
    if passwords.needs_rehash(citizen.password_hash):
        _rehash(citizen, password)
    return citizen


def _rehash(citizen: Citizen, password: str) -> None:
    """Store the password under today's argon2 parameters, in the login's own transaction.
    The UPDATE names the hash that was just verified: if the password changed in between
    (another request), nothing is written, so an old password never comes back."""
    verified = citizen.password_hash
    fresh = passwords.hash_password(password)
    updated = db.session.execute(
        update(Citizen)
        .where(Citizen.id == citizen.id, Citizen.password_hash == verified)
        .values(password_hash=fresh)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if updated.rowcount:
        log.info(
            "password rehashed", extra={"event": "password_rehashed", "citizen_id": citizen.id}
        )
