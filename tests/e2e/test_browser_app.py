"""A single-page app in real Chromium: a public client (no secret) on its own origin does
PKCE in the browser and calls the token and userinfo endpoints with fetch, under CORS."""

from __future__ import annotations

import json
import threading

from playwright.sync_api import expect
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.e2e.conftest import log_in_as_demo

SPA_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Borger-app</title></head>
<body><h1>Borger-app</h1><pre id="result">working</pre>
<script>
const issuer = %(issuer)s, clientId = %(client_id)s, redirectUri = %(redirect_uri)s;
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
async function start() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256",
                                                      new TextEncoder().encode(verifier)));
  sessionStorage.setItem("verifier", verifier);
  location.assign(issuer + "/authorize?" + new URLSearchParams({
    response_type: "code", client_id: clientId, redirect_uri: redirectUri,
    scope: "openid profile", state: "spa-state", code_challenge: challenge,
    code_challenge_method: "S256"}));
}
async function finish(params) {
  const out = document.getElementById("result");
  try {
    const token = await (await fetch(issuer + "/token", {method: "POST", body:
      new URLSearchParams({grant_type: "authorization_code", code: params.get("code"),
        client_id: clientId, redirect_uri: redirectUri,
        code_verifier: sessionStorage.getItem("verifier")})})).json();
    const info = await (await fetch(issuer + "/userinfo",
      {headers: {Authorization: "Bearer " + token.access_token}})).json();
    out.textContent = JSON.stringify({state: params.get("state"), userinfo: info});
  } catch (error) {
    out.textContent = "blocked: " + error;
  }
}
const params = new URLSearchParams(location.search);
params.has("code") ? finish(params) : start();
</script></body></html>"""


def test_a_browser_app_logs_in_with_pkce_and_fetch(live_server, page):
    app, issuer = live_server
    spa = make_server("localhost", 0, lambda environ, start: [], threaded=True)
    origin = f"http://localhost:{spa.server_port}"  # another port: another origin
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    assert runner.invoke(args=["demo", "load", "--citizens", "0"]).exit_code == 0
    created = runner.invoke(args=[
        "clients", "create", "--name", "Borger-app", "--kind", "private_service",
        "--redirect-uri", f"{origin}/callback", "--scope", "openid profile",
        "--legal-basis", "contract", "--purpose", "To show you your name",
        "--auth-method", "none",
    ])  # fmt: skip
    assert created.exit_code == 0, created.output
    settings = {"issuer": issuer, "client_id": json.loads(created.stdout)["client_id"],
                "redirect_uri": f"{origin}/callback"}  # fmt: skip
    html = SPA_PAGE % {key: json.dumps(value) for key, value in settings.items()}
    spa.app = Request.application(lambda request: Response(html, mimetype="text/html"))
    threading.Thread(target=spa.serve_forever, daemon=True).start()
    try:
        page.goto(f"{origin}/")
        log_in_as_demo(page)
        page.get_by_role("button", name="Continue").click()  # the notice: told, not asked
        result = page.locator("#result")
        expect(result).not_to_have_text("working", timeout=10_000)
        received = json.loads(result.text_content())
        assert received["state"] == "spa-state"
        assert received["userinfo"]["name"] == "Ida Demo-Jensen"
    finally:
        spa.shutdown()
