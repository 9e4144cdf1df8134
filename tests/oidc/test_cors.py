"""CORS: a public browser client may call token, userinfo and revocation from its own origin."""

from __future__ import annotations

import pytest

from tests.oidc.conftest import redirect_params, register

SPA = "https://spa.example"
EVIL = "https://evil.example"


@pytest.fixture
def spa(app):
    return register(app, name="Borger-app", redirect_uri=f"{SPA}/callback",
                    legal_basis="contract",
                    extra=["--auth-method", "none"])  # fmt: skip


def preflight(client, path: str, origin: str):
    return client.options(path, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    })  # fmt: skip


def spa_tokens(client, flow, origin=SPA) -> tuple[dict, object]:
    code = redirect_params(flow.decide(flow.authorize()))["code"]
    response = client.post("/token", headers={"Origin": origin}, data={
        "grant_type": "authorization_code", "code": code, "client_id": flow.service.client_id,
        "redirect_uri": flow.service.redirect_uri, "code_verifier": flow.verifier,
    })  # fmt: skip
    return response.json, response


@pytest.mark.parametrize("path", ["/token", "/userinfo", "/revoke", "/par"])
def test_a_preflight_from_a_public_clients_origin_is_allowed(client, oidc, spa, path):
    response = preflight(client, path, SPA)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SPA
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]


@pytest.mark.parametrize("path", ["/token", "/userinfo", "/revoke", "/introspect", "/par"])
def test_a_preflight_from_any_other_origin_is_not(client, oidc, spa, path):
    response = preflight(client, path, EVIL)
    assert response.status_code < 500
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_public_client_reads_its_tokens_and_userinfo_from_its_origin(client, oidc, spa):
    tokens, response = spa_tokens(client, oidc(spa))
    assert response.status_code == 200 and "access_token" in tokens
    assert response.headers["Access-Control-Allow-Origin"] == SPA
    info = client.get("/userinfo", headers={
        "Origin": SPA, "Authorization": f"Bearer {tokens['access_token']}"})  # fmt: skip
    assert info.status_code == 200 and info.headers["Access-Control-Allow-Origin"] == SPA
    revoked = client.post("/revoke", headers={"Origin": SPA}, data={
        "token": tokens["access_token"], "client_id": spa.client_id})  # fmt: skip
    assert revoked.status_code == 200 and revoked.headers["Access-Control-Allow-Origin"] == SPA


def test_another_origin_cannot_read_the_public_clients_responses(client, oidc, spa):
    tokens, response = spa_tokens(client, oidc(spa), origin=EVIL)
    assert "Access-Control-Allow-Origin" not in response.headers
    info = client.get("/userinfo", headers={
        "Origin": EVIL, "Authorization": f"Bearer {tokens['access_token']}"})  # fmt: skip
    assert "Access-Control-Allow-Origin" not in info.headers


def test_a_confidential_client_gets_no_cors_even_from_its_own_origin(app, client, oidc):
    bank = register(app, legal_basis="contract")  # https://bank.example/callback, a secret
    flow = oidc(bank)
    code = redirect_params(flow.decide(flow.authorize()))["code"]
    response = client.post("/token", headers={"Origin": "https://bank.example"}, data={
        "grant_type": "authorization_code", "code": code, "client_id": bank.client_id,
        "client_secret": bank.client_secret, "redirect_uri": bank.redirect_uri,
        "code_verifier": flow.verifier,
    })  # fmt: skip
    assert "Access-Control-Allow-Origin" not in response.headers
    bank_preflight = preflight(client, "/token", "https://bank.example")
    assert "Access-Control-Allow-Origin" not in bank_preflight.headers


def test_a_disabled_public_client_loses_its_origin(app, client, oidc, spa):
    result = app.test_cli_runner().invoke(args=["clients", "disable", spa.client_id])
    assert result.exit_code == 0, result.output
    assert "Access-Control-Allow-Origin" not in preflight(client, "/token", SPA).headers


def test_the_public_client_pushes_its_request_from_its_origin(app, client, oidc, spa):
    flow = oidc(spa)
    pushed = client.post("/par", headers={"Origin": SPA}, data=flow.params())
    assert pushed.status_code == 201, pushed.json
    assert pushed.headers["Access-Control-Allow-Origin"] == SPA
    elsewhere = client.post("/par", headers={"Origin": EVIL}, data=flow.params())
    assert "Access-Control-Allow-Origin" not in elsewhere.headers
