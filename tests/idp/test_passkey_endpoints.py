"""The passkey endpoints through HTTP: challenges bound to the browser, and junk refused.

The ceremonies themselves run in real Chromium (tests/e2e/test_passkeys.py)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import csrf_token

JSON_HEADERS = {"Accept": "application/json"}


def _token(client) -> str:
    return csrf_token(client.get("/login"))


def _post(client, path, body, token):
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       headers={**JSON_HEADERS, "X-CSRFToken": token})  # fmt: skip


def test_login_options_ask_for_user_verification_and_any_discoverable_passkey(app, client):
    response = _post(client, "/login/passkey/options", {}, _token(client))
    assert response.status_code == 200
    options = response.json
    assert options["userVerification"] == "required" and options["rpId"] == "localhost"
    assert options.get("allowCredentials", []) == []
    assert len(options["challenge"]) >= 43  # 32 random bytes, base64url


def test_a_challenge_from_another_browser_is_refused(app, client):
    assert _post(client, "/login/passkey/options", {}, _token(client)).status_code == 200
    other = app.test_client()  # another browser: its own ceremony id, no challenge
    response = _post(other, "/login/passkey/verify",
                     {"credential": {"rawId": "AAAA", "response": {}}}, _token(other))  # fmt: skip
    assert response.status_code == 400
    assert "started in another browser" in response.json["detail"]


def test_a_challenge_works_once(app, client):
    token = _token(client)
    assert _post(client, "/login/passkey/options", {}, token).status_code == 200
    body = {"credential": {"rawId": "AAAA", "response": {}}}
    assert "not registered" in _post(client, "/login/passkey/verify", body, token).json["detail"]
    assert "expired" in _post(client, "/login/passkey/verify", body, token).json["detail"]


JUNK = [
    None, [], "x", 7, {"credential": "x"}, {"credential": {"rawId": 5}},
    {"credential": {"rawId": "!!!"}}, {"credential": {}},
    {"next": 5, "credential": {}}, {"next": ["/me"], "username": 7, "credential": {}},
]  # fmt: skip


@pytest.mark.parametrize("body", JUNK, ids=range(len(JUNK)))
def test_junk_at_the_passkey_endpoints_is_a_clear_4xx(app, client, body):
    token = _token(client)
    _post(client, "/login/passkey/options", {}, token)
    response = _post(client, "/login/passkey/verify", body, token)
    assert 400 <= response.status_code < 500
    assert response.mimetype in ("application/problem+json", "application/json")


def test_the_passkey_endpoints_need_the_csrf_token(client):
    response = client.post("/login/passkey/options", data="{}", content_type="application/json",
                           headers=JSON_HEADERS)  # fmt: skip
    assert response.status_code == 400


def test_registering_a_passkey_needs_a_session(client):
    response = _post(client, "/me/security/passkey/options", {}, _token(client))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
