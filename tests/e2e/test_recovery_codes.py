"""Recovery codes in real Chromium: asked first, shown by the page after the form (a reload
shows the same codes and makes no new set), printed, copied and downloaded as text; the
old set stops working; none left is a warning on the security page."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from demo import citizens as demo
from tests.conftest import csrf_token, login, sql
from tests.e2e.conftest import (
    RECOVERY_CODE,
    csp_violations,
    log_in_as_demo,
    make_new_recovery_codes,
)


@pytest.fixture
def tab(browser):
    context = browser.new_context(accept_downloads=True,
                                  permissions=["clipboard-read", "clipboard-write"])  # fmt: skip
    yield context.new_page()
    context.close()


def _code_hashes(app) -> list[str]:
    return [r["code_hash"] for r in sql(app, "SELECT code_hash FROM recovery_code ORDER BY 1")]


def _recovery_login(app, code: str) -> int:
    """Someone with the password tries ``code`` at the login's recovery step."""
    browser = app.test_client()
    assert login(browser, demo.DEMO_USERNAME, demo.DEMO_PASSWORD).status_code == 302
    page = browser.get("/login/recovery")
    return browser.post("/login/recovery", data={"csrf_token": csrf_token(page),
                                                 "recovery_code": code}).status_code  # fmt: skip


def test_new_codes_a_reload_print_copy_download_and_the_old_set_void(demo_site, tab):
    app, base_url = demo_site
    page = tab
    violations = csp_violations(page)
    page.goto(f"{base_url}/me/security")
    log_in_as_demo(page)
    warning = page.locator("#no-recovery-codes")
    expect(warning).to_contain_text("You have no unused recovery codes")

    codes = make_new_recovery_codes(page)
    made = _code_hashes(app)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    assert page.locator("#recovery-codes li").all_text_contents() == codes
    assert _code_hashes(app) == made, "the reload made no new set"

    with page.expect_download() as downloading:
        page.get_by_role("link", name="Download as a text file").click()
    download = downloading.value
    assert download.suggested_filename == "tillid-recovery-codes.txt"
    lines = Path(download.path()).read_text().splitlines()
    assert [line for line in lines if RECOVERY_CODE.match(line)] == codes

    page.get_by_role("button", name="Copy").click()
    expect(page.locator("[data-recovery-codes-status]")).to_have_text("The codes are copied.")
    assert page.evaluate("navigator.clipboard.readText()").split() == codes

    expect(page.get_by_role("button", name="Print")).to_be_visible()
    page.emulate_media(media="print")  # on paper: the codes, not the site's header or buttons
    expect(page.locator("#recovery-codes")).to_be_visible()
    expect(page.locator("header").first).to_be_hidden()
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    page.emulate_media(media="screen")

    page.get_by_role("button", name="I have saved them, continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("How you log in")
    expect(warning).to_have_count(0)
    page.goto(f"{base_url}/me/security/recovery-codes")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your recovery codes were shown")
    expect(page.locator("#recovery-codes")).to_have_count(0)

    page.goto(f"{base_url}/me/security")
    newer = make_new_recovery_codes(page)
    assert not set(newer) & set(codes)
    assert _recovery_login(app, codes[0]) == 401, "the old set stops working"
    assert _recovery_login(app, newer[0]) == 302
    assert violations == []
