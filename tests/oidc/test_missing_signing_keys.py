"""No key signs for an algorithm a client's tokens use (never ensured, or retired with no
successor): every request that would need one is a 503 with Retry-After, refused before it
spends a code, a refresh token or the citizen's time, and works once `flask keys ensure` ran."""

from __future__ import annotations

import datetime as dt
import json

from idp.core.dbtypes import utcnow
from tests.conftest import sql
from tests.idp.test_keys import KeyClock
from tests.oidc.conftest import register

REFRESHABLE = ["--grant-type", "authorization_code", "--grant-type", "refresh_token"]
CIBA = "urn:openid:params:grant-type:ciba"


def _create(app, *args: str) -> tuple[str, str]:
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Udbetaling Danmark", "--kind", "public_authority",
        "--legal-basis", "public_task", "--purpose", "To pay your pension", *args,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return created["client_id"], created["client_secret"]


def _ensure_keys(app) -> None:
    result = app.test_cli_runner().invoke(args=["keys", "ensure"])
    assert result.exit_code == 0, result.output


def _retire_every_key_in_a_minute(app, monkeypatch) -> KeyClock:
    """Every key's retirement scheduled a minute ahead with no successor (as if the rotation's
    new keys were lost); the returned clock moves past it."""
    sql(app, "UPDATE signing_key SET retired_at = :at", at=utcnow() + dt.timedelta(minutes=1))
    return KeyClock(monkeypatch)


def _assert_retry_later(response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "30"
    assert response.json["error"] == "temporarily_unavailable"
    assert response.json["error_description"] == (
        "No key signs tokens for this client at the moment."
    )


def test_a_token_request_without_a_signing_key_is_a_503_to_retry(app, client):
    auth = _create(app, "--grant-type", "client_credentials", "--scope", "")
    grant = {"grant_type": "client_credentials"}

    _assert_retry_later(client.post("/token", data=grant, auth=auth))

    _ensure_keys(app)
    response = client.post("/token", data=grant, auth=auth)
    assert response.status_code == 200, response.json
    assert response.json["token_type"] == "Bearer"


def test_a_code_outlives_the_refusal_and_works_once_the_keys_are_back(app, oidc, monkeypatch):
    flow = oidc(register(app, scope="openid profile"))
    clock = _retire_every_key_in_a_minute(app, monkeypatch)
    code = flow.code()  # the keys still sign
    clock.advance(61)

    _assert_retry_later(flow.exchange(code))

    _ensure_keys(app)
    response = flow.exchange(code)  # the same code: it was not spent on the refusal
    assert response.status_code == 200, response.json
    assert flow.id_token(response.json)["sub"]


def test_a_refresh_token_outlives_the_refusal_not_taken_for_a_replay(app, oidc, monkeypatch):
    flow = oidc(register(app, scope="openid profile offline_access", extra=REFRESHABLE))
    clock = _retire_every_key_in_a_minute(app, monkeypatch)
    refresh_token = flow.tokens()["refresh_token"]  # the keys still sign
    clock.advance(61)
    auth = (flow.service.client_id, flow.service.client_secret)
    grant = {"grant_type": "refresh_token", "refresh_token": refresh_token}

    _assert_retry_later(flow.client.post("/token", data=grant, auth=auth))

    _ensure_keys(app)
    renewed = flow.client.post("/token", data=grant, auth=auth)
    assert renewed.status_code == 200, renewed.json
    # Rotated once, by the answer that succeeded: the new token works.
    grant["refresh_token"] = renewed.json["refresh_token"]
    assert flow.client.post("/token", data=grant, auth=auth).status_code == 200


def test_the_citizen_is_not_sent_to_log_in_for_a_service_that_could_get_no_tokens(app, client):
    service = register(app, scope="openid profile")
    response = client.get("/authorize", query_string={
        "response_type": "code", "client_id": service.client_id,
        "redirect_uri": service.redirect_uri, "scope": "openid", "state": "s",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "code_challenge_method": "S256",
    })  # fmt: skip
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    # The readable page (the key is the operator's business, not the citizen's).
    assert "The service is temporarily unavailable" in response.text
    assert "Location" not in response.headers


def test_a_ciba_request_is_refused_before_the_citizen_is_asked(app, client):
    auth = _create(app, "--grant-type", CIBA, "--scope", "openid profile cpr")
    asked = {"scope": "openid profile", "login_hint": "0101901234"}
    _assert_retry_later(client.post("/bc-authorize", auth=auth, data=asked))
