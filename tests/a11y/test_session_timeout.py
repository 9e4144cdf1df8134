"""The session-timeout warning in Chromium (WCAG 2.2.1), with the page's clock moved by
Playwright: the dialog opens before the end with the focus in it, "Stay logged in" extends
the session on the server, "Log out" logs out, and a session that reaches its absolute end
offers only to log in again and then says it has ended. A page loaded in another tab of
the same browser puts the warning away."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from demo import citizens as demo
from idp.citizens import service as citizens
from idp.sessions import sessions
from tests.a11y.test_axe import FAILING_IMPACTS, axe_violations, describe
from tests.e2e.conftest import oathtool_code

pytestmark = pytest.mark.e2e

DIALOG = "dialog[data-session-timeout]"


def log_in(page, site) -> None:
    page.clock.install()  # the page's Date and timers, moved by the test from here on
    page.goto(site.url("/login?next=/me"))
    page.locator("input[name=username]").fill(demo.DEMO_USERNAME)
    page.locator("input[name=password]").fill(demo.DEMO_PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.locator("input[name=otp]").fill(oathtool_code(demo.DEMO_TOTP_SECRET))
    page.locator("input[name=otp]").press("Enter")
    page.wait_for_url("**/me")


def focus_in_dialog(page) -> bool:
    return page.evaluate(f"!!document.activeElement.closest('{DIALOG}')")


def live_sessions(site) -> list[sessions.SSOSession]:
    """The demo citizen's sessions as the server keeps them (reading them touches none)."""
    with site.app.app_context():
        return sessions.list_for(citizens.find_by_username(demo.DEMO_USERNAME).id)


def last_seen(site) -> float:
    (session,) = live_sessions(site)
    return session.last_seen


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB")
    yield context.new_page()
    context.close()


def test_the_warning_comes_with_the_focus_and_stay_logged_in_extends_the_session(serve_tour, page):
    site = serve_tour(SESSION_IDLE_TIMEOUT=600, SESSION_ABSOLUTE_TIMEOUT=3600)
    log_in(page, site)
    dialog = page.locator(DIALOG)
    expect(dialog).to_be_hidden()
    page.clock.fast_forward("07:00")  # 3 minutes left: no warning yet
    expect(dialog).to_be_hidden()
    page.clock.fast_forward("01:30")  # 90 seconds left
    expect(dialog).to_be_visible()
    alert = page.get_by_role("alertdialog", name="Your session is about to end")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("Your session ends in 2 minutes.")
    assert focus_in_dialog(page)
    expect(alert.get_by_role("button", name="Stay logged in")).to_be_focused()

    serious = [line for v in axe_violations(page) if v["impact"] in FAILING_IMPACTS
               for line in describe("the page with the warning open", v)]  # fmt: skip
    assert not serious, "\n".join(serious)

    before = last_seen(site)
    with page.expect_response("**/session/keep-alive") as answer:
        page.keyboard.press("Enter")
    assert answer.value.status == 200
    assert answer.value.json()["idle_expires_at"] > before + 600 - 1
    assert last_seen(site) > before  # the server started the idle time again
    expect(dialog).to_be_hidden()

    page.clock.fast_forward("09:00")  # the new end is 10 minutes from the click
    expect(alert).to_be_visible()
    with page.expect_navigation():
        alert.get_by_role("button", name="Log out").click()
    assert page.url.endswith("/logged-out")
    assert live_sessions(site) == []  # ended on the server, not only in the page


def test_at_the_absolute_end_only_a_new_login_is_offered_and_the_end_is_told(serve_tour, page):
    # Idle time as long as the whole session: the absolute end always comes first.
    site = serve_tour(SESSION_IDLE_TIMEOUT=600, SESSION_ABSOLUTE_TIMEOUT=600)
    log_in(page, site)
    page.clock.fast_forward("08:30")
    alert = page.get_by_role("alertdialog")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("cannot be extended")
    expect(alert.get_by_role("button", name="Stay logged in")).to_be_hidden()
    expect(alert.get_by_role("link", name="Log in again")).to_be_focused()

    page.clock.fast_forward("02:00")
    expect(page.get_by_role("alertdialog", name="Your session has ended")).to_be_visible()
    expect(alert.get_by_role("link", name="Log in again")).to_be_focused()
    expect(alert).to_contain_text("maximum length")


def test_a_page_loaded_in_another_tab_puts_the_warning_away(serve_tour, page):
    """The session lives on while the citizen works in another tab: that tab's newer end
    reaches this one (localStorage), whose warning closes."""
    site = serve_tour(SESSION_IDLE_TIMEOUT=600, SESSION_ABSOLUTE_TIMEOUT=3600)
    log_in(page, site)
    page.clock.fast_forward("08:30")
    alert = page.get_by_role("alertdialog")
    expect(alert).to_be_visible()

    other = page.context.new_page()  # the same browser's clock, as a real tab has
    other.goto(site.url("/me/consents"))
    expect(other.locator(DIALOG)).to_be_hidden()
    page.clock.fast_forward("00:01")
    expect(alert).to_be_hidden()
