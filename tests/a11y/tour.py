"""The tour of Tillid's pages a citizen meets, each in its state, for the axe checks
(tests/a11y/test_axe.py) and the screenshots (docs/screenshots/take.py).

``serve(app)`` runs a Tillid (keys, the demo citizen) with three demo services beside it;
``prepare()`` gives the demo citizen a paired phone, a consent and a few entries in the
access log, all by real logins; ``visit()`` walks one browser context (a language, a width)
through every page and yields each one, ready to check or photograph.

Selectors name form fields and actions (input names, form actions, button values), not
texts, so the tour works in Danish and English and whatever the design.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode, urlsplit

import pyotp
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from clients import service as client_registry
from demo import citizens as demo
from demo import registry as demo_registry
from demo.service import create_service
from idp.core.extensions import db, store
from tests.e2e.conftest import end_the_demo_childs_custody

LANGUAGES = ("da", "en")
LOCALES = {"da": "da-DK", "en": "en-GB"}  # the browser's Accept-Language
WIDTHS = {"phone": 375, "desktop": 1280}

# The app's settings for a tour: Danish by default, as Tillid ships; limits that one
# source (this machine) logging in a few dozen times a minute would otherwise reach.
CONFIG = {
    "DEFAULT_LANGUAGE": "da",
    "LOGIN_RATE_LIMIT": "1000 per minute",
    "LOCKOUT_THRESHOLD": 1000,
    "PHONE_REQUEST_RATE_LIMIT": 1000,
}

# The bank the citizen has said yes to (in the access log), and one still asking.
ASKING_BANK = dataclasses.replace(
    demo_registry.BANK,
    name="Andelskassen (demo)",
    description="A private service that has not asked the citizen before.",
    port=5003,
    sector="andelskassen.example",
)
# An authority the citizen has not met: its notice (no consent asked) shows until they go on.
NEW_AUTHORITY = dataclasses.replace(
    demo_registry.TAX,
    name="Udbetaling Danmark (demo)",
    purpose="To pay out your benefits",
    description="A public authority the citizen has not used Tillid with before.",
    port=5004,
    sector="udbetaling-danmark.example",
)
PHONE_USER_AGENT = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


@dataclasses.dataclass
class Site:
    app: object
    base_url: str
    # Each demo service (by its name in demo.registry) -> (its URL, its client_id).
    services: dict[str, tuple[str, str]]

    def url(self, path: str) -> str:
        return self.base_url + path

    def authorize_url(self, service: demo_registry.DemoService, **extra) -> str:
        """An authorization request as the service makes it (PKCE S256, state, nonce)."""
        url, client_id = self.services[service.name]
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": f"{url}/callback",
            "scope": service.scope,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
            **extra,
        }
        return self.url("/authorize?" + urlencode(query))


def _listen(template: demo_registry.DemoService):
    """A server for a demo service: on its own port when that is free, else on another."""
    try:
        return make_server("localhost", template.port, None, threaded=True), template
    except (OSError, SystemExit):  # werkzeug exits when the port is taken
        service = dataclasses.replace(template, port=free_port())
        return make_server("localhost", service.port, None, threaded=True), service


def _registered(service: demo_registry.DemoService) -> str:
    """The service's client_id, registered as `demo load` does; on another port than its
    own, its registration (in this throwaway instance) follows it there."""
    client = demo_registry.ensure(service)
    if client.redirect_uris != [f"{service.url}/callback"]:
        client.redirect_uris = [f"{service.url}/callback"]
        client.post_logout_redirect_uris = [f"{service.url}/"]
        db.session.commit()
    return client.client_id


def _serve_in_thread(wsgi_app, port: int = 0):
    server = make_server("localhost", port, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


@contextmanager
def serve(app) -> Iterator[Site]:
    """Serve ``app`` (migrated, empty) with keys, the demo citizen and the demo services."""
    server, thread = _serve_in_thread(app)
    base_url = f"http://localhost:{server.server_port}"
    app.config["ISSUER"] = base_url
    runner = app.test_cli_runner()
    for args in (["keys", "ensure"], ["demo", "load", "--citizens", "0"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    end_the_demo_childs_custody(runner)  # the tour's logins at the authority are her own
    services, servers = {}, [(server, thread)]
    for template in (demo_registry.TAX, demo_registry.BANK, ASKING_BANK, NEW_AUTHORITY):
        rp_server, service = _listen(template)
        with app.app_context():
            client_id = _registered(service)
            secret = client_registry.rotate_secret(client_id)
        rp_server.app = create_service(
            name=service.name,
            issuer=base_url,
            client_id=client_id,
            client_secret=secret,
            scope=service.scope,
            description=service.description,
            api_scopes=service.api_scopes,
            ciba=service.ciba,
            kind=service.kind,
        )
        worker = threading.Thread(target=rp_server.serve_forever, daemon=True)
        worker.start()
        servers.append((rp_server, worker))
        services[template.name] = (service.url, client_id)
    try:
        yield Site(app, base_url, services)
    finally:
        for running, worker in servers:
            running.shutdown()
            worker.join(timeout=5)


def _submit(page, form: str) -> None:
    """Send the form matched by ``form`` (a CSS selector) with its submit button."""
    button = page.locator(f"{form} [type=submit]").first
    if not button.count():
        raise AssertionError(f"no form {form!r} on {page.url}:\n{page.inner_text('body')[:600]}")
    with page.expect_navigation():
        button.click()


def log_in_with_password(page, password: str = demo.DEMO_PASSWORD) -> None:
    page.locator("input[name=username]").fill(demo.DEMO_USERNAME)
    page.locator("input[name=password]").fill(password)
    _submit(page, "form:has(input[name=password])")


def new_phone(browser):
    """The citizen's phone: its own context, with a platform authenticator (fingerprint)."""
    from tests.e2e.conftest import add_authenticator

    context = browser.new_context(
        user_agent=PHONE_USER_AGENT, viewport={"width": 375, "height": 800}, locale="da-DK"
    )
    phone = context.new_page()
    add_authenticator(phone)
    return phone


def prepare(browser, site: Site, phone) -> None:
    """By real logins: the demo citizen pairs ``phone``, logs in at the tax authority and
    says yes to the bank, so the portal has a phone, a consent and signed access-log entries."""
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    try:
        page.goto(site.url("/login?next=/me/security"))
        log_in_with_password(page)
        page.locator("input[name=otp]").fill(pyotp.TOTP(demo.DEMO_TOTP_SECRET).now())
        _submit(page, "form:has(input[name=otp])")
        _submit(page, "form[action$='/me/security/phone']")
        phone.goto(page.locator("#pairing-link").get_attribute("href"))
        phone.locator("#phone-name").fill("Idas Pixel")
        phone.locator("button[data-phone=pair]").click()
        phone.wait_for_url("**/app")
        for service in (demo_registry.TAX, demo_registry.BANK):
            url = site.services[service.name][0]
            page.goto(url)
            with page.expect_navigation():
                page.locator("a[href='/login']").click()
            with page.expect_navigation(url=f"{url}/**"):
                page.locator("button[name=decision][value=allow]").click()
    finally:
        context.close()
    _mandates(site)
    # Signed into a checkpoint, as a worker's integrator does within LEDGER_INTEGRATE_SECONDS
    # (this server runs none): the access log shows its entries verified, not pending.
    assert site.app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0


# Another citizen, for the mandate pages: the demo citizen gave her a mandate, and she gave
# the demo citizen one; both wait to be accepted (the tour only looks, it accepts nothing).
# The demo citizen is also her guardian, for the page asking whom she logs in as.
MANDATE_CPR, MANDATE_GIVEN, MANDATE_FAMILY = "0806754321", "Karen", "Tour-Nielsen"


def _mandates(site: Site) -> None:
    import datetime as dt

    from idp.citizens.service import find_by_cpr
    from idp.mandates import service as mandates

    result = site.app.test_cli_runner().invoke(args=[
        "citizens", "create", "--cpr", MANDATE_CPR,
        "--given-name", MANDATE_GIVEN, "--family-name", MANDATE_FAMILY,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    with site.app.app_context():
        ida = find_by_cpr(demo.DEMO_CPR)
        karen = find_by_cpr(MANDATE_CPR)
        mandates.grant(ida, MANDATE_CPR, f"{MANDATE_GIVEN} {MANDATE_FAMILY}",
                       attributes=["name", "address"], valid_until=until,
                       service_kind="public_authority")  # fmt: skip
        mandates.grant(karen, demo.DEMO_CPR, ida.full_name, attributes=["name"],
                       valid_until=until)  # fmt: skip
        # And a guardianship over Karen, in force at once: logging in at the demo tax
        # authority, the demo citizen is asked whom she logs in as (the "act-for" stop).
        mandates.appoint(karen, ida, attributes=["name"], service_kind="public_authority")


def visit(browser, site: Site, phone, language: str, width: int) -> Iterator[tuple[str, object]]:
    """Walk a new browser context (Accept-Language ``language``, ``width`` px) through the
    pages; yield (stop name, page) at each, the page (or the phone's) in that state."""
    context = browser.new_context(
        locale=LOCALES[language], viewport={"width": width, "height": 900}
    )
    page = context.new_page()
    try:
        yield from _logged_out(site, page)
        yield from _forgotten_password(site, page, phone, language, width)
        yield from _phone_login(site, page, phone, language, width)
        yield from _logged_in(site, page)
    finally:
        context.close()


def _logged_out(site: Site, page) -> Iterator[tuple[str, object]]:
    page.goto(site.url("/login"))
    yield "login", page
    log_in_with_password(page, password="not the password")
    yield "login-error", page
    page.goto(site.url("/activate"))
    yield "activate", page
    _submit(page, "form:has(input[name=password])")
    yield "activate-error", page
    page.goto(site.url("/no-such-page"))
    yield "error-404", page
    page.goto(site.url("/authorize?client_id=no-such-service"))
    yield "error-400", page
    # A login for a service: its name, three steps and the way back to it.
    page.goto(site.authorize_url(ASKING_BANK))
    yield "service-login", page
    page.goto(site.url("/login"))
    log_in_with_password(page)  # the password only: the second step is next
    yield "second-factor", page
    page.goto(site.url("/login/recovery"))
    yield "recovery", page
    page.context.clear_cookies()  # a fresh start, for the login with the phone


def _approve_on_phone(site: Site, page, phone, language: str, width: int):
    """The phone, in the tour's language and width, shows the request the browser waits for
    with the browser's code among its choices: yields it, then picks that code."""
    code = page.locator("#binding-code").text_content().strip()
    phone.set_viewport_size({"width": width, "height": 800})
    # The phone may still show /app from an earlier approval, whose poll reloads it when the
    # new request comes: a goto at that moment is aborted by the reload. Go again then.
    for attempt in range(3):
        try:
            phone.goto(site.url(f"/language/{language}?next=/app"))
            break
        except PlaywrightError as exc:
            if "ERR_ABORTED" not in str(exc) or attempt == 2:
                raise
    phone.locator(f"button[data-code='{code}']").wait_for()
    yield phone
    phone.locator(f"button[data-code='{code}']").click()


def _forgotten_password(site: Site, page, phone, language: str, width: int):
    """A forgotten password: the user ID, the ways to prove it, the phone's approval and the
    new password's page (left without saving: the demo citizen keeps her password); the
    recovery letter's page."""
    page.goto(site.url("/login/forgot"))
    yield "forgot", page
    page.locator("input[name=username]").fill(demo.DEMO_USERNAME)
    _submit(page, "form:has(input[name=username])")
    yield "forgot-prove", page
    _submit(page, "form:has(input[name=recovery_code])")
    yield "forgot-prove-error", page
    _submit(page, "form[action$='/login/forgot/phone']")
    yield "forgot-phone-wait", page
    for shown in _approve_on_phone(site, page, phone, language, width):
        yield "forgot-phone-app", shown
    page.wait_for_url(lambda url: urlsplit(url).path == "/login/forgot/new-password",
                      timeout=20000)  # fmt: skip
    yield "forgot-new-password", page
    page.locator("input[name=password]").fill("lantern meadow quietly")
    _submit(page, "form:has(input[name=password_confirm])")
    yield "forgot-new-password-error", page
    page.goto(site.url("/login/forgot/letter"))
    yield "forgot-letter", page
    _submit(page, "form:has(input[name=activation_code])")
    yield "forgot-letter-error", page
    page.context.clear_cookies()


def _phone_login(site: Site, page, phone, language: str, width: int):
    page.goto(site.url("/login/app"))
    yield "phone-login", page
    page.locator("input[name=username]").fill(demo.DEMO_USERNAME)
    _submit(page, "form:has(input[name=username])")
    yield "phone-wait", page
    for shown in _approve_on_phone(site, page, phone, language, width):
        yield "phone-app", shown
    # The browser goes on by itself once the phone has approved.
    page.wait_for_url(lambda url: urlsplit(url).path == "/me", timeout=20000)


def _logged_in(site: Site, page) -> Iterator[tuple[str, object]]:
    portal = [("me", "/me"), ("sessions", "/me/sessions"), ("consents", "/me/consents"),
              ("access-log", "/me/access-log"), ("security", "/me/security"),
              ("enrol-totp", "/me/security/totp"), ("enrol-passkey", "/me/security/passkey"),
              ("change-password", "/me/security/password"),
              ("wallet", "/me/wallet"), ("wallet-offer", "/me/wallet/offer"),
              ("mandates", "/me/mandates"), ("mandate-new", "/me/mandates/new"),
              ("new-recovery-codes", "/me/security/recovery-codes/new")]  # fmt: skip
    for name, path in portal:
        page.goto(site.url(path))
        yield name, page
        if name == "consents":
            # Withdrawing asks first: the question, naming the service (nothing withdrawn).
            page.locator("#consents a[href$='/withdraw']").first.click()
            page.wait_for_url("**/withdraw")
            yield "withdraw-consent", page
        if name == "mandates":
            # Accepting and ending ask first: the questions (nothing accepted or ended).
            for stop, link in (("mandate-accept", "#held a[href$='/accept']"),
                               ("mandate-end", "#given a[href$='/end']")):  # fmt: skip
                page.goto(site.url(path))
                page.locator(link).first.click()
                page.wait_for_url(f"**/{stop.removeprefix('mandate-')}")
                yield stop, page
        if name == "mandate-new":
            # Sent empty: the form with its errors (nothing given).
            _submit(page, "form[action$='/me/mandates/new']")
            yield "mandate-new-error", page
    _submit(page, "form[action$='/me/security/recovery-codes/new']")
    yield "recovery-codes", page
    _submit(page, "form[action$='/me/security/recovery-codes/saved']")
    page.goto(site.url("/me/security/recovery-codes"))
    yield "recovery-codes-shown", page
    # The access log's filters in error (From after To): the form with its errors.
    page.goto(site.url("/me/access-log?from=2026-05-02&to=2026-05-01"))
    yield "access-log-error", page
    page.goto(site.url("/me/security/password"))
    _submit(page, "form:has(input[name=current_password])")
    yield "change-password-error", page
    yield from _session_warning(site, page)
    page.goto(site.url("/me/security"))
    _submit(page, "form[action$='/me/security/phone']")
    yield "pair-phone", page
    page.goto(site.authorize_url(ASKING_BANK))
    yield "consent", page
    page.goto(site.authorize_url(NEW_AUTHORITY))
    yield "notice", page
    # The tax authority accepts representation: whom she logs in as (nothing chosen).
    page.goto(site.authorize_url(demo_registry.TAX))
    page.locator("#act-for").wait_for()
    yield "act-for", page
    yield from _demo_service(site, page)
    # A service asking for NSIS High: the step-up asks for a passkey on this device.
    page.goto(site.url("/login/code?need=high&next=/me"))
    yield "step-up", page
    # Long after the last second factor: a sensitive change asks to confirm it first.
    _age_second_factor(site, page)
    page.goto(site.url("/me/security/recovery-codes/new"))
    yield "confirm", page
    page.goto(site.url("/logout"))
    yield "logout", page
    _submit(page, "main form[action$='/logout']")
    yield "logged-out", page


def _age_second_factor(site: Site, page) -> None:
    """Move the session's last second factor an hour back, as if the citizen had left the
    computer then (what the store holds for this browser's session)."""
    (cookie,) = [c for c in page.context.cookies() if c["name"].endswith("tillid_sso")]
    with site.app.app_context():
        key = store.key("sso", hashlib.sha256(cookie["value"].encode()).hexdigest())
        held = json.loads(store.redis.get(key))
        held["second_factor_at"] -= 60 * 60
        store.redis.set(key, json.dumps(held), ex=store.redis.ttl(key))


def _demo_service(site: Site, page) -> Iterator[tuple[str, object]]:
    """The bank's own pages: before the login, after it (what it received; the citizen said
    yes in prepare()), and its page for a login it cannot match to this browser."""
    bank = site.services[demo_registry.BANK.name][0]
    page.goto(bank)
    yield "service", page
    with page.expect_navigation(url=f"{bank}/"):
        page.locator("a[href='/login']").click()
    yield "service-received", page
    page.goto(f"{bank}/callback?" + urlencode({"iss": site.base_url, "state": "x", "code": "y"}))
    yield "service-error", page


def _session_warning(site: Site, page) -> Iterator[tuple[str, object]]:
    """The warning before the session times out, open on the access log: a page of its own
    whose clock the tour moves on to 90 seconds before the idle end."""
    warned = page.context.new_page()
    try:
        warned.clock.install()
        warned.goto(site.url("/me/access-log"))
        idle = site.app.config["SESSION_IDLE_TIMEOUT"]
        warned.clock.fast_forward((idle - 90) * 1000)
        warned.locator("dialog[data-session-timeout][open]").wait_for()
        yield "session-warning", warned
    finally:
        warned.close()
