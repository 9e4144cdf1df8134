"""The login journey and its errors as a citizen meets them, in real Chromium (issue 20,
items 4 and 7)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

from playwright.sync_api import expect

from tests.e2e.conftest import csp_violations, log_in_as_demo


def test_the_access_log_filters_answer_as_a_form(browser, demo_site):
    _, base_url = demo_site
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    complaints = csp_violations(page)
    page.goto(base_url + "/me/access-log")
    log_in_as_demo(page)
    page.wait_for_url("**/me/access-log")
    page.locator("#from").fill("2026-05-02")
    page.locator("#to").fill("2026-05-01")
    page.get_by_role("button", name="Show").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_be_focused()  # the summary takes the focus, as after any form
    expect(summary).to_contain_text("“From” is after “To”")
    expect(page.locator("#from")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#from")).to_have_value("2026-05-02")
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary.get_by_role("link", name=re.compile("^From:")).click()
    expect(page.locator("#from")).to_be_focused()
    # Put right, the same form shows the entries.
    page.locator("#from").fill("2026-04-01")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("alert")).to_have_count(0)
    expect(page.locator("#access-log")).to_be_visible()
    context.close()
    assert not complaints


TRICKY_NAME = 'Nordbank <img src=x onerror="alert(1)"> & Co'
BANK = "https://bank.example/callback"


def _service_link(app, base_url) -> str:
    """A service registered with markup in its name, and its link to Tillid."""
    from tests.oidc.conftest import pkce, register

    service = register(app, name=TRICKY_NAME, redirect_uri=BANK)
    _, challenge = pkce()
    query = urlencode({
        "response_type": "code", "client_id": service.client_id, "redirect_uri": BANK,
        "scope": "openid profile", "state": "st4te", "code_challenge": challenge,
        "code_challenge_method": "S256", "nonce": "n0nce",
    })  # fmt: skip
    return f"{base_url}/authorize?{query}"


def _header_has_no_way_out(page) -> None:
    header = page.locator("header")
    expect(header.get_by_role("navigation", name="Your account")).to_have_count(0)
    expect(header.get_by_role("link", name="Tillid")).to_have_count(0)


def test_a_login_for_a_service_names_it_counts_its_steps_and_can_be_cancelled(browser, demo_site):
    app, base_url = demo_site
    link = _service_link(app, base_url)
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    complaints = csp_violations(page)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.route(BANK + "*", lambda route: route.fulfill(body="Back at the bank", status=200))

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Log in to {TRICKY_NAME}")
    expect(page).to_have_title(f"Log in to {TRICKY_NAME} – Tillid")
    expect(page.get_by_text("Step 1 of 3")).to_be_visible()
    expect(page.locator("main img")).to_have_count(0)
    _header_has_no_way_out(page)

    from demo import citizens as demo

    page.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter your code")
    expect(page.locator("#journey-service")).to_have_text(f"Log in to {TRICKY_NAME}")
    expect(page.get_by_text("Step 2 of 3")).to_be_visible()
    _header_has_no_way_out(page)  # not after the password alone, and not for a service

    page.get_by_label("Code from your authenticator app").fill("12345")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("alert")).to_contain_text("The code has 6 digits; you entered 5.")

    page.get_by_role("button", name=f"Cancel and go back to {TRICKY_NAME}").click()
    page.wait_for_url(BANK + "*")
    back = parse_qs(urlsplit(page.url).query)
    assert back["error"] == ["access_denied"] and back["state"] == ["st4te"]
    context.close()
    assert not complaints and not dialogs


def test_the_whole_login_ends_at_the_consent_screen_as_step_three(browser, demo_site):
    import pyotp

    from demo import citizens as demo

    app, base_url = demo_site
    link = _service_link(app, base_url)
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    page.goto(link)
    log_in_as_demo(page, pyotp.TOTP(demo.DEMO_TOTP_SECRET).now())
    expect(page.get_by_role("heading", level=1)).to_contain_text("Share your information with")
    expect(page.get_by_text("Step 3 of 3")).to_be_visible()
    _header_has_no_way_out(page)
    # Tillid's own pages, after the whole login: the account's links are there.
    page.goto(base_url + "/me")
    header = page.locator("header")
    expect(header.get_by_role("navigation", name="Your account")).to_be_visible()
    expect(header.get_by_role("link", name="Tillid")).to_be_visible()
    context.close()
