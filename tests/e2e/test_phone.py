"""Logging in with the phone, in real Chromium: one browser context is the computer, another
the phone, each with its own virtual authenticator (the phone's has user verification, as a
fingerprint or face unlock looks to the server)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import add_authenticator, csp_violations, log_in_as_demo
from tests.e2e.test_passkeys import log_out
from tests.e2e.test_step_up import start_step_up_rp
from tests.interop.test_openid_client import _node_ready, _register

SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"


def pair(computer, phone, base_url, name="Idas Pixel"):
    """The demo citizen pairs the phone from /me/security, then logs out on the computer."""
    computer.goto(f"{base_url}/me/security")
    log_in_as_demo(computer)
    computer.get_by_role("button", name="Pair a phone").click()
    expect(computer.get_by_role("heading", level=1)).to_have_text("Pair a phone")
    expect(computer.get_by_role("img", name="QR code with the pairing link")).to_be_visible()
    link = computer.locator("#pairing-link").get_attribute("href")
    assert "#" in link  # the secret travels in the fragment, never to a server log

    phone.goto(link)
    phone.get_by_label("Name for this phone").fill(name)
    phone.get_by_role("button", name="Pair this phone").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Tillid app")
    expect(phone.get_by_text("No login is waiting for your approval.")).to_be_visible()

    computer.get_by_role("link", name="Done").click()
    expect(computer.get_by_role("heading", name=name)).to_be_visible()
    expect(computer.get_by_text("Phone app (approve logins on the phone)")).to_be_visible()
    log_out(computer, base_url)


def start_phone_login(computer, base_url) -> str:
    computer.goto(f"{base_url}/login")
    computer.get_by_role("link", name="Log in with the phone app").click()
    computer.get_by_label("User ID").fill("demo")
    computer.get_by_role("button", name="Continue").click()
    expect(computer.get_by_role("heading", level=1)).to_have_text("Approve on your phone")
    return computer.locator("#binding-code").text_content().strip()


def see_request(phone, base_url, service=None):
    """The open app notices a new request by itself (it asks every 3 s, then reloads); a
    `goto` of our own would race that reload. Only a phone elsewhere is sent to the app."""
    if not phone.url.startswith(f"{base_url}/app"):
        phone.goto(f"{base_url}/app")
    title = f"Log in to {service}?" if service else "Log in to Tillid?"
    expect(phone.get_by_role("heading", level=2)).to_have_text(title, timeout=15_000)


@pytest.mark.cluster
def test_pair_then_approve_a_login_on_the_phone(demo_site, page, phone):
    _, base_url = demo_site
    violations = csp_violations(page) + csp_violations(phone)
    add_authenticator(page)  # the computer has its own (unused) authenticator
    pair(page, phone, base_url)
    code = start_phone_login(page, base_url)
    see_request(phone, base_url)
    expect(phone.get_by_text("Linux")).to_be_visible()  # where the login comes from
    choices = phone.locator("[data-code]")
    expect(choices).to_have_count(3)
    phone.get_by_role("button", name=code, exact=True).click()
    expect(phone.get_by_role("status")).to_have_text("Approved. You can go back to your browser.")

    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ida")  # by itself
    session = page.request.get(f"{base_url}/api/me/sessions").json()["sessions"][0]
    assert session["level"] == SUBSTANTIAL
    assert session["methods"] == ["hwk", "user", "mfa"]
    assert violations == []


def test_a_rejection_on_the_phone_stops_the_login(demo_site, page, phone):
    _, base_url = demo_site
    pair(page, phone, base_url)
    start_phone_login(page, base_url)
    see_request(phone, base_url)
    phone.get_by_role("button", name="Reject").click()
    expect(phone.get_by_role("status")).to_have_text("Rejected. The login is stopped.")
    expect(page.get_by_role("heading", level=1)).to_have_text("The login was rejected")
    expect(page.get_by_role("link", name="Try again")).to_be_visible()


def test_the_wrong_code_stops_the_login(demo_site, page, phone):
    _, base_url = demo_site
    pair(page, phone, base_url)
    code = start_phone_login(page, base_url)
    see_request(phone, base_url)
    wrong = next(c for c in phone.locator("[data-code]").all_text_contents() if c.strip() != code)
    phone.get_by_role("button", name=wrong.strip(), exact=True).click()
    expect(phone.get_by_role("status")).to_contain_text("not the code your browser shows")
    expect(page.get_by_text("A different code was picked on the phone")).to_be_visible()


def test_an_unanswered_request_expires(demo_site, page, phone):
    app, base_url = demo_site
    pair(page, phone, base_url)
    app.config["PHONE_REQUEST_SECONDS"] = 3
    start_phone_login(page, base_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("The request has expired")
    phone.goto(f"{base_url}/app")
    expect(phone.get_by_text("No login is waiting for your approval.")).to_be_visible()


def test_openid_client_sees_substantial_after_a_phone_login(live_server, browser, page, phone):
    _node_ready()
    app, issuer = live_server
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo", "load", "--citizens", "0"]).exit_code == 0
    pair(page, phone, issuer)
    scope = "openid profile"
    registered = _register(app, scope)
    rp, callbacks = start_step_up_rp(page, issuer, registered, scope, [SUBSTANTIAL])
    try:
        page.goto(json.loads(rp.stdout.readline())["authorization_url"])
        page.get_by_role("link", name="Log in with the phone app").click()
        page.get_by_label("User ID").fill("demo")
        page.get_by_role("button", name="Continue").click()
        code = page.locator("#binding-code").text_content().strip()
        see_request(phone, issuer, service="Node bank")
        expect(phone.get_by_text("Your name", exact=True)).to_be_visible()  # what it will receive
        phone.get_by_role("button", name=code, exact=True).click()
        # Approving on the phone was the consent too: the service gets the answer at once.
        expect(page.get_by_text("back at the service")).to_be_visible()
        rp.stdin.write(callbacks[-1] + "\n")
        rp.stdin.flush()
        answer = json.loads(rp.stdout.readline())
    finally:
        rp.stdin.close()
        rp.wait(timeout=30)
    assert "error" not in answer, (answer, rp.stderr.read())
    claims = answer["id_token_claims"]
    assert claims["acr"] == SUBSTANTIAL and claims["amr"] == ["hwk", "user", "mfa"]
    assert claims["given_name"] == "Ida"
