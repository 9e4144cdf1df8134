"""Access tokens bought at a login live no longer than the citizen's SSO session.

A code carries the session's `sid`; the access token redeemed with it is listed under that
`sid` in the store, and when the session is ended (logout here or at a service's request,
log out everywhere) its tokens are revoked at once, at userinfo and introspection alike. A
session that times out is ended the same way once the sweep notices it
(sessions.sweep_expired, within BACKCHANNEL_LOGOUT_SECONDS).
Refresh tokens (`offline_access`) are meant to outlive the session and are left alone.
"""

from __future__ import annotations

from idp.core import crypto
from idp.core.extensions import store
from idp.oidc import tokens
from idp.sessions import sessions


def sid_of(id_hash: str) -> str:
    """The `sid` services see for the SSO session with this id (OpenID Connect Front/Back-
    Channel Logout): keyed, so it tells nothing about the cookie."""
    return crypto.keyed_hash(id_hash, "oidc-sid")[:32]


def _key(sid: str) -> str:
    return store.key("sso-tokens", sid)


def remember(sid: str | None, jti: str, lifetime: int) -> None:
    """List an access token under the session it was bought at, as long as it lives."""
    if not sid:
        return
    pipe = store.redis.pipeline(transaction=True)  # one key: one slot, on a cluster too
    pipe.sadd(_key(sid), jti)
    pipe.expire(_key(sid), lifetime)  # every token lives as long: the newest outlives the rest
    pipe.execute()


def revoke_for(id_hashes: list[str]) -> None:
    """Revoke the access tokens bought at a login that has ended (every id it had)."""
    for id_hash in id_hashes:
        key = _key(sid_of(id_hash))
        for jti in store.redis.smembers(key):
            tokens.revoke_access_token(jti.decode())
        store.redis.delete(key)


def init_app() -> None:
    sessions.on_end(revoke_for)
