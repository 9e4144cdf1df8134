"""Back-Channel Logout in real Chromium: the demo citizen logs in at both demo services, logs
out at Tillid (not at either service), and both services show her logged out, told by the
logout tokens Tillid's worker thread sends them (as serve.py's workers run it)."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from demo import registry as demo_registry
from idp.oidc import backchannel_logout
from tests.e2e.test_demo_services import _log_in_at, demo_service  # noqa: F401 (a fixture)


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
    live_server,
    demo_service,  # noqa: F811 (the fixture imported above)
    page,
):
    app, issuer = live_server
    bank, tax = demo_service(demo_registry.BANK), demo_service(demo_registry.TAX)
    _log_in_at(page, bank)
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")
    page.goto(tax)
    page.get_by_role("link", name="Log in with Tillid").click()  # already logged in at Tillid
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("received")
    page.goto(bank)
    expect(page.get_by_role("button", name="Log out of")).to_be_visible()  # still logged in

    app.config["BACKCHANNEL_LOGOUT_SECONDS"] = 1
    stop = backchannel_logout.start_deliverer(app)
    try:
        page.goto(f"{issuer}/logout")
        page.get_by_role("button", name="Log out").click()
        expect(page).to_have_url(f"{issuer}/logged-out")
        _shows_logged_out(page, tax)
        _shows_logged_out(page, bank)
    finally:
        stop.set()
    with app.app_context():
        assert backchannel_logout.pending() == []
