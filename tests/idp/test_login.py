"""Logging in through /login: credentials, safe redirects, lockout, rate limit, status, rehash."""

from __future__ import annotations

import re

import argon2
import pytest
from sqlalchemy import text

from idp.auth import lockout
from idp.core.config import ARGON2_DEFAULTS
from idp.core.extensions import db
from tests.conftest import (
    PRIMARY_BACKEND,
    CitizenActions,
    Clock,
    assert_field_error,
    csrf_token,
    rendering_independent,
    sibling_app,
)

PASSWORD = "correct horse battery"
WRONG = "not the password"
WRONG_CREDENTIALS = "The user ID or password is wrong."
CONTACT_SUPPORT = "You cannot log in with this account. Contact citizen support."


def error_summary(response) -> str:
    match = re.search(
        r'<div class="alert alert-error error-summary" role="alert".*?</ul>', response.text, re.S
    )
    assert match, "no error summary"
    return match.group(0)


def _sql(app, statement: str, **params):
    with app.app_context():
        result = db.session.execute(text(statement), params)
        rows = result.all() if result.returns_rows else None
        db.session.commit()
        return rows


def _stored_hash(app, username="anna") -> str:
    return _sql(app, "SELECT password_hash FROM citizen WHERE username = :u", u=username)[0][0]


def _sets_sso_cookie(response) -> bool:
    return any("tillid_sso=" in h for h in response.headers.getlist("Set-Cookie"))


@pytest.fixture
def lockout_clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(lockout, "time", clock)
    return clock


# --- the page and a good login -------------------------------------------------------


def test_login_page_has_labelled_fields_and_a_csrf_token(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert '<label class="form-label" for="username">User ID</label>' in page.text
    assert '<label class="form-label" for="password">Password</label>' in page.text
    assert 'autocomplete="current-password"' in page.text
    assert csrf_token(page)


@pytest.mark.cluster
def test_login_redirects_to_my_page_and_sets_the_session(client, citizens):
    citizens.create()
    response = citizens.login()
    assert response.status_code == 302
    assert response.headers["Location"] == "/me"
    assert _sets_sso_cookie(response)
    assert "Anna Jensen" in client.get("/me").text


@pytest.mark.parametrize("typed", ["ANNA", "Anna", " anna "])
def test_login_ignores_the_case_of_the_user_id(citizens, typed):
    citizens.create(username="anna")
    assert citizens.login(typed).headers["Location"] == "/me"


def test_login_page_redirects_when_already_logged_in(client, citizens):
    citizens.create()
    citizens.login()
    response = client.get("/login?next=/me/sessions")
    assert response.status_code == 302
    assert response.headers["Location"] == "/me/sessions"


# --- where the login goes next -------------------------------------------------------


def test_login_goes_to_a_same_site_next(citizens):
    citizens.create()
    assert citizens.login(next_url="/me/sessions").headers["Location"] == "/me/sessions"


def test_a_protected_page_sends_the_citizen_back_after_login(client, citizens):
    citizens.create()
    to_login = client.get("/me/sessions")
    assert to_login.status_code == 302
    page = client.get(to_login.headers["Location"])
    assert 'name="next" type="hidden" value="/me/sessions"' in page.text
    data = {"csrf_token": csrf_token(page), "username": "anna", "password": PASSWORD}
    data["next"] = "/me/sessions"
    assert client.post("/login", data=data).headers["Location"] == "/me/sessions"


UNSAFE_NEXT = [
    "//evil.example",
    "https://evil.example",
    "/\\evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "evil.example",
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_login_falls_back_to_my_page_for_an_unsafe_next(citizens, target):
    citizens.create()
    response = citizens.login(next_url=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/me"


@pytest.mark.parametrize("target", UNSAFE_NEXT[:4])
def test_login_page_never_carries_an_unsafe_next_from_the_address(client, target):
    page = client.get("/login", query_string={"next": target})
    assert 'name="next" type="hidden" value="/me"' in page.text


# --- refused forms -------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "not-a-token", "another-browsers-token"])
def test_login_without_a_valid_csrf_token_is_refused_and_logs_nobody_in(
    app, client, citizens, token
):
    citizens.create()
    client.get("/login")
    if token == "another-browsers-token":
        token = csrf_token(app.test_client().get("/login"))
    data = {"username": "anna", "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/login", data=data)
    assert response.status_code == 400
    assert "not sent from this site" in response.text
    assert not _sets_sso_cookie(response)
    assert client.get("/me").status_code == 302


def test_empty_login_form_shows_each_error_next_to_its_field(client):
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 400
    assert_field_error(response, "username", "Enter your user ID.")
    assert_field_error(response, "password", "Enter your password.")


def test_wrong_password_is_shown_at_the_password_field(citizens):
    citizens.create()
    response = citizens.login(password=WRONG)
    assert response.status_code == 401
    assert_field_error(response, "password", WRONG_CREDENTIALS)
    assert "<title>Error: Log in" in response.text
    assert 'name="username" required spellcheck="false" type="text" value="anna"' in response.text
    assert not _sets_sso_cookie(response)


@pytest.mark.parametrize(
    "data",
    [
        {"username": "a" * 300, "password": "x"},
        {"username": "anna", "password": "x" * 2000},
        {"username": "anna", "password": "x", "next": "/" * 5000},
        {"username": "\u202eanna\ufeff", "password": "\U0001f600"},
    ],
    ids=["long-user-id", "long-password", "long-next", "odd-unicode"],
)
def test_odd_login_input_gets_a_page_never_a_500(client, data):
    page = client.get("/login")
    response = client.post("/login", data={"csrf_token": csrf_token(page), **data})
    assert response.status_code in (400, 401)
    assert "There is a problem" in response.text


def test_nul_in_the_login_form_is_refused_with_a_page(client):
    page = client.get("/login")
    response = client.post(
        "/login", data={"csrf_token": csrf_token(page), "username": "an\x00na", "password": "x"}
    )
    assert response.status_code == 400
    assert "NUL character" in response.text


# --- no user enumeration -------------------------------------------------------------


def test_unknown_user_and_wrong_password_get_the_same_answer(app, citizens):
    citizens.create(username="anna")
    wrong_password = citizens.login("anna", WRONG)
    # The same typed user ID, now naming no account.
    _sql(app, "UPDATE citizen SET username = 'someone-else' WHERE username = 'anna'")
    unknown_user = citizens.login("anna", WRONG)
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert WRONG_CREDENTIALS in unknown_user.text
    assert rendering_independent(wrong_password.text) == rendering_independent(unknown_user.text)


def test_pending_citizen_without_a_password_gets_the_same_answer(app, citizens):
    citizens.create(username="anna")
    known = citizens.login("anna", WRONG)
    _sql(app, "UPDATE citizen SET password_hash = NULL, status = 'pending'")
    pending = citizens.login("anna", WRONG)
    assert pending.status_code == 401
    assert rendering_independent(known.text) == rendering_independent(pending.text)


def test_unknown_user_costs_one_argon2_verify_like_a_real_one(citizens, monkeypatch):
    """A spy on the argon2 library (not on our code): both paths verify exactly once."""
    citizens.create(username="anna")
    verifies = []
    real_verify = argon2.PasswordHasher.verify

    def counting_verify(self, hash, password):
        verifies.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting_verify)
    citizens.login("anna", WRONG)
    assert len(verifies) == 1
    citizens.login("nobody-by-this-name", WRONG)
    assert len(verifies) == 2
    assert verifies[1].startswith("$argon2id$")


def test_an_unknown_user_costs_the_verify_of_the_current_parameters(app, citizens, monkeypatch):
    """The equaliser's dummy hash follows ARGON2_*: when they change, so does its work."""
    verified = []
    real_verify = argon2.PasswordHasher.verify

    def spying_verify(self, hash, password):
        verified.append(argon2.extract_parameters(hash))
        return real_verify(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spying_verify)
    for time_cost, memory_cost in ((1, 1024), (2, 2048)):
        app.config.update(ARGON2_TIME_COST=time_cost, ARGON2_MEMORY_COST=memory_cost)
        assert citizens.login("nobody-by-this-name", WRONG).status_code == 401
        params = verified[-1]
        assert (params.time_cost, params.memory_cost, params.parallelism) == (
            time_cost,
            memory_cost,
            app.config["ARGON2_PARALLELISM"],
        )


# --- growing lockout -----------------------------------------------------------------


def _fail(citizens, times, username="anna"):
    return [citizens.login(username, WRONG).status_code for _ in range(times)]


@pytest.mark.cluster
def test_lockout_refuses_even_the_right_password_after_the_threshold(citizens):
    citizens.create()
    assert _fail(citizens, 4) == [401] * 4
    fifth = citizens.login(password=WRONG)
    assert fifth.status_code == 429
    assert "Too many failed attempts. You can try again at " in error_summary(fifth)
    assert ", in 1 minute." in error_summary(fifth)
    right = citizens.login(password=PASSWORD)
    assert right.status_code == 429
    assert "in 1 minute." in right.text
    assert int(right.headers["Retry-After"]) >= 29  # the limiter may ask for longer
    assert not _sets_sso_cookie(right)


@pytest.mark.cluster
def test_lockout_wait_grows_with_each_further_failure(make_app, lockout_clock):
    app = make_app(LOCKOUT_BASE_SECONDS=60, LOCKOUT_MAX_SECONDS=3600)
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    _fail(citizens, 4)
    assert "in 1 minute." in citizens.login(password=WRONG).text
    lockout_clock.advance(61)
    assert "in 2 minutes." in citizens.login(password=WRONG).text
    lockout_clock.advance(121)
    again = citizens.login(password=WRONG)
    assert "in 4 minutes." in again.text
    assert int(again.headers["Retry-After"]) >= 239
    lockout_clock.advance(239)
    assert citizens.login(password=PASSWORD).status_code == 429
    lockout_clock.advance(2)
    assert citizens.login(password=PASSWORD).headers["Location"] == "/me"


def test_lockout_wait_stops_growing_at_the_maximum(make_app, lockout_clock):
    app = make_app(LOCKOUT_THRESHOLD=2, LOCKOUT_BASE_SECONDS=60, LOCKOUT_MAX_SECONDS=120)
    citizens = CitizenActions(app, app.test_client())
    citizens.create()
    _fail(citizens, 2)
    for _ in range(3):
        lockout_clock.advance(3600)
        assert "in 2 minutes." in citizens.login(password=WRONG).text


def test_unknown_user_id_is_locked_out_the_same_way(citizens):
    citizens.create(username="anna")
    known = _fail(citizens, 6, "anna")
    unknown = _fail(citizens, 6, "nobody-by-this-name")
    assert known == unknown == [401, 401, 401, 401, 429, 429]
    locked_known = citizens.login("anna", PASSWORD)
    locked_unknown = citizens.login("nobody-by-this-name", PASSWORD)
    assert error_summary(locked_known) == error_summary(locked_unknown)


def test_lockout_counts_the_user_id_whatever_its_case(citizens):
    citizens.create(username="anna")
    for typed in ["anna", "ANNA", "Anna", " anna", "aNNa"]:
        citizens.login(typed, WRONG)
    assert citizens.login("anna", PASSWORD).status_code == 429


@pytest.mark.cluster
def test_a_good_login_before_the_threshold_resets_the_count(client, citizens):
    citizens.create()
    assert _fail(citizens, 4) == [401] * 4
    assert citizens.login().status_code == 302
    citizens.logout()
    assert _fail(citizens, 4) == [401] * 4
    assert citizens.login().status_code == 302


def test_lockout_of_one_user_id_leaves_others_alone(citizens):
    citizens.create(username="anna")
    citizens.create(username="bob")
    _fail(citizens, 5, "anna")
    assert citizens.login("bob").status_code == 302


@pytest.mark.skipif(
    PRIMARY_BACKEND != "postgres",
    reason="the embedded store is private to one app by design; needs TEST_REDIS_URL",
)
def test_lockout_holds_across_two_app_instances_sharing_the_store(app, citizens):
    second = sibling_app(app)
    try:
        elsewhere = CitizenActions(second, second.test_client())
        citizens.create()
        assert elsewhere.login().status_code == 302  # the same registry
        elsewhere.logout()
        _fail(citizens, 5)
        refused = elsewhere.login()
        assert refused.status_code == 429
        assert "in 1 minute." in refused.text
    finally:
        with second.app_context():
            db.session.remove()
            db.engine.dispose()
        second.extensions["tillid_store"].close()


# --- per-source rate limit -----------------------------------------------------------


@pytest.mark.cluster
def test_the_fourth_post_from_one_address_is_rate_limited(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    token = csrf_token(client.get("/login"))
    data = {"csrf_token": token, "username": "anna", "password": WRONG}
    assert [client.post("/login", data=data).status_code for _ in range(3)] == [401] * 3
    limited = client.post("/login", data=data)
    assert limited.status_code == 429
    assert "<h1>Too many requests</h1>" in limited.text
    assert "Wait a few minutes and try again." in limited.text
    assert int(limited.headers["Retry-After"]) > 0


def test_rate_limit_does_not_count_page_views(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    assert [client.get("/login").status_code for _ in range(10)] == [200] * 10
    data = {"csrf_token": csrf_token(client.get("/login")), "username": "x1", "password": WRONG}
    assert client.post("/login", data=data).status_code == 401


@pytest.mark.cluster
def test_rate_limit_is_per_source_address(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    data = {"csrf_token": csrf_token(client.get("/login")), "username": "x1", "password": WRONG}
    for _ in range(4):
        client.post("/login", data=data)
    assert client.post("/login", data=data).status_code == 429
    other = client.post("/login", data=data, environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 401


# --- account status ------------------------------------------------------------------


@pytest.mark.parametrize("status", ["locked", "blocked", "deceased"])
def test_an_unavailable_account_is_refused_even_with_the_right_password(
    app, client, citizens, status
):
    citizens.create()
    _sql(app, "UPDATE citizen SET status = :s WHERE username = 'anna'", s=status)
    response = citizens.login()
    assert response.status_code == 403
    assert CONTACT_SUPPORT in error_summary(response)
    assert not _sets_sso_cookie(response)
    assert client.get("/me").status_code == 302


def test_an_unavailable_account_with_a_wrong_password_reveals_nothing(app, citizens):
    citizens.create()
    _sql(app, "UPDATE citizen SET status = 'blocked' WHERE username = 'anna'")
    response = citizens.login(password=WRONG)
    assert response.status_code == 401
    assert CONTACT_SUPPORT not in response.text


def test_a_citizen_blocked_while_logged_in_loses_access(app, client, citizens):
    citizens.create()
    citizens.login()
    _sql(app, "UPDATE citizen SET status = 'blocked' WHERE username = 'anna'")
    response = client.get("/me")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- password rehash -----------------------------------------------------------------


def test_login_rehashes_the_password_when_argon2_parameters_change(app, citizens):
    citizens.create()
    assert ",t=1," in _stored_hash(app)
    app.config["ARGON2_TIME_COST"] = 2
    assert citizens.login().status_code == 302
    rehashed = _stored_hash(app)
    assert rehashed.startswith("$argon2id$") and ",t=2," in rehashed
    citizens.logout()
    assert citizens.login().status_code == 302
    assert _stored_hash(app) == rehashed  # no second rehash once it is current


# The parameters Tillid hashed with before issue 19 (RFC 9106's second recommendation).
OLD_ARGON2 = argon2.PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)


def _production_parameters(app) -> tuple[int, int, int]:
    app.config.update(ARGON2_DEFAULTS)
    return (ARGON2_DEFAULTS["ARGON2_TIME_COST"], ARGON2_DEFAULTS["ARGON2_MEMORY_COST"],
            ARGON2_DEFAULTS["ARGON2_PARALLELISM"])  # fmt: skip


def _parameters(password_hash: str) -> tuple[int, int, int]:
    params = argon2.extract_parameters(password_hash)
    assert params.type is argon2.Type.ID
    return params.time_cost, params.memory_cost, params.parallelism


def test_a_hash_of_the_old_parameters_logs_in_and_is_stored_with_the_new_ones(app, citizens):
    citizens.create()
    _sql(app, "UPDATE citizen SET password_hash = :h WHERE username = 'anna'",
         h=OLD_ARGON2.hash(PASSWORD))  # fmt: skip
    assert _parameters(_stored_hash(app)) == (3, 64 * 1024, 4)
    new = _production_parameters(app)
    assert new != (3, 64 * 1024, 4)
    response = citizens.login()  # password, then the authenticator app's code
    assert response.status_code == 302 and response.headers["Location"] == "/me"
    rehashed = _stored_hash(app)
    assert _parameters(rehashed) == new
    assert argon2.PasswordHasher().verify(rehashed, PASSWORD)
    citizens.logout()
    assert citizens.login().status_code == 302  # the new hash logs in
    assert _stored_hash(app) == rehashed


def test_a_failed_login_leaves_a_hash_of_the_old_parameters_alone(app, citizens):
    citizens.create()
    old = OLD_ARGON2.hash(PASSWORD)
    _sql(app, "UPDATE citizen SET password_hash = :h WHERE username = 'anna'", h=old)
    _production_parameters(app)
    assert citizens.login(password=WRONG).status_code == 401
    assert _stored_hash(app) == old


def test_a_failed_login_does_not_rehash(app, citizens):
    citizens.create()
    before = _stored_hash(app)
    app.config["ARGON2_TIME_COST"] = 2
    citizens.login(password=WRONG)
    assert _stored_hash(app) == before
