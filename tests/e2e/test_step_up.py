"""Step-up in real Chromium, seen by a relying party nobody here wrote (Node's openid-client):
the service first asks for NSIS Low (the password is enough), then for Substantial, and the
citizen is asked only for the code; the second ID token says Substantial."""

from __future__ import annotations

import json
import subprocess

from playwright.sync_api import expect

from tests.conftest import CitizenActions
from tests.interop.test_openid_client import HERE, PASSWORD, REDIRECT, _node_ready, _register

LOW = "https://data.gov.dk/concept/core/nsis/loa/Low"
SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"


def start_step_up_rp(page, issuer: str, registered: dict, scope: str, levels: list[str]):
    """Node's openid-client as the service (step_up.mjs): it prints an authorization URL per
    level and reads each callback back. The redirect URI is not served: Chromium hands each
    callback to the test, which passes it on."""
    callbacks = []

    def at_the_service(route):
        callbacks.append(route.request.url)
        route.fulfill(body="back at the service")

    page.route(f"{REDIRECT}*", at_the_service)
    rp = subprocess.Popen(
        ["node", str(HERE / "step_up.mjs"), issuer, registered["client_id"],
         registered["client_secret"], REDIRECT, scope, json.dumps(levels)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return rp, callbacks


def test_openid_client_sees_a_step_up_from_low_to_substantial(live_server, page):
    _node_ready()
    app, issuer = live_server
    scope = "openid profile"
    registered = _register(app, scope)
    rp, callbacks = start_step_up_rp(page, issuer, registered, scope, [LOW, SUBSTANTIAL])

    def hand_back_callback() -> dict:
        expect(page.get_by_text("back at the service")).to_be_visible()
        rp.stdin.write(callbacks[-1] + "\n")
        rp.stdin.flush()
        return json.loads(rp.stdout.readline())

    try:
        page.goto(json.loads(rp.stdout.readline())["authorization_url"])
        page.get_by_label("User ID").fill("anna")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in", exact=True).click()
        page.get_by_role("button", name="Allow").click()  # Low: no second step was asked
        low = hand_back_callback()

        page.goto(json.loads(rp.stdout.readline())["authorization_url"])
        expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
        code = CitizenActions(app, app.test_client()).totp_code("anna")
        page.get_by_label("Code from your authenticator app").fill(code)
        page.get_by_role("button", name="Continue").click()
        substantial = hand_back_callback()
    finally:
        rp.stdin.close()
        rp.wait(timeout=30)
    assert "error" not in low and "error" not in substantial, (low, substantial, rp.stderr.read())
    assert low["id_token_claims"]["acr"] == LOW and low["id_token_claims"]["amr"] == ["pwd"]
    stepped = substantial["id_token_claims"]
    assert stepped["acr"] == SUBSTANTIAL and stepped["amr"] == ["pwd", "otp", "mfa"]
    assert stepped["sub"] == low["id_token_claims"]["sub"]
