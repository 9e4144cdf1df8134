"""The demo services as `make run` serves them, used by a citizen in real Chromium: log in
at the service, agree or be told, see what the service received, log out back to it.

Chromium enforces the Content-Security-Policy, including `form-action` on the redirects
after the login, consent and logout forms, which no HTTP-level test can show.
"""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.sync_api import expect

from clients.claims import CPR_CLAIM
from demo import citizens as demo
from demo import registry as demo_registry
from tests.e2e.conftest import claims_shown, csp_violations, log_in_as_demo


def integrate(app) -> None:
    """What each worker's integrator does every LEDGER_INTEGRATE_SECONDS under serve.py (the
    live server here runs none): sign the new entries into a checkpoint."""
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0


@pytest.fixture
def demo_service(demo_services):
    """Serve one demo service (tests/e2e/conftest.py `DemoService`): its URL."""

    def serve(template: demo_registry.DemoService, ui_locales: str | None = None) -> str:
        return demo_services(template, ui_locales=ui_locales).url

    return serve


def _log_in_at(page, service_url: str) -> None:
    page.goto(service_url)
    page.get_by_role("link", name="Log in with Tillid").click()
    log_in_as_demo(page)


def test_the_bank_asks_and_learns_only_the_age(demo_service, page):
    violations = csp_violations(page)
    url = demo_service(demo_registry.BANK)
    _log_in_at(page, url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Share your information")
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")
    assert page.url.startswith(url)
    received = page.locator("#userinfo")
    expect(received.locator("[data-claim=age_over_18]")).to_have_text("Yes")
    expect(received.locator("[data-claim=name]")).to_have_text("Ida Demo-Jensen")
    expect(received).to_contain_text("Whether you are over 18")
    # Only what its scope brings: no birthdate, no CPR number, in the ID token or userinfo.
    expect(page.locator("[data-claim=birthdate]")).to_have_count(0)
    expect(page.locator(f"[data-claim='{CPR_CLAIM}']")).to_have_count(0)

    page.get_by_role("button", name="Log out of").click()
    page.get_by_role("button", name="Log out").click()  # Tillid asks to confirm
    expect(page.get_by_role("link", name="Log in with Tillid")).to_be_visible()
    assert page.url.startswith(url)
    assert violations == []


def test_the_tax_authority_tells_and_receives_the_cpr_number(demo_service, page):
    violations = csp_violations(page)
    url = demo_service(demo_registry.TAX)
    _log_in_at(page, url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("will receive your information")
    expect(page.get_by_text("Your CPR number")).to_be_visible()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")
    assert demo.DEMO_CPR in page.locator("#userinfo").text_content()
    assert violations == []


def test_both_logins_appear_in_the_citizens_access_log_verified(live_server, demo_service, page):
    app, issuer = live_server
    bank, tax = demo_service(demo_registry.BANK), demo_service(demo_registry.TAX)
    _log_in_at(page, bank)
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")
    page.goto(tax)
    page.get_by_role("link", name="Log in with Tillid").click()  # already logged in at Tillid
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")

    integrate(app)
    page.goto(f"{issuer}/me/access-log")
    # Leaving out Tillid's own entries about her son's custody (made by `demo load`, ended
    # by the fixture): each service logged the login (ID token) and its userinfo call.
    entries = page.locator("#access-log > li").filter(has_not_text="Tillid itself")
    expect(entries).to_have_count(4)
    expect(entries.filter(has_text="Skattestyrelsen (demo) e2e").first).to_contain_text(
        "Your CPR number"
    )
    expect(entries.filter(has_text="Nordbank (demo) e2e").first).to_contain_text(
        "Whether you are over 18"
    )
    for index in range(4):
        expect(entries.nth(index)).to_contain_text("Verified: this entry is in Tillid's signed log")


def test_the_tax_authority_looks_up_and_reports_later_and_the_citizen_sees_it(
    live_server, demo_service, page
):
    app, issuer = live_server
    tax = demo_service(demo_registry.TAX)
    _log_in_at(page, tax)
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Look up my address again (attribute API)").click()
    expect(page.get_by_role("heading", level=3)).to_have_text("Tillid answered 200")
    expect(page.locator("#api-answer")).to_contain_text("street_address")  # the JSON
    address = page.locator("#api-answer-claims [data-claim=address]")  # and in words
    expect(address).to_contain_text("Vesterbrogade 1")
    page.get_by_role("button", name="Report a lookup in our case system (report API)").click()
    expect(page.get_by_role("heading", level=3)).to_have_text("Tillid answered 201")
    expect(page.locator("#api-answer-claims [data-claim=attributes]")).to_have_text("Your address")

    integrate(app)
    page.goto(f"{issuer}/me/access-log")
    entries = page.locator("#access-log > li").filter(has_not_text="Tillid itself")
    expect(entries).to_have_count(4)  # login, userinfo, the lookup, the report
    looked_up = entries.filter(has_text="Looked up by the authority")
    expect(looked_up).to_have_count(1)
    expect(looked_up).to_contain_text("Your address")
    reported = entries.filter(has_text="A lookup the authority reported")
    expect(reported).to_contain_text("Checked your address in our case system")
    for index in range(4):
        expect(entries.nth(index)).to_contain_text("Verified: this entry is in Tillid's signed log")


def test_log_in_with_the_phone_then_the_tax_authority_asks_again_by_ciba(
    live_server, demo_service, page, phone
):
    from tests.e2e.test_phone import pair

    _, issuer = live_server
    tax = demo_service(demo_registry.TAX)
    pair(page, phone, issuer)
    page.goto(tax)
    page.get_by_role("link", name="Log in with Tillid").click()
    page.get_by_role("link", name="Log in with the phone app").click()
    page.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    page.get_by_role("button", name="Continue").click()
    code = page.locator("#binding-code").text_content().strip()
    phone.goto(f"{issuer}/app")
    phone.get_by_role("button", name=code, exact=True).click()
    page.get_by_role("button", name="Continue").click()  # the notice: what the authority gets
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")

    # The authority asks again, later, without a browser: the page waits for the phone.
    page.get_by_role("button", name="Ask me to approve on my phone (CIBA)").click(
        no_wait_after=True
    )
    # The app, left open after the first approval, shows the new request by itself.
    expect(phone.get_by_text("Tax return 2026: approve?")).to_be_visible(timeout=15000)
    phone.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", level=3)).to_have_text("Tillid answered 200", timeout=30000)
    expect(page.locator("#api-answer")).to_contain_text(demo.DEMO_CPR)


def _log_in_in_any_language(page, service_url: str) -> None:
    """At the service: its login link, then the demo citizen's password and code, by the
    fields' names (the pages may speak Danish or English)."""
    page.goto(service_url)
    page.locator("a[href='/login']").click()
    page.locator("input[name=username]").fill(demo.DEMO_USERNAME)
    page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.locator("input[name=otp]").fill(pyotp.TOTP(demo.DEMO_TOTP_SECRET).now())
    page.locator("input[name=otp]").press("Enter")


RAW = re.compile(r"\bTrue\b|\bFalse\b|\[|\]|\b1[0-9]{9}\b")  # Python's words, lists, epoch seconds


def test_the_bank_speaks_danish_shows_what_it_received_in_words_and_switches_to_english(
    demo_service, page
):
    url = demo_service(demo_registry.BANK, ui_locales="da")
    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", "da")
    expect(page).to_have_title("Nordbank (demo) e2e")
    expect(page.locator("#asks-for")).to_contain_text("Om du er over 18")
    expect(page.get_by_role("link", name="Log ind med Tillid")).to_be_visible()

    _log_in_in_any_language(page, url)
    expect(page.locator("html")).to_have_attribute("lang", "da")  # the login asked for Danish
    page.locator("button[name=decision][value=allow]").click()
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text("Det modtog Nordbank (demo) e2e")
    expect(page).to_have_title("Det modtog Nordbank (demo) e2e")
    danish = claims_shown(page)
    assert danish["age_over_18"] == "Ja"
    assert danish["acr"] == "NSIS Betydelig"
    assert danish["amr"] == "adgangskode, engangskode fra en app, to faktorer"
    assert re.search(r"\d{4}", danish["auth_time"]) and any(
        month in danish["auth_time"] for month in ("januar", "februar", "marts", "april", "maj",
                                                   "juni", "juli", "august", "september",
                                                   "oktober", "november", "december")
    )  # fmt: skip
    assert not RAW.search(page.locator("main").inner_text())

    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(heading).to_have_text("What Nordbank (demo) e2e received")
    english = claims_shown(page)
    assert english["age_over_18"] == "Yes" and english["acr"] == "NSIS Substantial"
    assert english["sub"] == danish["sub"]
    assert not RAW.search(page.locator("main").inner_text())
    expect(page.get_by_role("link", name="Dansk")).to_have_attribute("hreflang", "da")


def test_the_bank_and_the_tax_authority_receive_different_subs_each_the_same_every_time(
    demo_service, page
):
    bank, tax = demo_service(demo_registry.BANK), demo_service(demo_registry.TAX)
    _log_in_in_any_language(page, bank)
    page.locator("button[name=decision][value=allow]").click()
    at_the_bank = claims_shown(page)["sub"]
    page.goto(tax)
    page.locator("a[href='/login']").click()  # logged in at Tillid already: its notice
    page.locator("button[name=decision][value=allow]").click()
    at_the_tax_authority = claims_shown(page)["sub"]
    assert at_the_bank != at_the_tax_authority

    # Each service logs the citizen in again (a new authorization and ID token, on the
    # session at Tillid): the same sub as before.
    for service, sub in ((tax, at_the_tax_authority), (bank, at_the_bank)):
        page.goto(f"{service}/login")
        page.wait_for_url(f"{service}/")
        expect(page.locator("#id-token")).to_be_visible()
        assert claims_shown(page)["sub"] == sub


def test_a_citizen_who_says_no_reads_why_in_the_services_language(demo_service, page):
    url = demo_service(demo_registry.BANK, ui_locales="da")
    _log_in_in_any_language(page, url)
    page.locator("button[name=decision][value=deny]").click()
    expect(page.locator("html")).to_have_attribute("lang", "da")
    expect(page.get_by_role("heading", level=1)).to_have_text("Loginet blev ikke gennemført")
    expect(page).to_have_title("Loginet blev ikke gennemført – Nordbank (demo) e2e")
    expect(page.get_by_role("alert")).to_contain_text("Intet blev delt med tjenesten")
    expect(page.get_by_role("alert")).to_contain_text("access_denied")
    page.get_by_role("link", name="Tilbage til forsiden").click()
    expect(page.get_by_role("link", name="Log ind med Tillid")).to_be_visible()
