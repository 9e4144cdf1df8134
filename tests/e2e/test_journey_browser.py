"""The login journey and its errors as a citizen meets them, in real Chromium (issue 20,
items 4 and 7)."""

from __future__ import annotations

import re

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
