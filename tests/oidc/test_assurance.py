"""NSIS assurance through the code flow: what a login reached, what a service asks for, and
step-up when the session holds less (never a silent downgrade)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from tests.conftest import CitizenActions, csrf_token
from tests.oidc.conftest import redirect_params, register

LOW = "https://data.gov.dk/concept/core/nsis/loa/Low"
SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"
HIGH = "https://data.gov.dk/concept/core/nsis/loa/High"


def _password_only(app, flow, **params):
    """A browser with no session asks for a login at ``params``; it types the password only."""
    browser = app.test_client()
    flow.client = browser
    to_login = flow.authorize(**params)
    page = browser.get(to_login.headers["Location"])
    back = browser.post("/login", data={
        "csrf_token": csrf_token(page), "username": "anna",
        "password": "correct horse battery", "next": page.request.args["next"],
    })  # fmt: skip
    return browser, back.headers["Location"]


def test_discovery_lists_the_levels_a_login_can_reach(client):
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["acr_values_supported"] == [LOW, SUBSTANTIAL, HIGH]


def test_a_service_asking_for_low_gets_a_password_login(app, oidc):
    flow = oidc(register(app))
    _, back = _password_only(app, flow, acr_values=LOW)
    assert back.startswith("/authorize?"), "no second step asked for"
    claims = flow.id_token(flow.tokens(acr_values=LOW))
    assert claims["acr"] == LOW and claims["amr"] == ["pwd"]


def test_the_password_step_goes_on_to_the_second_when_the_service_needs_both(app, oidc):
    flow = oidc(register(app))
    browser, back = _password_only(app, flow)  # the default level, Substantial
    assert back.startswith("/login/code?"), "straight to the second step"
    destination = parse_qs(urlsplit(back).query)["next"][0]
    assert destination.startswith("/authorize?") and flow.state in destination
    done = CitizenActions(app, browser).second_factor(destination)
    assert done.headers["Location"] == destination, "then back to the service's request"
    claims = flow.id_token(flow.tokens())
    assert claims["acr"] == SUBSTANTIAL and claims["amr"] == ["pwd", "otp", "mfa"]


def test_the_password_step_returns_to_a_request_that_names_its_subject(app, oidc):
    """Whether the password's citizen is the one asked for is for /authorize to say first."""
    flow = oidc(register(app))
    asked = json.dumps({"id_token": {"sub": {"value": "someone-else"}}})
    _, back = _password_only(app, flow, claims=asked)
    assert back.startswith("/authorize?")


def test_a_low_session_steps_up_for_the_default_level(app, oidc):
    flow = oidc(register(app))
    browser, _ = _password_only(app, flow, acr_values=LOW)
    flow.code(acr_values=LOW)
    flow.new_nonce()
    step_up = flow.authorize()  # no acr_values: the default, Substantial
    assert step_up.status_code == 302 and step_up.headers["Location"].startswith("/login/code?")
    params = redirect_params(flow.authorize(prompt="none"))
    assert params["error"] == "interaction_required", "prompt=none cannot step up"
    back = CitizenActions(app, browser).second_factor(_next_of(step_up))
    assert back.status_code == 302
    claims = flow.id_token(flow.tokens())
    assert claims["acr"] == SUBSTANTIAL and claims["amr"] == ["pwd", "otp", "mfa"]
    flow.new_nonce()
    later = flow.id_token(flow.tokens(acr_values=LOW))
    assert later["acr"] == SUBSTANTIAL, "the stepped-up session answers at its level"


def _next_of(redirect) -> str:
    return parse_qs(urlsplit(redirect.headers["Location"]).query)["next"][0]


def test_an_essential_acr_claim_steps_up_like_acr_values(app, oidc):
    flow = oidc(register(app))
    _password_only(app, flow, acr_values=LOW)
    flow.code(acr_values=LOW)
    flow.new_nonce()
    asked = json.dumps({"id_token": {"acr": {"essential": True, "values": [SUBSTANTIAL]}}})
    response = flow.authorize(claims=asked, acr_values=LOW)
    assert response.headers["Location"].startswith("/login/code?"), "the higher demand wins"


def test_a_substantial_session_answers_a_low_request_with_what_it_has(app, oidc):
    flow = oidc(register(app))  # Anna logged in with password and code
    assert flow.id_token(flow.tokens(acr_values=LOW))["acr"] == SUBSTANTIAL


def test_high_is_unmet_for_a_citizen_without_a_device_bound_passkey(app, oidc):
    flow = oidc(register(app))
    params = redirect_params(flow.authorize(acr_values=HIGH))
    assert params["error"] == "unmet_authentication_requirements"
    assert params["state"] == flow.state
