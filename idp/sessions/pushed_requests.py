"""Pushed authorization requests (RFC 9126) as the store keeps them, bound to a browser. The
`/par` endpoint (idp/oidc/par.py) pushes them; `/authorize` claims them.

A pushed request waits PUSHED_REQUEST_SECONDS in the store, validated and bound to its
client. The first `/authorize` that names it claims it for that browser: it moves to a key
of its own, kept while the citizen logs in and consents (at most INTERACTION_SECONDS), and
it ends with the authorization response. Any other browser or client presenting the same
`request_uri` finds nothing (single use).
"""

from __future__ import annotations

import hashlib
import json
import secrets

from flask import session

from idp.core import crypto
from idp.core.extensions import store

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PUSHED_REQUEST_SECONDS = 60
INTERACTION_SECONDS = 10 * 60
_BROWSER = "par_browser"


def _reference_hash(request_uri) -> str | None:
    if not isinstance(request_uri, str) or not request_uri.startswith(REQUEST_URI_PREFIX):
        return None
    reference = request_uri[len(REQUEST_URI_PREFIX) :]
    return hashlib.sha256(reference.encode()).hexdigest() if 0 < len(reference) <= 128 else None


def push(client_id: str, params: dict[str, str]) -> str:
    """Keep a validated request for its client; returns its `request_uri`. Only a hash of
    the reference is a key, so a store dump names no usable request_uri."""
    reference = secrets.token_urlsafe(32)
    record = {"client_id": client_id, "params": params}
    key = store.key("par", hashlib.sha256(reference.encode()).hexdigest())
    store.redis.set(key, json.dumps(record), ex=PUSHED_REQUEST_SECONDS)
    return REQUEST_URI_PREFIX + reference


def _browser() -> str:
    """This browser's mark (in its signed session cookie), hashed for the store."""
    if _BROWSER not in session:
        session[_BROWSER] = secrets.token_urlsafe(16)
    return hashlib.sha256(session[_BROWSER].encode()).hexdigest()


def claim(request_uri, client_id) -> dict[str, str] | None:
    """The parameters pushed as ``request_uri`` for ``client_id``, for this browser; None
    when unknown, expired, another client's, or already claimed by another browser."""
    reference = _reference_hash(request_uri)
    if reference is None or not isinstance(client_id, str):
        return None
    claimed_key = store.key("par-claimed", reference)
    # GETDEL: of two browsers racing for one request_uri, exactly one wins it.
    raw = store.redis.getdel(store.key("par", reference))
    if raw is not None:
        record = {**json.loads(raw), "browser": _browser()}
        if record["client_id"] != client_id:
            return None  # shown with another client's id: spent, never honoured
        store.redis.set(claimed_key, json.dumps(record), ex=INTERACTION_SECONDS)
        return record["params"]
    raw = store.redis.get(claimed_key)
    if raw is None:
        return None
    record = json.loads(raw)
    if record["client_id"] != client_id or not crypto.equal(record["browser"], _browser()):
        return None
    return record["params"]


def peek(request_uri, client_id) -> dict[str, str] | None:
    """What ``claim`` would give this browser, without claiming anything (for pages that
    only need to know where the request leads)."""
    reference = _reference_hash(request_uri)
    if reference is None:
        return None
    raw = store.redis.get(store.key("par-claimed", reference))
    if raw is not None:
        record = json.loads(raw)
        if _BROWSER not in session or not crypto.equal(record["browser"], _browser()):
            return None
    else:
        raw = store.redis.get(store.key("par", reference))
        record = json.loads(raw) if raw is not None else None
    if record is None or record["client_id"] != client_id:
        return None
    return record["params"]


def finish(request_uri) -> None:
    """The authorization response went back to the client: the request is spent."""
    reference = _reference_hash(request_uri)
    if reference is not None:
        store.redis.delete(store.key("par-claimed", reference))
