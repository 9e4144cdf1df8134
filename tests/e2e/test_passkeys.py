"""Passkeys in real Chromium with the DevTools virtual authenticator: a platform
authenticator with user verification, as a phone's fingerprint or a laptop's face unlock
looks to the server (shared/recipes/webauthn-playwright.md)."""

from __future__ import annotations

import json
import threading
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from idp.authenticators.models import Authenticator, AuthenticatorKind
from idp.core.extensions import db, store
from tests.e2e.conftest import add_authenticator, csp_violations, log_in_as_demo
from tests.oidc.conftest import pkce

HIGH = "https://data.gov.dk/concept/core/nsis/loa/High"
SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"


def register_passkey(page, base_url, name="Min laptop"):
    """The demo citizen logs in (password and code) and adds a passkey on /me/security."""
    page.goto(f"{base_url}/me/security")
    log_in_as_demo(page)
    expect(page.get_by_role("heading", level=1)).to_have_text("How you log in")
    page.get_by_role("link", name="Add a passkey").click()
    page.get_by_label("Name for a new passkey").fill(name)
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.get_by_role("status")).to_contain_text(f"Your passkey “{name}” is set up.")


def log_out(page, base_url):
    page.goto(f"{base_url}/logout")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are logged out")


def passkey_rows(app) -> list[Authenticator]:
    with app.app_context():
        rows = db.session.scalars(
            select(Authenticator).where(Authenticator.kind == AuthenticatorKind.WEBAUTHN)
        ).all()
        db.session.expunge_all()
        return rows


def test_register_a_passkey_then_log_in_without_a_user_id(demo_site, page):
    app, base_url = demo_site
    violations = csp_violations(page)
    add_authenticator(page)
    register_passkey(page, base_url)
    expect(page.get_by_text("No, it stays on one device")).to_be_visible()
    (passkey,) = passkey_rows(app)
    assert passkey.name == "Min laptop" and passkey.backup_eligible is False
    assert passkey.transports == ["internal"] and passkey.aaguid
    log_out(page, base_url)

    page.goto(f"{base_url}/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ida")
    assert passkey_rows(app)[0].sign_count >= 1
    assert violations == []


def test_a_security_key_registers_and_logs_in_too(demo_site, page):
    app, base_url = demo_site
    add_authenticator(page, transport="usb")  # a FIDO2 key with a PIN, plugged in
    register_passkey(page, base_url, name="YubiKey")
    (key,) = passkey_rows(app)
    assert key.transports == ["usb"] and key.backup_eligible is False
    log_out(page, base_url)
    page.goto(f"{base_url}/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ida")


def test_the_login_page_offers_the_passkey_in_the_user_id_autofill(demo_site, page):
    _, base_url = demo_site
    add_authenticator(page, autofill=True)
    register_passkey(page, base_url)
    log_out(page, base_url)
    # Read the page as served, over the browser's own connection and cookies but outside the
    # tab: the autofill may log in and navigate away before the tab's answer could be read.
    served = page.request.get(f"{base_url}/login")
    assert 'autocomplete="username webauthn"' in served.text()
    page.goto(f"{base_url}/login")
    # The virtual authenticator answers the conditional request as the citizen would.
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ida")


def test_username_first_with_the_wrong_user_id_is_refused(demo_site, page):
    _, base_url = demo_site
    add_authenticator(page)
    register_passkey(page, base_url)
    log_out(page, base_url)
    page.goto(f"{base_url}/login")
    page.get_by_label("User ID").fill("someone-else")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.locator('[data-passkey-status="login"]')).to_contain_text(
        "not for the user ID you typed"
    )
    page.get_by_label("User ID").fill("DEMO")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ida")


def test_the_server_refuses_a_login_without_user_verification(demo_site, page):
    """A hostile page could ask the authenticator not to verify the user; Chromium then
    answers with UV=0, and the server must refuse (the biometric is the second factor)."""
    _, base_url = demo_site
    cdp, authenticator = add_authenticator(page)
    register_passkey(page, base_url)
    log_out(page, base_url)
    cdp.send("WebAuthn.setUserVerified",
             {"authenticatorId": authenticator, "isUserVerified": False})  # fmt: skip

    def no_verification(route):
        options = route.fetch().json()
        options["userVerification"] = "discouraged"
        route.fulfill(json=options)

    page.route("**/login/passkey/options", no_verification)
    page.goto(f"{base_url}/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.locator('[data-passkey-status="login"]')).to_contain_text("not accepted")
    page.goto(f"{base_url}/me")
    expect(page).to_have_url(f"{base_url}/login?next=/me")


def test_a_sign_count_that_goes_back_blocks_the_passkey(demo_site, page):
    app, base_url = demo_site
    cdp, authenticator = add_authenticator(page)
    register_passkey(page, base_url)
    (credential,) = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
        "credentials"
    ]
    log_out(page, base_url)
    page.goto(f"{base_url}/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ida")
    log_out(page, base_url)

    # A copy of the key as it was at registration: its counter is behind the real one's.
    cdp.send("WebAuthn.removeCredential", {"authenticatorId": authenticator,
                                           "credentialId": credential["credentialId"]})  # fmt: skip
    cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": {
        **credential, "signCount": 0}})  # fmt: skip
    page.goto(f"{base_url}/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.locator('[data-passkey-status="login"]')).to_contain_text("went backwards")
    assert passkey_rows(app)[0].suspect_at is not None
    page.get_by_role("button", name="Log in with a passkey").click()  # blocked from now on
    expect(page.locator('[data-passkey-status="login"]')).to_contain_text("blocked")


def test_an_expired_challenge_is_refused(demo_site, page):
    app, base_url = demo_site
    add_authenticator(page)
    register_passkey(page, base_url)
    log_out(page, base_url)

    def expire_then_verify(route):
        """Between options and answer, the five minutes pass: the challenge is gone."""
        with app.app_context():
            for key in store.redis.scan_iter(store.key("webauthn-challenge", "*")):
                store.redis.delete(key)
        route.continue_()

    page.route("**/login/passkey/verify", expire_then_verify)
    page.goto(f"{base_url}/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.locator('[data-passkey-status="login"]')).to_contain_text("has expired")


def test_the_server_checks_the_origin(demo_site, page):
    app, base_url = demo_site
    add_authenticator(page)
    register_passkey(page, base_url)
    log_out(page, base_url)
    app.config["WEBAUTHN_ORIGIN"] = "https://login.example.dk"  # where passkeys now belong
    page.goto(f"{base_url}/login")
    page.get_by_role("button", name="Log in with a passkey").click()
    expect(page.locator('[data-passkey-status="login"]')).to_contain_text("origin")


def _activate_with_a_first_passkey(app, page, base_url) -> None:
    """The pending demo citizen (Oskar) activates with the letter and sets up a passkey as
    his first second factor: bound by the letter's identity proofing, it reaches High."""
    from demo import citizens as demo

    letter = app.test_cli_runner().invoke(args=["citizens", "activation-code",
                                                demo.PENDING_DEMO_CPR])  # fmt: skip
    assert letter.exit_code == 0, letter.output
    page.goto(f"{base_url}/activate")
    page.get_by_label("CPR number").fill(demo.PENDING_DEMO_CPR)
    page.get_by_label("Activation code").fill(json.loads(letter.stdout)["activation_code"])
    page.get_by_label("Choose a user ID").fill("oskar")
    page.get_by_label("Choose a password").fill("a long enough password")
    page.get_by_label("Repeat the password").fill("a long enough password")
    page.get_by_role("button", name="Activate").click()
    page.get_by_label("User ID").fill("oskar")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")
    page.get_by_label("Name for the passkey").fill("Min laptop")
    page.get_by_role("button", name="Set up a passkey").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    page.get_by_role("button", name="I have saved them, continue").click()


def _ask_for_high(app, page, base_url, received) -> tuple[dict, str]:
    """A public authority asks for NSIS High; the registered service and its PKCE verifier."""
    rp = make_server("localhost", 0, Request.application(
        lambda request: received.append(request.args.to_dict()) or Response("Got it")
    ), threaded=True)  # fmt: skip
    threading.Thread(target=rp.serve_forever, daemon=True).start()
    callback = f"http://localhost:{rp.server_port}/cb"
    created = json.loads(app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Sundhed", "--kind", "public_authority",
        "--redirect-uri", callback, "--scope", "openid profile",
        "--legal-basis", "public_task", "--purpose", "To show your health records",
    ]).stdout)  # fmt: skip
    created["redirect_uri"], created["server"] = callback, rp
    verifier, challenge = pkce()
    page.goto(f"{base_url}/authorize?" + urlencode({
        "response_type": "code", "client_id": created["client_id"], "redirect_uri": callback,
        "scope": "openid profile", "state": "s1", "nonce": "n1", "acr_values": HIGH,
        "code_challenge": challenge, "code_challenge_method": "S256",
    }))  # fmt: skip
    return created, verifier


def test_a_service_asking_for_high_gets_a_step_up_with_the_device_bound_passkey(demo_site, page):
    app, base_url = demo_site
    add_authenticator(page)
    _activate_with_a_first_passkey(app, page, base_url)
    received = []
    created, verifier = _ask_for_high(app, page, base_url, received)
    try:
        # The passkey's setup opened a Substantial session: High needs the passkey itself.
        expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
        expect(page.get_by_label("Code from your authenticator app")).to_have_count(0)
        page.get_by_role("button", name="Use a passkey").click()
        page.get_by_role("button", name="Continue").click()  # told what Sundhed receives
        expect(page.get_by_text("Got it")).to_be_visible()
        code = parse_qs(urlsplit(page.url).query)["code"][0]
        tokens = requests.post(f"{base_url}/token", data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": created["redirect_uri"], "code_verifier": verifier,
        }, auth=(created["client_id"], created["client_secret"]), timeout=10).json()  # fmt: skip
        keys = KeySet.import_key_set(requests.get(f"{base_url}/jwks", timeout=10).json())
        claims = jwt.decode(tokens["id_token"], keys).claims
        assert claims["acr"] == HIGH
        assert {"hwk", "user", "mfa"} <= set(claims["amr"])
    finally:
        created["server"].shutdown()


def test_a_passkey_added_from_a_substantial_session_never_reaches_high(demo_site, page):
    """NIST SP 800-63B's binding rule: Ida logged in with password and code (Substantial)
    adds a device-bound passkey; a service asking for High is told it cannot be had."""
    app, base_url = demo_site
    add_authenticator(page)
    register_passkey(page, base_url)
    assert [p.bound_level for p in passkey_rows(app)] == [SUBSTANTIAL]
    received = []
    created, _verifier = _ask_for_high(app, page, base_url, received)
    try:
        expect(page.get_by_text("Got it")).to_be_visible()
        assert received[0]["error"] == "unmet_authentication_requirements", received
    finally:
        created["server"].shutdown()
