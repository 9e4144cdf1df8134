"""Growing per-account lockout after failed logins, counted in the store (so across workers)."""

from __future__ import annotations

import hashlib
import math
import time

from flask import current_app

from idp.core.extensions import store

# Failures are forgotten a day after the last one.
_FAILURE_WINDOW_SECONDS = 24 * 60 * 60


def _keys(subject: str) -> tuple[str, str]:
    # The subject is a canonical username, possibly of no account: hashing it keeps
    # typed-in text out of the store and makes unknown names behave like real ones.
    # One hash tag: both keys in one cluster slot, so clear() is one DEL.
    tag = store.tag(hashlib.sha256(subject.encode()).hexdigest())
    return store.key("lockout", tag, "failures"), store.key("lockout", tag, "until")


def seconds_locked(subject: str) -> int:
    """How long ``subject`` must still wait before the next attempt (0: not locked)."""
    _, until_key = _keys(subject)
    until = store.redis.get(until_key)
    if until is None:
        return 0
    remaining = float(until) - time.time()
    return math.ceil(remaining) if remaining > 0 else 0


def record_failure(subject: str) -> int:
    """Count one failure; from the threshold on, each further one doubles the wait."""
    cfg = current_app.config
    failures_key, until_key = _keys(subject)
    pipe = store.redis.pipeline(transaction=True)  # one key: one slot, on a cluster too
    pipe.incr(failures_key)
    pipe.expire(failures_key, _FAILURE_WINDOW_SECONDS)
    failures = pipe.execute()[0]
    over = failures - cfg["LOCKOUT_THRESHOLD"]
    if over < 0:
        return 0
    wait = min(cfg["LOCKOUT_BASE_SECONDS"] * (2**over), cfg["LOCKOUT_MAX_SECONDS"])
    store.redis.set(until_key, time.time() + wait, ex=wait)
    return wait


def clear(subject: str) -> None:
    store.redis.delete(*_keys(subject))
