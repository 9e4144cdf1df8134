"""Access tokens: RFC 9068 JWTs, each tracked in the store so it can be revoked early."""

from __future__ import annotations

import functools
import json
import secrets
import time

from cryptography.hazmat.primitives.asymmetric.ec import ECDSA
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from flask import current_app
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry
from joserfc.util import json_b64encode, urlsafe_b64encode

from clients.models import Client
from idp.citizens.models import Citizen
from idp.core import crypto, rate_limits
from idp.core.extensions import store
from idp.keys import service as keys
from idp.oidc import subjects


def _key(jti: str) -> str:
    return store.key("access-token", jti)


def issue_access_token(
    client: Client,
    citizen: Citizen | None,
    scope: str,
    userinfo_claims: list[str] = (),
    *,
    jkt: str | None = None,
    acting: dict | None = None,
):
    """An access token for ``client`` carrying ``scope`` (what idp/oidc/scopes.py allowed
    its grant); with ``jkt`` (the thumbprint of the key of the request's DPoP proof) a DPoP
    token bound to that key (RFC 9449 6: `cnf.jkt`). With ``acting`` ({mandate_id,
    agent_id}) the token is the principal's (``citizen``) used by the agent: `act` names the
    agent, and the record keeps the mandate, which the guard checks on every use."""
    lifetime = current_app.config["ACCESS_TOKEN_SECONDS"]
    now = int(time.time())
    jti = secrets.token_urlsafe(16)
    claims = {
        "iss": current_app.config["ISSUER"],
        "aud": client.client_id,
        "client_id": client.client_id,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti,
        "scope": scope,
        "sub": subjects.pairwise_sub(client.sector_identifier, citizen.id)
        if citizen is not None
        else client.client_id,
    }
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    if acting is not None:
        claims["act"] = {"sub": subjects.pairwise_sub(client.sector_identifier, acting["agent_id"])}
    token = _signed(client.access_token_signed_response_alg, claims)
    # The store says whose token it is (the pairwise sub cannot be reversed) and that it
    # still counts: deleting the entry revokes it at userinfo and introspection.
    record = {"client_id": client.client_id, "citizen_id": citizen.id if citizen else None,
              "scope": scope, "userinfo_claims": list(userinfo_claims),
              "exp": claims["exp"]}  # fmt: skip
    if acting is not None:
        record["acting"] = acting
    # With the client's budget where it is due (idp/core/rate_limits.py): one round trip.
    rate_limits.with_budget("SET", _key(jti), json.dumps(record), "EX", lifetime)
    token_type = "DPoP" if jkt is not None else "Bearer"
    return {"token_type": token_type, "access_token": token, "expires_in": lifetime, "scope": scope}


# Per algorithm: the key that signed last, its kid, its tokens' header segment and what
# signs with it, checked once.
_SIGNERS: dict[str, tuple[object, str, bytes, object]] = {}


def _es256_signer(private_key):
    """An ES256 signature as JWS has it (RFC 7518 3.4: R and S, 32 bytes each), made by the
    key's own `cryptography` object: what joserfc's ES256 makes, without its per-call checks
    of the key (made once, in `_signed`) and its hex round trip of R and S."""

    def sign(signing_input: bytes) -> bytes:
        r, s = decode_dss_signature(private_key.sign(signing_input, ECDSA(SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def _signed(alg: str, claims: dict) -> str:
    """The compact JWS of ``claims``, typed at+jwt, signed by the key that signs for ``alg``
    now: what joserfc's `jwt.encode` makes (the same header and payload bytes, signed by
    its algorithm), without building and checking the same header, registry and key on every
    token. Those checks are made once per key (a rotation gets a new one)."""
    kid, key = keys.signing_key(alg)
    signer = _SIGNERS.get(alg)
    if signer is None or signer[0] is not key or signer[1] != kid:
        header = {"typ": "at+jwt", "alg": alg, "kid": kid}
        registry = JWSRegistry(algorithms=[alg])
        registry.check_header(header)
        algorithm = registry.get_alg(alg)
        algorithm.check_key(key)
        if alg == "ES256":
            sign = _es256_signer(key.get_op_key("sign"))
        else:
            sign = functools.partial(algorithm.sign, key=key)
        signer = (key, kid, json_b64encode(header) + b".", sign)
        _SIGNERS[alg] = signer
    _key, _kid, header_segment, sign = signer
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
    signing_input = header_segment + urlsafe_b64encode(payload)
    return (signing_input + b"." + urlsafe_b64encode(sign(signing_input))).decode("ascii")


def jti_of(token: str) -> str:
    """The `jti` of a token we just issued ourselves (so no need to verify it again)."""
    return crypto.unverified_jwt_part(token, 1)["jti"]


def revoke_access_token(jti: str) -> None:
    store.redis.delete(_key(jti))


# Tokens whose signature and header checked out, with the published key set that verified
# them: a signature over the same bytes under the same keys does not change, so checking it
# again is needed only once that key set is replaced. The key set is what idp/keys/service.py
# keeps per process (a rotation here at once, one elsewhere within its cache time, a retired
# key's end of publication on schedule), so a token is trusted from here exactly as long as
# a fresh verification would succeed. Expiry, issuer and the store's record (revocation)
# are checked on every call. Resource servers introspect the same token on every call they
# serve; the whole verification was a seventh of an introspection's CPU.
_VERIFIED: dict[str, tuple[object, dict]] = {}
_VERIFIED_MAX = 4096  # tokens per process; past that it starts afresh


def _verified_claims(token: str) -> dict | None:
    """The claims of a token signed by a published key, typed at+jwt; else None."""
    current = keys.published_key_set()
    hit = _VERIFIED.get(token)
    if hit is not None and hit[0] is current:
        return hit[1]
    used = []

    def resolve(compact):
        key_set = keys.verifying_keys(compact)
        used.append(key_set)
        return key_set

    try:
        verified = jwt.decode(token, resolve, algorithms=list(keys.ALGORITHMS))
    except (JoseError, ValueError):
        return None
    if verified.header.get("typ") != "at+jwt":
        return None
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[token] = (used[0], verified.claims)
    return verified.claims


def access_token_claims(token: str) -> dict | None:
    """The claims of an access token we issued that is signed by a published key, typed
    at+jwt, ours and unexpired; else None. Whether it is still live (not revoked) only its
    record in the store says: `record_of`."""
    claims = _verified_claims(token)
    if claims is None:
        return None
    if claims.get("iss") != current_app.config["ISSUER"] or claims.get("exp", 0) <= time.time():
        return None
    return claims


def _record(raw, claims: dict) -> dict | None:
    return {**json.loads(raw), "claims": dict(claims)} if raw is not None else None


def record_of(claims: dict) -> dict | None:
    """The store's record of the token of ``claims`` (`access_token_claims`), None once it
    was revoked or expired (with a client's budget that is due, idp/core/rate_limits.py)."""
    return _record(rate_limits.with_budget("GET", _key(str(claims.get("jti")))), claims)


def record_with_budget(claims: dict, budget: str, along: tuple = ()) -> tuple[dict | None, object]:
    """`record_of`, and the token's client spends ``budget`` in the same round trip, only if
    the record is there (Exhausted when it is spent); ``along``: a read (name, key) the
    request needs too, made in that round trip: its answer is the second of the two (None
    when there is no record)."""
    key = _key(str(claims.get("jti")))
    raw, also = rate_limits.read_then_spend_for_client(budget, str(claims.get("client_id")),
                                                       ("GET", key), along)  # fmt: skip
    return _record(raw, claims), also


def active_access_token(token: str) -> dict | None:
    """The record of a valid, unexpired, unrevoked access token we issued; else None."""
    claims = access_token_claims(token)
    return record_of(claims) if claims is not None else None
