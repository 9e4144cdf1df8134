"""In real Chromium: a Danish browser gets Danish pages, the switch changes them and is
remembered, and the page scripts speak the page's language."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from tests.e2e.conftest import browser  # noqa: F401  (the real Chromium fixture)


@pytest.fixture
def danish_site(make_app):
    """A live Tillid with the product's default language, Danish."""
    app = make_app(DEFAULT_LANGUAGE="da")
    server = make_server("localhost", 0, app, threaded=True)
    base_url = f"http://localhost:{server.server_port}"
    app.config["ISSUER"] = base_url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, base_url
    server.shutdown()
    thread.join(timeout=5)


def test_a_danish_browser_switches_to_english_and_back(browser, danish_site):  # noqa: F811
    _app, base_url = danish_site
    context = browser.new_context(locale="da-DK")
    page = context.new_page()
    page.goto(f"{base_url}/login")
    assert page.locator("html").get_attribute("lang") == "da"
    assert page.get_by_role("heading", level=1).inner_text() == "Log på Tillid"
    page.get_by_role("link", name="English").click()
    page.wait_for_url(f"{base_url}/login")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Log in to Tillid"
    page.goto(f"{base_url}/activate")  # remembered on the next page
    assert page.locator("html").get_attribute("lang") == "en"
    cookie = next(c for c in context.cookies() if c["name"] == "tillid_lang")
    assert cookie["value"] == "en" and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.get_by_role("link", name="Dansk").click()
    page.wait_for_url(f"{base_url}/activate")
    assert page.locator("html").get_attribute("lang") == "da"
    context.close()


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("da-DK", "Åbn tilknytningslinket fra din computer (scan QR-koden)."),
        ("en-GB", "Open the pairing link from your computer (scan its QR code)."),
    ],
)
def test_the_phone_scripts_own_words_are_in_the_pages_language(
    browser,  # noqa: F811
    danish_site,
    locale,
    expected,
):
    _app, base_url = danish_site
    context = browser.new_context(locale=locale)
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(error))
    page.goto(f"{base_url}/app/pair")  # opened without the link's secret: the script says so
    status = page.locator("[data-phone-status]")
    status.wait_for(state="attached")
    page.wait_for_function("document.querySelector('[data-phone-status]').textContent.length > 0")
    assert status.inner_text() == expected
    assert errors == []
    context.close()
