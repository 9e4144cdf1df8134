"""Growing per-account lockout after failed logins, counted in the store (so across workers)."""

from __future__ import annotations

import hashlib
import math
import time
from typing import NamedTuple

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


class Standing(NamedTuple):
    wait: int  # seconds before the next attempt may be made (0: not locked)
    failed: bool  # failures are counted against the subject (a success should clear them)


def standing(subject: str) -> Standing:
    """Where ``subject`` stands, in one round trip (both keys share a cluster slot)."""
    failures, until = store.redis.mget(_keys(subject))
    remaining = float(until) - time.time() if until is not None else 0
    return Standing(math.ceil(remaining) if remaining > 0 else 0, failures is not None)


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


def clear(subject: str, before: Standing | None = None) -> None:
    """Forget the failures after a success; with the ``standing`` read before the attempt,
    only if there were any (most logins have none: no round trip)."""
    if before is None or before.failed or before.wait:
        store.redis.delete(*_keys(subject))
