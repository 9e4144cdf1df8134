"""The attacker's tools: forged JWTs, a passkey in software, and a second worker on the store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey, RSAKey

from idp.core.extensions import db, store
from tests.conftest import csrf_token, sibling_app
from tests.oidc.conftest import oidc  # noqa: F401 (a fixture)

ISSUER = "http://localhost:5000"
JSON_HEADERS = {"Accept": "application/json"}


# --- forged JWTs ------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def header_of(token: str) -> dict:
    return json.loads(_b64decode(token.split(".")[0]))


def claims_of(token: str) -> dict:
    """A JWT's claims, read without checking anything (as an attacker reads a token)."""
    return json.loads(_b64decode(token.split(".")[1]))


def _signing_input(header: dict, claims: dict) -> str:
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())


def unsigned(header: dict, claims: dict) -> str:
    """`alg: none`: no signature at all."""
    return _signing_input(header, claims) + "."


def hs256(secret: bytes, header: dict, claims: dict) -> str:
    signing_input = _signing_input({**header, "alg": "HS256"}, claims)
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def public_key_secrets(jwk: dict) -> dict[str, bytes]:
    """The forms of a public key a confused verifier might take as an HMAC secret: the PEM
    (the classic algorithm-confusion attack), its DER, and the JWK itself as JSON."""
    key = (RSAKey if jwk["kty"] == "RSA" else ECKey).import_key(jwk)
    pem = key.as_pem(private=False)
    public = serialization.load_pem_public_key(pem)
    der = public.public_bytes(serialization.Encoding.DER,
                              serialization.PublicFormat.SubjectPublicKeyInfo)  # fmt: skip
    return {"pem": pem, "pem without newline": pem.strip(), "der": der,
            "jwk json": json.dumps(jwk).encode()}  # fmt: skip


def forgeries(token: str, published: list[dict], **claim_changes) -> dict[str, str]:
    """Every forgery of ``token`` (its claims, changed by ``claim_changes``) that a verifier
    trusting the token's header would accept: unsigned in the spellings of `none`, the real
    signature kept under `alg: none`, and HS256 keyed with each published public key."""
    header, claims = header_of(token), {**claims_of(token), **claim_changes}
    made = {}
    for spelling in ("none", "None", "NONE", "nOnE"):
        made[f"alg {spelling}"] = unsigned({**header, "alg": spelling}, claims)
    made["alg none, real signature kept"] = (
        _signing_input({**header, "alg": "none"}, claims) + "." + token.split(".")[2]
    )
    made["no alg"] = unsigned({k: v for k, v in header.items() if k != "alg"}, claims)
    for jwk in published:
        for form, secret in public_key_secrets(jwk).items():
            made[f"HS256 with {jwk['alg']} key as {form}"] = hs256(
                secret, {**header, "kid": jwk["kid"]}, claims
            )
    return made


def own_key_forgeries(token: str, **claim_changes) -> dict[str, str]:
    """The token re-signed with the attacker's own key, offered to the verifier in the
    header: embedded (`jwk`), by URL (`jku`, `x5u`), or a `kid` of no key of ours."""
    header, claims = header_of(token), {**claims_of(token), **claim_changes}
    attacker = ECKey.generate_key("P-256", private=True)
    public = attacker.as_dict(private=False)
    from joserfc import jwt

    def signed(extra: dict) -> str:
        return jwt.encode({**header, "alg": "ES256", **extra}, claims, attacker)

    return {
        "embedded jwk": signed({"jwk": public}),
        "jku": signed({"jku": "https://evil.example/jwks"}),
        "x5u": signed({"x5u": "https://evil.example/cert.pem"}),
        "unknown kid": signed({"kid": "attacker-key"}),
        "kid path traversal": signed({"kid": "../../../../dev/null"}),
    }


# --- a passkey in software --------------------------------------------------------------------

_UP, _UV, _BE, _AT = 0x01, 0x04, 0x08, 0x40


class SoftAuthenticator:
    """A passkey held in software (P-256, attestation "none") that answers WebAuthn ceremonies
    as a platform authenticator does, and lets a test bend what it sends: the origin the
    browser saw, the RP ID, the signature counter."""

    def __init__(self, *, rp_id: str = "localhost", origin: str = ISSUER, device_bound=True):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(16)
        self.rp_id, self.origin = rp_id, origin
        self.extra_flags = 0 if device_bound else _BE
        self.sign_count = 0
        self.user_handle: str | None = None

    def _cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})  # fmt: skip

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def register(self, options: dict) -> dict:
        """The answer to registration options (navigator.credentials.create)."""
        self.user_handle = options["user"]["id"]
        client_data = self._client_data("webauthn.create", options["challenge"], None)
        auth_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([_UP | _UV | _AT | self.extra_flags])
            + self.sign_count.to_bytes(4, "big")
            + bytes(16)  # AAGUID: none, as with attestation "none"
            + len(self.credential_id).to_bytes(2, "big")
            + self.credential_id
            + self._cose_public_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def assertion(self, challenge: str, *, origin: str | None = None, rp_id: str | None = None,
                  sign_count: int | None = None) -> dict:  # fmt: skip
        """The answer to a login challenge (navigator.credentials.get), signed with the key.
        The counter moves on unless ``sign_count`` says what to send."""
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        auth_data = (
            hashlib.sha256((rp_id or self.rp_id).encode()).digest()
            + bytes([_UP | _UV | self.extra_flags])
            + sign_count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", challenge, origin)
        signature = self.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": self.user_handle,
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }


def post_json(client, path: str, body, token: str | None):
    headers = dict(JSON_HEADERS)
    if token is not None:
        headers["X-CSRFToken"] = token
    return client.post(path, json=body, headers=headers)


def register_passkey(client, authenticator: SoftAuthenticator, name: str = "Laptop",
                     page: str = "/me/security") -> None:  # fmt: skip
    """A logged-in citizen (two factors, proved in the last few minutes) adds
    ``authenticator`` on the security page (or, for a first one, on ``page``)."""
    token = csrf_token(client.get(page))
    options = post_json(client, "/me/security/passkey/options", {}, token)
    assert options.status_code == 200, options.json
    answer = {"credential": authenticator.register(options.json), "name": name}
    done = post_json(client, "/me/security/passkey/verify", answer, token)
    assert done.status_code == 200, done.json


def login_challenge(client) -> tuple[str, str]:
    """A browser opens the login page and asks for a passkey challenge: (CSRF token, challenge)."""
    token = csrf_token(client.get("/login"))
    options = post_json(client, "/login/passkey/options", {}, token)
    assert options.status_code == 200, options.json
    return token, options.json["challenge"]


def send_assertion(client, token: str, credential: dict):
    return post_json(client, "/login/passkey/verify", {"credential": credential, "next": "/me"},
                     token)  # fmt: skip


def pair_phone(app, client, phone_key: SoftAuthenticator, name: str = "Pixel"):
    """Pair a phone through the pages: the computer starts, the phone's browser finishes."""
    token = csrf_token(client.get("/me/security"))
    started = client.post("/me/security/phone", data={"csrf_token": token})
    assert started.status_code == 303, started.headers.get("Location")
    page = client.get(started.headers["Location"])
    assert page.status_code == 200
    link = re.search(r'id="pairing-link" href="([^"]+)"', page.text).group(1)
    phone = app.test_client()
    phone_token = re.search(r'data-csrf-token="([^"]+)"', phone.get("/app/pair").text).group(1)
    secret = link.split("#", 1)[1]
    options = post_json(phone, "/app/api/pair/options", {"token": secret}, phone_token)
    assert options.status_code == 200, options.json
    paired = post_json(phone, "/app/api/pair/verify", {"token": secret, "name": name,
                       "credential": phone_key.register(options.json)}, phone_token)  # fmt: skip
    assert paired.status_code == 200, paired.json
    return phone


# --- a second worker ------------------------------------------------------------------------


@pytest.fixture
def second_worker(app):
    """Another worker's app: its own process state, the same database, store, keys and secret.
    On the embedded store (one per app) it is given the first app's, as Redis would be shared."""
    cfg = app.config
    other = sibling_app(app)
    own_store = other.extensions["tillid_store"]
    if not cfg["REDIS_URL"]:
        other.extensions["tillid_store"] = app.extensions["tillid_store"]
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()
    own_store.close()


def age_second_factor(app, client, seconds: float) -> None:
    """Move the browser's session's last second factor ``seconds`` into the past, as if the
    citizen had walked away from the computer that long ago (no sleeping)."""
    cookie = client.get_cookie("tillid_sso")
    assert cookie is not None, "the browser has no session"
    with app.app_context():
        key = store.key("sso", hashlib.sha256(cookie.value.encode()).hexdigest())
        ttl = store.redis.ttl(key)
        held = json.loads(store.redis.get(key))
        assert held["second_factor_at"] is not None, "no second factor proved in this session"
        held["second_factor_at"] -= seconds
        store.redis.set(key, json.dumps(held), ex=ttl)
