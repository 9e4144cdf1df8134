"""Attacks on the browser's session: CSRF on every state-changing route (enumerated from the
URL map, so a new route is covered the day it is added), login CSRF, session fixation at the
passkey login, and clickjacking on every HTML page.

Already tested elsewhere: session fixation at the password login and the second step
(tests/idp/test_sessions.py::test_a_cookie_planted_before_login_is_never_the_one_after,
test_a_planted_live_session_does_not_hand_the_login_to_its_owner,
tests/idp/test_second_factor.py::test_the_right_code_opens_them_and_renews_the_session_id)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.core.extensions import csrf, db
from tests.conftest import CitizenActions, csrf_token, login
from tests.oidc.conftest import register
from tests.security.conftest import (
    SoftAuthenticator,
    login_challenge,
    post_json,
    register_passkey,
    send_assertion,
)

CSRF_REFUSAL = "The form has expired or was not sent from this site."
CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
SSO_COOKIE = "tillid_sso"


def _snapshot(app) -> dict[str, list]:
    """Every row of every table: what a refused request must leave exactly as it was."""
    with app.app_context():
        rows = {}
        for table in db.metadata.sorted_tables:
            found = db.session.execute(select(table)).all()
            rows[table.name] = sorted(repr(tuple(row)) for row in found)
        db.session.rollback()
        return rows


@pytest.fixture
def victim(app, client, citizens, oidc):
    """Anna, logged in with two factors, with a consent, a second device and a service."""
    service = register(app)
    oidc(service).tokens()
    laptop = CitizenActions(app, app.test_client())
    assert laptop.login().status_code == 302
    others = [s["id"] for s in client.get("/api/me/sessions").json["sessions"]
              if not s["this_session"]]  # fmt: skip
    authenticator = client.get("/api/me/authenticators").json["authenticators"][0]["id"]
    return {
        "client_id": service.client_id,
        "id_hash": others[0],
        "authenticator_id": authenticator,
        "request_id": "a-request",
        "entry_id": 1,
    }


def _state_changing_routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods & CHANGING):
            yield rule, method


def _exempt(app, endpoint: str) -> bool:
    view = app.view_functions[endpoint]
    return f"{view.__module__}.{view.__name__}" in csrf._exempt_views


def _url(app, rule, values: dict) -> str:
    adapter = app.url_map.bind("localhost")
    return adapter.build(rule.endpoint, {a: values.get(a, "x") for a in rule.arguments},
                         url_scheme="http", force_external=False)  # fmt: skip


FORM_FIELDS = {"decision": "allow", "name": "Renamed by a stranger", "otp": "123456",
               "username": "anna", "password": "correct horse battery", "next": "/me"}  # fmt: skip


def test_attack_csrf_on_every_state_changing_route(app, client, victim):
    """A page elsewhere makes the citizen's browser send each of Tillid's forms and JSON calls
    with the citizen's cookies but without the CSRF token (or with one from another
    browser): each is refused for it and changes nothing."""
    elsewhere = app.test_client()
    foreign_token = csrf_token(elsewhere.get("/login"))
    checked = []
    for rule, method in _state_changing_routes(app):
        if _exempt(app, rule.endpoint):
            continue  # below: routes that take no cookie session
        url = _url(app, rule, victim)
        for token in (None, foreign_token):
            form = dict(FORM_FIELDS, **({"csrf_token": token} if token else {}))
            headers = {"X-CSRFToken": token} if token else {}
            before = _snapshot(app)
            as_form = client.open(url, method=method, data=form)
            as_json = client.open(url, method=method, json={"credential": {}, "code": "AB12"},
                                  headers={"Accept": "application/json", **headers})  # fmt: skip
            for kind, response in (("form", as_form), ("json", as_json)):
                assert response.status_code == 400, (method, url, kind, token)
                assert CSRF_REFUSAL in response.text, (method, url, kind, token)
            assert _snapshot(app) == before, (method, url)
            checked.append(rule.endpoint)
    assert client.get("/me").status_code == 200  # still logged in: no logout went through
    # The forms the brief names are among them (the enumeration did not come up empty).
    for endpoint in ("auth.login", "logout.logout", "auth.activate", "oidc.authorize",
                     "account.end_all_sessions", "security.remove", "phone.approve"):  # fmt: skip
        assert endpoint in checked, endpoint


# What anyone may POST, with or without cookies, by design: a wallet's c_nonce (OpenID4VCI
# 1.0 section 7) is a random value that acts for no one and changes nothing of the citizen's.
OPEN_TO_ANYONE = frozenset({"wallet.nonce"})


def test_attack_csrf_on_the_routes_that_take_no_cookie_session(app, client, victim):
    """The routes without a CSRF token are the ones a service's back end or app calls with
    its own credentials: the citizen's cookies alone get nothing done there (and the JSON
    twin's DELETE checks the token itself)."""
    exempt = []
    for rule, method in _state_changing_routes(app):
        if not _exempt(app, rule.endpoint):
            continue
        url = _url(app, rule, victim)
        before = _snapshot(app)
        response = client.open(url, method=method, data={"grant_type": "client_credentials",
                               "token": "x", "login_hint": "anna", "scope": "openid"})  # fmt: skip
        if rule.endpoint in OPEN_TO_ANYONE:
            assert response.status_code == 200, (method, url, response.status_code)
            assert _snapshot(app) == before, (method, url)
            continue
        assert 400 <= response.status_code < 500, (method, url, response.status_code)
        assert _snapshot(app) == before, (method, url)
        exempt.append(rule.endpoint)
    assert "me_api.withdraw_consent" in exempt and "oidc.token" in exempt
    withdraw = client.delete(f"/api/me/consents/{victim['client_id']}")
    assert withdraw.status_code == 400 and CSRF_REFUSAL in withdraw.text
    assert client.get("/api/me/consents").json["consents"]  # still there


# --- login CSRF -------------------------------------------------------------------------------


def _sso(client) -> str | None:
    cookie = client.get_cookie(SSO_COOKIE)
    return cookie.value if cookie else None


def test_attack_login_csrf_with_the_attackers_own_token(app, citizens):
    """The attacker logs the victim's browser in to the attacker's account (to read what the
    victim then does there): with no token, or with the token of the attacker's own
    browser, the victim's browser is not logged in."""
    citizens.create(username="mallory", password="Kanel-Snegl-77-hemmelig", totp=False)
    attacker = app.test_client()
    attackers_token = csrf_token(attacker.get("/login"))
    for browser_has_visited in (False, True):
        victims_browser = app.test_client()
        if browser_has_visited:
            victims_browser.get("/login")
        for token in (None, attackers_token):
            data = {"username": "mallory", "password": "Kanel-Snegl-77-hemmelig", "next": "/me"}
            if token:
                data["csrf_token"] = token
            response = victims_browser.post("/login", data=data)
            assert response.status_code == 400 and CSRF_REFUSAL in response.text
            assert _sso(victims_browser) is None
    # The control: the attacker's browser with its own token is let in.
    assert login(attacker, "mallory", "Kanel-Snegl-77-hemmelig").status_code == 302


def test_attack_login_csrf_through_the_passkey_login(app, client, citizens):
    """The same with the attacker's passkey: an assertion made for the attacker's browser,
    posted from the victim's, does not log the victim's browser in."""
    citizens.create(username="mallory", password="Kanel-Snegl-77-hemmelig")
    assert citizens.login("mallory", "Kanel-Snegl-77-hemmelig").status_code == 302
    passkey = SoftAuthenticator()
    register_passkey(client, passkey)
    attacker = app.test_client()
    token, challenge = login_challenge(attacker)
    credential = passkey.assertion(challenge)
    victims_browser = app.test_client()
    victims_browser.get("/login")
    for sent_token in (None, token):
        response = post_json(victims_browser, "/login/passkey/verify",
                             {"credential": credential, "next": "/me"}, sent_token)  # fmt: skip
        assert response.status_code == 400
        assert _sso(victims_browser) is None
    # The control: the assertion was good, in the browser it was made for.
    assert send_assertion(attacker, token, credential).status_code == 200


# --- session fixation -------------------------------------------------------------------------


def test_attack_session_fixation_at_the_passkey_login(app, client, citizens):
    """A cookie planted in the browser before a passkey login is never the one after."""
    citizens.create(username="anna")
    assert citizens.login().status_code == 302
    passkey = SoftAuthenticator()
    register_passkey(client, passkey)
    browser = app.test_client()
    browser.set_cookie(SSO_COOKIE, "planted-by-someone-else")
    token, challenge = login_challenge(browser)
    response = send_assertion(browser, token, passkey.assertion(challenge))
    assert response.status_code == 200, response.json
    assert _sso(browser) not in (None, "planted-by-someone-else")
    planted = app.test_client()
    planted.set_cookie(SSO_COOKIE, "planted-by-someone-else")
    assert planted.get("/me").status_code == 302


def test_attack_session_fixation_a_live_session_planted_before_a_passkey_login(app, citizens):
    """The attacker plants their own live session: the victim's passkey login neither joins
    it (the passkey is not the attacker's) nor leaves the attacker's id in the browser."""
    anna_browser = app.test_client()
    anna = CitizenActions(app, anna_browser)
    anna.create(username="anna")
    assert anna.login().status_code == 302
    passkey = SoftAuthenticator()
    register_passkey(anna_browser, passkey)
    anna.create(username="mallory", password="Kanel-Snegl-77-hemmelig", totp=False)
    attacker = app.test_client()
    assert login(attacker, "mallory", "Kanel-Snegl-77-hemmelig").status_code == 302
    planted = _sso(attacker)
    victim = app.test_client()
    victim.set_cookie(SSO_COOKIE, planted)
    token = csrf_token(victim.get("/login", query_string={"force": "1"}))
    options = post_json(victim, "/login/passkey/options", {}, token).json
    refused = send_assertion(victim, token, passkey.assertion(options["challenge"]))
    assert refused.status_code == 400  # Anna's passkey does not step up Mallory's session
    assert attacker.get("/api/me").status_code == 401  # still Mallory's password alone


# --- clickjacking -------------------------------------------------------------------------------


def _pages(app, client, victim) -> dict[str, object]:
    """Every page a GET reaches, with the ids of the victim's own things for its arguments,
    and the pages only a flow reaches (consent, form_post, a service's logout)."""
    pages = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods:
            continue
        values = {**victim, "sub": "someone", "filename": "css/tillid.css"}
        url = _url(app, rule, values)
        pages[url] = client.get(url)
    anonymous = app.test_client()
    for path in ("/login", "/activate", "/login/app", "/app", "/app/pair", "/no-such-page",
                 "/logout?id_token_hint=junk"):  # fmt: skip
        pages[f"anonymous {path}"] = anonymous.get(path)
    pages["login page for a service"] = anonymous.get("/login", query_string={
        "next": "/authorize?client_id=" + victim["client_id"]})  # fmt: skip
    pages["method not allowed"] = client.put("/me")
    pages["refused form"] = client.post("/login", data={})
    return pages


def test_attack_clickjacking_on_every_html_page(app, client, victim, oidc):
    unasked = oidc(register(app, name="Andenbank", redirect_uri="https://other.example/cb"))
    pages = _pages(app, client, victim)
    pages["consent page"] = unasked.authorize()
    pages["form_post page"] = unasked.decide(unasked.authorize(), response_mode="form_post")
    html = {name: r for name, r in pages.items() if r.mimetype == "text/html"}
    assert len(html) >= 20, sorted(html)
    for name, response in html.items():
        csp = response.headers.get("Content-Security-Policy", "")
        directives = dict([*d.strip().split(" ", 1), ""][:2] for d in csp.split(";") if d.strip())
        assert directives.get("frame-ancestors") == "'none'", (name, csp)
        assert response.headers.get("X-Frame-Options") == "DENY", name
    form_post_csp = pages["form_post page"].headers["Content-Security-Policy"]
    assert "form-action 'self' https://other.example" in form_post_csp


def test_attack_csrf_token_fixed_before_login(app, client, citizens):
    """The attacker plants a form session whose CSRF token it knows (a cookie set from a
    sibling site, or over plain http) in the victim's browser before the login: after the
    login that token opens no form."""
    citizens.create()
    planted = csrf_token(client.get("/login"))
    assert citizens.login().status_code == 302
    for path in ("/me/sessions/end-all", "/me/security/recovery-codes/new"):
        response = client.post(path, data={"csrf_token": planted})
        assert response.status_code == 400 and CSRF_REFUSAL in response.text, path
    assert client.get("/me").status_code == 200
    fresh = csrf_token(client.get("/me/sessions"))  # the control: the page's own token works
    assert client.post("/me/sessions/end-all", data={"csrf_token": fresh}).status_code == 302
