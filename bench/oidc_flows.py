"""Time a password + TOTP login, one client_credentials grant and one full authorization
code flow, in-process.

    .venv/bin/python bench/oidc_flows.py [N]

The code flow is what a returning citizen's login at a service costs Tillid: the password
and the code (argon2id dominates), /authorize (consent remembered), the token exchange
with PKCE (an ID token signed RS256, an access token ES256, one ledger entry) and userinfo
(another). SQLite and the embedded store in a temporary directory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from urllib.parse import parse_qs, urlsplit

import pyotp

os.environ.setdefault("TILLID_INSTANCE_PATH", tempfile.mkdtemp())

from idp.app import create_app
from idp.core.config import RATE_LIMITS
from idp.core.extensions import db

PASSWORD = "correct horse battery"  # noqa: S105 (fictitious bench citizens)
REDIRECT = "https://bench.example/cb"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _register(runner, *args) -> dict:
    result = runner.invoke(args=["clients", "create", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _summary(name: str, timings: list[float]) -> str:
    timings = sorted(timings)
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    return f"{name}: median {statistics.median(timings):.1f} ms, p95 {p95:.1f} ms"


def main(count: int) -> None:
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tempfile.mkdtemp()}/bench.db",
        **{name: "1000000 per minute" for name in RATE_LIMITS},
    })  # fmt: skip
    with app.app_context():
        db.create_all()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    service = _register(runner, "--name", "Bench service", "--kind", "public_authority",
                        "--grant-type", "client_credentials", "--scope", "")  # fmt: skip
    rp = _register(runner, "--name", "Bench RP", "--kind", "public_authority",
                   "--redirect-uri", REDIRECT, "--scope", "openid profile",
                   "--legal-basis", "public_task", "--purpose", "Benchmarking")  # fmt: skip
    secrets_by_user = {}
    for i in range(count):
        secrets_by_user[i] = pyotp.random_base32()
        result = runner.invoke(args=[
            "citizens", "create", "--cpr", f"010190{i:04d}", "--given-name", "Bench",
            "--family-name", "Mark", "--username", f"bench{i}", "--password", PASSWORD,
            "--totp-secret", secrets_by_user[i],
        ])  # fmt: skip
        assert result.exit_code == 0, result.output

    client = app.test_client()
    service_auth = (service["client_id"], service["client_secret"])
    grants = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.post("/token", data={"grant_type": "client_credentials"},
                               auth=service_auth)  # fmt: skip
        grants.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.json

    logins, flows = [], []
    for i in range(count):
        browser = app.test_client()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        params = {"response_type": "code", "client_id": rp["client_id"], "scope": "openid profile",
                  "redirect_uri": REDIRECT, "state": "s", "nonce": secrets.token_urlsafe(8),
                  "code_challenge": challenge.decode().rstrip("="),
                  "code_challenge_method": "S256"}  # fmt: skip
        token = CSRF.search(browser.get("/login").text).group(1)
        started = time.perf_counter()
        browser.post("/login", data={"csrf_token": token, "username": f"bench{i}",
                                     "password": PASSWORD})  # fmt: skip
        # The password starts a new session, with a CSRF token of its own: read it off the
        # code page, as a browser does.
        token = CSRF.search(browser.get("/login/code").text).group(1)
        logged_in = browser.post("/login/code", data={"csrf_token": token, "next": "/me",
                                 "otp": pyotp.TOTP(secrets_by_user[i]).now()})  # fmt: skip
        logins.append((time.perf_counter() - started) * 1000)
        assert logged_in.headers["Location"] == "/me", logged_in.status_code
        notice = browser.get("/authorize", query_string=params)  # told once, then remembered
        if notice.status_code == 200:
            token = CSRF.search(notice.text).group(1)
            notice = browser.post("/authorize", query_string=params,
                                  data={"csrf_token": token, "decision": "allow"})  # fmt: skip
        code = parse_qs(urlsplit(notice.headers["Location"]).query)["code"][0]
        exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                    "code_verifier": verifier}  # fmt: skip
        rp_auth = (rp["client_id"], rp["client_secret"])
        tokens = browser.post("/token", data=exchange, auth=rp_auth).json
        info = browser.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        flows.append((time.perf_counter() - started) * 1000)
        assert info.status_code == 200 and "id_token" in tokens, (tokens, info.status_code)
    print(_summary(f"password + TOTP login ({count})", logins))
    print(_summary(f"client_credentials grant ({count})", grants))
    print(_summary(f"full code flow: login with code, consent notice, token, userinfo ({count})",
                   flows))  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
