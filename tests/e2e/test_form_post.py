"""response_mode=form_post in real Chromium: the page's script (CSP-clean) posts the code."""

import json
import threading
from urllib.parse import urlencode

from playwright.sync_api import expect
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.e2e.conftest import log_in_as_demo
from tests.oidc.conftest import pkce


def test_form_post_reaches_the_service_under_the_strict_csp(live_server, page):
    app, issuer = live_server
    received = []

    @Request.application
    def service(request):
        if request.method == "POST":
            received.append(request.form.to_dict())
        return Response("<h1>Service got it</h1>", mimetype="text/html")

    rp = make_server("localhost", 0, service, threaded=True)
    threading.Thread(target=rp.serve_forever, daemon=True).start()
    callback = f"http://localhost:{rp.server_port}/cb"
    try:
        runner = app.test_cli_runner()
        assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
        assert runner.invoke(args=["demo", "load", "--citizens", "0"]).exit_code == 0
        created = json.loads(runner.invoke(args=[
            "clients", "create", "--name", "Posty", "--kind", "private_service",
            "--redirect-uri", callback, "--scope", "openid profile",
            "--legal-basis", "contract", "--purpose", "To serve you",
        ]).stdout)  # fmt: skip
        _, challenge = pkce()
        query = urlencode({
            "response_type": "code", "client_id": created["client_id"], "redirect_uri": callback,
            "scope": "openid profile", "state": "st-1", "response_mode": "form_post",
            "code_challenge": challenge, "code_challenge_method": "S256",
        })  # fmt: skip
        violations = []
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
        )
        page.goto(f"{issuer}/authorize?{query}")
        log_in_as_demo(page)
        # Told once what the service receives on its contract (not asked: it is no consent).
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Posty will receive your information"
        )
        page.get_by_role("button", name="Continue").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Service got it")
        assert received and received[0]["state"] == "st-1" and received[0]["iss"] == issuer
        assert received[0]["code"]
        assert violations == []
    finally:
        rp.shutdown()
