"""Authorization codes in the store: 60 seconds, single use, and a trace of what a code bought.

Only a hash of the code is a key, so a store dump redeems nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin

from idp.core.extensions import store

CODE_LIFETIME_SECONDS = 60
# How long a spent code is remembered, so a replay can still revoke what it bought.
SPENT_MEMORY_SECONDS = 10 * 60


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    client_id: str
    citizen_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    auth_time: int
    acr: str
    amr: list[str] = field(default_factory=list)
    sid: str | None = None
    # Claims asked for by name (the `claims` parameter), per target.
    id_token_claims: list[str] = field(default_factory=list)
    userinfo_claims: list[str] = field(default_factory=list)
    # RFC 9449 10: the thumbprint of the DPoP key the code may only be redeemed with.
    dpop_jkt: str | None = None
    # RFC 9396: the credentials a wallet asked for by authorization_details (OpenID4VCI),
    # echoed in the token response with their identifiers.
    authorization_details: list[dict] = field(default_factory=list)
    # While an agent acts for the citizen (citizen_id, the principal): {mandate_id, agent_id}.
    acting: dict | None = None
    code_hash: str = ""

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return self.acr

    def get_amr(self):
        return self.amr


def _hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def save(code: str, record: AuthorizationCode) -> None:
    record.code_hash = _hash(code)
    # Two unrelated keys (two slots on a cluster): batched, not a transaction. If one write
    # fails the call raises and the code is never handed out.
    pipe = store.redis.pipeline(transaction=False)
    pipe.set(store.key("code", record.code_hash), json.dumps(asdict(record)),
             ex=CODE_LIFETIME_SECONDS)  # fmt: skip
    if record.nonce:
        pipe.set(store.key("nonce", record.client_id, _hash(record.nonce)), 1,
                 ex=CODE_LIFETIME_SECONDS)  # fmt: skip
    pipe.execute()


def take(code: str) -> AuthorizationCode | None:
    """Redeem a code: atomically read and delete it, so two requests cannot both win."""
    raw = store.redis.getdel(store.key("code", _hash(code)))
    return AuthorizationCode(**json.loads(raw)) if raw is not None else None


def nonce_in_use(client_id: str, nonce: str) -> bool:
    return bool(store.redis.exists(store.key("nonce", client_id, _hash(nonce))))


def remember_spent(code_hash: str, access_token_jti: str) -> None:
    store.redis.set(store.key("code-spent", code_hash), access_token_jti, ex=SPENT_MEMORY_SECONDS)


def spent_tokens(code: str) -> str | None:
    """The access token id a spent code bought (None if the code was never redeemed)."""
    raw = store.redis.get(store.key("code-spent", _hash(code)))
    return raw.decode() if raw is not None else None
