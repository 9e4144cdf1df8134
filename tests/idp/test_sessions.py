"""SSO sessions: the cookie, fixation, storage, idle and absolute limits, /me/sessions, logout."""

from __future__ import annotations

import hashlib
import re

import pytest

from idp.sessions import sessions
from tests.conftest import CitizenActions, Clock, csrf_token

PASSWORD = "correct horse battery"
IDLE = 30 * 60
ABSOLUTE = 8 * 60 * 60


@pytest.fixture
def clock(monkeypatch):
    """The clock the sessions module reads; the store's own expiry keeps real time."""
    clock = Clock()
    monkeypatch.setattr(sessions, "time", clock)
    return clock


def _set_cookie(response, name: str) -> tuple[str, dict] | None:
    """The value and attributes (lower-case names) of the cookie ``name`` set by a response."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            first, *attributes = [part.strip() for part in header.split(";")]
            parsed = {}
            for attribute in attributes:
                key, _, value = attribute.partition("=")
                parsed[key.lower()] = value or True
            return first.split("=", 1)[1], parsed
    return None


def _sso(client, name="tillid_sso", domain="localhost") -> str | None:
    cookie = client.get_cookie(name, domain=domain)
    return cookie.value if cookie else None


def _client_with_cookie(app, value: str):
    other = app.test_client()
    other.set_cookie("tillid_sso", value)
    return other


def _logged_in(client) -> bool:
    return client.get("/me").status_code == 200


def _rows(page) -> list[tuple[str, bool]]:
    """(session id hash, is this device) for each row of /me/sessions."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", page.text, re.S):
        action = re.search(r'action="/me/sessions/([0-9a-f]{64})/end"', row)
        if action:
            rows.append((action.group(1), "(this device)" in row))
    return rows


def _this_session(client) -> str:
    """The id hash /me/sessions shows for the client's own session."""
    (mine,) = [id_hash for id_hash, this in _rows(client.get("/me/sessions")) if this]
    return mine


def _end(client, id_hash: str, token: str | None = "page"):
    page = client.get("/me/sessions")
    data = {} if token is None else {"csrf_token": csrf_token(page) if token == "page" else token}
    return client.post(f"/me/sessions/{id_hash}/end", data=data)


def _login_again(citizens, username="anna", password=PASSWORD):
    """Log in while logged in (/login then only redirects): the token from another form."""
    token = csrf_token(citizens.client.get("/logout"))
    data = {"csrf_token": token, "username": username, "password": password}
    response = citizens.client.post("/login", data=data)
    assert response.status_code == 302, response.status_code
    return citizens.second_factor(response.headers["Location"], username)


# --- the cookie ----------------------------------------------------------------------


def test_sso_cookie_is_httponly_lax_and_site_wide_but_not_secure_on_http(citizens):
    citizens.create()
    value, attributes = _set_cookie(citizens.login(), "tillid_sso")
    assert len(value) >= 32
    assert attributes["httponly"] is True
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "secure" not in attributes
    assert "domain" not in attributes


def _https_login(app, client, **headers):
    https = {"base_url": "https://id.example"}
    page = client.get("/login", **https)
    data = {"csrf_token": csrf_token(page), "username": "anna", "password": PASSWORD}
    return client.post("/login", data=data, headers=headers, **https)


def test_https_issuer_uses_a_host_prefixed_secure_cookie(make_app):
    app = make_app(ISSUER="https://id.example")
    CitizenActions(app, app.test_client()).create()
    client = app.test_client()
    response = _https_login(app, client)
    assert response.status_code == 302
    assert _set_cookie(response, "tillid_sso") is None
    response = CitizenActions(app, client).second_factor("/me", base_url="https://id.example")
    _, attributes = _set_cookie(response, "__Host-tillid_sso")
    assert attributes["secure"] is True
    assert attributes["httponly"] is True
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes
    assert client.get("/me", base_url="https://id.example").status_code == 200


def test_https_login_works_without_a_referer_as_browsers_send_it(make_app):
    app = make_app(ISSUER="https://id.example")
    CitizenActions(app, app.test_client()).create()
    client = app.test_client()
    assert (
        client.get("/login", base_url="https://id.example").headers["Referrer-Policy"]
        == "no-referrer"
    )
    assert _https_login(app, client).status_code == 302


# --- fixation ------------------------------------------------------------------------


def test_a_cookie_planted_before_login_is_never_the_one_after(app, client, citizens):
    citizens.create()
    client.set_cookie("tillid_sso", "planted-by-someone-else")
    citizens.login()
    assert _sso(client) not in (None, "planted-by-someone-else")
    assert not _logged_in(_client_with_cookie(app, "planted-by-someone-else"))


def test_a_planted_live_session_does_not_hand_the_login_to_its_owner(app, client, citizens):
    citizens.create(username="anna")
    citizens.create(username="mallory", password="a planted session")
    attacker = app.test_client()
    CitizenActions(app, attacker).login("mallory", "a planted session")
    planted = _sso(attacker)
    client.set_cookie("tillid_sso", planted)
    # The planted cookie already counts here, so /login only redirects: log in over it.
    assert _login_again(citizens, "anna").status_code == 302
    assert _sso(client) != planted
    assert "Anna Jensen" in client.get("/me").text
    assert "Anna Jensen" not in attacker.get("/me").text


def test_logging_in_again_gives_a_new_id_and_the_old_one_stops_working(app, client, citizens):
    citizens.create()
    citizens.login()
    first = _sso(client)
    assert _login_again(citizens).status_code == 302
    second = _sso(client)
    assert second != first
    assert _logged_in(client)
    assert not _logged_in(_client_with_cookie(app, first))


def test_a_forged_or_overlong_cookie_is_ignored(app):
    for value in ["x", "a" * 500, "%00%ff", '"quoted"']:
        assert _client_with_cookie(app, value).get("/me").status_code == 302


# --- what the store holds ------------------------------------------------------------


@pytest.mark.cluster
def test_the_store_holds_only_a_hash_of_the_cookie_value(app, client, citizens):
    citizens.create()
    citizens.login()
    raw = _sso(client).encode()
    store = app.extensions["tillid_store"]
    keys = list(store.scan_iter(match=app.config["STORE_KEY_PREFIX"] + "*"))
    assert keys
    for key in keys:
        assert raw not in key
        kind = store.type(key)
        if kind == b"string":
            values = [store.get(key)]
        elif kind == b"set":
            values = list(store.smembers(key))
        elif kind == b"hash":
            values = [*store.hgetall(key).keys(), *store.hgetall(key).values()]
        else:
            values = list(store.lrange(key, 0, -1)) if kind == b"list" else []
        assert all(raw not in value for value in values), key
    digest = hashlib.sha256(raw).hexdigest().encode()
    assert any(digest in key for key in keys)


# --- idle and absolute limits --------------------------------------------------------


@pytest.mark.cluster
def test_an_idle_session_ends_after_the_idle_timeout(client, citizens, clock):
    citizens.create()
    citizens.login()
    clock.advance(IDLE - 5)
    assert _logged_in(client)
    clock.advance(IDLE + 1)
    response = client.get("/me")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/me"


def test_activity_resets_the_idle_timer(client, citizens, clock):
    citizens.create()
    citizens.login()
    for _ in range(6):  # three hours, never idle for half an hour
        clock.advance(IDLE - 60)
        assert _logged_in(client)


def test_an_active_session_still_ends_at_the_absolute_timeout(client, citizens, clock):
    citizens.create()
    citizens.login()
    for _ in range(19):  # 7 h 55 min of steady use
        clock.advance(25 * 60)
        assert _logged_in(client)
    clock.advance(6 * 60)  # 8 h 1 min after login, 6 min after the last click
    assert not _logged_in(client)


def test_a_form_sent_after_the_session_expired_asks_for_a_login_then_goes_home(
    client, citizens, clock
):
    citizens.create()
    citizens.login()
    page = client.get("/me/sessions")
    clock.advance(IDLE + 1)
    response = client.post("/me/sessions/end-all", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"  # never back to a POST-only address
    assert citizens.login().headers["Location"] == "/me"


def test_session_limits_are_configurable(make_app, clock):
    app = make_app(SESSION_IDLE_TIMEOUT=60, SESSION_ABSOLUTE_TIMEOUT=120)
    idle = CitizenActions(app, app.test_client())
    idle.create()
    busy = CitizenActions(app, app.test_client())
    idle.login()
    busy.login()
    clock.advance(50)
    assert _logged_in(busy.client)
    clock.advance(50)
    assert _logged_in(busy.client)
    assert not _logged_in(idle.client)  # 100 s without a request
    clock.advance(50)
    assert not _logged_in(busy.client)  # 150 s after login


@pytest.mark.cluster
def test_an_expired_session_leaves_the_session_list(app, citizens, clock):
    citizens.create()
    citizens.login()
    other = CitizenActions(app, app.test_client())
    other.login()
    mine = _this_session(citizens.client)
    clock.advance(IDLE - 60)
    assert len(_rows(citizens.client.get("/me/sessions"))) == 2
    clock.advance(120)  # this client was active 2 min ago, the other not for 31 min
    assert _rows(citizens.client.get("/me/sessions")) == [(mine, True)]


# --- /me/sessions --------------------------------------------------------------------


def test_session_list_shows_each_device_and_marks_this_one(app, citizens):
    citizens.create()
    citizens.login()
    phone = CitizenActions(app, app.test_client())
    phone.login()
    rows = _rows(citizens.client.get("/me/sessions"))
    assert len(rows) == 2
    assert [this for _, this in rows].count(True) == 1
    phone_rows = _rows(phone.client.get("/me/sessions"))
    assert {h for h, _ in phone_rows} == {h for h, _ in rows}
    assert _this_session(phone.client) != _this_session(citizens.client)


def test_session_list_needs_a_login(client):
    response = client.get("/me/sessions")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/me/sessions"


def test_session_list_page_has_unique_ids(app, citizens):
    citizens.create()
    citizens.login()
    CitizenActions(app, app.test_client()).login()
    ids = re.findall(r'\bid="([^"]+)"', citizens.client.get("/me/sessions").text)
    assert len(ids) == len(set(ids))


@pytest.mark.cluster
def test_ending_another_session_logs_out_only_that_one(app, citizens):
    citizens.create()
    citizens.login()
    phone = CitizenActions(app, app.test_client())
    phone.login()
    (other_hash,) = [h for h, this in _rows(citizens.client.get("/me/sessions")) if not this]
    response = _end(citizens.client, other_hash)
    assert response.status_code == 302
    assert response.headers["Location"] == "/me/sessions"
    assert "The session has been logged out." in citizens.client.get("/me/sessions").text
    assert not _logged_in(phone.client)
    assert _logged_in(citizens.client)
    assert len(_rows(citizens.client.get("/me/sessions"))) == 1


def test_ending_this_session_logs_out_here(client, citizens):
    citizens.create()
    citizens.login()
    response = _end(client, _this_session(client))
    assert response.headers["Location"] == "/logged-out"
    assert not _logged_in(client)


@pytest.mark.cluster
def test_log_out_everywhere_ends_every_session(app, citizens):
    citizens.create()
    citizens.login()
    phone = CitizenActions(app, app.test_client())
    phone.login()
    page = citizens.client.get("/me/sessions")
    assert "Log out everywhere" in page.text
    response = citizens.client.post("/me/sessions/end-all", data={"csrf_token": csrf_token(page)})
    assert response.headers["Location"] == "/logged-out"
    assert not _logged_in(citizens.client)
    assert not _logged_in(phone.client)


def test_log_out_everywhere_leaves_other_citizens_alone(app, citizens):
    citizens.create(username="anna")
    citizens.create(username="bob")
    citizens.login("anna")
    bob = CitizenActions(app, app.test_client())
    bob.login("bob")
    page = citizens.client.get("/me/sessions")
    citizens.client.post("/me/sessions/end-all", data={"csrf_token": csrf_token(page)})
    assert _logged_in(bob.client)


def test_a_citizen_cannot_end_another_citizens_session(app, citizens):
    citizens.create(username="anna")
    citizens.create(username="bob")
    citizens.login("anna")
    bob = CitizenActions(app, app.test_client())
    bob.login("bob")
    response = _end(bob.client, _this_session(citizens.client))
    assert response.status_code == 404
    assert "The page does not exist" in response.text
    assert _logged_in(citizens.client)
    assert _logged_in(bob.client)


def test_ending_an_unknown_session_is_not_found(client, citizens):
    citizens.create()
    citizens.login()
    assert _end(client, "0" * 64).status_code == 404
    assert _logged_in(client)


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_ending_sessions_needs_a_csrf_token(app, citizens, token):
    citizens.create()
    citizens.login()
    phone = CitizenActions(app, app.test_client())
    phone.login()
    assert _end(citizens.client, _this_session(phone.client), token=token).status_code == 400
    data = {} if token is None else {"csrf_token": token}
    assert citizens.client.post("/me/sessions/end-all", data=data).status_code == 400
    assert _logged_in(citizens.client)
    assert _logged_in(phone.client)


# --- logout --------------------------------------------------------------------------


def test_logout_page_asks_first_and_changes_nothing(client, citizens):
    citizens.create()
    citizens.login()
    page = client.get("/logout")
    assert page.status_code == 200
    assert "Log out of Tillid on this device?" in page.text
    assert csrf_token(page)
    assert _logged_in(client)


@pytest.mark.cluster
def test_logout_ends_the_session_and_clears_the_cookie(app, client, citizens):
    citizens.create()
    citizens.login()
    old = _sso(client)
    response = citizens.logout()
    assert response.status_code == 302
    assert response.headers["Location"] == "/logged-out"
    value, attributes = _set_cookie(response, "tillid_sso")
    assert value == ""
    assert attributes["max-age"] == "0"
    assert "You are logged out" in client.get("/logged-out").text
    assert not _logged_in(client)
    assert not _logged_in(_client_with_cookie(app, old))


def test_logout_on_one_device_keeps_the_other(app, citizens):
    citizens.create()
    citizens.login()
    phone = CitizenActions(app, app.test_client())
    phone.login()
    citizens.logout()
    assert _logged_in(phone.client)


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_logout_without_a_valid_csrf_token_is_refused(client, citizens, token):
    citizens.create()
    citizens.login()
    client.get("/logout")
    data = {} if token is None else {"csrf_token": token}
    response = client.post("/logout", data=data)
    assert response.status_code == 400
    assert "not sent from this site" in response.text
    assert _logged_in(client)


def test_logout_page_when_not_logged_in_goes_to_login(client):
    response = client.get("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"


def test_sso_cookie_ends_with_the_browser(citizens):
    # No Max-Age or Expires: closing the browser on a shared computer ends the session.
    citizens.create()
    _, attributes = _set_cookie(citizens.login(), "tillid_sso")
    assert "max-age" not in attributes
    assert "expires" not in attributes
