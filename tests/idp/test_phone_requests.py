"""Phone approvals and CIBA through HTTP: every refusal, and the CIBA polling answers.

Approving needs the phone's WebAuthn key and is exercised in real Chromium
(tests/e2e/test_phone.py, tests/e2e/test_ciba.py). Here the phone is registered directly
in the database with an app key, which is all that listing and rejecting need.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import types
import uuid

import pytest

from demo import citizens as demo
from idp.authenticators.models import Authenticator, AuthenticatorKind
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.phone import requests as phone_requests
from tests.conftest import csrf_token

CIBA = "urn:openid:params:grant-type:ciba"
# Every test here also runs on the Redis Cluster store (tests/conftest.py).
pytestmark = pytest.mark.cluster


@pytest.fixture
def demo_citizen(app, runner):
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    assert runner.invoke(args=["demo", "load", "--citizens", "0"]).exit_code == 0
    with app.app_context():
        from idp.citizens.service import find_by_username

        return find_by_username(demo.DEMO_USERNAME).id


def _phone(app, citizen_id: str) -> tuple[str, str]:
    """A paired phone (its id) and the app key its cookie holds."""
    app_key = secrets.token_urlsafe(32)
    with app.app_context():
        phone = Authenticator(
            id=str(uuid.uuid4()), citizen_id=citizen_id, kind=AuthenticatorKind.PHONE,
            name="Test phone", credential_id=secrets.token_bytes(16), public_key=b"-",
            sign_count=0, backup_eligible=False, confirmed_at=utcnow(),
            app_token_hash=hashlib.sha256(app_key.encode()).hexdigest(),
        )  # fmt: skip
        db.session.add(phone)
        db.session.commit()
        return phone.id, app_key


@pytest.fixture
def phone_app(app, demo_citizen):
    _, app_key = _phone(app, demo_citizen)
    phone = app.test_client()
    phone.set_cookie("tillid_app", app_key)
    return phone


def _authority(runner, grant_types=(CIBA,), scope="openid profile cpr") -> tuple[str, str]:
    args = ["clients", "create", "--name", "Udbetaling Danmark", "--kind", "public_authority",
            "--scope", scope, "--legal-basis", "public_task", "--purpose", "To pay your pension",
            "--redirect-uri", "https://ud.example/cb"]  # fmt: skip
    for grant in grant_types:
        args += ["--grant-type", grant]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return created["client_id"], created["client_secret"]


def _bc_authorize(client, auth, **data):
    data = {"scope": "openid profile", "login_hint": demo.DEMO_CPR, **data}
    return client.post("/bc-authorize", data=data, auth=auth)


def _poll(client, auth, auth_req_id):
    return client.post("/token", data={"grant_type": CIBA, "auth_req_id": auth_req_id}, auth=auth)


def _csrf(phone) -> str:
    page = phone.get("/app").get_data(as_text=True)
    return page.split('data-csrf-token="')[1].split('"')[0]


def test_discovery_advertises_ciba_in_poll_mode(client):
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["backchannel_authentication_endpoint"].endswith("/bc-authorize")
    assert meta["backchannel_token_delivery_modes_supported"] == ["poll"]
    assert CIBA in meta["grant_types_supported"]


def test_a_ciba_request_waits_then_is_rejected_on_the_phone(app, client, runner, phone_app):
    auth = _authority(runner)
    started = _bc_authorize(client, auth, binding_message="Sag 4711")
    assert started.status_code == 200, started.json
    assert started.json["interval"] == 5 and 0 < started.json["expires_in"] <= 120
    auth_req_id = started.json["auth_req_id"]
    first = _poll(client, auth, auth_req_id)
    assert first.status_code == 400 and first.json["error"] == "authorization_pending"
    again = _poll(client, auth, auth_req_id)  # at once: faster than the interval
    assert again.json["error"] == "slow_down"

    page = phone_app.get("/app").get_data(as_text=True)
    assert "Log in to Udbetaling Danmark?" in page and "Sag 4711" in page
    assert "Your CPR number" not in page  # profile was asked, not cpr
    rejected = phone_app.post(f"/app/api/requests/{auth_req_id}/reject", json={},
                              headers={"X-CSRFToken": _csrf(phone_app)})  # fmt: skip
    assert rejected.status_code == 200
    denied = _poll(client, auth, auth_req_id)
    assert denied.status_code in (400, 403) and denied.json["error"] == "access_denied"


def test_an_unanswered_ciba_request_expires(app, client, runner, phone_app, monkeypatch):
    auth = _authority(runner)
    auth_req_id = _bc_authorize(client, auth).json["auth_req_id"]
    later = time.time() + 121
    monkeypatch.setattr(phone_requests, "time", types.SimpleNamespace(time=lambda: later))
    expired = _poll(client, auth, auth_req_id)
    assert expired.json["error"] == "expired_token"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"login_hint": "0101011234"}, "unknown_user_id"),  # a CPR number of nobody
        ({"login_hint": "not-a-sub-we-gave-out"}, "unknown_user_id"),
        ({"login_hint": ""}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),  # no openid
        ({"binding_message": "x" * 65}, "invalid_binding_message"),
        ({"binding_message": "line\nbreak"}, "invalid_binding_message"),
        ({"acr_values": "https://data.gov.dk/concept/core/nsis/loa/High"}, "invalid_request"),
        ({"id_token_hint": "e30.e30.e30"}, "invalid_request"),
    ],
)
def test_bad_backchannel_requests_are_oauth_errors(client, runner, phone_app, data, error):
    response = _bc_authorize(client, _authority(runner), **data)
    assert 400 <= response.status_code < 500 and response.json["error"] == error


def test_only_registered_ciba_clients_and_only_with_a_phone(client, runner, demo_citizen):
    login_only = _authority(runner, grant_types=("authorization_code",))
    assert _bc_authorize(client, login_only).json["error"] == "unauthorized_client"
    assert _bc_authorize(client, ("nobody", "wrong")).json["error"] == "invalid_client"
    no_phone = _bc_authorize(client, _authority(runner))
    assert no_phone.status_code == 403 and no_phone.json["error"] == "access_denied"


def test_a_private_service_cannot_name_a_citizen_by_cpr(client, runner, phone_app):
    result = runner.invoke(args=[
        "clients", "create", "--name", "Bank", "--kind", "private_service",
        "--scope", "openid profile", "--legal-basis", "contract", "--purpose", "p",
        "--grant-type", CIBA,
    ])  # fmt: skip
    bank = json.loads(result.stdout)
    response = _bc_authorize(client, (bank["client_id"], bank["client_secret"]))
    assert response.json["error"] == "unknown_user_id"


def test_an_auth_req_id_is_the_requesting_clients_only(client, runner, phone_app):
    auth_req_id = _bc_authorize(client, _authority(runner)).json["auth_req_id"]
    other = _authority(runner)
    assert _poll(client, other, auth_req_id).json["error"] == "invalid_grant"
    assert _poll(client, other, "made-up").json["error"] == "invalid_grant"


def test_one_pending_request_per_citizen_against_prompt_floods(client, runner, phone_app):
    auth = _authority(runner)
    assert _bc_authorize(client, auth).status_code == 200
    second = _bc_authorize(client, auth)
    assert second.status_code == 403 and "already waiting" in second.json["error_description"]
    browser = client.post(
        "/login/app", data={"username": "demo", "csrf_token": _login_csrf(client)}
    )
    assert browser.status_code == 429


def _login_csrf(client) -> str:
    return csrf_token(client.get("/login/app"))


def test_a_request_is_answered_once_and_only_by_its_citizens_phone(app, client, runner, phone_app):
    auth_req_id = _bc_authorize(client, _authority(runner)).json["auth_req_id"]
    token = {"X-CSRFToken": _csrf(phone_app)}
    # Another citizen's phone does not see it, and cannot answer it.
    created = runner.invoke(args=["citizens", "create", "--cpr", "0101901234", "--given-name",
                                  "Other", "--family-name", "Person", "--username", "other",
                                  "--password", "correct horse battery"])  # fmt: skip
    assert created.exit_code == 0, created.output
    _, key = _phone(app, json.loads(created.stdout)["id"])
    stranger = app.test_client()
    stranger.set_cookie("tillid_app", key)
    assert "No login is waiting" in stranger.get("/app").get_data(as_text=True)
    assert stranger.post(f"/app/api/requests/{auth_req_id}/reject", json={},
                         headers={"X-CSRFToken": _csrf(stranger)}).status_code == 404  # fmt: skip
    assert phone_app.post(f"/app/api/requests/{auth_req_id}/reject", json={},
                          headers=token).status_code == 200  # fmt: skip
    twice = phone_app.post(f"/app/api/requests/{auth_req_id}/reject", json={}, headers=token)
    assert twice.status_code == 409
    late = phone_app.post(f"/app/api/requests/{auth_req_id}/options", json={}, headers=token)
    assert late.status_code == 409


def test_a_removed_phone_sees_and_answers_nothing(app, client, runner, demo_citizen):
    phone_id, app_key = _phone(app, demo_citizen)
    phone = app.test_client()
    phone.set_cookie("tillid_app", app_key)
    auth_req_id = _bc_authorize(client, _authority(runner)).json["auth_req_id"]
    assert "Log in to Udbetaling Danmark?" in phone.get("/app").get_data(as_text=True)
    token = {"X-CSRFToken": _csrf(phone)}
    with app.app_context():
        db.session.delete(db.session.get(Authenticator, phone_id))
        db.session.commit()
    assert "This phone is not paired" in phone.get("/app").get_data(as_text=True)
    refused = phone.post(f"/app/api/requests/{auth_req_id}/reject", json={}, headers=token)
    assert refused.status_code == 401
    assert phone.get("/app/api/pending").status_code == 401


def test_an_unknown_user_id_waits_like_a_real_one(client):
    """The browser flow tells nobody whether a user ID exists or has a phone."""
    response = client.post("/login/app", data={"username": "nobody-here",
                                               "csrf_token": _login_csrf(client)})  # fmt: skip
    assert response.status_code == 302 and "/login/app/wait" in response.headers["Location"]
    waiting = client.get(response.headers["Location"])
    assert "Approve on your phone" in waiting.get_data(as_text=True)
    assert client.get("/login/app/status").json["status"] == "pending"


def test_completing_before_approval_only_shows_the_wait_page(client, demo_citizen, app):
    _phone(app, demo_citizen)
    started = client.post("/login/app", data={"username": "demo",
                                              "csrf_token": _login_csrf(client)})  # fmt: skip
    token = csrf_token(client.get(started.headers["Location"]))
    early = client.post("/login/app/complete", data={"csrf_token": token, "next": "/me"})
    assert early.status_code == 302 and "/login/app/wait" in early.headers["Location"]
    assert client.get("/me").status_code == 302  # still not logged in


def test_removing_the_phone_on_the_portal_unpairs_it_at_once(app, client, citizens, phone_app):
    citizens.totp_secrets[demo.DEMO_USERNAME] = demo.DEMO_TOTP_SECRET
    assert citizens.login(demo.DEMO_USERNAME, demo.DEMO_PASSWORD).status_code == 302
    overview = client.get("/me/security")
    assert "Phone app (approve logins on the phone)" in overview.get_data(as_text=True)
    with app.app_context():
        phone_id = db.session.scalar(
            db.select(Authenticator.id).where(Authenticator.kind == AuthenticatorKind.PHONE)
        )
    removed = client.post(f"/me/security/{phone_id}/remove",
                          data={"csrf_token": csrf_token(overview)})  # fmt: skip
    assert removed.status_code == 303
    assert "This phone is not paired" in phone_app.get("/app").get_data(as_text=True)


def test_approving_after_expiry_is_refused(client, runner, phone_app, monkeypatch):
    auth_req_id = _bc_authorize(client, _authority(runner)).json["auth_req_id"]
    token = {"X-CSRFToken": _csrf(phone_app)}
    later = time.time() + 121
    monkeypatch.setattr(phone_requests, "time", types.SimpleNamespace(time=lambda: later))
    late = phone_app.post(f"/app/api/requests/{auth_req_id}/options", json={}, headers=token)
    assert late.status_code == 409


def test_repeated_rejections_are_logged_as_suspicious(client, runner, phone_app, caplog):
    auth = _authority(runner)
    token = {"X-CSRFToken": _csrf(phone_app)}
    for _ in range(3):
        auth_req_id = _bc_authorize(client, auth).json["auth_req_id"]
        phone_app.post(f"/app/api/requests/{auth_req_id}/reject", json={}, headers=token)
    warnings = [r for r in caplog.records if getattr(r, "event", None) == "phone_rejections"]
    assert len(warnings) == 1 and warnings[0].rejections == 3


def test_the_same_browser_trying_again_replaces_its_own_pending_request(app, client, phone_app):
    first = client.post("/login/app", data={"username": "demo", "csrf_token": _login_csrf(client)})
    assert first.status_code == 302
    first_id = phone_app.get("/app/api/pending").json["request"]
    again = client.post("/login/app", data={"username": "demo", "csrf_token": _login_csrf(client)})
    assert again.status_code == 302  # not "another request is waiting"
    second_id = phone_app.get("/app/api/pending").json["request"]
    assert second_id and second_id != first_id
    # Another browser is still held back while that one waits (one request at a time).
    other = app.test_client()
    refused = other.post("/login/app", data={"username": "demo", "csrf_token": _login_csrf(other)})
    assert refused.status_code == 429
