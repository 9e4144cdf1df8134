"""Back-Channel Logout in real Chromium: the demo citizen logs in at both demo services, logs
out at Tillid (not at either service), and both services show her logged out, told by the
logout tokens Tillid's worker thread sends them (as serve.py's workers run it); a service
that was down at the time is told when it is back."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from demo import registry as demo_registry
from idp.oidc import backchannel_logout
from tests.e2e.conftest import log_in_as_demo


@pytest.fixture
def deliverer(demo_site):
    """Tillid's worker thread, every second, retrying a second after a failure."""
    app, _ = demo_site
    app.config.update(BACKCHANNEL_LOGOUT_SECONDS=1, BACKCHANNEL_LOGOUT_FIRST_RETRY_SECONDS=1)
    stop = backchannel_logout.start_deliverer(app)
    yield
    stop.set()


def _logged_in_at_both(page, bank: str, tax: str) -> None:
    page.goto(bank)
    page.get_by_role("link", name="Log in with Tillid").click()
    log_in_as_demo(page)
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")
    page.goto(tax)
    page.get_by_role("link", name="Log in with Tillid").click()  # already logged in at Tillid
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")
    for url in (bank, tax):
        page.goto(url)
        expect(page.get_by_role("button", name="Log out of")).to_be_visible()


def _log_out_at_tillid(page, issuer: str) -> None:
    page.goto(f"{issuer}/logout")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{issuer}/logged-out")


def _shows_logged_out(page, url: str, seconds: float = 20) -> None:
    """Reload the service's page until it offers the login again (the token is sent by the
    worker thread within a round or two)."""
    deadline = time.monotonic() + seconds
    while True:
        page.goto(url)
        if page.get_by_role("link", name="Log in with Tillid").count():
            return
        assert time.monotonic() < deadline, f"{url} still shows the citizen logged in"
        time.sleep(0.5)


def test_logging_out_at_tillid_logs_the_citizen_out_of_both_demo_services(
    demo_site, demo_services, deliverer, page
):
    app, issuer = demo_site
    bank, tax = demo_services(demo_registry.BANK).url, demo_services(demo_registry.TAX).url
    _logged_in_at_both(page, bank, tax)
    _log_out_at_tillid(page, issuer)
    _shows_logged_out(page, tax)
    _shows_logged_out(page, bank)
    with app.app_context():
        assert backchannel_logout.pending() == []


def test_a_demo_service_that_was_down_is_told_when_it_is_back(
    demo_site, demo_services, deliverer, page
):
    app, issuer = demo_site
    bank, tax_server = demo_services(demo_registry.BANK).url, demo_services(demo_registry.TAX)
    tax = tax_server.url
    _logged_in_at_both(page, bank, tax)
    tax_server.stop()
    _log_out_at_tillid(page, issuer)
    _shows_logged_out(page, bank)
    deadline = time.monotonic() + 20
    with app.app_context():  # the tax authority's token waits, tried again and again
        while not [d for d in backchannel_logout.pending() if d["attempts"] >= 2]:
            assert time.monotonic() < deadline, backchannel_logout.pending()
            time.sleep(0.5)
    tax_server.start()
    _shows_logged_out(page, tax)
    with app.app_context():
        assert backchannel_logout.pending() == []
