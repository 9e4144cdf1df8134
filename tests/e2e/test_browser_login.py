"""The demo citizen logs in through the real login page in headless Chromium."""

import json
import re

import pyotp
from playwright.sync_api import expect

from demo import citizens as demo
from tests.e2e.conftest import (
    csp_violations,
    log_in_as_demo,
    make_new_recovery_codes,
    oathtool_code,
)


def _load_demo(app):
    result = app.test_cli_runner().invoke(args=["demo", "load", "--citizens", "2", "--seed", "7"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_demo_citizen_logs_in_and_out_through_the_page(live_server, page):
    app, base_url = live_server
    _load_demo(app)
    violations = csp_violations(page)

    page.goto(f"{base_url}/me")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)me$"))
    page.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("The user ID or password is wrong.")

    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    page.get_by_label("Code from your authenticator app").fill("000000")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("The code is wrong or has expired")
    code = oathtool_code(demo.DEMO_TOTP_SECRET)  # not ours: RFC 6238 as oathtool reads it
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(f"{base_url}/me")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ida")

    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["tillid_sso"]["httpOnly"] is True
    assert cookies["tillid_sso"]["sameSite"] == "Lax"

    page.get_by_role("link", name="Log out").click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are logged out")
    page.goto(f"{base_url}/me")
    expect(page).to_have_url(re.compile(r"/login"))

    # The same code again, on the next login: refused, it has been used.
    page.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("This code has been used already")
    assert violations == []


def test_activation_letter_to_first_login_and_the_first_second_factor(live_server, page):
    app, base_url = live_server
    violations = csp_violations(page)
    code = _load_demo(app)["activation_demo"]

    page.goto(f"{base_url}/login")
    page.get_by_role("link", name=re.compile("Activate your account")).click()
    page.get_by_label("CPR number").fill(code["cpr"][:6] + "-" + code["cpr"][6:])
    page.get_by_label("Activation code").fill(code["activation_code"].lower())
    page.get_by_label("Choose a user ID").fill("oskar")
    page.get_by_label("Choose a password").fill("blåbær syltetøj")
    page.get_by_label("Repeat the password").fill("blåbær syltetøj")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_contain_text("Your account is active")

    page.get_by_label("User ID").fill("Oskar")
    page.get_by_label("Password").fill("blåbær syltetøj")
    page.get_by_role("button", name="Log in", exact=True).click()

    # Before anything else: a second factor. The QR code is an image; the key is text.
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    # Visible is not loaded: wait for the image itself (its request may still be under way).
    loaded_width = qr.evaluate(
        "img => img.complete ? img.naturalWidth : new Promise(done => {"
        " img.addEventListener('load', () => done(img.naturalWidth));"
        " img.addEventListener('error', () => done(0)); })"
    )
    assert loaded_width > 0
    secret = page.locator("#totp-secret").text_content().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_label("Name", exact=True).fill("Min telefon")
    page.get_by_role("button", name="Set up the app").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("button", name="I have saved them, continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Oskar")
    assert violations == []


def test_a_lost_phone_a_recovery_code_and_a_new_authenticator(live_server, page):
    app, base_url = live_server
    _load_demo(app)
    violations = csp_violations(page)
    page.goto(f"{base_url}/me/security")
    log_in_as_demo(page)
    codes = make_new_recovery_codes(page)
    page.goto(f"{base_url}/logout")
    page.get_by_role("button", name="Log out").click()

    page.goto(f"{base_url}/login")
    page.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_role("link", name="Use a recovery code").click()
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("status")).to_contain_text("You used a recovery code; 9 are left.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    secret = page.locator("#totp-secret").text_content().replace(" ", "")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_label("Name", exact=True).fill("Ny telefon")
    page.get_by_role("button", name="Set up the app").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ida")
    page.goto(f"{base_url}/me/security")
    expect(page.get_by_role("heading", name="Ny telefon")).to_be_visible()
    assert violations == []
