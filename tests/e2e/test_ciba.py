"""CIBA in poll mode: a Python service asks for the demo citizen's approval and polls the
token endpoint, while the citizen approves in the phone app in real Chromium."""

from __future__ import annotations

import json
import time

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import expect

from demo import citizens as demo
from tests.conftest import sql
from tests.e2e.test_phone import SUBSTANTIAL, pair

CIBA = "urn:openid:params:grant-type:ciba"
CPR = "https://data.gov.dk/model/core/eid/cprNumber"


def _register(app) -> tuple[str, str]:
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Udbetaling Danmark", "--kind", "public_authority",
        "--scope", "openid profile cpr", "--legal-basis", "public_task",
        "--purpose", "To pay your pension", "--grant-type", CIBA,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return created["client_id"], created["client_secret"]


def _poll(issuer, auth, auth_req_id, interval) -> requests.Response:
    """As a CIBA client does: wait the interval between polls, until an answer."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = requests.post(f"{issuer}/token", auth=auth, timeout=10,
                               data={"grant_type": CIBA, "auth_req_id": auth_req_id})  # fmt: skip
        if answer.json().get("error") != "authorization_pending":
            return answer
        time.sleep(interval)
    raise AssertionError("no answer within a minute")


@pytest.mark.cluster
def test_a_service_gets_tokens_after_the_citizen_approves_on_the_phone(demo_site, page, phone):
    app, issuer = demo_site
    pair(page, phone, issuer)
    auth = _register(app)
    started = requests.post(f"{issuer}/bc-authorize", auth=auth, timeout=10, data={
        "scope": "openid profile cpr", "login_hint": demo.DEMO_CPR,
        "binding_message": "Pension 2027",
    })  # fmt: skip
    assert started.status_code == 200, started.text
    ticket = started.json()
    grant = {"grant_type": CIBA, "auth_req_id": ticket["auth_req_id"]}
    first = requests.post(f"{issuer}/token", auth=auth, timeout=10, data=grant)
    assert first.json()["error"] == "authorization_pending"

    phone.goto(f"{issuer}/app")
    expect(phone.get_by_role("heading", level=2)).to_have_text("Log in to Udbetaling Danmark?")
    expect(phone.get_by_text("Pension 2027")).to_be_visible()
    expect(phone.get_by_text("Your CPR number")).to_be_visible()
    phone.get_by_role("button", name="Approve").click()
    expect(phone.get_by_role("status")).to_have_text("Approved. You can go back to your browser.")

    time.sleep(ticket["interval"])
    answer = _poll(issuer, auth, ticket["auth_req_id"], ticket["interval"])
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    keys = KeySet.import_key_set(requests.get(f"{issuer}/jwks", timeout=10).json())
    claims = jwt.decode(tokens["id_token"], keys).claims
    assert claims["iss"] == issuer and claims["aud"] == auth[0]
    assert claims["acr"] == SUBSTANTIAL and claims["amr"] == ["hwk", "user", "mfa"]
    assert claims["urn:openid:params:jwt:claim:auth_req_id"] == ticket["auth_req_id"]
    assert claims[CPR] == demo.DEMO_CPR
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    userinfo = requests.get(f"{issuer}/userinfo", timeout=10, headers=bearer)
    assert userinfo.json()["sub"] == claims["sub"]
    # Used once: the same auth_req_id buys nothing more.
    again = requests.post(f"{issuer}/token", auth=auth, timeout=10, data=grant)
    assert again.json()["error"] == "invalid_grant"

    # Both releases are in the citizen's ledger, as for a login in the browser.
    channels = sql(app, "SELECT channel FROM ledger_entry WHERE client_id = :c", c=auth[0])
    assert sorted(row["channel"] for row in channels) == ["login", "userinfo"]
