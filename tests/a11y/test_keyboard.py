"""Keyboard only, in real Chromium: from a service's login link through password and code to
approving consent, and back at the service, without a mouse (no click, no fill: Tab, typing,
Enter and Space). Every element the keyboard reaches shows where the focus is."""

from __future__ import annotations

import pytest

from demo import citizens as demo
from demo import registry as demo_registry
from tests.e2e.conftest import oathtool_code

pytestmark = pytest.mark.e2e

# Where the focus is, and whether a sighted keyboard user can see it.
FOCUS = """() => {
  const e = document.activeElement;
  const style = getComputedStyle(e);
  return {
    tag: e.tagName.toLowerCase(), id: e.id, name: e.getAttribute('name'),
    value: e.getAttribute('value'), href: e.getAttribute('href'),
    text: (e.innerText || '').trim().slice(0, 80),
    focusVisible: e.matches(':focus-visible'),
    outline: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0,
    shadow: style.boxShadow !== 'none',
    inMain: !!e.closest('main'),
    inErrorSummary: !!e.closest('.error-summary'),
  };
}"""


def focus(page) -> dict:
    return page.evaluate(FOCUS)


def assert_visible(where: dict) -> None:
    assert where["focusVisible"], f"focus is not :focus-visible on {where}"
    assert where["outline"] or where["shadow"], f"no focus outline on {where}"


def tab_to(page, wanted, limit: int = 60) -> dict:
    """Press Tab until ``wanted(focus)``; every stop on the way must show its focus."""
    passed = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        where = focus(page)
        if where["tag"] == "body":
            continue  # out of the document and back in (the browser's own UI)
        assert_visible(where)
        passed.append(where["name"] or where["href"] or where["text"])
        if wanted(where):
            return where
    raise AssertionError(f"Tab never reached it on {page.url}; focus went through {passed}")


def named(name: str):
    return lambda where: where["name"] == name


@pytest.fixture
def context(browser):
    context = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    yield context
    context.close()


@pytest.fixture(params=[("en-GB", 1280), ("da-DK", 375)], ids=["en-desktop", "da-phone"])
def either_context(browser, request):
    locale, width = request.param
    context = browser.new_context(locale=locale, viewport={"width": width, "height": 800})
    yield context
    context.close()


def test_log_in_with_password_and_code_and_approve_consent_by_keyboard(either_context, tour_site):
    _log_in_and_allow_the_bank(either_context.new_page(), tour_site)


def _log_in_and_allow_the_bank(page, tour_site) -> None:
    """From the bank's login link to its page after the consent, by keyboard only."""
    bank_url, _ = tour_site.services[demo_registry.BANK.name]
    page.goto(bank_url)

    tab_to(page, lambda where: where["href"] == "/login")  # "Log in with Tillid"
    with page.expect_navigation(url=lambda url: url.startswith(tour_site.base_url)):
        page.keyboard.press("Enter")
    page.wait_for_url("**/login?**")

    tab_to(page, named("username"))
    page.keyboard.type(demo.DEMO_USERNAME)
    tab_to(page, named("password"))
    page.keyboard.type(demo.DEMO_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert "/login/code" in page.url
    tab_to(page, named("otp"))
    page.keyboard.type(oathtool_code(demo.DEMO_TOTP_SECRET))
    with page.expect_navigation():
        page.keyboard.press("Enter")

    assert "/authorize" in page.url  # the consent page
    tab_to(page, lambda where: where["name"] == "decision" and where["value"] == "allow")
    with page.expect_navigation(url=lambda url: url.startswith(bank_url)):
        page.keyboard.press("Space")
    page.wait_for_load_state()
    assert "Ida Demo-Jensen" in page.inner_text("body")


def test_withdraw_a_consent_by_keyboard_after_being_asked(either_context, tour_site):
    page = either_context.new_page()
    _log_in_and_allow_the_bank(page, tour_site)
    page.goto(tour_site.url("/me/consents"))
    tab_to(page, lambda where: (where["href"] or "").endswith("/withdraw"))
    with page.expect_navigation(url="**/withdraw"):
        page.keyboard.press("Enter")
    # The question: its first control in the page is the button that withdraws.
    tab_to(page, lambda where: where["tag"] == "button" and where["inMain"])
    with page.expect_navigation(url="**/me/consents"):
        page.keyboard.press("Enter")
    assert page.locator("#consents a[href$='/withdraw']").count() == 0


def test_a_failed_login_moves_focus_to_the_error_summary(context, tour_site):
    page = context.new_page()
    page.goto(tour_site.url("/login"))
    tab_to(page, named("username"))
    page.keyboard.type(demo.DEMO_USERNAME)
    tab_to(page, named("password"))
    page.keyboard.type("not the password")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_load_state()
    where = focus(page)
    assert where["inErrorSummary"], f"focus after the failed login is on {where}"
    # From the summary, the keyboard goes on to the first field with its problem.
    tab_to(page, named("username"), limit=10)


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_main(context, tour_site):
    page = context.new_page()
    page.goto(tour_site.url("/login"))
    page.keyboard.press("Tab")
    first = focus(page)
    assert (first["href"] or "").startswith("#"), f"the first Tab stop is {first}"
    assert_visible(first)
    target = first["href"][1:]
    assert page.evaluate(
        "id => { const t = document.getElementById(id); return !!t && !!t.closest('main') }",
        target,
    ), f"the skip link leads to #{target}, which is not the main content"
    page.keyboard.press("Enter")
    assert page.evaluate(
        "id => document.getElementById(id).contains(document.activeElement)", target
    ), f"focus after the skip link: {focus(page)}"
    # The next Tab continues inside the main content, past the header and language switch.
    page.keyboard.press("Tab")
    assert focus(page)["inMain"], f"after the skip link, Tab went to {focus(page)}"
