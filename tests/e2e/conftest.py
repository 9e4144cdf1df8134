"""A live Tillid server and a real headless Chromium (Debian's /usr/bin/chromium).

Without a Chromium these tests skip, unless REQUIRE_E2E=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRE_E2E = os.environ.get("REQUIRE_E2E") == "1"


def _unavailable(reason: str):
    if REQUIRE_E2E:
        pytest.fail(f"REQUIRE_E2E=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not os.path.exists(CHROMIUM):
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def csp_violations(page) -> list[str]:
    """Collects the Content-Security-Policy complaints Chromium logs for ``page``."""
    seen: list[str] = []
    page.on(
        "console", lambda msg: seen.append(msg.text) if "Content Security" in msg.text else None
    )
    return seen
