"""Refresh tokens: offline_access only, rotated on every use, reuse revokes the family."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from idp.core.extensions import db
from tests.oidc.conftest import register

OFFLINE = "openid profile offline_access"
REFRESHABLE = ["--grant-type", "authorization_code", "--grant-type", "refresh_token"]


@pytest.fixture
def offline_flow(app, oidc):
    service = register(app, scope=OFFLINE, extra=REFRESHABLE)
    return oidc(service)


def _refresh(flow, refresh_token, **extra):
    auth = (flow.service.client_id, flow.service.client_secret)
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return flow.client.post("/token", data=data, auth=auth)


@pytest.mark.cluster
def test_offline_access_gives_a_refresh_token_that_rotates(app, client, offline_flow):
    tokens = offline_flow.tokens()
    first = tokens["refresh_token"]
    response = _refresh(offline_flow, first)
    assert response.status_code == 200, response.json
    renewed = response.json
    assert renewed["refresh_token"] != first
    assert renewed["scope"] == OFFLINE
    userinfo = client.get(
        "/userinfo", headers={"Authorization": f"Bearer {renewed['access_token']}"}
    )
    assert userinfo.json["name"] == "Anna Jensen"
    assert _refresh(offline_flow, renewed["refresh_token"]).status_code == 200


def test_refresh_tokens_are_stored_hashed(app, offline_flow):
    token = offline_flow.tokens()["refresh_token"]
    with app.app_context():
        stored = db.session.execute(text("SELECT token_hash FROM refresh_token")).scalars().all()
    assert stored and token not in stored


@pytest.mark.cluster
def test_reusing_a_rotated_refresh_token_revokes_the_family(offline_flow):
    first = offline_flow.tokens()["refresh_token"]
    second = _refresh(offline_flow, first).json["refresh_token"]
    reuse = _refresh(offline_flow, first)
    assert reuse.status_code == 400 and reuse.json["error"] == "invalid_grant"
    # The thief's or the client's copy: either way the newer token is dead too.
    assert _refresh(offline_flow, second).json["error"] == "invalid_grant"


def test_a_narrower_scope_on_refresh_keeps_the_granted_scope_for_later(offline_flow):
    first = offline_flow.tokens()["refresh_token"]
    narrow = _refresh(offline_flow, first, scope="openid").json
    assert narrow["scope"] == "openid"
    wide = _refresh(offline_flow, narrow["refresh_token"]).json
    assert wide["scope"] == OFFLINE


def test_a_wider_scope_on_refresh_is_refused(offline_flow):
    first = offline_flow.tokens()["refresh_token"]
    assert (
        _refresh(offline_flow, first, scope="openid profile email").json["error"] == "invalid_scope"
    )


def test_without_offline_access_there_is_no_refresh_token(app, oidc):
    service = register(app, scope=OFFLINE, extra=REFRESHABLE)
    flow = oidc(service)
    flow.service.scope = "openid profile"
    assert "refresh_token" not in flow.tokens()


def test_a_refresh_token_belongs_to_its_client(app, client, offline_flow):
    token = offline_flow.tokens()["refresh_token"]
    thief = register(app, name="Thief", redirect_uri="https://thief.example/cb", scope=OFFLINE,
                     extra=REFRESHABLE)  # fmt: skip
    response = client.post("/token", data={"grant_type": "refresh_token", "refresh_token": token},
                           auth=(thief.client_id, thief.client_secret))  # fmt: skip
    assert response.json["error"] == "invalid_grant"
    assert _refresh(offline_flow, token).status_code == 200  # the owner's token still works


@pytest.mark.cluster
def test_revoking_a_refresh_token_revokes_its_family(offline_flow):
    first = offline_flow.tokens()["refresh_token"]
    second = _refresh(offline_flow, first).json["refresh_token"]
    auth = (offline_flow.service.client_id, offline_flow.service.client_secret)
    revoked = offline_flow.client.post("/revoke", data={"token": first}, auth=auth)
    assert revoked.status_code == 200
    assert _refresh(offline_flow, second).json["error"] == "invalid_grant"


@pytest.mark.cluster
def test_introspection_of_refresh_tokens(offline_flow):
    first = offline_flow.tokens()["refresh_token"]
    auth = (offline_flow.service.client_id, offline_flow.service.client_secret)
    live = offline_flow.client.post("/introspect", data={"token": first}, auth=auth).json
    assert live["active"] is True and live["token_type"] == "refresh_token"
    _refresh(offline_flow, first)
    spent = offline_flow.client.post("/introspect", data={"token": first}, auth=auth).json
    assert spent == {"active": False}


@pytest.mark.parametrize("token", ["", "garbage", "x" * 3000])
def test_junk_refresh_tokens_are_invalid_grant(offline_flow, token):
    response = _refresh(offline_flow, token)
    assert response.status_code == 400
    assert response.json["error"] in ("invalid_grant", "invalid_request")
