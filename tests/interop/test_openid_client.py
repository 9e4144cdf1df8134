"""Node's openid-client v6 (a certified relying-party library) against a live Tillid:
discovery, code + PKCE, iss and ID-token checks, userinfo, refresh, revocation and logout.

`make test` installs it from the committed lock file (npm ci); without Node the test skips,
unless REQUIRE_E2E=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.conftest import CitizenActions
from tests.interop.test_authlib_client import PASSWORD, _follow, _next_of, _post_form, log_in

HERE = Path(__file__).parent / "openid-client"
REDIRECT = "https://rp.example/callback"  # never visited: the test hands the URL to the RP
GOODBYE = "https://rp.example/goodbye"
LOW = "https://data.gov.dk/concept/core/nsis/loa/Low"
SUBSTANTIAL = "https://data.gov.dk/concept/core/nsis/loa/Substantial"


def _node_ready():
    if shutil.which("node") and (HERE / "node_modules" / "openid-client").is_dir():
        return
    reason = "Node and openid-client are needed (make test runs npm ci in tests/interop)"
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but {reason}")
    pytest.skip(reason)


def _register(app, scope: str) -> dict:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    CitizenActions(app, app.test_client()).create(username="anna", password=PASSWORD)
    result = runner.invoke(args=[
        "clients", "create", "--name", "Node bank", "--kind", "private_service",
        "--redirect-uri", REDIRECT, "--scope", scope, "--legal-basis", "consent",
        "--purpose", "To open your account",
        "--grant-type", "authorization_code", "--grant-type", "refresh_token",
        "--post-logout-redirect-uri", GOODBYE,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_openid_client_completes_the_code_flow(live_server):
    _node_ready()
    app, issuer = live_server
    scope = "openid profile age offline_access"
    registered = _register(app, scope)
    rp = subprocess.Popen(
        ["node", str(HERE / "flow.mjs"), issuer, registered["client_id"],
         registered["client_secret"], REDIRECT, scope],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = json.loads(rp.stdout.readline())
        assert "authorization_url" in first, first
        browser = requests.Session()
        after_login = log_in(app, browser, first["authorization_url"], issuer)
        consent_page = _follow(browser, after_login, stop_at=f"{issuer}/authorize")
        callback = _post_form(browser, consent_page, {"decision": "allow"})
        assert callback.startswith(REDIRECT)
        rp.stdin.write(callback + "\n")
        rp.stdin.flush()
        result = json.loads(rp.stdout.readline())
        if "end_session_url" in result:  # RP-initiated logout, as openid-client builds it
            confirm = _follow(browser, result["end_session_url"], stop_at=f"{issuer}/logout")
            result["back_after_logout"] = _post_form(browser, confirm, {})
    finally:
        rp.stdin.close()
        rp.wait(timeout=30)
    assert "error" not in result, (result, rp.stderr.read())
    claims, userinfo = result["id_token_claims"], result["userinfo"]
    assert claims["iss"] == issuer and claims["aud"] == registered["client_id"]
    assert claims["acr"] == "https://data.gov.dk/concept/core/nsis/loa/Substantial"
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["name"] == "Anna Jensen" and userinfo["age_over_18"] is True
    # Refresh (rotated), then revocation: the revoked refresh token no longer works.
    assert result["refreshed_userinfo"]["sub"] == claims["sub"]
    assert result["rotated"] is True
    assert result["after_revocation"] == "invalid_grant"
    # Logout through the end_session URL openid-client built: back with state, session over.
    assert result["back_after_logout"] == f"{GOODBYE}?state=bye-state"


def test_openid_client_sees_a_step_up_from_low_to_substantial(live_server):
    """The service first asks for Low (a password is enough), then for Substantial: the
    citizen is asked only for the code, and the second ID token says Substantial."""
    _node_ready()
    app, issuer = live_server
    scope = "openid profile"
    registered = _register(app, scope)
    levels = [LOW, SUBSTANTIAL]
    rp = subprocess.Popen(
        ["node", str(HERE / "step_up.mjs"), issuer, registered["client_id"],
         registered["client_secret"], REDIRECT, scope, json.dumps(levels)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    browser = requests.Session()
    try:
        first = json.loads(rp.stdout.readline())
        login_page = _follow(browser, first["authorization_url"], stop_at=f"{issuer}/login")
        after_login = _post_form(browser, login_page, {"username": "anna", "password": PASSWORD,
                                                       "next": _next_of(login_page)})  # fmt: skip
        consent_page = _follow(browser, after_login, stop_at=f"{issuer}/authorize")
        _answer(rp, _post_form(browser, consent_page, {"decision": "allow"}))
        low = json.loads(rp.stdout.readline())

        second = json.loads(rp.stdout.readline())
        code_page = _follow(browser, second["authorization_url"], stop_at=f"{issuer}/login/code")
        code = CitizenActions(app, app.test_client()).totp_code("anna")
        _answer(rp, _follow_to_callback(browser, _post_form(
            browser, code_page, {"otp": code, "next": _next_of(code_page)})))  # fmt: skip
        substantial = json.loads(rp.stdout.readline())
    finally:
        rp.stdin.close()
        rp.wait(timeout=30)
    assert "error" not in low and "error" not in substantial, (low, substantial, rp.stderr.read())
    assert low["id_token_claims"]["acr"] == LOW and low["id_token_claims"]["amr"] == ["pwd"]
    stepped = substantial["id_token_claims"]
    assert stepped["acr"] == SUBSTANTIAL and stepped["amr"] == ["pwd", "otp", "mfa"]
    assert stepped["sub"] == low["id_token_claims"]["sub"]


def _answer(rp, callback: str) -> None:
    assert callback.startswith(REDIRECT), callback
    rp.stdin.write(callback + "\n")
    rp.stdin.flush()


def _follow_to_callback(browser: requests.Session, url: str) -> str:
    """Follow the IdP's redirects until they leave for the service's redirect URI."""
    for _ in range(10):
        if url.startswith(REDIRECT):
            return url
        response = browser.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 302, (url, response.status_code)
        url = urljoin(url, response.headers["Location"])
    raise AssertionError("too many redirects")
