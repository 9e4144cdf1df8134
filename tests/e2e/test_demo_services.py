"""The demo services as `make run` serves them, used by a citizen in real Chromium: log in
at the service, agree or be told, see what the service received, log out back to it.

Chromium enforces the Content-Security-Policy, including `form-action` on the redirects
after the login, consent and logout forms, which no HTTP-level test can show.
"""

from __future__ import annotations

import dataclasses
import socket
import threading

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from clients import service as client_registry
from clients.claims import CPR_CLAIM
from demo import citizens as demo
from demo import registry as demo_registry
from demo.service import create_service
from tests.e2e.conftest import csp_violations, log_in_as_demo


def integrate(app) -> None:
    """What each worker's integrator does every LEDGER_INTEGRATE_SECONDS under gunicorn (the
    live server here runs none): sign the new entries into a checkpoint."""
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


@pytest.fixture
def demo_service(demo_site):
    """Serve one demo service (registered as `demo load` does) on a free port."""
    app, issuer = demo_site
    servers = []

    def serve(template: demo_registry.DemoService) -> str:
        service = dataclasses.replace(template, name=f"{template.name} e2e", port=_free_port())
        with app.app_context():
            client_id = demo_registry.ensure(service).client_id
            secret = client_registry.rotate_secret(client_id)
        rp = create_service(name=service.name, issuer=issuer, client_id=client_id,
                            client_secret=secret, scope=service.scope,
                            description=service.description,
                            api_scopes=service.api_scopes, ciba=service.ciba)  # fmt: skip
        server = make_server("localhost", service.port, rp, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return service.url

    yield serve
    for server in servers:
        server.shutdown()


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
    expect(page.get_by_role("heading", level=2)).to_contain_text("received")
    assert page.url.startswith(url)
    received = page.locator("#userinfo").text_content()
    assert "age_over_18" in received and "Ida Demo-Jensen" in received
    assert "birthdate" not in page.content() and CPR_CLAIM not in page.content()

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
    expect(page.get_by_role("heading", level=2)).to_contain_text("received")
    assert demo.DEMO_CPR in page.locator("#userinfo").text_content()
    assert violations == []


def test_both_logins_appear_in_the_citizens_access_log_verified(live_server, demo_service, page):
    app, issuer = live_server
    bank, tax = demo_service(demo_registry.BANK), demo_service(demo_registry.TAX)
    _log_in_at(page, bank)
    page.get_by_role("button", name="Allow").click()
    expect(page.get_by_role("heading", level=2)).to_contain_text("received")
    page.goto(tax)
    page.get_by_role("link", name="Log in with Tillid").click()  # already logged in at Tillid
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=2)).to_contain_text("received")

    integrate(app)
    page.goto(f"{issuer}/me/access-log")
    entries = page.locator("#access-log > li")
    # Each service logged the login (ID token) and its userinfo call: four entries.
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
    expect(page.get_by_role("heading", level=4)).to_have_text("Tillid answered 200")
    expect(page.locator("#api-answer")).to_contain_text("street_address")
    page.get_by_role("button", name="Report a lookup in our case system (report API)").click()
    expect(page.get_by_role("heading", level=4)).to_have_text("Tillid answered 201")

    integrate(app)
    page.goto(f"{issuer}/me/access-log")
    entries = page.locator("#access-log > li")
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
    expect(page.get_by_role("heading", level=2)).to_contain_text("received")

    # The authority asks again, later, without a browser: the page waits for the phone.
    page.get_by_role("button", name="Ask me to approve on my phone (CIBA)").click(
        no_wait_after=True
    )
    # The app, left open after the first approval, shows the new request by itself.
    expect(phone.get_by_text("Tax return 2026: approve?")).to_be_visible(timeout=15000)
    phone.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("heading", level=4)).to_have_text("Tillid answered 200", timeout=30000)
    expect(page.locator("#api-answer")).to_contain_text(demo.DEMO_CPR)
