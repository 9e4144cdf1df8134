"""The full-login load for `make bench`: citizens logging in at a service over HTTP, from
threads of this separate process, for a bounded time.

    .venv/bin/python bench/login_load.py ISSUER SEED.json THREADS SECONDS

One login is what a browser and a service do together, without the browser: /authorize,
the login form (password), the code from the authenticator app, back to /authorize (the
notice page the first time), the token exchange with PKCE, and userinfo. Prints one JSON
line: logins, seconds, p50 and p99 in ms, and the non-2xx/3xx answers seen.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import secrets
import statistics
import sys
import threading
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import requests

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Codes:
    """TOTP codes that were never accepted before (Tillid refuses a replay): per citizen,
    each time step once, from the current one and one either side."""

    def __init__(self, seeds: dict[str, str]):
        self.seeds, self.used, self.lock = seeds, set(), threading.Lock()
        self.cycle = itertools.cycle(sorted(seeds))

    def next(self) -> tuple[str, str]:
        with self.lock:
            for _ in range(len(self.seeds)):
                username = next(self.cycle)
                step = int(time.time() // 30)
                for candidate in (step, step + 1, step - 1):
                    if (username, candidate) not in self.used:
                        self.used.add((username, candidate))
                        code = pyotp.TOTP(self.seeds[username]).generate_otp(candidate)
                        return username, code
        raise RuntimeError("more logins than the seeded citizens allow: seed more")


def _follow(session: requests.Session, response: requests.Response, base: str, bad: list):
    """Follow redirects by hand until the service's redirect URI or a page."""
    while response.status_code in (302, 303):
        location = urljoin(response.url, response.headers["Location"])
        if not location.startswith(base):
            return location
        response = session.get(location, allow_redirects=False)
    if response.status_code >= 400:
        bad.append(response.status_code)
    return response


def one_login(issuer: str, seed: dict, codes: Codes, bad: list) -> dict | None:
    """One whole login; the service's tokens, or None (the failure is in ``bad``)."""
    session = requests.Session()
    login = seed["login"]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {"response_type": "code", "client_id": login["client_id"],
              "redirect_uri": login["redirect_uri"], "scope": "openid profile",
              "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
              "code_challenge": challenge.decode().rstrip("="),
              "code_challenge_method": "S256"}  # fmt: skip
    page = _follow(session, session.get(f"{issuer}/authorize", params=params,
                                        allow_redirects=False), issuer, bad)  # fmt: skip
    username, code = codes.next()
    form = {
        "csrf_token": _CSRF.search(page.text).group(1),
        "username": username,
        "password": seed["password"],
        "next": parse_qs(urlsplit(page.url).query)["next"][0],
    }
    page = _follow(session, session.post(f"{issuer}/login", data=form, allow_redirects=False),
                   issuer, bad)  # fmt: skip
    form = {
        "csrf_token": _CSRF.search(page.text).group(1),
        "otp": code,
        "next": parse_qs(urlsplit(page.url).query)["next"][0],
    }
    answer = _follow(session, session.post(f"{issuer}/login/code", data=form,
                                           allow_redirects=False), issuer, bad)  # fmt: skip
    if not isinstance(answer, str):  # the notice page: what the service receives, once
        form = {"csrf_token": _CSRF.search(answer.text).group(1), "decision": "allow"}
        answer = _follow(session, session.post(answer.url, data=form, allow_redirects=False),
                         issuer, bad)  # fmt: skip
    returned = parse_qs(urlsplit(answer).query)
    exchange = {"grant_type": "authorization_code", "code": returned["code"][0],
                "redirect_uri": login["redirect_uri"], "code_verifier": verifier}  # fmt: skip
    tokens = session.post(f"{issuer}/token", data=exchange,
                          auth=(login["client_id"], login["client_secret"]))  # fmt: skip
    if tokens.status_code != 200:
        bad.append(tokens.status_code)
        return None
    bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    info = session.get(f"{issuer}/userinfo", headers=bearer)
    if info.status_code != 200:
        bad.append(info.status_code)
    return tokens.json()


def main(issuer: str, seed_path: str, threads: int, seconds: float) -> None:
    with open(seed_path) as seed_file:
        seed = json.load(seed_file)
    codes = Codes(seed["totp_seeds"])
    latencies: list[float] = []
    bad: list[int] = []
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                one_login(issuer, seed, codes, bad)
            except (requests.RequestException, AttributeError, KeyError) as exc:
                bad.append(repr(exc)[:80])
                continue
            latencies.append(time.perf_counter() - started)

    started = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.monotonic() - started
    ordered = sorted(latencies) or [0.0]
    print(json.dumps({
        "logins": len(latencies), "seconds": round(elapsed, 2),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1),
        "non_2xx": len(bad), "errors_seen": sorted({str(b) for b in bad})[:5],
    }))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
