"""A live Tillid server and a real headless Chromium (Debian's /usr/bin/chromium).

Without a Chromium these tests skip, unless REQUIRE_E2E=1 (CI), where they fail instead.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import threading

import pyotp
import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from clients import service as client_registry
from demo import registry as demo_registry
from demo.citizens import DEMO_CHILD_CPR
from demo.service import create_service

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


def end_the_demo_childs_custody(runner) -> None:
    """`demo load` gives the demo citizen custody of her son, and the demo tax authority
    accepts representation: her login there would first ask whom she logs in as. The
    journeys tested with the demo services are her own; acting for the child has its own
    tests (tests/mandates/), so here the custody is ended, as the operator's CLI does."""
    listed = runner.invoke(args=["mandates", "list", "--cpr", DEMO_CHILD_CPR])
    assert listed.exit_code == 0, listed.output
    for mandate in json.loads(listed.stdout)["given"]:
        ended = runner.invoke(args=["mandates", "end", "--id", mandate["id"]])
        assert ended.exit_code == 0, ended.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


class DemoService:
    """A demo service as `make run` serves it: registered as `demo load` registers it (its
    logout address too), the app `flask demo services` runs, under a name of its own on a free
    port. ``options`` go to `create_service` (``ui_locales``). Started, stopped and started
    again with the same app: its sessions, cookie key and record of ended sessions survive,
    as a service's do across a restart."""

    def __init__(self, app, issuer: str, template: demo_registry.DemoService, **options):
        self.service = dataclasses.replace(template, name=f"{template.name} e2e",
                                           port=free_port())  # fmt: skip
        with app.app_context():
            client_id = demo_registry.ensure(self.service).client_id
            secret = client_registry.rotate_secret(client_id)
        self.url, self.name = self.service.url, self.service.name
        self.app = create_service(
            name=self.service.name, issuer=issuer, client_id=client_id, client_secret=secret,
            scope=self.service.scope, description=self.service.description,
            api_scopes=self.service.api_scopes, ciba=self.service.ciba, kind=self.service.kind,
            **options,
        )  # fmt: skip
        self.server = None

    def start(self) -> DemoService:
        self.server = make_server("localhost", self.service.port, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def claims_shown(page) -> dict[str, str]:
    """What a demo service's page shows for each claim of the ID token it received, as the
    citizen reads it; once the page shows them (the click that led there may still be on
    its way: reading at once found nothing, now and then)."""
    expect(page.locator("#id-token")).to_be_visible()
    cells = page.locator("#id-token [data-claim]")
    return {cell.get_attribute("data-claim"): cell.inner_text() for cell in cells.all()}


@pytest.fixture
def demo_services(demo_site):
    """Serve demo services (`DemoService`, started) for the test, each stopped after it."""
    app, issuer = demo_site
    running: list[DemoService] = []

    def serve(template: demo_registry.DemoService, **options) -> DemoService:
        running.append(DemoService(app, issuer, template, **options).start())
        return running[-1]

    yield serve
    for served in running:
        served.stop()


@pytest.fixture
def demo_site(live_server):
    """A live Tillid with keys and the demo data (the demo citizen, TOTP enrolled; her son's
    custody ended, see `end_the_demo_childs_custody`)."""
    app, base_url = live_server
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    assert runner.invoke(args=["demo", "load", "--citizens", "0"]).exit_code == 0
    end_the_demo_childs_custody(runner)
    return app, base_url


def add_authenticator(page, autofill=False, **overrides):
    """A virtual platform authenticator. It answers the login page's autofill (conditional
    UI) request at once, as a citizen picking the passkey would; tests of the button turn
    autofill off, as in a browser without it."""
    if not autofill:
        page.add_init_script(
            "PublicKeyCredential.isConditionalMediationAvailable = async () => false;"
        )
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    options = {"protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
               "hasUserVerification": True, "isUserVerified": True,
               "automaticPresenceSimulation": True}  # fmt: skip
    options.update(overrides)
    return cdp, cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})[
        "authenticatorId"
    ]


@pytest.fixture
def phone(browser):
    """A second browser, on a phone: its own context and platform authenticator."""
    context = browser.new_context(
        user_agent="Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
        viewport={"width": 390, "height": 844},
    )
    page = context.new_page()
    add_authenticator(page)
    yield page
    context.close()


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


def oathtool_code(secret: str) -> str:
    """The current TOTP code from oathtool, an implementation independent of ours."""
    if not shutil.which("oathtool"):
        _unavailable("oathtool is not installed (Debian package oathtool)")
    result = subprocess.run(["oathtool", "--totp", "-b", secret], capture_output=True,
                            text=True, check=True, timeout=10)  # fmt: skip
    return result.stdout.strip()


def log_in_as_demo(page, code: str | None = None) -> None:
    """On the login page: the demo citizen's password, then the code from the app."""
    from demo import citizens as demo

    page.get_by_label("User ID").fill(demo.DEMO_USERNAME)
    page.get_by_label("Password").fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_label("Code from your authenticator app").fill(
        code or pyotp.TOTP(demo.DEMO_TOTP_SECRET).now()
    )
    page.get_by_role("button", name="Continue").click()


RECOVERY_CODE = re.compile(r"^[0-9a-f]{4}(?:-[0-9a-f]{4}){3}$")


def make_new_recovery_codes(page) -> list[str]:
    """On /me/security: make a new set of recovery codes as a citizen does (the question
    first, then the page that shows them) and read them once that page is there."""
    page.get_by_role("link", name="Make new recovery codes", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Make new recovery codes?")
    expect(page.get_by_text("stop working at once")).to_be_visible()
    page.get_by_role("button", name="Make new codes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    codes = page.locator("#recovery-codes li").all_text_contents()
    assert len(codes) == 10 and all(RECOVERY_CODE.match(code) for code in codes), codes
    return codes
