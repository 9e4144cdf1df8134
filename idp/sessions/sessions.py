"""SSO sessions in the store: random cookie id, idle and absolute limits, per-citizen index."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from flask import Request, Response, current_app, g
from flask import session as form_session

from idp.authenticators import assurance
from idp.core.config import issuer_is_https
from idp.core.extensions import store


@dataclass
class SSOSession:
    id_hash: str
    citizen_id: str
    created_at: float
    last_seen: float
    auth_time: float
    amr: list[str] = field(default_factory=list)
    user_agent: str = ""
    ip: str = ""
    # Got in with a recovery code: may enrol a new authenticator, nothing more.
    recovered: bool = False
    # The NSIS level, when the methods alone do not say it (a passkey can be High).
    acr: str | None = None
    # The ids this login had before a step-up gave it new ones: it ends with all of them.
    earlier_ids: list[str] = field(default_factory=list)
    # When the citizen last proved a second factor in this session, and the level that factor
    # reaches: a sensitive change needs it recent (current.fresh_second_factor_required).
    second_factor_at: float | None = None
    second_factor_level: str | None = None

    @property
    def level(self) -> str:
        return self.acr or assurance.level_of(self.amr)

    def absolute_deadline(self) -> float:
        return self.created_at + current_app.config["SESSION_ABSOLUTE_TIMEOUT"]

    def idle_deadline(self) -> float:
        return self.last_seen + current_app.config["SESSION_IDLE_TIMEOUT"]

    def expires_at(self) -> float:
        return min(self.absolute_deadline(), self.idle_deadline())


# Called with every id a login had when it ends (logout, expiry, log out everywhere), not
# when a step-up renews its id: the OIDC layer revokes what services were given at it.
_on_end: list[Callable[[list[str]], None]] = []


def on_end(callback: Callable[[list[str]], None]) -> None:
    if callback not in _on_end:
        _on_end.append(callback)


def cookie_name() -> str:
    # __Host- pins the cookie to this exact origin, path / and Secure (RFC 6265bis).
    return "__Host-tillid_sso" if issuer_is_https(current_app.config) else "tillid_sso"


def _hash(session_id: str) -> str:
    # The store holds only a hash of the cookie value, so a store dump opens no session.
    return hashlib.sha256(session_id.encode()).hexdigest()


def _session_key(id_hash: str) -> str:
    return store.key("sso", id_hash)


def _index_key(citizen_id: str) -> str:
    return store.key("sso-by-citizen", citizen_id)


# Expiry, noticed: a session's key simply vanishes when its TTL runs out, and Redis tells
# nobody (keyspace notifications are fire-and-forget: lost while no worker listens, off by
# default, and per node on a cluster). So every session is listed in one sorted set, scored
# by the earliest moment it can have expired (its deadline when it was last written), and
# `sweep_expired` (a worker thread, idp/oidc/backchannel_logout.py) looks at those due: a
# session gone or past its limit has ended, one a request has kept alive since is scored
# anew. A request's touch writes nothing here: the hot path stays one SET.
def _watch_key() -> str:
    return store.key("sso-watch")


def _watched(session_ids: list[str]) -> str:
    """A session's entry in the watch: its id, then the ids it had before a step-up, so an
    expiry found after the session is gone still ends every id the login had."""
    return " ".join(session_ids)


def _save(session: SSOSession, replacing: SSOSession | None = None) -> None:
    """Store a new session; ``replacing``: the session it continues (a step-up), forgotten
    first in the same round trip."""
    ttl = int(session.expires_at() - time.time()) + 1
    # The session is found by its id, the index by the citizen: two slots on a cluster, so
    # batched, not a transaction. If a write fails, start() raises before any cookie is set
    # (a session nobody holds), and a touch only renews what the index already lists.
    pipe = store.redis.pipeline(transaction=False)
    if replacing is not None:
        # Unwatched before its key goes: a sweep in between must not take it for expired.
        pipe.zrem(_watch_key(), _watched([replacing.id_hash, *replacing.earlier_ids]))
        _forget(replacing.id_hash, replacing.citizen_id, pipe)
    if ttl <= 0:
        pipe.execute()
        return
    pipe.set(_session_key(session.id_hash), json.dumps(asdict(session)), ex=ttl)
    watched = _watched([session.id_hash, *session.earlier_ids])
    pipe.zadd(_watch_key(), {watched: session.expires_at()})
    pipe.sadd(_index_key(session.citizen_id), session.id_hash)
    pipe.expire(_index_key(session.citizen_id), current_app.config["SESSION_ABSOLUTE_TIMEOUT"])
    pipe.execute()


def _load(id_hash: str) -> SSOSession | None:
    raw = store.redis.get(_session_key(id_hash))
    if raw is None:
        return None
    return _live(SSOSession(**json.loads(raw)))


def _live(session: SSOSession) -> SSOSession | None:
    """The session, or None once past its idle or absolute limit (then ended)."""
    if time.time() >= session.expires_at():
        end(session.id_hash)
        return None
    return session


# Read and touch in one round trip (every request with the cookie does both): the session as
# stored, and whether it was touched. A live one gets last_seen = ARGV[1] and the TTL its
# limits leave; one past a limit is answered untouched, for the caller to end (_live). The
# new time is written into the stored JSON text, not re-encoded: Lua's cjson would round the
# other times and turn empty lists into objects. json.dumps writes last_seen once, as the
# fourth member, before any free text, so its first match is the member itself.
_READ_AND_TOUCH = """
local raw = redis.call('GET', KEYS[1])
if not raw then return false end
local stored = cjson.decode(raw)
local now, idle, absolute = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local deadline = math.min(stored.created_at + absolute, stored.last_seen + idle)
if now >= deadline then return {raw, 0} end
local touched, found = string.gsub(raw, '"last_seen": [^,}]+', '"last_seen": ' .. ARGV[1], 1)
if found ~= 1 then return {raw, 0} end
local ttl = math.floor(math.min(stored.created_at + absolute, now + idle) - now) + 1
redis.call('SET', KEYS[1], touched, 'EX', ttl)
return {touched, 1}
"""


def _load_and_touch(id_hash: str) -> SSOSession | None:
    """The live session, its idle timer reset: one round trip on Redis and on a cluster (one
    key), a read then a touch on the embedded store (fakeredis runs no Lua)."""
    if store.embedded:
        session = _load(id_hash)
        if session is not None:
            session.last_seen = time.time()
            _touch(session)
        return session
    config = current_app.config
    now = repr(time.time())
    found = store.script(_READ_AND_TOUCH)(
        keys=[_session_key(id_hash)],
        args=[now, config["SESSION_IDLE_TIMEOUT"], config["SESSION_ABSOLUTE_TIMEOUT"]],
    )
    if not found:
        return None
    raw, touched = found
    session = SSOSession(**json.loads(raw))
    if int(touched):
        return session
    session = _live(session)
    if session is not None:  # not touched though live: a text the script could not edit
        session.last_seen = time.time()
        _touch(session)
    return session


def start(
    citizen_id: str,
    amr: list[str],
    request: Request,
    *,
    recovered: bool = False,
    level: str | None = None,
    earlier_ids: list[str] | None = None,
    second_factor: tuple[float, str] | None = None,
    replacing: SSOSession | None = None,
) -> str:
    """Begin a fresh session (always a new id: no fixation). Returns the cookie value.

    A login with two factors proved its second one now; a recovery code is no second factor
    (``recovered``); ``second_factor`` carries an earlier proof (time, level) over instead.
    ``replacing``: the session this one continues (elevate), ended in the same round trip."""
    # A new CSRF token too: one fixed in the browser before the login opens no form after it.
    field = current_app.config["WTF_CSRF_FIELD_NAME"]
    form_session.pop(field, None)
    g.pop(field, None)
    session_id = secrets.token_urlsafe(32)
    now = time.time()
    reached = level or assurance.level_of(amr)
    if second_factor is None and not recovered and assurance.meets(reached, assurance.SUBSTANTIAL):
        second_factor = (now, reached)
    session = SSOSession(
        id_hash=_hash(session_id),
        citizen_id=citizen_id,
        created_at=now,
        last_seen=now,
        auth_time=now,
        amr=amr,
        user_agent=(request.user_agent.string or "")[:200],
        ip=request.remote_addr or "",
        recovered=recovered,
        acr=level,
        earlier_ids=earlier_ids or [],
        second_factor_at=second_factor[0] if second_factor else None,
        second_factor_level=second_factor[1] if second_factor else None,
    )
    _save(session, replacing)
    return session_id


def elevate(
    session: SSOSession,
    amr: list[str],
    request: Request,
    *,
    recovered: bool = False,
    level: str | None = None,
) -> str:
    """The citizen proved more (step-up): the session continues under a new id with the
    methods used now, so a cookie seen at the lower level opens nothing at the higher."""
    # A recovery code proves no second factor: the session keeps the proof it had, if any.
    kept = None
    if recovered and session.second_factor_at is not None:
        kept = (session.second_factor_at, session.second_factor_level)
    return start(session.citizen_id, amr, request, recovered=recovered, level=level,
                 earlier_ids=[*session.earlier_ids, session.id_hash],
                 second_factor=kept, replacing=session)  # fmt: skip


def record_second_factor(session: SSOSession, level: str) -> None:
    """The citizen proved a second factor again (reaching ``level``) without the session
    changing level: it keeps its id, and remembers when."""
    session.second_factor_at = time.time()
    session.second_factor_level = level
    _touch(session)


def current(request: Request) -> SSOSession | None:
    """The live session named by the request's cookie, touched (idle timer reset)."""
    session_id = request.cookies.get(cookie_name())
    if not session_id or len(session_id) > 128:
        return None
    return _load_and_touch(_hash(session_id))


def _touch(session: SSOSession) -> None:
    """Save the renewed idle timer: one SET, and only over a session that still exists (XX),
    so a request that read the session just before a logout ended it cannot bring it back.
    The citizen's index needs no write: start() listed the id and set the index to outlive
    every session in it (an absolute timeout from the newest start)."""
    ttl = int(session.expires_at() - time.time()) + 1
    if ttl > 0:
        store.redis.set(_session_key(session.id_hash), json.dumps(asdict(session)), ex=ttl, xx=True)


def _forget(id_hash: str, citizen_id: str, pipe=None) -> None:
    """Drop a session and its place in the citizen's index; on ``pipe`` if given (sent by
    its caller), else at once."""
    batch = pipe if pipe is not None else store.redis.pipeline(transaction=False)
    batch.delete(_session_key(id_hash))  # two keys in two slots: batched
    batch.srem(_index_key(citizen_id), id_hash)
    if pipe is None:
        batch.execute()


def _ended(raw: bytes | None, id_hash: str) -> None:
    earlier = json.loads(raw).get("earlier_ids", []) if raw is not None else []
    for callback in _on_end:
        callback([*earlier, id_hash])


def end(id_hash: str) -> None:
    raw = store.redis.get(_session_key(id_hash))
    store.redis.delete(_session_key(id_hash))
    if raw is not None:
        stored = json.loads(raw)
        store.redis.srem(_index_key(stored["citizen_id"]), id_hash)
        store.redis.zrem(_watch_key(), _watched([id_hash, *stored.get("earlier_ids", [])]))
    _ended(raw, id_hash)


def end_all(citizen_id: str) -> int:
    hashes = [h.decode() for h in store.redis.smembers(_index_key(citizen_id))]
    found = [store.redis.get(_session_key(id_hash)) for id_hash in hashes]
    pipe = store.redis.pipeline(transaction=False)  # one DEL per key, each in its own slot
    for raw, id_hash in zip(found, hashes, strict=True):
        pipe.delete(_session_key(id_hash))
        if raw is not None:
            earlier = json.loads(raw).get("earlier_ids", [])
            pipe.zrem(_watch_key(), _watched([id_hash, *earlier]))
    pipe.delete(_index_key(citizen_id))
    pipe.execute()
    for raw, id_hash in zip(found, hashes, strict=True):
        _ended(raw, id_hash)
    return len(hashes)


def sweep_expired(limit: int = 1000) -> int:
    """End the watched sessions that have expired (idle or absolute limit) since they were
    last looked at: their ``on_end`` callbacks run as for a logout. Returns how many ended.

    Safe to run in several workers at once: a session whose key is gone is ended by the one
    sweep whose ZREM removed its entry; one still stored but past its limit goes through
    ``end`` (its callbacks tolerate a second call: what they act on is taken once). Goes on
    in batches of ``limit`` until none is due, so a burst of expiries (a Monday morning's
    idle timeouts) is worked off in one round, not ``limit`` per round."""
    now = time.time()
    ended = 0
    while True:
        due = store.redis.zrangebyscore(_watch_key(), "-inf", now, start=0, num=limit)
        ended += _sweep(due, now)
        if len(due) < limit:
            return ended


def _sweep(due: list[bytes], now: float) -> int:
    """``sweep_expired`` for one batch: each entry leaves the due range (ended, or scored
    anew), so the next batch is new entries."""
    ended = 0
    for entry in due:
        ids = entry.decode().split()
        raw = store.redis.get(_session_key(ids[0]))
        if raw is None:
            if store.redis.zrem(_watch_key(), entry):
                for callback in _on_end:
                    callback([*ids[1:], ids[0]])
                ended += 1
            continue
        session = SSOSession(**json.loads(raw))
        if now >= session.expires_at():
            end(session.id_hash)
            store.redis.zrem(_watch_key(), entry)  # end's own ZREM, whatever the entry says
            ended += 1
        else:  # kept alive by requests since: look again when it can next expire
            store.redis.zadd(_watch_key(), {entry: session.expires_at()}, xx=True)
    return ended


def list_for(citizen_id: str) -> list[SSOSession]:
    """The citizen's live sessions, newest first; forgets ids whose session has expired."""
    sessions = []
    for raw_hash in store.redis.smembers(_index_key(citizen_id)):
        id_hash = raw_hash.decode()
        session = _load(id_hash)
        if session is None:
            store.redis.srem(_index_key(citizen_id), id_hash)
        else:
            sessions.append(session)
    return sorted(sessions, key=lambda s: s.created_at, reverse=True)


def set_cookie(response: Response, session_id: str) -> None:
    # No Max-Age: a browser-session cookie, gone when the browser closes (shared computers).
    response.set_cookie(
        cookie_name(),
        session_id,
        path="/",
        secure=issuer_is_https(current_app.config),
        httponly=True,
        samesite="Lax",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(
        cookie_name(),
        path="/",
        secure=issuer_is_https(current_app.config),
        httponly=True,
        samesite="Lax",
    )
