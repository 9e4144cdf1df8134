"""client_credentials, introspection (RFC 7662) and revocation (RFC 7009)."""

from __future__ import annotations

import json

import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from tests.oidc.conftest import register


def _service_client(app) -> tuple[str, str]:
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Ledger reporter", "--kind", "public_authority",
        "--grant-type", "client_credentials", "--scope", "",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return created["client_id"], created["client_secret"]


def _client_credentials(client, auth, **data):
    return client.post("/token", data={"grant_type": "client_credentials", **data}, auth=auth)


@pytest.mark.cluster
def test_client_credentials_gives_a_service_token_without_a_citizen(app, client, oidc):
    auth = _service_client(app)
    response = _client_credentials(client, auth)
    assert response.status_code == 200, response.json
    token = response.json
    assert token["token_type"] == "Bearer" and "refresh_token" not in token
    assert "id_token" not in token
    info = client.post("/introspect", data={"token": token["access_token"]}, auth=auth).json
    assert info["active"] is True and info["sub"] == auth[0] and info["client_id"] == auth[0]
    userinfo = client.get("/userinfo", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert userinfo.status_code == 403


@pytest.mark.parametrize("scope", ["openid", "profile", "cpr"])
def test_client_credentials_never_carries_citizen_scopes(app, client, oidc, scope):
    response = _client_credentials(client, _service_client(app), scope=scope)
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"


def test_a_login_client_may_not_use_client_credentials(app, client, oidc):
    bank = register(app)
    response = _client_credentials(client, (bank.client_id, bank.client_secret))
    assert response.json["error"] == "unauthorized_client"


def test_client_credentials_with_a_wrong_secret_is_invalid_client(app, client, oidc):
    client_id, _ = _service_client(app)
    response = _client_credentials(client, (client_id, "wrong"))
    assert response.status_code == 401 and response.json["error"] == "invalid_client"


@pytest.mark.cluster
def test_introspection_of_a_citizen_token(app, client, oidc):
    flow = oidc(register(app))
    tokens = flow.tokens()
    auth = (flow.service.client_id, flow.service.client_secret)
    info = client.post("/introspect", data={"token": tokens["access_token"]}, auth=auth).json
    assert info["active"] is True
    assert info["scope"] == "openid profile age"
    assert info["sub"] == flow.id_token(tokens)["sub"]
    assert info["iss"] == "http://localhost:5000" and info["token_type"] == "Bearer"


def test_a_client_cannot_introspect_another_clients_token(app, client, oidc):
    flow = oidc(register(app))
    token = flow.tokens()["access_token"]
    other = _service_client(app)
    assert client.post("/introspect", data={"token": token}, auth=other).json == {"active": False}


@pytest.mark.parametrize("token", ["garbage", "", "eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0."])
def test_introspection_of_junk_is_inactive_or_a_clear_error(app, client, oidc, token):
    auth = _service_client(app)
    response = client.post("/introspect", data={"token": token}, auth=auth)
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json == {"active": False}
    else:
        assert response.json["error"] == "invalid_request"


def test_introspection_needs_client_authentication(app, client, oidc):
    token = oidc(register(app)).tokens()["access_token"]
    response = client.post("/introspect", data={"token": token})
    assert response.status_code == 401 and response.json["error"] == "invalid_client"


@pytest.mark.cluster
def test_a_revoked_access_token_is_dead_everywhere(app, client, oidc):
    flow = oidc(register(app))
    token = flow.tokens()["access_token"]
    auth = (flow.service.client_id, flow.service.client_secret)
    assert client.post("/revoke", data={"token": token}, auth=auth).status_code == 200
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/introspect", data={"token": token}, auth=auth).json == {"active": False}
    # Revoking again, or an unknown token, is still 200 (RFC 7009 2.2).
    assert client.post("/revoke", data={"token": token}, auth=auth).status_code == 200
    assert client.post("/revoke", data={"token": "nope"}, auth=auth).status_code == 200


def test_a_client_cannot_revoke_another_clients_token(app, client, oidc):
    flow = oidc(register(app))
    token = flow.tokens()["access_token"]
    response = client.post("/revoke", data={"token": token}, auth=_service_client(app))
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_discovery_lists_the_new_endpoints(client, oidc):
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["introspection_endpoint"].endswith("/introspect")
    assert meta["revocation_endpoint"].endswith("/revoke")
    assert "client_credentials" in meta["grant_types_supported"]


@pytest.mark.cluster
def test_one_client_flooding_the_token_endpoints_is_rate_limited(make_app):
    app = make_app(TOKEN_RATE_LIMIT_PER_CLIENT="3 per minute")
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    auth, neighbour = _service_client(app), _service_client(app)
    client = app.test_client()
    assert [_client_credentials(client, auth).status_code for _ in range(2)] == [200, 200]
    assert client.post("/introspect", data={"token": "x"}, auth=auth).status_code == 200
    limited = _client_credentials(client, auth)  # token, introspection, revocation: one budget
    assert limited.status_code == 429
    assert limited.json["error"] == "invalid_request" and int(limited.headers["Retry-After"]) > 0
    assert client.post("/revoke", data={"token": "x"}, auth=auth).status_code == 429
    elsewhere = app.test_client()
    other_source = {"REMOTE_ADDR": "192.0.2.7"}
    response = elsewhere.post("/token", data={"grant_type": "client_credentials"}, auth=auth,
                              environ_base=other_source)  # fmt: skip
    assert response.status_code == 429, "the budget is the client's, wherever it calls from"
    response = _client_credentials(client, neighbour)
    assert response.status_code == 200, "another client, same source: its own budget"


@pytest.mark.cluster
def test_one_source_flooding_the_token_endpoints_with_bad_credentials_is_rate_limited(make_app):
    app = make_app(TOKEN_RATE_LIMIT="3 per minute")
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    client_id, secret = _service_client(app)
    client = app.test_client()
    wrong = (client_id, "wrong")
    assert _client_credentials(client, wrong).status_code == 401
    assert client.post("/introspect", data={"token": "x"}, auth=wrong).status_code == 401
    assert client.post("/revoke", data={"token": "x"}, auth=wrong).status_code == 401
    limited = _client_credentials(client, (client_id, secret))  # the right one too, from here
    assert limited.status_code == 429
    assert limited.json["error"] == "invalid_request" and int(limited.headers["Retry-After"]) > 0
    elsewhere = {"REMOTE_ADDR": "192.0.2.7"}
    response = app.test_client().post("/token", data={"grant_type": "client_credentials"},
                                      auth=(client_id, secret), environ_base=elsewhere)  # fmt: skip
    assert response.status_code == 200, "another source has its own budget"


def test_a_client_may_have_its_access_tokens_signed_rs256(app, client, oidc):
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "RS256 service", "--kind", "public_authority",
        "--grant-type", "client_credentials", "--scope", "", "--access-token-alg", "RS256",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    auth = (created["client_id"], created["client_secret"])
    token = _client_credentials(client, auth).json["access_token"]
    assert jws.extract_compact(token.encode()).protected["alg"] == "RS256"
    active = client.post("/introspect", data={"token": token}, auth=auth).json
    assert active["active"] is True
    # A login client's tokens stay ES256 unless it registered otherwise.
    bank = register(app)
    es256 = oidc(bank).tokens()["access_token"]
    assert jws.extract_compact(es256.encode()).protected["alg"] == "ES256"


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_a_service_token_verifies_with_the_published_keys(app, client, oidc, alg):
    """What a resource server checks on its own (RFC 9068 2.1, 4): the signature under the
    key of `kid` at jwks_uri, `typ` at+jwt, the claims as JSON."""
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", f"{alg} service", "--kind", "public_authority",
        "--grant-type", "client_credentials", "--scope", "", "--access-token-alg", alg,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    for _ in range(2):  # the first token of a key, and one after it
        token = _client_credentials(client, (created["client_id"], created["client_secret"]))
        published = KeySet.import_key_set(client.get("/jwks").json)
        verified = jwt.decode(token.json["access_token"], published, algorithms=[alg])
        assert verified.header["typ"] == "at+jwt" and verified.header["alg"] == alg
        assert published.get_by_kid(verified.header["kid"])
        assert verified.claims["client_id"] == created["client_id"] == verified.claims["sub"]
        assert verified.claims["exp"] - verified.claims["iat"] == token.json["expires_in"]


def test_a_token_introspected_before_dies_with_its_keys_publication(app, client, oidc,
                                                                     monkeypatch):  # fmt: skip
    """A verified token is not verified again while the published keys stay the same
    (idp/oidc/tokens.py): once its key is no longer published it is inactive, though it
    was introspected as active before, and a revoked one is inactive at once."""
    from tests.idp.test_keys import KeyClock

    auth = _service_client(app)
    token = _client_credentials(client, auth).json["access_token"]
    revoked = _client_credentials(client, auth).json["access_token"]
    for each in (token, revoked):
        assert client.post("/introspect", data={"token": each}, auth=auth).json["active"] is True
    assert client.post("/revoke", data={"token": revoked}, auth=auth).status_code == 200
    assert client.post("/introspect", data={"token": revoked}, auth=auth).json == {"active": False}
    assert client.post("/introspect", data={"token": token}, auth=auth).json["active"] is True
    clock = KeyClock(monkeypatch)
    rotated = app.test_cli_runner().invoke(args=["keys", "rotate", "--grace", "0"])
    assert rotated.exit_code == 0, rotated.output
    clock.advance(app.config["KEY_RETIRED_PUBLISH_SECONDS"] + 1)
    assert client.post("/introspect", data={"token": token}, auth=auth).json == {"active": False}
