"""In real Chromium: a Danish browser gets Danish pages, the switch changes them and is
remembered, and the page scripts speak the page's language."""

from __future__ import annotations

import pytest

from tests.conftest import serving
from tests.e2e.test_phone import pair


@pytest.fixture
def danish_site(make_app):
    """A live Tillid with the product's default language, Danish."""
    with serving(make_app(DEFAULT_LANGUAGE="da")) as served:
        yield served


def test_a_danish_browser_switches_to_english_and_back(browser, danish_site):
    _app, base_url = danish_site
    context = browser.new_context(locale="da-DK")
    tab = context.new_page()
    tab.goto(f"{base_url}/login")
    assert tab.locator("html").get_attribute("lang") == "da"
    assert tab.get_by_role("heading", level=1).inner_text() == "Log på Tillid"
    tab.get_by_role("link", name="English").click()
    tab.wait_for_url(f"{base_url}/login")
    assert tab.locator("html").get_attribute("lang") == "en"
    assert tab.get_by_role("heading", level=1).inner_text() == "Log in to Tillid"
    tab.goto(f"{base_url}/activate")  # remembered on the next page
    assert tab.locator("html").get_attribute("lang") == "en"
    cookie = next(c for c in context.cookies() if c["name"] == "tillid_lang")
    assert cookie["value"] == "en" and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    tab.get_by_role("link", name="Dansk").click()
    tab.wait_for_url(f"{base_url}/activate")
    assert tab.locator("html").get_attribute("lang") == "da"
    context.close()


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("da-DK", "Åbn tilknytningslinket fra din computer (scan QR-koden)."),
        ("en-GB", "Open the pairing link from your computer (scan its QR code)."),
    ],
)
def test_the_phone_scripts_own_words_are_in_the_pages_language(
    browser,
    danish_site,
    locale,
    expected,
):
    _app, base_url = danish_site
    context = browser.new_context(locale=locale)
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda error: errors.append(error))
    tab.goto(f"{base_url}/app/pair")  # opened without the link's secret: the script says so
    status = tab.locator("[data-phone-status]")
    status.wait_for(state="attached")
    tab.wait_for_function("document.querySelector('[data-phone-status]').textContent.length > 0")
    assert status.inner_text() == expected
    assert errors == []
    context.close()


def test_the_phone_app_greets_its_citizen_by_name(demo_site, page, phone):
    """The page's own `citizen` (the phone's owner) is not the signed-in citizen the page
    header looks up: the phone has no login session, and the greeting once came out empty."""
    _app, base_url = demo_site
    pair(page, phone, base_url)
    phone.goto(f"{base_url}/app")
    assert phone.get_by_text("Ida Demo-Jensen, on Idas Pixel").is_visible()
