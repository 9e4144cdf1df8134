"""The design system's pages in Chromium: after a failed submit the keyboard focus is on the
error summary, whose links lead to the fields; the step indicator and the language switch."""

import re

import pyotp
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


# The portal's pages, each reached from the menu or the overview once logged in.
PORTAL = ("/me", "/me/sessions", "/me/consents", "/me/access-log", "/me/security",
          "/me/security/totp")  # fmt: skip


def _logged_in_at(browser, base_url: str, width: int, locale: str = "en-GB"):
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{base_url}/login?next=/me")
    log_in_as_demo_by_field_names(page)
    expect(page).to_have_url(re.compile(r"/me$"))
    return context, page


def log_in_as_demo_by_field_names(page) -> None:
    """The demo citizen's password and code, whatever language the page speaks."""
    page.locator("input[name=username]").fill(demo.DEMO_USERNAME)
    page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.locator("input[name=otp]").fill(pyotp.TOTP(demo.DEMO_TOTP_SECRET).now())
    page.locator("input[name=otp]").press("Enter")


def _boxes(locator) -> list[dict]:
    return [element.bounding_box() for element in locator.all()]


def test_the_overview_sits_in_groups_side_by_side_at_a_desktops_width(demo_site, browser):
    _, base_url = demo_site
    context, page = _logged_in_at(browser, base_url, 1280)
    try:
        ways = _boxes(page.locator("#overview-links > li"))
        assert len(ways) == 4
        assert len({round(box["y"]) for box in ways}) == 1, ways  # one row of four
        assert [box["x"] for box in ways] == sorted(box["x"] for box in ways)
        sources = _boxes(page.locator("#your-information > section"))
        assert len(sources) == 3
        assert len({round(box["y"]) for box in sources}) == 1, sources  # three columns
        assert all(box["width"] < 1280 / 2 for box in sources)
        # The page uses the width: the groups span more than the 768 px a form keeps to.
        main = page.locator("main").bounding_box()
        assert main["width"] > 1000, main

        page.set_viewport_size({"width": 375, "height": 800})  # a phone: one after the other
        sources = _boxes(page.locator("#your-information > section"))
        assert [box["y"] for box in sources] == sorted({box["y"] for box in sources})
        assert len({round(box["x"]) for box in sources}) == 1
    finally:
        context.close()


def test_each_portal_page_is_titled_by_its_heading_in_both_languages(demo_site, browser):
    _, base_url = demo_site
    context, page = _logged_in_at(browser, base_url, 1280)
    try:
        for language in ("en", "da"):
            page.goto(f"{base_url}/language/{language}?next=/me")
            for path in PORTAL:
                page.goto(f"{base_url}{path}")
                assert page.evaluate("document.documentElement.lang") == language
                heading = page.get_by_role("heading", level=1).inner_text().strip()
                assert page.title() == f"{heading} – Tillid", (path, language, page.title())
    finally:
        context.close()
