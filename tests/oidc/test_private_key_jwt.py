"""private_key_jwt (RFC 7523): signed client assertions, and the attacks on them."""

from __future__ import annotations

import base64
import json
import secrets
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from tests.oidc.conftest import BANK_REDIRECT, Flow, Service

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ISSUER = "http://localhost:5000"


def register_key_client(app, tmp_path, public: dict) -> str:
    """Register a private_key_jwt service that holds only ``public`` (a JWK); its client_id."""
    registration = {
        "name": "Nordbank", "kind": "private_service", "redirect_uris": [BANK_REDIRECT],
        "scope": "openid profile", "legal_basis": "contract", "purpose": "To serve you",
        "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [public]},
    }  # fmt: skip
    path = tmp_path / "bank.json"
    path.write_text(json.dumps(registration))
    result = app.test_cli_runner().invoke(args=["clients", "create", "--from-file", str(path)])
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["client_secret"] is None
    return created["client_id"]


@pytest.fixture
def signing_client(app, oidc, tmp_path):
    """A service registered with only the public half of its own EC key."""
    key = ECKey.generate_key("P-256", private=True)
    public = {**key.as_dict(private=False), "kid": "bank-1", "use": "sig"}
    return register_key_client(app, tmp_path, public), key


def assertion(client_id, key, *, alg="ES256", aud=f"{ISSUER}/token", **claims):
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60,
            "jti": secrets.token_urlsafe(12), **claims}  # fmt: skip
    return jwt.encode({"alg": alg, "kid": "bank-1"}, body, key)


def _exchange(client, flow: Flow, code: str, client_assertion: str):
    return client.post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": BANK_REDIRECT,
        "code_verifier": flow.verifier, "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": client_assertion,
    })  # fmt: skip


def assert_invalid_client(response) -> None:
    # RFC 6749 5.2: 401 is for credentials in the Authorization header; assertions get 400.
    assert response.status_code in (400, 401), response.json
    assert response.json["error"] == "invalid_client"


def _flow(app, oidc, client_id) -> Flow:
    return oidc(Service(client_id, None, BANK_REDIRECT, "openid profile"))


def test_a_signed_assertion_authenticates_the_client(app, client, oidc, signing_client):
    client_id, key = signing_client
    flow = _flow(app, oidc, client_id)
    response = _exchange(client, flow, flow.code(), assertion(client_id, key))
    assert response.status_code == 200, response.json
    assert flow.id_token(response.json)["aud"] == client_id


def test_the_issuer_is_an_accepted_audience_too(app, client, oidc, signing_client):
    client_id, key = signing_client
    flow = _flow(app, oidc, client_id)
    assert (
        _exchange(client, flow, flow.code(), assertion(client_id, key, aud=ISSUER)).status_code
        == 200
    )


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _unsigned(client_id) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/token", "exp": now + 60,
              "jti": "x"}  # fmt: skip
    return f"{_b64({'alg': 'none'})}.{_b64(claims)}."


def test_attack_alg_none_assertion(app, client, oidc, signing_client):
    client_id, _ = signing_client
    flow = _flow(app, oidc, client_id)
    response = _exchange(client, flow, flow.code(), _unsigned(client_id))
    assert_invalid_client(response)


def test_attack_hs256_signed_with_the_public_key(app, client, oidc, signing_client):
    client_id, key = signing_client
    public_json = json.dumps(key.as_dict(private=False)).encode()
    forged = assertion(client_id, OctKey.import_key(public_json), alg="HS256")
    flow = _flow(app, oidc, client_id)
    response = _exchange(client, flow, flow.code(), forged)
    assert_invalid_client(response)


@pytest.mark.cluster
def test_attack_assertion_replay(app, client, oidc, signing_client):
    client_id, key = signing_client
    signed = assertion(client_id, key)
    flow = _flow(app, oidc, client_id)
    assert _exchange(client, flow, flow.code(), signed).status_code == 200
    flow.new_nonce()
    replay = _exchange(client, flow, flow.code(), signed)
    assert_invalid_client(replay)


@pytest.mark.parametrize(
    "override",
    [
        {"aud": "https://other-idp.example/token"},
        {"exp": 1},
        {"iss": "someone-else"},
    ],
    ids=["wrong audience", "expired", "iss is not sub"],
)
def test_bad_assertion_claims_are_refused(app, client, oidc, signing_client, override):
    client_id, key = signing_client
    flow = _flow(app, oidc, client_id)
    response = _exchange(client, flow, flow.code(), assertion(client_id, key, **override))
    assert_invalid_client(response)


def test_another_key_is_refused(app, client, oidc, signing_client):
    client_id, _ = signing_client
    stranger = ECKey.generate_key("P-256", private=True)
    flow = _flow(app, oidc, client_id)
    assert_invalid_client(_exchange(client, flow, flow.code(), assertion(client_id, stranger)))


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        ({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}, "only RSA, EC or OKP"),
        ({"keys": []}, "public keys"),
        ("not a key set", "public keys"),
    ],
)
def test_the_registry_takes_public_keys_only(app, tmp_path, jwks, message):
    registration = {"name": "X", "kind": "private_service", "redirect_uris": [BANK_REDIRECT],
                    "scope": "openid", "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": jwks}  # fmt: skip
    path = tmp_path / "x.json"
    path.write_text(json.dumps(registration))
    result = app.test_cli_runner().invoke(args=["clients", "create", "--from-file", str(path)])
    assert result.exit_code != 0 and message in result.output


def test_the_registry_refuses_a_private_key(app, tmp_path):
    private = ECKey.generate_key("P-256", private=True).as_dict(private=True)
    registration = {"name": "X", "kind": "private_service", "redirect_uris": [BANK_REDIRECT],
                    "scope": "openid", "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": {"keys": [private]}}  # fmt: skip
    path = tmp_path / "x.json"
    path.write_text(json.dumps(registration))
    result = app.test_cli_runner().invoke(args=["clients", "create", "--from-file", str(path)])
    assert result.exit_code != 0 and "private key material" in result.output
