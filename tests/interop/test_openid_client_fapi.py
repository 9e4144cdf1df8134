"""Node's openid-client v6 as a FAPI 2.0 relying party against a live Tillid: it pushes its
authorization request (PAR), authenticates with private_key_jwt, follows the DPoP nonce and
holds DPoP-bound tokens; the citizen logs in through the pages as a browser does.

`make test` installs it from the committed lock file (npm ci); without Node the test skips,
unless REQUIRE_E2E=1.
"""

from __future__ import annotations

import base64
import json
import subprocess
from urllib.parse import parse_qs, urlsplit

import requests
from joserfc.jwk import ECKey, JWKRegistry

from tests.conftest import CitizenActions, sql
from tests.interop.test_authlib_client import PASSWORD, _follow, _post_form, log_in
from tests.interop.test_openid_client import HERE, _node_ready

REDIRECT = "https://rp.example/callback"  # never visited: the test hands the URL to the RP
SCOPE = "openid profile age"


def _register_fapi(app, key: ECKey) -> str:
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    CitizenActions(app, app.test_client()).create(username="anna", password=PASSWORD)
    registration = {
        "name": "Node bank", "kind": "private_service", "redirect_uris": [REDIRECT],
        "scope": SCOPE, "legal_basis": "consent", "purpose": "To open your account",
        "profile": "fapi2",
        "jwks": {"keys": [{**key.as_dict(private=False), "kid": "rp-1", "use": "sig"}]},
    }  # fmt: skip
    result = runner.invoke(args=["clients", "create", "--from-file", "-"],
                           input=json.dumps(registration))  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["client_id"]


def _claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_openid_client_does_par_dpop_and_private_key_jwt(live_server):
    _node_ready()
    app, issuer = live_server
    key = ECKey.generate_key("P-256", private=True)
    client_id = _register_fapi(app, key)
    private_jwk = json.dumps({**key.as_dict(private=True), "kid": "rp-1"})
    rp = subprocess.Popen(
        ["node", str(HERE / "fapi.mjs"), issuer, client_id, private_jwk, REDIRECT, SCOPE],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        first = json.loads(rp.stdout.readline())
        assert "authorization_url" in first, (first, rp.stderr.read() if rp.poll() else "")
        # The browser carries only a reference to what the RP pushed.
        query = parse_qs(urlsplit(first["authorization_url"]).query)
        assert set(query) == {"client_id", "request_uri"}, query
        assert query["request_uri"][0].startswith("urn:ietf:params:oauth:request_uri:")
        browser = requests.Session()
        after_login = log_in(app, browser, first["authorization_url"], issuer)
        consent_page = _follow(browser, after_login, stop_at=f"{issuer}/authorize")
        assert "Share your information with Node bank?" in consent_page.text
        callback = _post_form(browser, consent_page, {"decision": "allow"})
        assert callback.startswith(REDIRECT)
        rp.stdin.write(callback + "\n")
        rp.stdin.flush()
        result = json.loads(rp.stdout.readline())
    finally:
        rp.stdin.close()
        rp.wait(timeout=30)
    assert "error" not in result, (result, rp.stderr.read())
    # The access token is DPoP-bound to the key openid-client generated (RFC 9449 6).
    assert result["token_type"].lower() == "dpop"
    jkt = JWKRegistry.import_key(result["dpop_public_jwk"]).thumbprint()
    assert _claims_of(result["access_token"])["cnf"] == {"jkt": jkt}
    claims, userinfo = result["id_token_claims"], result["userinfo"]
    assert claims["iss"] == issuer and claims["aud"] == client_id
    assert userinfo["sub"] == claims["sub"] and userinfo["name"] == "Anna Jensen"
    assert userinfo["age_over_18"] is True
    # Without a proof of its key the same token is worthless.
    assert result["as_bearer"] == "invalid_token", result["as_bearer"]
    rows = sql(app, "SELECT channel FROM ledger_entry WHERE client_id = :c ORDER BY id",
               c=client_id)  # fmt: skip
    channels = [row["channel"] for row in rows]
    assert channels == ["login", "userinfo"]
