"""The keep-alive endpoint behind the session-timeout warning's "Stay logged in" (WCAG 2.2.1),
and the deadlines every logged-in page carries for it."""

from __future__ import annotations

import re

import pytest

from idp.sessions import keepalive, sessions
from tests.conftest import CitizenActions, Clock, csrf_token

IDLE = 10 * 60
ABSOLUTE = 30 * 60


@pytest.fixture
def clock(monkeypatch):
    """The clock the sessions and the endpoint read; the store's own expiry keeps real time."""
    clock = Clock()
    monkeypatch.setattr(sessions, "time", clock)
    monkeypatch.setattr(keepalive, "time", clock)
    return clock


@pytest.fixture
def citizen(make_app):
    app = make_app(SESSION_IDLE_TIMEOUT=IDLE, SESSION_ABSOLUTE_TIMEOUT=ABSOLUTE)
    actions = CitizenActions(app, app.test_client())
    app.extensions["tests.citizen_id"] = actions.create()["id"]
    assert actions.login().status_code == 302
    return actions


def _deadlines(page) -> dict[str, float]:
    html = page.get_data(as_text=True)
    dialog = re.search(r"<dialog [^>]*data-session-timeout[^>]*>", html, re.S)
    assert dialog, "no session-timeout dialog on the page"
    return {
        name: float(re.search(rf'data-{name}="([^"]+)"', dialog.group(0)).group(1))
        for name in ("server-now", "idle-expires-at", "absolute-expires-at", "warn-before")
    }


def _keep_alive(client, token: str | None):
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["X-CSRFToken"] = token
    return client.post("/session/keep-alive", headers=headers)


def test_a_logged_in_page_carries_the_deadlines_and_a_labelled_alertdialog(citizen, clock):
    page = citizen.client.get("/me")
    html = page.get_data(as_text=True)
    deadlines = _deadlines(page)
    assert deadlines["idle-expires-at"] == pytest.approx(clock.now + IDLE)
    assert deadlines["warn-before"] == 120
    assert 'role="alertdialog"' in html and 'aria-labelledby="session-timeout-title"' in html
    assert 'id="session-timeout-title"' in html
    assert "/static/js/session-timeout.js" in html
    assert "<script>" not in html  # no inline script: the strict CSP stays


def test_no_warning_for_nobody(make_app):
    client = make_app().test_client()
    html = client.get("/login").get_data(as_text=True)
    assert "data-session-timeout" not in html and "session-timeout.js" not in html


def test_warn_half_the_idle_time_when_that_is_shorter(make_app):
    app = make_app(SESSION_IDLE_TIMEOUT=100)
    actions = CitizenActions(app, app.test_client())
    actions.create()
    actions.login()
    assert _deadlines(actions.client.get("/me"))["warn-before"] == 50


def test_keep_alive_extends_the_idle_deadline(citizen, clock):
    token = csrf_token(citizen.client.get("/me/sessions"))
    before = _deadlines(citizen.client.get("/me"))["idle-expires-at"]
    clock.advance(IDLE - 60)  # the warning is showing
    answer = _keep_alive(citizen.client, token)
    assert answer.status_code == 200
    assert answer.json["idle_expires_at"] == pytest.approx(clock.now + IDLE)
    assert answer.json["idle_expires_at"] > before + IDLE - 120
    assert answer.json["ends_by"] == "idle"
    clock.advance(IDLE - 60)  # past the first idle deadline: still logged in
    assert citizen.client.get("/me").status_code == 200


def test_keep_alive_cannot_pass_the_absolute_deadline(citizen, clock):
    token = csrf_token(citizen.client.get("/me/sessions"))
    start = clock.now
    for _ in range(3):  # stay active, so the idle deadline never comes
        clock.advance(IDLE - 60)
        answer = _keep_alive(citizen.client, token)
    assert answer.status_code == 200
    assert answer.json["absolute_expires_at"] == pytest.approx(start + ABSOLUTE, abs=2)
    assert answer.json["expires_at"] == answer.json["absolute_expires_at"]
    assert answer.json["ends_by"] == "absolute"
    clock.advance(ABSOLUTE - (clock.now - start) + 1)
    gone = _keep_alive(citizen.client, token)
    assert gone.status_code == 401
    assert gone.mimetype == "application/problem+json"


def test_keep_alive_needs_the_csrf_token(citizen, clock):
    token = csrf_token(citizen.client.get("/me/sessions"))
    seen = clock.now
    clock.advance(60)
    for sent in (None, "forged"):
        refused = _keep_alive(citizen.client, sent)
        assert refused.status_code == 400
        assert refused.mimetype == "application/problem+json"
    # Refused before the session was read: its idle timer did not start again.
    with citizen.app.app_context():
        (stored,) = sessions.list_for(citizen.app.extensions["tests.citizen_id"])
    assert stored.last_seen == pytest.approx(seen)
    assert _keep_alive(citizen.client, token).status_code == 200


def test_keep_alive_without_a_session_is_a_401_problem(make_app):
    client = make_app().test_client()
    token = csrf_token(client.get("/login"))
    answer = _keep_alive(client, token)
    assert answer.status_code == 401
    assert answer.mimetype == "application/problem+json"
    assert answer.json["status"] == 401 and answer.json["detail"]


def test_keep_alive_after_logout_is_a_401(citizen):
    token = csrf_token(citizen.client.get("/me/sessions"))
    citizen.logout()
    assert _keep_alive(citizen.client, token).status_code == 401
