"""The design system's pages in Chromium: after a failed submit the keyboard focus is on the
error summary, whose links lead to the fields; the step indicator and the language switch."""

import re

from playwright.sync_api import expect

from demo import citizens as demo
from tests.e2e.conftest import csp_violations


def test_a_failed_login_puts_the_focus_on_the_error_summary(demo_site, page):
    _, base_url = demo_site
    violations = csp_violations(page)
    page.goto(f"{base_url}/login")
    expect(page).to_have_title(re.compile(r"^Log in – Tillid$"))
    page.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_label("Password").press("Enter")

    summary = page.get_by_role("alert").filter(has_text="There is a problem")
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: Log in – Tillid$"))

    # The keyboard goes on from the summary to its link, and the link to the field.
    page.keyboard.press("Tab")
    link = summary.get_by_role("link", name="Password: The user ID or password is wrong.")
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Password")).to_be_focused()
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    assert violations == []


def test_the_login_shows_its_two_steps_and_the_language_switch(live_server, page):
    _, base_url = live_server
    page.goto(f"{base_url}/login")
    steps = page.get_by_role("navigation", name="Steps")
    expect(steps).to_contain_text("Step 1 of 2")
    expect(steps.get_by_role("listitem")).to_have_count(2)
    expect(steps.locator('[aria-current="step"]')).to_contain_text("Log in")

    dansk = page.get_by_role("link", name="Dansk")
    expect(dansk).to_have_attribute("lang", "da")
    expect(dansk).to_have_attribute("hreflang", "da")
    dansk.click()
    expect(page.locator("html")).to_have_attribute("lang", "da")
    expect(page.get_by_role("link", name="English")).to_have_attribute("hreflang", "en")
