"""The `claims` request parameter (OIDC Core 5.5) and the notice for non-consent bases."""

from __future__ import annotations

import json

import pytest

from clients.claims import CPR_CLAIM
from tests.oidc.conftest import TAX_REDIRECT, redirect_params, register

LOW = "https://data.gov.dk/concept/core/nsis/loa/Low"
SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"
HIGH = "https://data.gov.dk/concept/core/nsis/loa/High"


def claims(**targets) -> str:
    return json.dumps(targets)


def userinfo(client, tokens: dict) -> dict:
    response = client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 200, response.json
    return response.json


@pytest.fixture
def bank(app):
    """A service allowed profile and email (on consent), asking for less by scope."""
    return register(app, scope="openid profile email offline_access",
                    extra=["--grant-type", "authorization_code",
                           "--grant-type", "refresh_token"])  # fmt: skip


def test_discovery_says_the_claims_parameter_is_supported(client):
    assert client.get("/.well-known/openid-configuration").json["claims_parameter_supported"]


def test_a_claim_asked_for_userinfo_goes_to_userinfo_only(app, client, oidc, bank):
    flow = oidc(bank)
    asked = claims(userinfo={"email": None})
    page = flow.authorize(scope="openid", claims=asked)
    assert page.status_code == 200 and "Your e-mail address" in page.text  # asked, by name
    assert "Your name" not in page.text  # the profile scope was not asked for
    tokens = flow.exchange(redirect_params(flow.decide(page, scope="openid", claims=asked))["code"])
    tokens = tokens.json
    id_token = flow.id_token(tokens)
    assert "email" not in id_token and "given_name" not in id_token
    assert userinfo(client, tokens) == {"sub": id_token["sub"], "email": "anna@example.org"}


def test_a_claim_asked_for_the_id_token_goes_into_it(app, client, oidc, bank):
    flow = oidc(bank)
    asked = claims(id_token={"given_name": {"essential": True}})
    tokens = flow.tokens(scope="openid", claims=asked)
    id_token = flow.id_token(tokens)
    assert id_token["given_name"] == "Anna" and "family_name" not in id_token
    assert userinfo(client, tokens) == {"sub": id_token["sub"]}


def test_asking_by_name_gives_nothing_the_policy_does_not_allow(app, client, oidc, bank):
    flow = oidc(bank)  # not registered for birthdate, address or the CPR number
    asked = claims(
        userinfo={"birthdate": None, "address": None, CPR_CLAIM: {"essential": True}},
        id_token={"birthdate": {"essential": True}, "phone_number": None},
    )
    response = flow.authorize(scope="openid", claims=asked)
    assert response.status_code == 302, "nothing the bank may have, so nothing to ask"
    tokens = flow.exchange(redirect_params(response)["code"]).json
    id_token = flow.id_token(tokens)
    assert not {"birthdate", "phone_number", CPR_CLAIM} & id_token.keys()
    assert userinfo(client, tokens) == {"sub": id_token["sub"]}


def test_a_private_service_never_gets_the_cpr_number_by_name(app, client, oidc):
    service = register(app, scope="openid profile", legal_basis="contract")
    flow = oidc(service)
    asked = claims(userinfo={CPR_CLAIM: {"essential": True}}, id_token={CPR_CLAIM: None})
    tokens = flow.tokens(claims=asked)
    assert CPR_CLAIM not in flow.id_token(tokens)
    assert CPR_CLAIM not in userinfo(client, tokens)


def test_unknown_claims_are_ignored(app, client, oidc, bank):
    flow = oidc(bank)
    tokens = flow.tokens(claims=claims(userinfo={"shoe_size": None}, id_token={"x": {}}))
    assert "shoe_size" not in userinfo(client, tokens)


def test_claims_asked_for_userinfo_survive_a_refresh(app, client, oidc, bank):
    flow = oidc(bank)
    tokens = flow.tokens(scope="openid offline_access", claims=claims(userinfo={"email": None}))
    refreshed = client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(bank.client_id, bank.client_secret),
    )
    assert refreshed.status_code == 200, refreshed.json
    assert userinfo(client, refreshed.json)["email"] == "anna@example.org"


MALFORMED = {
    "not json": "{userinfo",
    "an array": "[]",
    "a string": '"email"',
    "userinfo a list": claims(userinfo=["email"]),
    "a claim given as true": claims(userinfo={"email": True}),
    "essential not a boolean": claims(id_token={"email": {"essential": "yes"}}),
    "values not a list": claims(id_token={"acr": {"values": LOW}}),
    "acr value not a string": claims(id_token={"acr": {"value": 1}}),
    "two sub values": claims(id_token={"sub": {"value": "a"}}, userinfo={"sub": {"value": "b"}}),
    "too long": claims(userinfo={f"claim{i}": None for i in range(500)}),
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_claims_parameter_is_invalid_request(app, oidc, bank, raw):
    flow = oidc(bank)
    params = redirect_params(flow.authorize(claims=raw))
    assert params["error"] == "invalid_request" and params["state"] == flow.state
    assert params["error_description"].startswith("claims:")


def test_an_essential_acr_that_cannot_be_met_is_unmet_authentication_requirements(app, oidc, bank):
    flow = oidc(bank)
    for values in ([HIGH], ["urn:example:unknown"]):
        asked = claims(id_token={"acr": {"essential": True, "values": values}})
        params = redirect_params(flow.authorize(claims=asked))
        assert params["error"] == "unmet_authentication_requirements", values


def test_a_voluntary_acr_is_met_as_well_as_it_can_be(app, oidc, bank):
    flow = oidc(bank)  # Anna's session has password and code: Substantial
    asked = claims(id_token={"acr": {"values": [SUBSTANTIAL, LOW]}})
    assert flow.id_token(flow.tokens(claims=asked))["acr"] == SUBSTANTIAL
    flow.new_nonce()
    asked = claims(id_token={"acr": {"values": ["urn:example:unknown"]}})  # a wish: no error
    assert flow.id_token(flow.tokens(claims=asked))["acr"] == SUBSTANTIAL


def test_a_sub_value_of_the_logged_in_citizen_gives_a_code(app, oidc, bank):
    flow = oidc(bank)
    sub = flow.id_token(flow.tokens())["sub"]
    flow.new_nonce()
    response = flow.authorize(prompt="none", claims=claims(id_token={"sub": {"value": sub}}))
    assert "code" in redirect_params(response)


def test_a_sub_value_of_someone_else_needs_that_citizen_to_log_in(app, oidc, bank):
    flow = oidc(bank)
    flow.tokens()
    flow.new_nonce()
    someone_else = claims(id_token={"sub": {"value": "another-citizens-subject"}})
    params = redirect_params(flow.authorize(prompt="none", claims=someone_else))
    assert params["error"] == "login_required"
    response = flow.authorize(claims=someone_else)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# --- the notice: claims on a basis other than consent --------------------------------------


@pytest.fixture
def tax(app):
    return register(app, name="Skattestyrelsen", kind="public_authority",
                    redirect_uri=TAX_REDIRECT, scope="openid profile cpr",
                    legal_basis="public_task")  # fmt: skip


def test_cancel_on_the_notice_sends_nothing(app, oidc, tax):
    flow = oidc(tax)
    params = redirect_params(flow.decide(flow.authorize(), decision="deny"))
    assert params["error"] == "access_denied" and "code" not in params
    flow.new_nonce()
    assert flow.authorize().status_code == 200, "not remembered: shown again"


def test_prompt_none_does_not_wait_for_a_notice(app, oidc, tax):
    flow = oidc(tax)
    tokens = flow.exchange(redirect_params(flow.authorize(prompt="none"))["code"]).json
    assert flow.id_token(tokens)[CPR_CLAIM] == "0101900001"


def test_a_claim_added_later_is_told_again(app, oidc, tax):
    flow = oidc(tax)
    flow.tokens(scope="openid profile")
    flow.new_nonce()
    page = flow.authorize(scope="openid profile cpr")
    assert page.status_code == 200 and "Your CPR number" in page.text


# --- id_token_hint and ui_locales at the authorization endpoint ------------------------------


def test_an_id_token_hint_of_the_logged_in_citizen_gives_a_code(app, oidc, bank):
    flow = oidc(bank)
    hint = flow.tokens()["id_token"]
    flow.new_nonce()
    assert "code" in redirect_params(flow.authorize(prompt="none", id_token_hint=hint))


def test_an_id_token_hint_of_someone_else_is_login_required(app, client, oidc, bank, citizens):
    flow = oidc(bank)
    annas_hint = flow.tokens()["id_token"]
    citizens.create(username="bodil", given_name="Bodil")
    citizens.logout()
    assert citizens.login("bodil").status_code == 302
    flow.new_nonce()
    params = redirect_params(flow.authorize(prompt="none", id_token_hint=annas_hint))
    assert params["error"] == "login_required"


def test_a_hint_that_is_not_our_id_token_for_this_client_is_refused(app, client, oidc, bank):
    flow = oidc(bank)
    tokens = flow.tokens()
    other = oidc(register(app, name="Andenbank", redirect_uri="https://other.example/cb"))
    for hint in ("junk", tokens["access_token"], tokens["id_token"][:-4] + "AAAA"):
        flow.new_nonce()
        params = redirect_params(flow.authorize(id_token_hint=hint))
        assert params["error"] == "invalid_request", hint
    params = redirect_params(other.authorize(id_token_hint=tokens["id_token"]))
    assert params["error"] == "invalid_request", "an ID token issued to another service"


def test_ui_locales_is_accepted(app, oidc, bank):
    flow = oidc(bank)
    assert "code" in redirect_params(flow.decide(flow.authorize(ui_locales="da en")))
