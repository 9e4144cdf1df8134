"""DPoP (RFC 9449): proofs that a client holds a private key, and tokens bound to that key.

A proof is a JWT the client signs for one HTTP request (method and URL), once (`jti`),
now (`iat`), with the public key in its header. Tokens issued on a proof carry the key's
RFC 7638 thumbprint (`cnf.jkt`); whoever presents such a token must also present a fresh
proof signed by that key, with the token's hash in `ath`. A stolen token alone is useless.

Server nonces (RFC 9449 8 and 9) are stateless: a time window and its MAC under the data
key, so every worker checks them without the store. With DPOP_REQUIRE_NONCE (the default)
a proof must carry the current or the previous window's nonce; the answer to one that does
not is `use_dpop_nonce` with the nonce to use in the `DPoP-Nonce` header.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, OAuth2Error
from flask import current_app, g, request
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry
from joserfc.jws import JWSRegistry

from clients.models import Client
from clients.service import FAPI_ALGS
from idp.core import crypto
from idp.core.extensions import store

# Asymmetric only: `none` and HMAC (a "key" anyone holding the public JWK could use) never.
PROOF_ALGORITHMS = ("ES256", "PS256", "RS256", "EdDSA")
PROOF_TYPE = "dpop+jwt"
# How far a proof's `iat` may lie in the past, and ahead of our clock.
PROOF_MAX_AGE_SECONDS = 60
PROOF_CLOCK_SKEW_SECONDS = 10
NONCE_WINDOW_SECONDS = 300
_PRIVATE_MEMBERS = frozenset(("d", "p", "q", "dp", "dq", "qi", "oth", "k"))
_MIN_RSA_BITS = 2048
_MAX_PROOF_LENGTH = 8192


class _ProofRegistry(JWSRegistry):
    # A proof carries its public key in the header: an RSA key alone is past joserfc's
    # default limit of 512 bytes.
    max_header_length = 4096


class ProofError(Exception):
    """A request whose DPoP proof does not hold: the OAuth error code and why."""

    def __init__(self, description: str, error: str = "invalid_dpop_proof"):
        super().__init__(description)
        self.error, self.description = error, description


class NonceRequired(ProofError):
    def __init__(self, description: str = "Send the DPoP-Nonce this answer carries."):
        super().__init__(description, error="use_dpop_nonce")


@dataclass(frozen=True)
class Proof:
    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof's public key
    alg: str


def thumbprint(jwk: dict) -> str:
    return JWKRegistry.import_key(jwk).thumbprint()


def access_token_hash(token: str) -> str:
    """`ath`: base64url of the SHA-256 of the access token (RFC 9449 4.2)."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return crypto.b64url_encode(digest)


def nonce_required() -> bool:
    return current_app.config["DPOP_REQUIRE_NONCE"]


def _nonce_for(window: int) -> str:
    return f"{window}.{crypto.keyed_hash(str(window), 'dpop-nonce')[:32]}"


def current_nonce() -> str:
    return _nonce_for(int(time.time()) // NONCE_WINDOW_SECONDS)


def _nonce_is_fresh(nonce) -> bool:
    """Ours, of this window or the one before (so a nonce lives 5 to 10 minutes)."""
    window = int(time.time()) // NONCE_WINDOW_SECONDS
    return isinstance(nonce, str) and any(
        crypto.equal(nonce, _nonce_for(w)) for w in (window, window - 1)
    )


def _normalised_url(url: str) -> str | None:
    """Scheme, host and path as RFC 3986 6.2.2 compares them; query and fragment dropped."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}[parts.scheme.lower()]
    netloc = parts.hostname.lower() + (f":{port}" if port not in (None, default) else "")
    return f"{parts.scheme.lower()}://{netloc}{parts.path or '/'}"


def with_nonce(response):
    """The nonce for the client's next proof, on every answer to a request that sent one
    (RFC 9449 8.2), and on every `use_dpop_nonce`."""
    if "DPoP" in request.headers and nonce_required():
        response.headers["DPoP-Nonce"] = current_nonce()
    return response


def request_url() -> str:
    """The URL of this request as clients know it: the issuer's base and the path."""
    return current_app.config["ISSUER"] + request.path


def _public_key(header: dict):
    jwk = header.get("jwk")
    if not isinstance(jwk, dict) or jwk.get("kty") not in ("RSA", "EC", "OKP"):
        raise ProofError("The proof's header must carry the public key (jwk) it is signed with.")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise ProofError("The proof's jwk holds private key material.")
    try:
        key = JWKRegistry.import_key(jwk)
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise ProofError("The proof's jwk is not a usable public key.") from None
    if jwk["kty"] == "RSA" and key.raw_value.key_size < _MIN_RSA_BITS:
        raise ProofError("RSA proof keys need at least 2048 bits.")
    return key


def _claims(proof: str, algorithms) -> tuple[dict, dict, object]:
    return signed_by_header_key(proof, typ=PROOF_TYPE, algorithms=algorithms, what="DPoP proof")


def signed_by_header_key(proof, *, typ: str, algorithms, what: str) -> tuple[dict, dict, object]:
    """The header, claims and public key of a proof of possession: a JWT of type ``typ``
    signed with one of ``algorithms`` by the public key its own header carries (`jwk`), as
    DPoP proofs and OpenID4VCI key proofs are. Raises ProofError (``what`` names it)."""
    if not isinstance(proof, str) or len(proof) > _MAX_PROOF_LENGTH or proof.count(".") != 2:
        raise ProofError(f"The {what} is not a signed JWT.")
    try:
        header = jws.extract_compact(proof.encode("ascii"), registry=_ProofRegistry()).protected
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise ProofError(f"The {what} is not a signed JWT.") from None
    if not isinstance(header, dict) or header.get("typ") != typ:
        raise ProofError(f"The proof's typ must be {typ}.")
    alg = header.get("alg")
    if alg not in algorithms:
        raise ProofError(f"The proof's alg must be one of {', '.join(algorithms)}.")
    key = _public_key(header)
    try:
        registry = _ProofRegistry(algorithms=[alg])
        claims = jwt.decode(proof, key, algorithms=[alg], registry=registry).claims
    except (JoseError, ValueError, TypeError, KeyError, AttributeError):
        raise ProofError("The proof's signature does not verify with its jwk.") from None
    return header, claims, key


def verify(proof: str | None, *, method: str, url: str, access_token: str | None = None,
           algorithms=PROOF_ALGORITHMS) -> Proof:  # fmt: skip
    """Check one DPoP proof for this request (RFC 9449 4.3) and spend its `jti`.
    Raises ProofError, or NonceRequired when only the server nonce is missing or stale."""
    if not proof:
        raise ProofError("A DPoP proof is required.")
    header, claims, key = _claims(proof, algorithms)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 256:
        raise ProofError("The proof needs a jti.")
    if claims.get("htm") != method:
        raise ProofError("The proof's htm is not this request's method.")
    expected = _normalised_url(url)
    if not isinstance(claims.get("htu"), str) or _normalised_url(claims["htu"]) != expected:
        raise ProofError("The proof's htu is not this request's URL.")
    iat, now = claims.get("iat"), time.time()
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise ProofError("The proof needs an iat.")
    if not now - PROOF_MAX_AGE_SECONDS <= iat <= now + PROOF_CLOCK_SKEW_SECONDS:
        raise ProofError("The proof's iat is not recent.")
    if access_token is not None:
        if not isinstance(claims.get("ath"), str):
            raise ProofError("The proof needs ath, the hash of the access token it goes with.")
        if not crypto.equal(claims["ath"], access_token_hash(access_token)):
            raise ProofError("The proof's ath is not the hash of this access token.")
    if nonce_required() and not _nonce_is_fresh(claims.get("nonce")):
        raise NonceRequired()  # before the jti is spent: the client retries with this proof's key
    jkt = key.thumbprint()
    # Each proof once, remembered as long as its iat would be accepted.
    seen = store.key("dpop-jti", hashlib.sha256(json.dumps([jkt, jti]).encode()).hexdigest())
    ttl = PROOF_MAX_AGE_SECONDS + PROOF_CLOCK_SKEW_SECONDS
    if not store.redis.set(seen, 1, nx=True, ex=ttl):
        raise ProofError("This DPoP proof was already used.")
    return Proof(jkt=jkt, alg=header["alg"])


def from_request(**kwargs) -> Proof | None:
    """The verified proof of this request's `DPoP` header, None when there is none.
    More than one `DPoP` header is refused (RFC 9449 4.3, check 1)."""
    if "HTTP_DPOP" not in request.environ:  # no DPoP header (getlist walks every header)
        return None
    sent = request.headers.getlist("DPoP")
    if len(sent) > 1:
        raise ProofError("Send one DPoP header.")
    return verify(sent[0], method=request.method, url=request_url(), **kwargs)


def challenge(error: str | None = None, description: str | None = None) -> str:
    """A `WWW-Authenticate: DPoP` challenge (RFC 9449 7.1)."""
    params = [f'algs="{" ".join(PROOF_ALGORITHMS)}"']
    if error:
        params.insert(0, f'error="{error}"')
        if description:
            params.insert(1, f'error_description="{description}"')
    return "DPoP " + ", ".join(params)


class InvalidDPoPProofError(OAuth2Error):
    error = "invalid_dpop_proof"


def token_request_proof() -> Proof | None:
    """The proof the token view verified for this request (None: the request sent none)."""
    return g.get("dpop_proof")


def token_binding(client: Client) -> str | None:
    """The key thumbprint new tokens for ``client`` are bound to: the key of this token
    request's proof. A client registered for DPoP-bound tokens (every FAPI 2.0 client) gets
    none without a proof, and a FAPI client's proof is signed with a FAPI algorithm."""
    proof = token_request_proof()
    if proof is None:
        if client.dpop_bound_access_tokens:
            raise InvalidRequestError("This client must send a DPoP proof (RFC 9449).")
        return None
    if client.is_fapi and proof.alg not in FAPI_ALGS:
        raise InvalidDPoPProofError(
            f"A FAPI 2.0 client signs DPoP proofs with {', '.join(FAPI_ALGS)}."
        )
    return proof.jkt


def check_bound_grant(jkt: str | None, what: str) -> None:
    """A code (`dpop_jkt`) or a public client's refresh token bound to a key is redeemed only
    with a proof of that key (RFC 9449 5 and 10)."""
    if jkt is None:
        return
    proof = token_request_proof()
    if proof is None or not crypto.equal(proof.jkt, jkt):
        raise InvalidGrantError(f"The {what} is bound to another DPoP key.")
