"""Node's openid-client v6 (a certified relying-party library) against a live Tillid:
discovery, code + PKCE, iss and ID-token checks, userinfo, refresh, revocation and logout.

`make test` installs it from the committed lock file (npm ci); without Node the test skips,
unless REQUIRE_E2E=1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import requests

from tests.conftest import CitizenActions, sql
from tests.interop import node
from tests.interop.test_authlib_client import PASSWORD, _follow, _post_form, log_in

HERE = Path(__file__).parent / "openid-client"
REDIRECT = "https://rp.example/callback"  # never visited: the test hands the URL to the RP
GOODBYE = "https://rp.example/goodbye"


def _node_ready():
    node.require("openid-client", "openid-client")


def _register(app, scope: str, *, kind="private_service", legal_basis="consent",
              grants=("authorization_code", "refresh_token")) -> dict:  # fmt: skip
    """A registration made the default way (`flask clients create`, no --auth-method)."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    CitizenActions(app, app.test_client()).create(username="anna", password=PASSWORD)
    result = runner.invoke(args=[
        "clients", "create", "--name", "Node bank", "--kind", kind,
        "--redirect-uri", REDIRECT, "--scope", scope, "--legal-basis", legal_basis,
        "--purpose", "To open your account",
        *(arg for grant in grants for arg in ("--grant-type", grant)),
        "--post-logout-redirect-uri", GOODBYE,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _allow(app, browser: requests.Session, authorization_url: str, issuer: str) -> str:
    """Anna logs in and allows: the callback URL the IdP sends her back to."""
    after_login = log_in(app, browser, authorization_url, issuer)
    consent_page = _follow(browser, after_login, stop_at=f"{issuer}/authorize")
    return _post_form(browser, consent_page, {"decision": "allow"})


def _drive(
    app, issuer: str, script: str, *args: str, browse=_allow
) -> tuple[dict, requests.Session]:
    """Run an openid-client relying party (``script`` in openid-client/): Anna's browser
    follows its authorization URL (``browse``: by default she logs in and allows) and hands
    it the callback. Returns what the RP reports, and the browser."""
    rp = subprocess.Popen(
        ["node", str(HERE / script), issuer, *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = json.loads(rp.stdout.readline())
        assert "authorization_url" in first, first
        browser = requests.Session()
        callback = browse(app, browser, first["authorization_url"], issuer)
        assert callback.startswith(REDIRECT)
        rp.stdin.write(callback + "\n")
        rp.stdin.flush()
        result = json.loads(rp.stdout.readline())
    finally:
        rp.stdin.close()
        rp.wait(timeout=30)
    assert "error" not in result, (result, rp.stderr.read())
    return result, browser


def test_openid_client_completes_the_code_flow(live_server):
    _node_ready()
    app, issuer = live_server
    scope = "openid profile age offline_access"
    registered = _register(app, scope)
    result, browser = _drive(app, issuer, "flow.mjs", registered["client_id"],
                             registered["client_secret"], REDIRECT, scope)  # fmt: skip
    # RP-initiated logout, through the end_session URL openid-client built.
    confirm = _follow(browser, result["end_session_url"], stop_at=f"{issuer}/logout")
    result["back_after_logout"] = _post_form(browser, confirm, {})
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
    # Each release it received is in the citizen's access ledger: the login, and both
    # userinfo calls (before and after the refresh).
    channels = [row["channel"] for row in sql(
        app, "SELECT channel FROM ledger_entry WHERE client_id = :c ORDER BY id",
        c=registered["client_id"])]  # fmt: skip
    assert channels == ["login", "userinfo", "userinfo"]
    # Logout through the end_session URL openid-client built: back with state, session over.
    assert result["back_after_logout"] == f"{GOODBYE}?state=bye-state"


def test_openid_client_with_its_defaults_on_a_default_registration(live_server):
    """openid-client given a secret and no clientAuthentication posts the secret
    (client_secret_post); the registration says client_secret_basic, the default. Code +
    PKCE, refresh and client_credentials all work: the two secret methods are one."""
    _node_ready()
    app, issuer = live_server
    scope, service_scope = "openid profile offline_access", "attributes:read"
    registered = _register(
        app,
        f"{scope} {service_scope}",
        kind="public_authority",
        legal_basis="public_task",
        grants=("authorization_code", "refresh_token", "client_credentials"),
    )
    shown = app.test_cli_runner().invoke(args=["clients", "show", registered["client_id"]])
    assert json.loads(shown.stdout)["token_endpoint_auth_method"] == "client_secret_basic"
    result, _ = _drive(
        app,
        issuer,
        "defaults.mjs",
        registered["client_id"],
        registered["client_secret"],
        REDIRECT,
        scope,
        service_scope,
    )
    assert result["token_endpoint_auth"] == ["client_secret_post"] * 3, result
    claims = result["id_token_claims"]
    assert claims["iss"] == issuer and claims["aud"] == registered["client_id"]
    assert result["refreshed"] is True and result["rotated"] is True
    assert result["service_token_scope"] == service_scope
    assert result["service_token_type"].lower() == "bearer"
