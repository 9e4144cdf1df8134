"""The budgets of the machine endpoints (token, introspection, revocation, PAR, CIBA, userinfo,
the APIs): one per client, or per citizen, spent once a credential checked out, and one per
source address for the requests no credential vouches for.

Why both: a national authority calls from one address (or a few, behind a NAT), so counting
its calls by address would throttle it with everyone else behind that address; and an
attacker who sends garbage in an authority's name must not spend the authority's budget. So
a request counts against its client only after the client authenticated, or its access
token (and DPoP proof) verified; anything else counts against the source address.

Cost: one round trip to the store for everything a request spends. At the endpoints that
authenticate clients, the source address is checked (not spent) before anything is done for
a request, yet that check waits (`check_source_later`) for the first budget the request
spends, and both go in one Lua script: the source's counters are read and, if none is spent,
the client's are counted (the `limits` library's fixed window: the same keys, an INCRBY and
its EXPIRE). A request that spends no budget (a failed authentication, junk) pays the check
with the source's own spending at the end, again one script; and `refuse_a_spent_source`
makes the check at once where something would be spent before a budget is (a DPoP proof's
or a client assertion's `jti`, a public client's grant). Where the credential is itself a
store record (a service's access token at userinfo and the APIs, idp/oidc/guard.py), the
same script reads the record first and counts only when it is there
(`read_then_spend_for_client`): a revoked token spends nothing of its service's budget, and
the request is one round trip. On a Redis Cluster (the counters
sit in different slots) each limit is a round trip of its own, as in the `limits` library;
on the embedded store all of it is memory. Over budget: 429 with Retry-After, the window's
length (the longest wait), so refusing costs nothing more.
"""

from __future__ import annotations

import functools
import logging
import os
import threading

import redis
from flask import current_app, g
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse_many
from limits.storage import RedisStorage
from werkzeug.exceptions import TooManyRequests

from idp.core import metrics
from idp.core.extensions import limiter, store

log = logging.getLogger(__name__)

# Requests no credential vouches for, per source address (every machine endpoint shares it).
SOURCE_BUDGET = "TOKEN_RATE_LIMIT"
# Authenticated calls at the endpoints that authenticate clients (token, introspection, ...).
CLIENT_BUDGET = "TOKEN_RATE_LIMIT_PER_CLIENT"

# KEYS: the counters to read, the counters to count, then (if a store command comes along)
# that command's key, then (if a read comes along too) that read's key. ARGV: how many to
# read, how many to count, whether the command comes first (1: it reads a key, and only
# when it found something is anything read or counted), the name of the read that comes
# along ('' for none: a command that takes just its key, such as SMEMBERS), each counter's
# amount and window (seconds), then the command and its other arguments. Answers {status,
# the command's answer, the read's answer}: status 0 when within every budget (only then
# the command runs, unless it came first, and the read along); -i when the i-th counter
# read is spent (nothing counted); i when the i-th counted went over (those after it not
# counted), as `limits`' fixed window counts (FixedWindowRateLimiter.test and .hit,
# incr_expire.lua), on the same keys.
_SPEND_SCRIPT = """
local read, counted = tonumber(ARGV[1]), tonumber(ARGV[2])
local found_first, along = ARGV[3] == '1', ARGV[4]
local first = 2 * (read + counted) + 5
local answer = false
if found_first then
  answer = redis.call(ARGV[first], KEYS[read + counted + 1], unpack(ARGV, first + 1))
  if not answer then
    return {0, false, false}
  end
end
for i = 1, read do
  if tonumber(redis.call('get', KEYS[i]) or '0') >= tonumber(ARGV[2 * i + 3]) then
    return {-i, false, false}
  end
end
for i = read + 1, read + counted do
  local current = redis.call('incrby', KEYS[i], 1)
  if current == 1 then
    redis.call('expire', KEYS[i], ARGV[2 * i + 4])
  end
  if current > tonumber(ARGV[2 * i + 3]) then
    return {i - read, false, false}
  end
end
if not found_first and #ARGV >= first then
  answer = redis.call(ARGV[first], KEYS[read + counted + 1], unpack(ARGV, first + 1))
end
if along ~= '' then
  return {0, answer, redis.call(along, KEYS[read + counted + 2])}
end
return {0, answer, false}
"""


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


def _counters(setting: str, holder: tuple[str, ...]) -> list[tuple[RateLimitItem, tuple]]:
    bucket = _bucket(setting, holder)
    return [(limit, bucket) for limit in _parsed(current_app.config[setting])]


class _HeldConnection(threading.local):
    """Each thread's own connection to the store's server, for the spending script: made
    with the pool's settings (address, credentials, timeouts, redis-py's Retry), and made
    again for another pool (another app) or in a forked child. One per worker thread, outside
    the pool's count (serve.py's WEB_THREADS: four by default)."""

    pool = None
    pid = 0
    connection = None

    def get(self, pool):
        if self.pool is not pool or self.pid != os.getpid():
            if self.connection is not None and self.pid == os.getpid():
                self.connection.disconnect()
            self.connection = pool.connection_class(**pool.connection_kwargs)
            self.pool, self.pid = pool, os.getpid()
        return self.connection


_held = _HeldConnection()


def _run_script(client: redis.Redis, script, keys: list, args: list):
    """The spending script's answer, as ``script(keys, args)`` gives it, for less:
    one EVALSHA on this thread's own connection, without redis-py's per-command layers (its
    observability records, the `Script` object's checks, a deprecation wrapper, the pool's
    lock and its per-checkout test for unread data): 100 -> 31 us of CPU a call
    (bench/results/profiles/2026-12-03-eve/token/). What those layers do for safety stays:
    no answer is ever left unread on the connection (it is closed whenever a command did not
    complete, as redis-py does), a broken connection is retried with redis-py's own `Retry`
    (closed first, connected again), and a script the server lost (restarted, flushed) is
    loaded again."""
    connection = _held.get(client.connection_pool)
    command = ("EVALSHA", script.sha, len(keys), *keys, *args)

    def send_and_read():
        connection.send_command(*command)
        return connection.read_response()

    def on_a_live_connection():
        try:
            return connection.retry.call_with_retry(
                send_and_read, lambda _error: connection.disconnect()
            )
        except redis.exceptions.ConnectionError:
            # The connection this thread kept may have been closed by a server that went away
            # since its last use (what the pool's checkout test would have found): once more,
            # on a new connection. A server that does not answer (TimeoutError, not a
            # ConnectionError) is not asked twice: that would double the wait.
            connection.disconnect()
            return send_and_read()

    try:
        try:
            return on_a_live_connection()
        except redis.exceptions.NoScriptError:
            script.sha = client.script_load(_SPEND_SCRIPT)
            command = ("EVALSHA", script.sha, *command[2:])
            return send_and_read()
    except BaseException:
        connection.disconnect()  # an answer may still be on its way: never read it later
        raise


@functools.lru_cache(maxsize=4096)
def _counter_key(storage: RedisStorage, limit: RateLimitItem, namespace: str, bucket: tuple) -> str:
    """The key of ``limit``'s counter for ``bucket``, as the `limits` library names it: made
    once per holder and limit, not on every request (``namespace`` is in the key, but not
    in a limit's equality)."""
    return storage.prefixed_key(limit.key_for(*bucket))


def _one_server() -> bool:
    """Whether the counters and the store are on one Redis server (not a cluster, not the
    embedded store): then a request's budgets and its store command go in one script. Both
    are REDIS_URL (idp/app.py gives the limiter the store's URL)."""
    return type(limiter.limiter.storage) is RedisStorage and type(store.redis) is redis.Redis


def _count(read: list, spend: list, command: tuple = (), *, found_first: bool = False,
           along: tuple = ()) -> tuple:  # fmt: skip
    """Read the counters of ``read`` and, if none is spent, count ``spend``, and if all is
    within budget run the store ``command`` (name, key, arguments) and the read ``along``
    (name, key): the spent limit read, the limit counted over (each or None), the command's
    answer and the read's. With ``found_first`` the command (a read) runs first, and
    nothing is read or counted (nor read along) when it found nothing."""
    strategy = limiter.limiter
    storage = strategy.storage
    if _one_server():  # everything in one script
        keys, args = [], [len(read), len(spend), 1 if found_first else 0, along[0] if along else ""]
        for limit, bucket in (*read, *spend):
            keys.append(_counter_key(storage, limit, limit.namespace, bucket))
            args += [limit.amount, limit.get_expiry()]
        if command:
            keys.append(command[1])
            args += [command[0], *command[2:]]
        if along:
            keys.append(along[1])
        found, answer, also = _run_script(store.redis, store.script(_SPEND_SCRIPT), keys, args)
        found = int(found)
        if found < 0:
            return read[-found - 1][0], None, None, None
        return None, spend[found - 1][0] if found else None, answer, also
    answer = None
    if found_first:  # a cluster, or memory: the command, then the `limits` library per limit
        answer = store.redis.execute_command(*command)
        if answer is None:
            return None, None, None, None
    for limit, bucket in read:
        if not strategy.test(limit, *bucket):
            return limit, None, None, None
    for limit, bucket in spend:
        if not strategy.hit(limit, *bucket):
            return None, limit, None, None
    if command and not found_first:
        answer = store.redis.execute_command(*command)
    return None, None, answer, store.redis.execute_command(*along) if along else None


def _source() -> tuple[str, ...]:
    return ("source", get_remote_address() or "")


def check_source_later() -> None:
    """This request is to be refused if its source address spent its budget (see
    `refuse_a_spent_source`); the check goes with the first budget it spends."""
    g.rate_limit_source_unchecked = True


def _spend(setting: str, holder: tuple[str, ...], command: tuple = (), *,
           found_first: bool = False, along: tuple = ()) -> tuple:  # fmt: skip
    """Count this request against ``setting`` of ``holder`` (see `_count`): the command's
    answer and the read's along."""
    check_source = g.pop("rate_limit_source_unchecked", False)
    if not limiter.enabled:
        g.rate_limit_spent = True
        answer = store.redis.execute_command(*command) if command else None
        if found_first and answer is None:
            return None, None
        return answer, store.redis.execute_command(*along) if along else None
    source = _source()
    # The source's own spending is its check too: counted over means spent before (or by a
    # request at the same moment).
    read = _counters(SOURCE_BUDGET, source) if check_source and holder != source else []
    spent, over, answer, also = _count(read, _counters(setting, holder), command,
                                       found_first=found_first, along=along)  # fmt: skip
    if found_first and answer is None and spent is None and over is None:
        # Nothing found, so nothing was read or counted: the request has spent nothing yet.
        if check_source:
            g.rate_limit_source_unchecked = True
        return None, None
    g.rate_limit_spent = True
    if spent is not None:
        metrics.count_rate_limit_refusal(SOURCE_BUDGET)  # only the source's is ever read
        raise Exhausted(spent)
    if over is not None:
        metrics.count_rate_limit_refusal(setting)
        # Which client, for the operator; never a citizen's id or an address.
        client_id = holder[1] if holder[0] == "client" else None
        log.info("rate limit exceeded", extra={"event": "rate_limited", "budget": setting,
                                               "client_id": client_id})  # fmt: skip
        raise Exhausted(over)
    return answer, also


def spend_for_client_later(setting: str, client_id: str) -> None:
    """As `spend_for_client`, but counted with the request's next store command
    (`with_budget`), or at the latest by `settle`: for a request whose next steps change
    nothing until that command (a client_credentials grant: its token's record; an
    introspection: the token's record read), so the two make one round trip."""
    g.rate_limit_spent = True
    g.rate_limit_due = (setting, ("client", client_id))


def with_budget(*command):
    """Run one store command (name, key, arguments: SET or GET) with the budget that is
    due (`spend_for_client_later`), in one round trip: the command runs only within the
    budget, else Exhausted. Without a budget due, just the command."""
    due = g.pop("rate_limit_due", None)
    if due is None:
        return store.redis.execute_command(*command)
    return _spend(*due, command)[0]


def read_then_spend_for_client(setting: str, client_id: str, command: tuple,
                               along: tuple = ()) -> tuple:  # fmt: skip
    """Run one store ``command`` that reads a key (a GET) and, only if it found something,
    count the request against ``client_id``'s budget ``setting``, and then run the read
    ``along`` (name, key: another key's read the request needs, such as SMEMBERS), in one
    round trip: the command's answer (None: nothing found, nothing spent, nothing read
    along) and the read's, or Exhausted. For a request whose credential is that key (an
    access token's record: revoked or expired, it spends nothing of its client's)."""
    return _spend(setting, ("client", client_id), command, found_first=True, along=along)


def settle() -> None:
    """Count a budget still due (the request ended without its store command): Exhausted
    when it is spent."""
    due = g.pop("rate_limit_due", None)
    if due is not None:
        _spend(*due)


def spent_this_request() -> bool:
    """Whether this request already counted against some budget."""
    return g.get("rate_limit_spent", False)


def source_check_pending() -> bool:
    """Whether this request is still to be checked against its source's budget."""
    return g.get("rate_limit_source_unchecked", False)


def spend_for_client(setting: str, client_id: str, citizen_id: str | None = None) -> None:
    """Count this request against the budget ``setting`` (a configuration name) of a client
    whose credential checked out, or of one citizen at that client; raise Exhausted when
    it is spent (or when the source check it carries finds the source spent)."""
    holder = ("client", client_id) if citizen_id is None else ("client", client_id, citizen_id)
    _spend(setting, holder)


def spend_for_citizen(setting: str, citizen_id: str) -> None:
    """Count this request against the budget of a citizen logged in with this browser."""
    _spend(setting, ("citizen", citizen_id))


def spend_for_source() -> None:
    """Count this request against its source address: no credential vouched for it."""
    _spend(SOURCE_BUDGET, _source())


def refuse_a_spent_source() -> None:
    """Before a client authenticates: refuse every request from a source address that spent
    its budget on requests no credential vouched for, a correct guess included, so
    guessing ends there. Checks without spending (at once: a check that was left for
    later, `check_source_later`, is made now)."""
    pending = g.pop("rate_limit_source_unchecked", False)
    if not limiter.enabled or (not pending and g.get("rate_limit_source_checked", False)):
        return
    spent, _over, _answer, _also = _count(_counters(SOURCE_BUDGET, _source()), [])
    if spent is not None:
        metrics.count_rate_limit_refusal(SOURCE_BUDGET)
        raise Exhausted(spent)
    g.rate_limit_source_checked = True
