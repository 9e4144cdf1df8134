"""OpenID Connect Back-Channel Logout 1.0: when a citizen's SSO session ends, for whatever
reason (logout here or at a service's request, idle or absolute expiry, log out everywhere,
a password change or reset), each service that received an ID token in it and registered a
`backchannel_logout_uri` is sent a logout token, from a worker thread, never in the request
that ended the session; retried with backoff for BACKCHANNEL_LOGOUT_RETRY_SECONDS.

In the store (docs/backchannel-logout.md):

- per `sid`, the services told of it (a set of "client_id sub", one SADD per ID token);
- a durable queue: a sorted set of delivery ids by due time and a hash of the deliveries,
  both in one hash slot (one tag), so enqueueing and rescheduling are transactions on a
  Redis Cluster too;
- a claim per delivery while it is attempted (SET NX with a lease), so two workers never
  send the same one at once, and one that dies mid-attempt leaves it to the next.
"""

from __future__ import annotations

import enum
import json
import logging
import secrets
import threading
import time
from collections import Counter

import requests
from flask import current_app
from joserfc import jwt

from clients import cache as client_cache
from clients.models import Client
from idp.core import metrics
from idp.core.extensions import db, store
from idp.keys import service as keys
from idp.oidc import session_tokens
from idp.sessions import sessions

log = logging.getLogger("tillid.backchannel_logout")

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TYPE = "logout+jwt"  # noqa: S105 (a JWT type, no secret)
# A logout token is made afresh for every attempt: it need not live longer than one.
TOKEN_SECONDS = 2 * 60
# How long the services told of a session are kept past the longest the session can last:
# time for a sweep to find it ended when every worker was down for a while.
TOLD_MARGIN_SECONDS = 60 * 60
# The longest wait between two attempts, however many have failed.
MAX_BACKOFF_SECONDS = 60 * 60
# A claim outlives the attempt it covers (the POST's timeout) by this much.
_CLAIM_MARGIN_SECONDS = 30
_QUEUE_TAG = store.tag("bcl-queue")


class Outcome(enum.StrEnum):
    """What became of one attempt to deliver a logout token (for logs and metrics)."""

    DELIVERED = "delivered"  # the service answered 2xx
    RETRYING = "retrying"  # it failed; another attempt is scheduled within the window
    GAVE_UP = "gave_up"  # it failed and the window is over, or the service is gone


def _told_key(sid: str) -> str:
    return store.key("bcl-told", sid)


def _due_key() -> str:
    return store.key("bcl", _QUEUE_TAG, "due")


def _deliveries_key() -> str:
    return store.key("bcl", _QUEUE_TAG, "deliveries")


def _claim_key(delivery_id: str) -> str:
    return store.key("bcl-claim", delivery_id)


def remember(sid: str | None, client: Client, sub: str) -> None:
    """The service got an ID token naming ``sub`` in the session ``sid``: it is told when
    the session ends. One key, one transaction; kept as long as a session can last, and
    TOLD_MARGIN_SECONDS more."""
    if not sid or not client.backchannel_logout_uri:
        return
    key = _told_key(sid)
    pipe = store.redis.pipeline(transaction=True)
    pipe.sadd(key, f"{client.client_id} {sub}")
    pipe.expire(key, current_app.config["SESSION_ABSOLUTE_TIMEOUT"] + TOLD_MARGIN_SECONDS)
    pipe.execute()


def enqueue_for(id_hashes: list[str]) -> int:
    """A login has ended (every id it had): queue a logout token for each service it gave an
    ID token. What was told is taken in one transaction, so a second call for the same
    session (an explicit end, then the sweep) queues nothing again. Returns how many."""
    queued = 0
    now = time.time()
    for id_hash in id_hashes:
        sid = session_tokens.sid_of(id_hash)
        pipe = store.redis.pipeline(transaction=True)
        pipe.smembers(_told_key(sid))
        pipe.delete(_told_key(sid))
        told, _ = pipe.execute()
        for member in sorted(told):
            client_id, sub = member.decode().split(" ", 1)
            delivery = {"client_id": client_id, "sub": sub, "sid": sid, "since": now,
                        "attempts": 0}  # fmt: skip
            _schedule(secrets.token_hex(16), delivery, now)
            queued += 1
    return queued


def _schedule(delivery_id: str, delivery: dict, due: float) -> None:
    pipe = store.redis.pipeline(transaction=True)  # both keys share the queue's slot
    pipe.hset(_deliveries_key(), delivery_id, json.dumps(delivery))
    pipe.zadd(_due_key(), {delivery_id: due})
    pipe.execute()


def _finish(delivery_id: str) -> None:
    pipe = store.redis.pipeline(transaction=True)
    pipe.zrem(_due_key(), delivery_id)
    pipe.hdel(_deliveries_key(), delivery_id)
    pipe.execute()


def pending() -> list[dict]:
    """The deliveries still to make (each without its service's token), soonest first."""
    due = store.redis.zrange(_due_key(), 0, -1, withscores=True)
    found = []
    for raw_id, due_at in due:
        raw = store.redis.hget(_deliveries_key(), raw_id)
        if raw is not None:
            delivery = json.loads(raw)
            found.append({"id": raw_id.decode(), "client_id": delivery["client_id"],
                          "attempts": delivery["attempts"], "since": delivery["since"],
                          "due": due_at})  # fmt: skip
    return found


def logout_token(client: Client, sub: str, sid: str) -> str:
    """The logout token (Back-Channel Logout 1.0 2.4), signed as the service's ID tokens
    are: `sub` and `sid` as its ID tokens in that session had them, an event, no nonce."""
    alg = client.id_token_signed_response_alg
    kid, key = keys.signing_key(alg)
    now = int(time.time())
    claims = {
        "iss": current_app.config["ISSUER"],
        "aud": client.client_id,
        "iat": now,
        "exp": now + TOKEN_SECONDS,
        "jti": secrets.token_urlsafe(16),
        "sub": sub,
        "sid": sid,
        "events": {EVENT: {}},
    }
    return jwt.encode({"alg": alg, "kid": kid, "typ": TOKEN_TYPE}, claims, key, [alg])


def backoff(attempts: int) -> float:
    """The wait after the ``attempts``-th failed attempt: doubling from the first."""
    first = current_app.config["BACKCHANNEL_LOGOUT_FIRST_RETRY_SECONDS"]
    return min(first * 2 ** (attempts - 1), MAX_BACKOFF_SECONDS)


def _post(uri: str, token: str) -> tuple[int | None, str | None]:
    """POST the token: the HTTP status, or None and why there was none. No redirect is
    followed (the registered address is the only one), and the body is never read."""
    try:
        with requests.post(
            uri,
            data={"logout_token": token},
            timeout=current_app.config["BACKCHANNEL_LOGOUT_TIMEOUT"],
            allow_redirects=False,
            stream=True,
        ) as response:
            return response.status_code, None
    except requests.RequestException as exc:
        return None, type(exc).__name__


def _attempt(delivery_id: str, delivery: dict) -> Outcome:
    client = client_cache.get(delivery["client_id"])
    fields = {"event": "backchannel_logout", "delivery": delivery_id,
              "client_id": delivery["client_id"]}  # fmt: skip
    if client is None or not client.enabled or not client.backchannel_logout_uri:
        _finish(delivery_id)
        log.warning("logout token not sent: the service is no longer registered for it",
                    extra={**fields, "outcome": Outcome.GAVE_UP.value})  # fmt: skip
        return Outcome.GAVE_UP
    attempts = delivery["attempts"] + 1
    status, error = _post(
        client.backchannel_logout_uri, logout_token(client, delivery["sub"], delivery["sid"])
    )
    now = time.time()
    window = current_app.config["BACKCHANNEL_LOGOUT_RETRY_SECONDS"]
    if status is not None and 200 <= status < 300:
        _finish(delivery_id)
        outcome = Outcome.DELIVERED
    elif now + backoff(attempts) > delivery["since"] + window:
        _finish(delivery_id)
        outcome = Outcome.GAVE_UP
    else:
        _schedule(delivery_id, {**delivery, "attempts": attempts}, now + backoff(attempts))
        outcome = Outcome.RETRYING
    line = {**fields, "outcome": outcome.value, "attempt": attempts, "status": status,
            "error": error, "waited_seconds": round(now - delivery["since"], 1)}  # fmt: skip
    (log.info if outcome == Outcome.DELIVERED else log.warning)("logout token sent", extra=line)
    return outcome


def deliver_due(limit: int = 100) -> Counter:
    """Attempt the deliveries that are due, each by the one worker that claims it; returns
    how many attempts had each outcome."""
    outcomes: Counter = Counter()
    lease = current_app.config["BACKCHANNEL_LOGOUT_TIMEOUT"] + _CLAIM_MARGIN_SECONDS
    for raw_id in store.redis.zrangebyscore(_due_key(), "-inf", time.time(), start=0, num=limit):
        delivery_id = raw_id.decode()
        if not store.redis.set(_claim_key(delivery_id), "1", nx=True, ex=lease):
            continue  # another worker is attempting it
        try:
            # Read under the claim: a worker that held it before may have delivered it.
            due_at = store.redis.zscore(_due_key(), delivery_id)
            raw = store.redis.hget(_deliveries_key(), delivery_id)
            if due_at is None or due_at > time.time():
                continue
            if raw is None:  # listed without its delivery: nothing to send
                store.redis.zrem(_due_key(), delivery_id)
                continue
            try:
                outcome = _attempt(delivery_id, json.loads(raw))
            except Exception:  # e.g. no signing key yet: left due, tried again next round
                log.exception("logout token not sent", extra={
                    "event": "backchannel_logout", "delivery": delivery_id})  # fmt: skip
                continue
            outcomes[outcome] += 1
            metrics.count_logout_delivery(outcome)
        finally:
            store.redis.delete(_claim_key(delivery_id))
    return outcomes


def run_once() -> Counter:
    """What the worker thread does each round: notice the sessions that expired (which
    queues their logout tokens), then attempt what is due."""
    sessions.sweep_expired()
    return deliver_due()


def start_deliverer(app) -> threading.Event | None:
    """Run ``run_once`` every BACKCHANNEL_LOGOUT_SECONDS in a daemon thread (one per worker,
    started by serve.py's worker_app; the claims keep workers off each other's deliveries).
    0 turns it off. Setting the returned event stops the thread."""
    interval = app.config["BACKCHANNEL_LOGOUT_SECONDS"]
    if interval <= 0:
        return None
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            with app.app_context():
                try:
                    run_once()
                except Exception:  # a store or database outage must not end the thread
                    app.logger.exception("back-channel logout round failed; retrying")
                finally:
                    db.session.remove()

    threading.Thread(target=run, name="backchannel-logout", daemon=True).start()
    return stop


def init_app() -> None:
    sessions.on_end(enqueue_for)
