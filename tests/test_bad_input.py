"""Junk of every kind gets a clear 4xx, never a 500, and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from idp.citizens.models import Citizen, CitizenStatus
from idp.core.extensions import db
from tests.conftest import csrf_token

FORMS = ["/login", "/activate"]
LONG = "x" * 100_000


def _form(client, path: str, **fields) -> dict:
    return {"csrf_token": csrf_token(client.get(path)), **fields}


def _login_fields(**override):
    return {"username": "anna", "password": "correct horse battery", **override}


def _activation_fields(**override):
    return {
        "cpr": "010190-0002",
        "activation_code": "AAAA-BBBB-CCCC",
        "username": "newcomer",
        "password": "a fine long password",
        "password_confirm": "a fine long password",
        **override,
    }


FIELDS = {"/login": _login_fields, "/activate": _activation_fields}

JUNK_VALUES = {
    "very long": LONG,
    "NUL byte": "anna\x00",
    "only NUL": "\x00",
    "control characters": "\x01\x02\x1b[31m",
    "right-to-left override": "anna\u202e",
    "SQL": "' OR 1=1; DROP TABLE citizen; --",
    "HTML": '<script>alert(1)</script>"><img src=x>',
    "empty": "",
    "whitespace": "   ",
    "emoji": "🔑" * 40,
}


@pytest.fixture
def registry(citizens, app):
    """An active citizen and a pending one with a letter, to prove nothing changes."""
    citizens.create(username="anna")
    citizens.create(username=None, cpr="0101900002")
    result = citizens.runner.invoke(args=["citizens", "activation-code", "0101900002"])
    assert result.exit_code == 0

    def snapshot():
        with app.app_context():
            return (
                db.session.scalar(select(func.count(Citizen.id))),
                db.session.scalar(
                    select(func.count(Citizen.id)).where(Citizen.status == CitizenStatus.ACTIVE)
                ),
            )

    return snapshot


def _assert_refused_and_nothing_changed(response, client, registry, before):
    assert 400 <= response.status_code < 500, response.status_code
    assert client.get_cookie("tillid_sso") is None, "junk must not log anyone in"
    assert registry() == before


@pytest.mark.parametrize("path", FORMS)
@pytest.mark.parametrize("junk", list(JUNK_VALUES), ids=list(JUNK_VALUES))
def test_junk_in_every_form_field(client, registry, path, junk):
    before = registry()
    for field in FIELDS[path]():
        fields = FIELDS[path](**{field: JUNK_VALUES[junk]})
        response = client.post(path, data=_form(client, path, **fields))
        _assert_refused_and_nothing_changed(response, client, registry, before)
        assert "Traceback" not in response.text


@pytest.mark.parametrize("path", FORMS)
def test_missing_fields(client, registry, path):
    before = registry()
    for field in FIELDS[path]():
        fields = FIELDS[path]()
        del fields[field]
        response = client.post(path, data=_form(client, path, **fields))
        _assert_refused_and_nothing_changed(response, client, registry, before)


@pytest.mark.parametrize("path", FORMS)
def test_invalid_utf8_in_a_form_body(client, registry, path):
    before = registry()
    token = csrf_token(client.get(path))
    body = f"csrf_token={token}&username=%FF%FE%C3&password=%C0%AF%ED%A0%80xxxxxxxx"
    response = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
    _assert_refused_and_nothing_changed(response, client, registry, before)


@pytest.mark.parametrize("path", FORMS)
def test_a_body_over_the_size_limit_is_413(client, path):
    response = client.post(path, data={"username": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413


@pytest.mark.parametrize("path", FORMS)
def test_json_and_other_content_types_are_refused(client, registry, path):
    before = registry()
    for body, content_type in [
        ('{"username": "anna", "password": "correct horse battery"}', "application/json"),
        ("<login><username>anna</username></login>", "application/xml"),
        ("\x00\x01\x02garbage", "application/octet-stream"),
        ("--b\r\nbroken multipart", "multipart/form-data; boundary=b"),
    ]:
        response = client.post(path, data=body, content_type=content_type)
        _assert_refused_and_nothing_changed(response, client, registry, before)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/login"),
        ("DELETE", "/login"),
        ("PATCH", "/activate"),
        ("PUT", "/logout"),
        ("GET", "/me/sessions/abc/end"),
        ("DELETE", "/me/sessions/end-all"),
        ("POST", "/healthz"),
        ("POST", "/readyz"),
        ("POST", "/me"),
    ],
)
def test_wrong_methods_are_405_with_allow(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.headers["Allow"]


@pytest.mark.parametrize(
    "path",
    [
        "/" + "a" * 10_000,
        "/login?next=" + "%00" * 10,
        "/login?username=%00",
        "/%FF%FE",
        "/me/%C0%AF",
        "/static/../idp/core/config.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/login?next=" + "/" * 5000,
    ],
)
def test_junk_urls(client, path):
    response = client.get(path)
    assert 200 <= response.status_code < 500
    assert response.status_code != 200 or "Log in" in response.text


@pytest.mark.parametrize(
    "cookie",
    ["garbage", "x" * 4000, "\x7f\x00", "a" * 43, "'; DROP TABLE citizen; --", ""],
    ids=["garbage", "overlong", "control", "well-shaped but unknown", "SQL", "empty"],
)
def test_junk_session_cookies_are_not_logged_in(client, cookie):
    client.set_cookie("tillid_sso", cookie)
    response = client.get("/me")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert client.get("/me/sessions").status_code == 302


def test_a_junk_flask_session_cookie_only_costs_the_form(client):
    client.set_cookie("tillid", "not.a.signed.cookie")
    assert client.get("/login").status_code == 200
    response = client.post("/login", data={"username": "anna", "password": "x" * 10})
    assert response.status_code == 400


def test_a_malformed_host_header_is_400(client):
    for host in ["x" * 300, "a" * 64 + ".example", "[::1", "a..b", "bad host", "ho\tst"]:
        response = client.get("/login", headers={"Host": host})
        assert response.status_code == 400, host
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_another_well_formed_host_is_served(client):
    assert client.get("/login", headers={"Host": "evil.example"}).status_code == 200


def test_problem_details_for_api_errors(client):
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == 404
    assert body["title"] and body["type"] == "about:blank"
    assert body["instance"] == "/api/nothing-here"


def test_an_html_error_page_is_readable(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "The page does not exist" in response.text
    assert "<main" in response.text
