"""The demo citizen logs in through the real login page in headless Chromium."""

import json
import re

from playwright.sync_api import expect

from idp.citizens import demo
from tests.e2e.conftest import csp_violations


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
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("The user ID or password is wrong.")

    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
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
    assert violations == []


def test_activation_letter_to_first_login(live_server, page):
    app, base_url = live_server
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
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Oskar")
