"""Redirect tricks: redirect URIs that look like the registered one, open redirects through
logout, and the mix-up attack (the `iss` of every authorization response).

Already refused in tests/oidc/test_code_flow.py::
test_an_unverifiable_redirect_uri_is_never_followed: another host, `/callback/../evil`, an
extra query, another case, a suffix host; and an unregistered `post_logout_redirect_uri` in
tests/oidc/test_logout.py."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.conftest import csrf_token, login
from tests.oidc.conftest import redirect_params, register

ISSUER = "http://localhost:5000"
OFF_SITE = re.compile(r'(?:href|action|src)="(?![/#])')
BYE = "https://bank.example/goodbye"

PREFIX = [
    "https://bank.example/callbackevil",
    "https://bank.example/callback/evil",
    "https://bank.example/callback.evil.example",
    "https://bank.example/call",
    "https://bank.example/",
]
TRAVERSAL = [
    "https://bank.example/callback/../../evil",
    "https://bank.example/callback/%2e%2e/evil",
    "https://bank.example/callback/%2E%2E%2Fevil",
    "https://bank.example/evil/../callback",
    "https://bank.example/./callback",
    "https://bank.example//callback",
    "https://bank.example/callback/..;/evil",
    "https://bank.example/callback%2f..%2fevil",
]
USERINFO = [
    "https://bank.example@evil.example/callback",
    "https://bank.example:443@evil.example/callback",
    "https://evil.example@bank.example/callback",
    "https://bank.example%40evil.example/callback",
    "https://bank.example\\@evil.example/callback",
]
FRAGMENT = [
    "https://bank.example/callback#",
    "https://bank.example/callback#@evil.example",
    "https://bank.example/callback#https://evil.example",
]
PORT_OR_SCHEME = [
    "https://bank.example:8443/callback",
    "https://bank.example:443/callback",
    "http://bank.example/callback",
    "HTTPS://bank.example/callback",
    "//bank.example/callback",
    "javascript://bank.example/callback%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://BANK.example/callback",
    "https://bank.example./callback",
]


def _assert_never_followed(app, oidc, tricks: list[str]) -> None:
    flow = oidc(register(app))
    for trick in tricks:
        for mode in ("query", "form_post"):
            response = flow.authorize(redirect_uri=trick, response_mode=mode)
            assert response.status_code == 400, (trick, mode)
            assert "Location" not in response.headers, (trick, mode)
            # Not posted there either (form_post), nor offered as a link: every link and form
            # on the error page stays on Tillid.
            assert not OFF_SITE.search(response.text), (trick, mode)
    assert flow.code()  # the control: the registered URI


def test_attack_redirect_uri_prefix(app, oidc):
    _assert_never_followed(app, oidc, PREFIX)


def test_attack_redirect_uri_path_traversal(app, oidc):
    _assert_never_followed(app, oidc, TRAVERSAL)


def test_attack_redirect_uri_userinfo(app, oidc):
    _assert_never_followed(app, oidc, USERINFO)


def test_attack_redirect_uri_fragment(app, oidc):
    _assert_never_followed(app, oidc, FRAGMENT)


def test_attack_redirect_uri_other_port_or_scheme(app, oidc):
    _assert_never_followed(app, oidc, PORT_OR_SCHEME)


QUOTING = [
    'https://bank.example/callback"onmouseover="alert(1)',
    "https://bank.example\\callback",
    'https://bank.example/callback\\"',
]


def test_attack_redirect_uri_that_breaks_out_of_the_error_message(app, client, oidc):
    """A `"` or `\\` in the redirect URI (or the response type) once became a 500: Authlib
    refuses to quote them into its error description. Now a plain 400, at /authorize and
    at /par."""
    _assert_never_followed(app, oidc, QUOTING)
    flow = oidc(register(app, name="Andenbank", redirect_uri="https://other.example/cb"))
    response = flow.authorize(response_type='code"x')
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert redirect_params(response)["error"] == "unsupported_response_type"
    auth = (flow.service.client_id, flow.service.client_secret)
    for trick in QUOTING:
        pushed = client.post("/par", data=flow.params(redirect_uri=trick), auth=auth)
        assert pushed.status_code == 400 and pushed.json["error"] == "invalid_request", trick


def test_attack_redirect_uri_of_another_client(app, oidc):
    """A redirect URI registered, but for another service: never for this client_id."""
    register(app, name="Evil", redirect_uri="https://evil.example/callback")
    _assert_never_followed(app, oidc, ["https://evil.example/callback"])


# --- open redirect through logout ---------------------------------------------------------------


def _logout_url(**params) -> str:
    return "/logout?" + urlencode(params)


def _assert_not_sent_to(response, trick: str) -> None:
    location = response.headers.get("Location", "")
    assert not location.startswith(("http:", "https:", "//", "javascript:", "data:")), (
        trick,
        location,
    )


LOGOUT_TRICKS = [
    "https://evil.example/",
    "https://bank.example/goodbyeevil",
    "https://bank.example/goodbye/../evil",
    "https://bank.example@evil.example/goodbye",
    "https://bank.example/goodbye#@evil.example",
    "https://bank.example:8443/goodbye",
    "http://bank.example/goodbye",
    "//evil.example/goodbye",
    "https://other.example/bye",  # registered, but by another service
]


def test_attack_open_redirect_via_post_logout_redirect_uri(app, client, oidc):
    flow = oidc(register(app, extra=["--post-logout-redirect-uri", BYE]))
    register(app, name="Other", redirect_uri="https://other.example/cb",
             extra=["--post-logout-redirect-uri", "https://other.example/bye"])  # fmt: skip
    id_token = flow.tokens()["id_token"]
    for trick in LOGOUT_TRICKS:
        if client.get("/login").status_code == 200:  # the last trick's logout went through
            assert login(client, "anna", "correct horse battery").status_code == 302
        url = _logout_url(id_token_hint=id_token, post_logout_redirect_uri=trick, state="s")
        page = client.get(url)
        _assert_not_sent_to(page, trick)
        assert trick not in page.text, trick
        if page.status_code == 200:  # asked to confirm: confirming ends at Tillid, not there
            _assert_not_sent_to(client.post(url, data={"csrf_token": csrf_token(page)}), trick)


def test_attack_open_redirect_via_logout_when_already_logged_out(app, client, citizens, oidc):
    """Logged out already, a valid hint sends the browser straight back without a question:
    the one place a logout redirects unasked, so only ever to the registered address."""
    flow = oidc(register(app, extra=["--post-logout-redirect-uri", BYE]))
    register(app, name="Other", redirect_uri="https://other.example/cb",
             extra=["--post-logout-redirect-uri", "https://other.example/bye"])  # fmt: skip
    id_token = flow.tokens()["id_token"]
    citizens.logout()
    for trick in LOGOUT_TRICKS:
        response = client.get(_logout_url(id_token_hint=id_token, post_logout_redirect_uri=trick))
        _assert_not_sent_to(response, trick)
    control = client.get(_logout_url(id_token_hint=id_token, post_logout_redirect_uri=BYE))
    assert control.headers["Location"] == BYE


# --- mix-up: every authorization response names its issuer (RFC 9207) ---------------------------


def _iss_values(response) -> list[str]:
    if response.status_code == 302:
        return parse_qs(urlsplit(response.headers["Location"]).query).get("iss", [])
    return re.findall(r'name="iss" value="([^"]*)"', response.text)


def test_attack_mix_up_every_authorization_response_names_the_issuer(app, client, oidc):
    """A client talking to several issuers checks `iss` before it sends the code anywhere:
    so each response, success or error, by redirect or form_post, names Tillid exactly
    once, whatever `iss` the request itself carried."""
    flow = oidc(register(app))
    evil = "https://evil.example"
    responses = {"code": flow.decide(flow.authorize(iss=evil), iss=evil)}
    flow.new_nonce()
    responses["code by form_post"] = flow.authorize(response_mode="form_post")
    flow.new_nonce()
    responses["access_denied"] = flow.decide(flow.authorize(prompt="consent"), decision="deny")
    responses["invalid_request"] = flow.authorize(code_challenge_method="plain")
    responses["error by form_post"] = flow.authorize(code_challenge_method="plain",
                                                     response_mode="form_post")  # fmt: skip
    unasked = oidc(register(app, name="Andenbank", redirect_uri="https://other.example/cb"))
    responses["consent_required"] = unasked.authorize(prompt="none")
    flow.client = app.test_client()  # a browser without a session
    responses["login_required"] = flow.authorize(prompt="none")
    for name, response in responses.items():
        assert response.status_code in (200, 302), name
        assert _iss_values(response) == [ISSUER], name


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example",
                                      "javascript:alert(1)", "/\tevil.example"])  # fmt: skip
def test_attack_open_redirect_via_next_at_the_phone_login(app, client, citizens, next_url):
    """The phone login's pages carry `next` too (the password and code pages are
    tests/idp/test_login.py and tests/idp/test_second_factor.py)."""
    page = client.get("/login/app", query_string={"next": next_url})
    assert page.status_code == 200
    assert next_url not in page.text
    waiting = client.get("/login/app/wait", query_string={"next": next_url})
    _assert_not_sent_to(waiting, next_url)
    assert next_url not in waiting.headers.get("Location", "")
