"""Time a password + TOTP login (POST /login, then POST /login/code) in-process.

    .venv/bin/python bench/login_password_totp.py [N]

SQLite and the embedded store in a temporary directory; argon2id with the default
parameters dominates. Each login uses its own citizen, since a code is accepted once.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time

import pyotp

os.environ.setdefault("TILLID_INSTANCE_PATH", tempfile.mkdtemp())

from idp import create_app
from idp.extensions import db

PASSWORD = "correct horse battery"  # noqa: S105 (fictitious bench citizens)
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def main(count: int) -> None:
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tempfile.mkdtemp()}/bench.db",
        "LOGIN_RATE_LIMIT": "1000000 per minute",  # one source address sends every login
    })  # fmt: skip
    with app.app_context():
        db.create_all()
    runner, secrets = app.test_cli_runner(), {}
    for i in range(count):
        secrets[i] = pyotp.random_base32()
        result = runner.invoke(args=[
            "citizens", "create", "--cpr", f"010190{i:04d}", "--given-name", "Bench",
            "--family-name", "Mark", "--username", f"bench{i}", "--password", PASSWORD,
            "--totp-secret", secrets[i],
        ])  # fmt: skip
        assert result.exit_code == 0, result.output
    timings = []
    for i in range(count):
        browser = app.test_client()
        token = CSRF.search(browser.get("/login").text).group(1)
        started = time.perf_counter()
        password = browser.post("/login", data={"csrf_token": token, "username": f"bench{i}",
                                                "password": PASSWORD})  # fmt: skip
        code = browser.post("/login/code", data={"csrf_token": token, "next": "/me",
                                                 "otp": pyotp.TOTP(secrets[i]).now()})  # fmt: skip
        timings.append((time.perf_counter() - started) * 1000)
        assert password.status_code == 302, password.status_code
        assert code.status_code == 302 and code.headers["Location"] == "/me", code.status_code
    timings.sort()
    print(f"password + TOTP login, {count} logins: median {statistics.median(timings):.1f} ms, "
          f"p95 {timings[max(0, int(count * 0.95) - 1)]:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
