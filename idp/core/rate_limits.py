"""The budgets of the machine endpoints (token, introspection, revocation, PAR, CIBA, userinfo,
the APIs): one per client, or per citizen, spent once a credential checked out, and one per
source address for the requests no credential vouches for.

Why both: a national authority calls from one address (or a few, behind a NAT), so counting
its calls by address would throttle it with everyone else behind that address; and an
attacker who sends garbage in an authority's name must not spend the authority's budget. So
a request counts against its client only after the client authenticated, or its access
token (and DPoP proof) verified; anything else counts against the source address.

Cost: spending is one round trip to the store (the `limits` library's fixed window: an INCR
and its EXPIRE in one Lua script); checking a budget without spending is one GET; on the
embedded store both are memory. A setting of several limits ("a per minute;b per hour")
costs that per limit. Over budget: 429 with Retry-After, the window's length (the longest
wait), so refusing costs nothing more.
"""

from __future__ import annotations

import functools
import logging

from flask import current_app, g
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

from idp.core.extensions import limiter

log = logging.getLogger(__name__)

# Requests no credential vouches for, per source address (every machine endpoint shares it).
SOURCE_BUDGET = "TOKEN_RATE_LIMIT"
# Authenticated calls at the endpoints that authenticate clients (token, introspection, ...).
CLIENT_BUDGET = "TOKEN_RATE_LIMIT_PER_CLIENT"


class Exhausted(TooManyRequests):
    """A budget is spent: 429, with Retry-After."""

    def __init__(self, limit: RateLimitItem):
        super().__init__(
            f"Too many requests: at most {limit}. Retry later.", retry_after=limit.get_expiry()
        )


@functools.lru_cache(maxsize=32)
def _parsed(setting_value: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(setting_value))  # checked at startup (idp/core/config.py)


def _bucket(setting: str, holder: tuple[str, ...]) -> tuple[str, ...]:
    # The app's own prefix: the limiter object is shared by every app in a process.
    return (current_app.config["RATELIMIT_KEY_PREFIX"], setting, *holder)


def _spend(setting: str, holder: tuple[str, ...]) -> None:
    g.rate_limit_spent = True
    if not limiter.enabled:
        return
    for limit in _parsed(current_app.config[setting]):
        if not limiter.limiter.hit(limit, *_bucket(setting, holder)):
            # Which client, for the operator; never a citizen's id or an address.
            client_id = holder[1] if holder[0] == "client" else None
            log.info("rate limit exceeded", extra={"event": "rate_limited", "budget": setting,
                                                   "client_id": client_id})  # fmt: skip
            raise Exhausted(limit)


def spent_this_request() -> bool:
    """Whether this request already counted against some budget."""
    return g.get("rate_limit_spent", False)


def spend_for_client(setting: str, client_id: str, citizen_id: str | None = None) -> None:
    """Count this request against the budget ``setting`` (a configuration name) of a client
    whose credential checked out, or of one citizen at that client; raise Exhausted when
    it is spent."""
    holder = ("client", client_id) if citizen_id is None else ("client", client_id, citizen_id)
    _spend(setting, holder)


def spend_for_citizen(setting: str, citizen_id: str) -> None:
    """Count this request against the budget of a citizen logged in with this browser."""
    _spend(setting, ("citizen", citizen_id))


def _source() -> tuple[str, ...]:
    return ("source", get_remote_address() or "")


def spend_for_source() -> None:
    """Count this request against its source address: no credential vouched for it."""
    _spend(SOURCE_BUDGET, _source())


def refuse_a_spent_source() -> None:
    """Before a client authenticates: refuse every request from a source address that spent
    its budget on requests no credential vouched for, a correct guess included, so
    guessing ends there. Checks without spending."""
    if not limiter.enabled:
        return
    for limit in _parsed(current_app.config[SOURCE_BUDGET]):
        if not limiter.limiter.test(limit, *_bucket(SOURCE_BUDGET, _source())):
            raise Exhausted(limit)
