"""A relying party whose OIDC code nobody here wrote: Authlib's Flask client, live server.

The service (demo/service.py) discovers Tillid, sends the citizen with PKCE S256 and
a nonce, checks `iss`, redeems the code, validates the ID token against /jwks and calls
userinfo, all through Authlib. The citizen's browser is a `requests` session.
"""

from __future__ import annotations

import html
import json
import re
import threading
from urllib.parse import urljoin

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from werkzeug.serving import make_server

from demo.service import create_service
from tests.conftest import CitizenActions

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


@pytest.fixture
def relying_party(live_server):
    """Register a service with the live IdP and serve it on its own localhost port."""
    app, issuer = live_server
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    CitizenActions(app, app.test_client()).create(username="anna", password=PASSWORD)
    server = make_server("localhost", 0, lambda environ, start: [], threaded=True)
    base = f"http://localhost:{server.server_port}"

    def serve(scope: str, legal_basis: str, kind: str = "private_service", ui_locales=None):
        args = ["clients", "create", "--name", "Nordbank", "--kind", kind,
                "--redirect-uri", f"{base}/callback", "--scope", scope,
                "--post-logout-redirect-uri", f"{base}/",
                "--legal-basis", legal_basis, "--purpose", "To open your account"]  # fmt: skip
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
        registered = json.loads(result.stdout)
        server.app = create_service(name="Nordbank", issuer=issuer, scope=scope,
                                    client_id=registered["client_id"],
                                    client_secret=registered["client_secret"],
                                    ui_locales=ui_locales)  # fmt: skip
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return base

    yield issuer, serve
    server.shutdown()


def _follow(browser: requests.Session, url: str, stop_at: str) -> requests.Response:
    """Follow redirects by hand (so each hop can be checked) until a page at ``stop_at``."""
    for _ in range(10):
        response = browser.get(url, allow_redirects=False, timeout=10)
        if response.status_code != 302:
            assert response.url.startswith(stop_at), response.url
            return response
        url = urljoin(url, response.headers["Location"])
    raise AssertionError("too many redirects")


def _post_form(browser, page: requests.Response, data: dict) -> str:
    token = _CSRF.search(page.text).group(1)
    response = browser.post(page.url, data={"csrf_token": token, **data},
                            allow_redirects=False, timeout=10)  # fmt: skip
    assert response.status_code == 302, response.text[:500]
    return urljoin(page.url, response.headers["Location"])


def test_a_service_asking_for_danish_gets_a_danish_login_whatever_the_browser_says(
    relying_party,
):
    """The demo services of `make run` send ui_locales=da (OIDC Core 3.1.2.1) through Authlib:
    the login speaks Danish to a browser that prefers English, and offers English."""
    issuer, serve = relying_party
    service = serve("openid profile age", "consent", ui_locales="da")
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en-US,en;q=0.9"

    login_page = _follow(browser, f"{service}/login", f"{issuer}/login")
    assert '<html lang="da"' in login_page.text
    assert 'hreflang="en"' in login_page.text  # the switch to English on the page


def test_authlib_flask_client_logs_a_citizen_in(relying_party, live_server):
    app, _ = live_server
    issuer, serve = relying_party
    service = serve("openid profile age", "consent")
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en-GB"  # the service then speaks English, and asks for it

    after_login = log_in(app, browser, f"{service}/login", issuer)
    consent_page = _follow(browser, after_login, stop_at=f"{issuer}/authorize")
    assert "Share your information with Nordbank?" in consent_page.text
    callback = _post_form(browser, consent_page, {"decision": "allow"})
    assert callback.startswith(f"{service}/callback?") and "iss=" in callback

    home = _follow(browser, callback, stop_at=service)
    assert home.status_code == 200
    assert "What Nordbank received" in home.text
    userinfo = home.text.split('id="userinfo"')[1]
    assert "Anna Jensen" in userinfo and "age_over_18" in userinfo
    assert 'data-claim="birthdate"' not in home.text

    # Logging out of the service logs out of Tillid too (RP-initiated logout), and back.
    leaving = browser.post(f"{service}/logout", allow_redirects=False, timeout=10)
    confirm = _follow(browser, leaving.headers["Location"], stop_at=f"{issuer}/logout")
    assert _post_form(browser, confirm, {}) == f"{service}/"
    assert browser.get(f"{issuer}/me", allow_redirects=False, timeout=10).status_code == 302


def test_authlib_flask_client_is_told_when_the_citizen_says_no(relying_party, live_server):
    app, _ = live_server
    issuer, serve = relying_party
    service = serve("openid profile", "consent")
    browser = requests.Session()
    after_login = log_in(app, browser, f"{service}/login", issuer)
    consent_page = _follow(browser, after_login, stop_at=f"{issuer}/authorize")
    callback = _post_form(browser, consent_page, {"decision": "deny"})
    response = browser.get(callback, allow_redirects=False, timeout=10)
    assert response.status_code == 400
    assert "access_denied" in response.text


def log_in(app, browser: requests.Session, start_url: str, issuer: str) -> str:
    """Anna logs in as in a browser: password, then the code from her app. Returns the
    address the IdP sends her on to (the consent page, or back to the service)."""
    login_page = _follow(browser, start_url, stop_at=f"{issuer}/login")
    after_login = _post_form(browser, login_page, {"username": "anna", "password": PASSWORD,
                                                   "next": _next_of(login_page)})  # fmt: skip
    code_page = _follow(browser, after_login, stop_at=f"{issuer}/login/code")
    code = CitizenActions(app, app.test_client()).totp_code("anna")
    return _post_form(browser, code_page, {"otp": code, "next": _next_of(code_page)})


def _next_of(login_page: requests.Response) -> str:
    found = re.search(r'name="next" type="hidden" value="([^"]+)"', login_page.text).group(1)
    return html.unescape(found)


def test_authlib_flask_client_follows_a_key_rotation(relying_party, live_server):
    """OP-Rotation-OP-Sig: after `flask keys rotate` the service meets ID tokens signed with a
    key it has not cached, fetches /jwks again and accepts them."""
    app, _ = live_server
    issuer, serve = relying_party
    service = serve("openid profile", "consent")
    browser = requests.Session()
    after_login = log_in(app, browser, f"{service}/login", issuer)
    consent_page = _follow(browser, after_login, stop_at=f"{issuer}/authorize")
    first_kid = _id_token_kid(
        _follow(browser, _post_form(browser, consent_page, {"decision": "allow"}), stop_at=service)
    )
    rotated = app.test_cli_runner().invoke(args=["keys", "rotate", "--grace", "0"])
    assert rotated.exit_code == 0, rotated.output

    # Logged in and consented already: straight back to the service, with a new-key ID token.
    home = _follow(browser, f"{service}/login", stop_at=service)
    assert home.status_code == 200 and "Anna Jensen" in home.text
    second_kid = _id_token_kid(home)
    assert second_kid != first_kid
    assert second_kid in {key["kid"] for key in requests.get(f"{issuer}/jwks", timeout=10)
                          .json()["keys"]}  # fmt: skip


def _id_token_kid(home: requests.Response) -> str:
    found = re.search(r'data-id-token-kid="([^"]+)"', home.text)
    assert found, "the demo service shows which key signed the ID token"
    return found.group(1)


def test_authlib_client_in_either_secret_mode_on_one_default_registration(live_server):
    """One registration made the default way (client_secret_basic); Authlib's client set to
    client_secret_basic, then to client_secret_post, completes code + PKCE, refresh and
    client_credentials with it: the two secret methods are one."""
    app, issuer = live_server
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    CitizenActions(app, app.test_client()).create(username="anna", password=PASSWORD)
    redirect_uri, scope = "https://rp.example/callback", "openid profile offline_access"
    result = runner.invoke(args=[
        "clients", "create", "--name", "Nordbank", "--kind", "public_authority",
        "--redirect-uri", redirect_uri, "--scope", f"{scope} attributes:read",
        "--legal-basis", "public_task", "--purpose", "To assess your tax",
        "--grant-type", "authorization_code", "--grant-type", "refresh_token",
        "--grant-type", "client_credentials",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    registered = json.loads(result.stdout)
    metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    for method in ("client_secret_basic", "client_secret_post"):
        rp = OAuth2Session(registered["client_id"], registered["client_secret"], scope=scope,
                           redirect_uri=redirect_uri, code_challenge_method="S256",
                           token_endpoint_auth_method=method)  # fmt: skip
        verifier = generate_token(48)
        url, _ = rp.create_authorization_url(metadata["authorization_endpoint"],
                                             code_verifier=verifier, nonce=generate_token(),
                                             prompt="consent")  # fmt: skip
        browser = requests.Session()
        consent_page = _follow(browser, log_in(app, browser, url, issuer), f"{issuer}/authorize")
        callback = _post_form(browser, consent_page, {"decision": "allow"})
        token = rp.fetch_token(metadata["token_endpoint"], authorization_response=callback,
                               code_verifier=verifier)  # fmt: skip
        assert token["id_token"] and token["refresh_token"], (method, token)
        refreshed = rp.refresh_token(metadata["token_endpoint"], token["refresh_token"])
        assert refreshed["refresh_token"] != token["refresh_token"], method
        service = rp.fetch_token(metadata["token_endpoint"], grant_type="client_credentials",
                                 scope="attributes:read")  # fmt: skip
        assert service["scope"] == "attributes:read", (method, service)
