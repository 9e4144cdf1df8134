"""The authorization code flow through HTTP: the happy path and every refusal."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import urlencode

import pytest

from clients.claims import CPR_CLAIM
from tests.conftest import CitizenActions, after_password, csp_form_action, csrf_token
from tests.oidc.conftest import TAX_REDIRECT, redirect_params, register

ISSUER = "http://localhost:5000"
LOW = "https://data.gov.dk/concept/core/nsis/loa/Low"
SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"
HIGH = "https://data.gov.dk/concept/core/nsis/loa/High"
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")


@pytest.mark.cluster
def test_consent_then_code_then_tokens_then_userinfo(app, client, oidc):
    flow = oidc(register(app))
    page = flow.authorize()
    assert page.status_code == 200
    assert "Share your information with Nordbank?" in page.text
    assert "Whether you are over 18" in page.text
    params = redirect_params(flow.decide(page))
    assert params["state"] == flow.state and params["iss"] == ISSUER

    response = flow.exchange(params["code"])
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.json
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 300
    claims = flow.id_token(tokens)
    assert claims["iss"] == ISSUER and claims["aud"] == flow.service.client_id
    assert claims["nonce"] == flow.nonce
    assert claims["acr"] == SUBSTANTIAL and claims["amr"] == ["pwd", "otp", "mfa"]
    assert {"sub", "exp", "iat", "auth_time", "sid", "at_hash"} <= claims.keys()
    assert claims["age_over_18"] is True and claims["name"] == "Anna Jensen"
    assert "birthdate" not in claims, "age_over_18 must not leak the birthdate"

    userinfo = client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200
    assert userinfo.json == {
        "sub": claims["sub"],
        "given_name": "Anna",
        "family_name": "Jensen",
        "name": "Anna Jensen",
        "age_over_18": True,
    }


def test_consent_is_remembered(app, oidc):
    flow = oidc(register(app))
    flow.code()
    flow.new_nonce()
    response = flow.authorize()
    assert response.status_code == 302 and "code" in redirect_params(response)


def test_prompt_consent_asks_again(app, oidc):
    flow = oidc(register(app))
    flow.code()
    flow.new_nonce()
    assert flow.authorize(prompt="consent").status_code == 200


def test_deny_returns_access_denied(app, oidc):
    flow = oidc(register(app))
    params = redirect_params(flow.decide(flow.authorize(), decision="deny"))
    assert params["error"] == "access_denied" and params["state"] == flow.state
    assert params["iss"] == ISSUER


def test_a_consent_post_without_csrf_token_is_refused(app, client, oidc):
    flow = oidc(register(app))
    flow.authorize()
    response = client.post("/authorize", query_string=flow.params(), data={"decision": "allow"})
    assert response.status_code == 400


def test_a_public_authority_on_public_task_is_not_asked_but_tells_the_citizen_once(app, oidc):
    tax = register(app, name="Skattestyrelsen", kind="public_authority", redirect_uri=TAX_REDIRECT,
                   scope="openid profile cpr address", legal_basis="public_task")  # fmt: skip
    flow = oidc(tax)
    notice = flow.authorize()
    assert notice.status_code == 200
    assert "Skattestyrelsen will receive your information" in notice.text
    assert "receives, without asking you" in notice.text and "CPR number" in notice.text
    assert "a task in the public interest" in notice.text
    assert 'value="allow"' in notice.text and ">Continue<" in notice.text
    assert ">Allow<" not in notice.text, "nothing is asked, so nothing is to be allowed"
    tokens = flow.exchange(redirect_params(flow.decide(notice))["code"]).json
    flow.new_nonce()
    assert flow.authorize().status_code == 302, "the notice is shown once per service"
    claims = flow.id_token(tokens)
    assert claims[CPR_CLAIM] == "0101900001"
    assert claims["address"]["postal_code"] == "1620"
    assert claims["address"]["country"] == "DK"


def test_subjects_are_pairwise_per_sector(app, oidc):
    bank = oidc(register(app))
    tax = oidc(register(app, name="Skat", kind="public_authority", redirect_uri=TAX_REDIRECT,
                        scope="openid profile", legal_basis="public_task"))  # fmt: skip
    other_bank_app = oidc(
        register(app, name="Nordbank app", redirect_uri="https://bank.example/app")
    )
    bank_sub = bank.id_token(bank.tokens())["sub"]
    assert tax.id_token(tax.tokens())["sub"] != bank_sub
    assert other_bank_app.id_token(other_bank_app.tokens())["sub"] == bank_sub  # same sector


def test_es256_id_tokens_for_a_client_that_registered_them(app, client, oidc):
    flow = oidc(register(app, extra=["--id-token-alg", "ES256"]))
    tokens = flow.tokens()
    header = tokens["id_token"].split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(header + "=="))["alg"] == "ES256"
    assert flow.id_token(tokens)["sub"]


# --- refusals at the authorization endpoint --------------------------------------------


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
        ({"acr_values": HIGH}, "unmet_authentication_requirements"),
        ({"acr_values": "urn:example:loa:3"}, "unmet_authentication_requirements"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "soon"}, "invalid_request"),
    ],
    ids=[
        "no pkce",
        "plain pkce",
        "no method",
        "token",
        "hybrid",
        "fragment",
        "request object",
        "acr high without a passkey",
        "acr unknown",
        "prompt none+login",
        "bad max_age",
    ],
)
def test_a_bad_request_goes_back_to_the_service_with_an_error(app, oidc, override, error):
    flow = oidc(register(app))
    params = redirect_params(flow.authorize(**override))
    assert params["error"] == error
    assert params["state"] == flow.state and params["iss"] == ISSUER
    assert "code" not in params


@pytest.mark.parametrize(
    "override",
    [
        {"redirect_uri": "https://evil.example/callback"},
        {"redirect_uri": "https://bank.example/callback/../evil"},
        {"redirect_uri": "https://bank.example/callback?x=1"},
        {"redirect_uri": "https://bank.example/CALLBACK"},
        {"redirect_uri": "https://bank.example.evil.example/callback"},
        {"redirect_uri": None},
        {"client_id": "no-such-client"},
        {"client_id": None},
    ],
    ids=[
        "other host",
        "traversal",
        "extra query",
        "case",
        "suffix host",
        "missing",
        "unknown client",
        "no client",
    ],
)
def test_an_unverifiable_redirect_uri_is_never_followed(app, oidc, override):
    flow = oidc(register(app))
    response = flow.authorize(**override)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "evil" not in response.headers.get("Location", "")


def test_a_disabled_client_cannot_start_a_login(app, oidc):
    service = register(app)
    app.test_cli_runner().invoke(args=["clients", "disable", service.client_id])
    assert oidc(service).authorize().status_code == 400


@pytest.mark.cluster
def test_a_reused_nonce_is_refused(app, oidc):
    flow = oidc(register(app))
    flow.code()
    params = redirect_params(flow.authorize())
    assert params["error"] == "invalid_request"


# --- login, prompt and max_age --------------------------------------------------------------


def test_without_a_session_the_citizen_logs_in_first(app, make_app, oidc):
    flow = oidc(register(app))
    fresh = app.test_client()
    flow.client = fresh
    response = flow.authorize(login_hint="anna")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    login_page = fresh.get(response.headers["Location"])
    assert 'value="anna"' in login_page.text
    back = _submit_login(fresh, login_page)
    # The password alone is not enough: on to the second step, then back to the request.
    assert back.headers["Location"].startswith("/login/code?")
    destination = after_password(back)
    assert destination.startswith("/authorize?")
    back = CitizenActions(app, fresh).second_factor(destination)
    assert back.headers["Location"] == destination
    assert fresh.get(back.headers["Location"]).status_code == 200  # the consent page


def test_prompt_none_without_a_session_is_login_required(app, oidc):
    flow = oidc(register(app))
    flow.client = app.test_client()
    params = redirect_params(flow.authorize(prompt="none"))
    assert params["error"] == "login_required" and params["iss"] == ISSUER


def test_prompt_none_when_consent_is_missing_is_consent_required(app, oidc):
    params = redirect_params(oidc(register(app)).authorize(prompt="none"))
    assert params["error"] == "consent_required"


@pytest.mark.cluster
def test_prompt_none_with_session_and_consent_gives_a_code(app, oidc):
    flow = oidc(register(app))
    flow.code()
    flow.new_nonce()
    assert "code" in redirect_params(flow.authorize(prompt="none"))


def _submit_login(client, login_page):
    form = {
        "csrf_token": csrf_token(login_page),
        "username": "anna",
        "password": "correct horse battery",
        "next": login_page.request.args["next"],
    }
    return client.post("/login", data=form)


@pytest.mark.parametrize("override", [{"prompt": "login"}, {"max_age": "0"}])
def test_prompt_login_and_max_age_force_a_fresh_login(app, client, oidc, override):
    flow = oidc(register(app))
    flow.code()
    flow.new_nonce()
    response = flow.authorize(**override)
    assert response.headers["Location"].startswith("/login?")
    assert "force=1" in response.headers["Location"]
    login_page = client.get(response.headers["Location"])
    assert login_page.status_code == 200  # the form, not a bounce to the service
    back = _submit_login(client, login_page)
    back = CitizenActions(app, client).second_factor(after_password(back))
    assert "code" in redirect_params(client.get(back.headers["Location"]))


def test_max_age_is_met_by_a_recent_login(app, oidc):
    flow = oidc(register(app))
    flow.code()
    flow.new_nonce()
    assert "code" in redirect_params(flow.authorize(max_age="3600"))


# --- the token endpoint ---------------------------------------------------------------------


@pytest.mark.cluster
def test_a_code_works_once_and_its_replay_revokes_the_tokens(app, client, oidc):
    flow = oidc(register(app))
    code = flow.code()
    first = flow.exchange(code)
    assert first.status_code == 200
    replay = flow.exchange(code)
    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"
    bearer = {"Authorization": f"Bearer {first.json['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401


def test_a_code_is_bound_to_its_client(app, oidc):
    victim = oidc(register(app))
    code = victim.code()
    attacker = oidc(register(app, name="Evil", redirect_uri="https://evil.example/cb"))
    attacker.verifier = victim.verifier
    response = attacker.exchange(code)
    assert response.json["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"code_verifier": "x" * 50}, "invalid_grant"),
        ({"code_verifier": None}, "invalid_request"),
        ({"redirect_uri": "https://bank.example/other"}, "invalid_grant"),
        ({"code": "made-up"}, "invalid_grant"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": None}, "unsupported_grant_type"),
    ],
)
def test_token_request_refusals(app, oidc, override, error):
    flow = oidc(register(app))
    response = flow.exchange(flow.code(), **override)
    assert response.status_code in (400, 401)
    assert response.json["error"] == error


def test_a_wrong_client_secret_is_invalid_client(app, oidc):
    flow = oidc(register(app))
    code = flow.code()
    flow.service.client_secret = "wrong"
    response = flow.exchange(code)
    assert response.status_code == 401 and response.json["error"] == "invalid_client"


# --- userinfo ---------------------------------------------------------------------------------


def test_userinfo_by_post_body(app, client, oidc):
    token = oidc(register(app)).tokens()["access_token"]
    response = client.post("/userinfo", data={"access_token": token})
    assert response.status_code == 200 and response.json["name"] == "Anna Jensen"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer not-a-jwt",
        "Basic YTpi",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ],
    ids=["missing", "empty", "garbage", "basic", "alg none"],
)
def test_userinfo_refuses_bad_tokens(client, oidc, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/userinfo", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_refuses_a_tampered_token(app, client, oidc):
    token = oidc(register(app)).tokens()["access_token"]
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload[:-2]}AA.{signature}"
    assert (
        client.get("/userinfo", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    )


# --- discovery ------------------------------------------------------------------------------


def test_discovery_advertises_what_works(client, oidc):
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        meta = client.get(path).json
        assert meta["issuer"] == ISSUER
        assert meta["response_types_supported"] == ["code"]
        assert meta["code_challenge_methods_supported"] == ["S256"]
        assert meta["subject_types_supported"] == ["pairwise"]
        assert meta["authorization_response_iss_parameter_supported"] is True
        assert set(meta["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
        for endpoint in (
            "authorization_endpoint",
            "token_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
        ):
            path_only = meta[endpoint].removeprefix(ISSUER)
            assert client.open(path_only, method="OPTIONS").status_code < 500


# --- junk at the protocol endpoints -------------------------------------------------------

JUNK = ["", "\x00", "x" * 5000, "%FF", "' OR 1=1--", "<script>", "🔑", "a b", "ÆØÅ"]


@pytest.mark.parametrize("junk", JUNK, ids=range(len(JUNK)))
def test_junk_at_authorize_is_a_4xx_never_a_500(app, client, oidc, junk):
    flow = oidc(register(app))
    for name in flow.params():
        response = flow.authorize(**{name: junk})
        assert response.status_code < 500, (name, response.status_code)
        if response.status_code == 200:  # harmless text in a free-text parameter
            assert "Share your information" in response.text, name
        if response.status_code == 302:
            assert response.headers["Location"].startswith((flow.service.redirect_uri, "/login"))


@pytest.mark.parametrize("junk", JUNK, ids=range(len(JUNK)))
def test_junk_at_the_token_endpoint_is_an_oauth_error(app, oidc, junk):
    flow = oidc(register(app))
    for name in ("grant_type", "code", "redirect_uri", "code_verifier", "client_id", "scope"):
        response = flow.exchange("some-code", **{name: junk})
        assert 400 <= response.status_code < 500, (name, response.status_code)
        assert response.json["error"], name


def test_unreadable_basic_credentials_are_invalid_client(client, oidc):
    garbage = base64.b64encode(b"\xff\xfe:secret").decode()
    response = client.post("/token", data={"grant_type": "authorization_code", "code": "x"},
                           headers={"Authorization": f"Basic {garbage}"})  # fmt: skip
    assert response.status_code == 401 and response.json["error"] == "invalid_client"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_methods_at_the_token_endpoint(client, method):
    response = client.open("/token", method=method)
    assert response.status_code == 405
    assert response.json["error"] == "invalid_request"


def test_the_code_flow_needs_no_nonce(app, oidc):
    flow = oidc(register(app))
    tokens = flow.tokens(nonce=None)
    assert "nonce" not in flow.id_token(tokens)


def test_client_secret_post(app, client, oidc):
    flow = oidc(register(app, extra=["--auth-method", "client_secret_post"]))
    code = flow.code()
    response = client.post("/token", data={
        "grant_type": "authorization_code", "code": code,
        "redirect_uri": flow.service.redirect_uri, "code_verifier": flow.verifier,
        "client_id": flow.service.client_id, "client_secret": flow.service.client_secret,
    })  # fmt: skip
    assert response.status_code == 200, response.json
    # The two secret methods are one for a secret client (tests/oidc/test_client_authentication.py).
    flow.new_nonce()
    assert flow.exchange(flow.code()).status_code == 200


# --- response_mode=form_post ----------------------------------------------------------------


def _form_post_fields(page) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))


def test_form_post_sends_the_code_by_post(app, oidc):
    flow = oidc(register(app, legal_basis="contract"))
    notice = flow.authorize(response_mode="form_post")  # told once what the bank receives
    page = flow.decide(notice, response_mode="form_post")
    assert page.status_code == 200
    assert f'action="{flow.service.redirect_uri}"' in page.text
    fields = _form_post_fields(page)
    assert fields["state"] == flow.state and fields["iss"] == ISSUER and fields["code"]
    csp = page.headers["Content-Security-Policy"]
    assert "form-action 'self' https://bank.example;" in csp and "unsafe-inline" not in csp
    assert flow.exchange(fields["code"]).status_code == 200


def test_form_post_carries_errors_too(app, oidc):
    flow = oidc(register(app))
    page = flow.authorize(response_mode="form_post", prompt="none")
    fields = _form_post_fields(page)
    assert fields["error"] == "consent_required" and fields["state"] == flow.state


# --- form-action: the pages whose forms end, after redirects, at the service -------------


def test_the_login_and_consent_pages_may_lead_back_to_the_verified_service_only(app, oidc):
    flow = oidc(register(app))
    assert csp_form_action(flow.authorize()) == "'self' https://bank.example"  # consent page
    stranger = app.test_client()  # not logged in: the login page, for the service
    to_login = stranger.get("/authorize", query_string=flow.params())
    login_page = stranger.get(to_login.headers["Location"])
    assert csp_form_action(login_page) == "'self' https://bank.example"


def test_a_forged_next_does_not_widen_the_login_pagescsp_form_action(app, client, oidc):
    flow = oidc(register(app))
    forged = "/authorize?" + urlencode({**flow.params(), "redirect_uri": "https://evil.example/"})
    page = client.get("/login", query_string={"next": forged, "force": "1"})
    assert csp_form_action(page) == "'self'"
