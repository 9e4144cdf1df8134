"""Every page a citizen meets, checked by axe-core in real Chromium: in Danish and English,
at a phone's width (375 px) and a desktop's (1280 px). Serious and critical violations fail
the test; all of them are listed."""

from __future__ import annotations

import pytest

from tests.a11y import tour

pytestmark = pytest.mark.e2e

FAILING_IMPACTS = ("serious", "critical")
# The pages the issue names, each of which the tour must have reached.
PAGES = {
    "login", "login-error", "activate", "activate-error", "second-factor", "recovery",
    "phone-login", "phone-wait", "phone-app", "me", "sessions", "consents",
    "withdraw-consent", "access-log",
    "security", "session-warning", "enrol-totp", "pair-phone", "consent", "notice",
    "step-up", "logout", "logged-out", "error-404", "error-400", "service-login",
    "access-log-error",
    "enrol-passkey", "new-recovery-codes", "recovery-codes", "recovery-codes-shown", "confirm",
    "service", "service-received", "service-error",
    "forgot", "forgot-prove", "forgot-prove-error", "forgot-phone-wait", "forgot-phone-app",
    "forgot-new-password", "forgot-new-password-error", "forgot-letter", "forgot-letter-error",
    "change-password", "change-password-error", "wallet", "wallet-offer",
    "mandates", "mandate-accept", "mandate-end", "mandate-new", "mandate-new-error", "act-for",
}  # fmt: skip


def axe_violations(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    return Axe().run(page).response["violations"]


def describe(where: str, violation: dict) -> list[str]:
    lines = [f"{where}: [{violation['impact']}] {violation['id']}: {violation['help']}"]
    for node in violation["nodes"][:5]:
        lines.append(f"    {' '.join(map(str, node['target']))}: {node['html'][:160]}")
        summary = (node.get("failureSummary") or "").replace("\n", " ")
        if summary:
            lines.append(f"      {summary[:240]}")
    if len(violation["nodes"]) > 5:
        lines.append(f"    … and {len(violation['nodes']) - 5} more elements")
    return lines


def test_every_page_in_both_languages_at_both_widths(browser, tour_site):
    phone = tour.new_phone(browser)
    tour.prepare(browser, tour_site, phone)
    found, reached, wrong_language = [], set(), []
    for language in tour.LANGUAGES:
        for width_name, width in tour.WIDTHS.items():
            for stop, page in tour.visit(browser, tour_site, phone, language, width):
                reached.add(stop)
                where = f"{stop} ({language}, {width_name} {width} px, {page.url})"
                if page.evaluate("document.documentElement.lang") != language:
                    wrong_language.append(where)
                found += [(where, v) for v in axe_violations(page)]
    phone.context.close()

    report = [line for where, v in found for line in describe(where, v)]
    print("\n".join(report) or "axe: no violations")  # all of them, whatever their impact
    assert reached >= PAGES, f"the tour did not reach {sorted(PAGES - reached)}"
    assert not wrong_language, f"pages not in the language asked for: {wrong_language}"
    failing = [line for where, v in found if v["impact"] in FAILING_IMPACTS
               for line in describe(where, v)]  # fmt: skip
    assert not failing, "serious or critical axe violations:\n" + "\n".join(failing)


def test_the_check_sees_a_violation_when_there_is_one(browser, live_server):
    """The harness itself: a field without a label on a real page is a critical violation
    (axe ran, on the page, and its findings reach the test)."""
    _, base_url = live_server
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base_url}/login")
    page.evaluate("document.querySelector('main').append(document.createElement('input'))")
    found = {v["id"]: v["impact"] for v in axe_violations(page)}
    context.close()
    assert found.get("label") == "critical", found
