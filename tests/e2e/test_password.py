"""The password's life in headless Chromium: the demo citizen changes it from the sessions
page's advice, and, having forgotten it, sets a new one with a recovery code."""

from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import expect

from demo import citizens as demo
from tests.e2e.conftest import csp_violations, log_in_as_demo, make_new_recovery_codes

NEW_PASSWORD = "lantern meadow quietly"


def _next_code() -> str:
    """The app's code for the next 30 seconds: the login just spent the current one, and the
    IdP takes one step either side."""
    return pyotp.TOTP(demo.DEMO_TOTP_SECRET).at(time.time() + 30)


def _log_in_with_password_only(browser, base_url: str, password: str = demo.DEMO_PASSWORD):
    """Another browser that got as far as the password: a session of its own."""
    context = browser.new_context()
    other = context.new_page()
    other.goto(f"{base_url}/login")
    other.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    other.get_by_label("Password", exact=True).fill(password)
    other.get_by_role("button", name="Log in", exact=True).click()
    expect(other.get_by_role("heading", level=1)).to_have_text("Enter your code")
    return other


def test_the_citizen_changes_the_password_and_the_other_browser_is_logged_out(
    demo_site, browser, page
):
    _, base_url = demo_site
    violations = csp_violations(page)
    other = _log_in_with_password_only(browser, base_url)
    page.goto(f"{base_url}/login?next=/me/sessions")
    log_in_as_demo(page)
    expect(page).to_have_url(f"{base_url}/me/sessions")

    # The sessions page's advice leads to the change.
    page.get_by_role("link", name="Change your password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change your password")
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    expect(page.get_by_role("alert")).to_contain_text("The password is wrong.")

    page.get_by_label("Current password").fill(demo.DEMO_PASSWORD)
    page.get_by_label("Code from your authenticator app").fill(_next_code())
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    expect(page).to_have_url(f"{base_url}/me/security")
    expect(page.get_by_role("status")).to_contain_text(
        "Your password is changed. 1 other session was logged out."
    )
    page.reload()  # the page after the change: a reload changes nothing and tells nothing
    expect(page.get_by_role("heading", level=1)).to_have_text("How you log in")
    expect(page.locator("main")).not_to_contain_text("Your password is changed")

    other.goto(f"{base_url}/me")
    expect(other).to_have_url(re.compile(r"/login\?next="))
    other.context.close()

    page.get_by_role("link", name="Log out").click()
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{base_url}/login")
    page.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    page.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    assert violations == []


def test_a_forgotten_password_is_replaced_with_a_recovery_code(demo_site, browser, page):
    _, base_url = demo_site
    # Earlier, the citizen made recovery codes and wrote them down.
    page.goto(f"{base_url}/login?next=/me/security")
    log_in_as_demo(page)
    codes = make_new_recovery_codes(page)
    earlier = page

    context = browser.new_context()
    page = context.new_page()
    violations = csp_violations(page)
    page.goto(f"{base_url}/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot your password?")
    page.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Show that it is you")

    page.get_by_label("Recovery code").fill("0000-0000-0000-0000")
    page.get_by_role("button", name="Continue with the recovery code").click()
    expect(page.get_by_role("alert")).to_contain_text("This recovery code is wrong")
    page.get_by_label("Recovery code").fill(codes[0])
    page.get_by_role("button", name="Continue with the recovery code").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Choose a new password")
    page.get_by_label("New password", exact=True).fill("password123")
    page.get_by_label("Repeat the new password").fill("password123")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_role("alert")).to_contain_text("among the most common ones")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the new password").click()

    # A recovery code leads to setting up a new authenticator, as at the login.
    expect(page).to_have_url(re.compile(r"/me/security/totp$"))
    expect(page.get_by_role("status")).to_contain_text(
        "Your password is changed. 1 session was logged out."
    )
    earlier.goto(f"{base_url}/me")
    expect(earlier).to_have_url(re.compile(r"/login\?next="))

    # The new password works; the old one does not.
    fresh = browser.new_context().new_page()
    fresh.goto(f"{base_url}/login")
    fresh.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    fresh.get_by_label("Password", exact=True).fill(demo.DEMO_PASSWORD)
    fresh.get_by_role("button", name="Log in", exact=True).click()
    expect(fresh.get_by_role("alert")).to_contain_text("The user ID or password is wrong.")
    fresh.get_by_label("Password", exact=True).fill(NEW_PASSWORD)
    fresh.get_by_role("button", name="Log in", exact=True).click()
    expect(fresh.get_by_role("heading", level=1)).to_have_text("Enter your code")
    fresh.context.close()
    context.close()
    assert violations == []
