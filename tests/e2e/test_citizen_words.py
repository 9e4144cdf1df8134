"""In real Chromium, what a citizen reads about their information and in which language: the
consent page groups attributes by purpose and calls the name "your name"; an authority's
notice says why it cannot be withdrawn; withdrawing on the consents page asks first; the
language chosen with the switch survives a Danish service's login; English pages write
dates day, month, year and call the authenticator by its English default."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pyotp
import pytest
from playwright.sync_api import expect

from demo import citizens as demo
from demo import registry as demo_registry
from tests.e2e.conftest import log_in_as_demo


@pytest.fixture
def danish_service(demo_services):
    """A demo service (registered as `demo load` does) that asks for its logins in Danish
    (ui_locales=da), as the demo services of `make run` do: its URL and name."""

    def serve(template: demo_registry.DemoService) -> tuple[str, str]:
        served = demo_services(template, ui_locales="da")
        return served.url, served.name

    return serve


def _log_in_in_danish(page) -> None:
    """The demo citizen on the Danish login page (the service asked for Danish)."""
    page.get_by_label("Bruger-ID").fill(demo.DEMO_USERNAME)
    page.get_by_label("Adgangskode").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log på", exact=True).click()
    page.locator("input[name=otp]").fill(pyotp.TOTP(demo.DEMO_TOTP_SECRET).now())
    page.locator("form:has(input[name=otp]) button[type=submit]").click()


@pytest.fixture
def danish_browser(browser):
    """A browser whose Accept-Language is Danish: English only by the citizen's choice."""
    context = browser.new_context(locale="da-DK")
    yield context.new_page()
    context.close()


def test_the_switch_choice_outlives_a_danish_services_login(
    danish_service, demo_site, danish_browser
):
    page = danish_browser
    _app, issuer = demo_site
    bank_url, bank_name = danish_service(demo_registry.BANK)
    page.goto(f"{issuer}/login")
    expect(page.locator("html")).to_have_attribute("lang", "da")
    page.get_by_role("link", name="English").click()  # the citizen's choice
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.goto(bank_url)
    page.get_by_role("link", name="Log ind med Tillid").click()  # the service speaks Danish
    expect(page.locator("html")).to_have_attribute("lang", "da")  # the service's login
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Log på hos {bank_name}")
    _log_in_in_danish(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Vil du dele dine oplysninger")
    expect(page.get_by_role("listitem").filter(has_text=re.compile("^Dit navn$"))).to_have_count(1)
    page.locator("button[name=decision][value=allow]").click()
    page.wait_for_url(f"{bank_url}/**")

    page.goto(f"{issuer}/me")
    expect(page.locator("html")).to_have_attribute("lang", "en")  # the citizen's choice again
    page.goto(f"{issuer}/me/security")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # The app `demo load` set up, named in Danish by default, reads in English here.
    expect(page.get_by_role("heading", level=2, name="Authenticator app")).to_be_visible()
    assert "Autentificeringsapp" not in page.content()
    added = page.locator("dt", has_text="Added").locator("xpath=following-sibling::dd[1]")
    expect(added).to_have_text(re.compile(r"^\d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2}$"))


def test_the_consent_page_groups_by_purpose_and_names_the_name_once(demo_site, page):
    _app, issuer = demo_site
    page.goto(f"{issuer}/language/en?next=/login")
    with demo_site[0].app_context():
        bank = demo_registry.ensure(demo_registry.BANK)
    # The bank's own request, without ui_locales: the citizen's English holds.
    query = {"response_type": "code", "client_id": bank.client_id, "state": "s", "nonce": "n",
             "redirect_uri": bank.redirect_uris[0], "scope": demo_registry.BANK.scope,
             "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
             "code_challenge_method": "S256"}  # fmt: skip
    page.goto(f"{issuer}/authorize?{urlencode(query)}")
    log_in_as_demo(page)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Share your information with {bank.name}?"
    )
    purposes = page.locator("dl.purposes dt")
    expect(purposes).to_have_count(1)  # one purpose for every attribute: said once
    expect(purposes).to_have_text(f"For: {demo_registry.BANK.purpose}")
    items = page.locator("dl.purposes li")
    expect(items).to_have_text(["Your name", "Whether you are over 18 (not your age or birthdate)"])
    assert "Your first name" not in page.content() and "Why:" not in page.content()


def test_an_authoritys_notice_says_it_cannot_be_withdrawn_and_why(danish_service, page):
    tax_url, _name = danish_service(demo_registry.TAX)
    page.goto(tax_url)
    page.get_by_role("link", name="Log ind med Tillid").click()  # the service speaks Danish
    _log_in_in_danish(page)
    notice = page.locator(".basis-notice[data-legal-basis=public_task]")
    expect(notice).to_contain_text(
        "Givet på grundlag af en opgave i samfundets interesse. Du kan ikke trække det tilbage."
    )
    expect(notice).to_contain_text("Myndigheden har brug for det til en opgave, loven giver den")
    expect(notice.locator("li")).to_have_text(["Dit navn", "Din adresse", "Dit CPR-nummer"])
    assert "Du kan se og trække tilbage" not in page.content()


def test_withdrawing_asks_first_and_names_the_service(danish_service, demo_site, page):
    _app, issuer = demo_site
    bank_url, bank_name = danish_service(demo_registry.BANK)
    page.goto(bank_url)
    page.get_by_role("link", name="Log ind med Tillid").click()  # the service speaks Danish
    _log_in_in_danish(page)
    page.locator("button[name=decision][value=allow]").click()
    page.wait_for_url(f"{bank_url}/**")

    page.goto(f"{issuer}/language/en?next=/me/consents")
    card = page.locator("#consents > li", has_text=bank_name)
    expect(card.locator("dl.purposes li")).to_have_text(
        ["Your name", "Whether you are over 18 (not your age or birthdate)"]
    )
    expect(card).to_contain_text(re.compile(r"Since \d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2}"))
    card.get_by_role("link", name=f"Withdraw consent from {bank_name}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Withdraw your consent to {bank_name}?"
    )
    expect(page.get_by_text(f"{bank_name} will no longer receive through Tillid:")).to_be_visible()
    # Keeping it changes nothing.
    page.get_by_role("link", name="Keep my consent").click()
    expect(page.locator("#consents > li", has_text=bank_name)).to_have_count(1)
    page.locator("#consents > li", has_text=bank_name).get_by_role(
        "link", name=f"Withdraw consent from {bank_name}"
    ).click()
    page.get_by_role("button", name=f"Withdraw consent from {bank_name}").click()
    page.wait_for_url(f"{issuer}/me/consents")
    expect(page.get_by_text(f"Your consent to {bank_name} is withdrawn.")).to_be_visible()
    expect(page.locator("#consents > li", has_text=bank_name)).to_have_count(0)
