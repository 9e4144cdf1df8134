"""c_nonce (OpenID4VCI 1.0 section 7): the fresh value a wallet signs into its key proofs, so a
proof cannot be made ahead of time or replayed. Each is kept in the store for NONCE_SECONDS
and spent by the first credential request that uses it."""

from __future__ import annotations

import hashlib
import secrets

from idp.core.extensions import store

NONCE_SECONDS = 300


def _key(nonce: str) -> str:
    # Only a hash is a key: a store dump names no usable nonce.
    return store.key("c-nonce", hashlib.sha256(nonce.encode()).hexdigest())


def issue() -> str:
    nonce = secrets.token_urlsafe(24)
    store.redis.set(_key(nonce), 1, ex=NONCE_SECONDS)
    return nonce


def spend(nonce) -> bool:
    """True once for a nonce issued here in the last NONCE_SECONDS; False for any other, or
    for one already used (a DEL is atomic: of two requests with one nonce, one wins)."""
    if not isinstance(nonce, str) or not 0 < len(nonce) <= 128:
        return False
    return store.redis.delete(_key(nonce)) == 1
