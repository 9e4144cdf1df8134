"""The full-login load for `make bench`: citizens logging in at a service over HTTP, from
threads of this separate process, for a bounded time.

    .venv/bin/python bench/login_load.py ISSUER SEED.json THREADS SECONDS [--method METHOD]

One login is what a browser and a service do together, without the browser. METHOD:

- ``password`` (the default): /authorize, the login form (password), the code from the
  authenticator app, back to /authorize (the notice page the first time), the token
  exchange with PKCE, and userinfo.
- ``passkey``: /authorize, the login page, a challenge from /login/passkey/options, an
  assertion signed here by the citizen's passkey and sent to /login/passkey/verify, back to
  /authorize (the notice page the first time), the token exchange and userinfo. The
  passkeys are software authenticators in this process (`SoftPasskey`: an ES256 key pair,
  attestation "none", user verified, a synced passkey's signature counter of 0), one per
  seeded citizen; bench/seed.py registers them through Tillid's own registration ceremony
  and writes each private key to the seed's ``passkeys``. Every login signs a fresh
  challenge with the real key, so the server verifies a real WebAuthn assertion.

Prints one JSON line either way: logins, seconds, p50 and p99 in ms, and the non-2xx/3xx
answers seen.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import os
import re
import secrets
import statistics
import threading
import time
from urllib.parse import parse_qs, urljoin, urlsplit

import cbor2
import pyotp
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
_JSON = {"Accept": "application/json"}
METHODS = ("password", "passkey")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftPasskey:
    """A synced passkey held in software (P-256/ES256, attestation "none"), answering WebAuthn
    ceremonies as a platform authenticator does: user present and verified, backup-eligible,
    a signature counter of 0 (synced passkeys keep none)."""

    _UP, _UV, _BE, _BS, _AT = 0x01, 0x04, 0x08, 0x10, 0x40

    def __init__(self, private_key=None, credential_id: bytes | None = None,
                 user_handle: str | None = None):  # fmt: skip
        self.private_key = private_key or ec.generate_private_key(ec.SECP256R1())
        self.credential_id = credential_id or os.urandom(16)
        self.user_handle = user_handle

    def to_json(self) -> dict:
        """What the seed keeps, so that the load process holds the same key."""
        secret = self.private_key.private_numbers().private_value
        return {"credential_id": _b64url(self.credential_id), "user_handle": self.user_handle,
                "private_key": format(secret, "x")}  # fmt: skip

    @classmethod
    def from_json(cls, kept: dict) -> SoftPasskey:
        key = ec.derive_private_key(int(kept["private_key"], 16), ec.SECP256R1())
        return cls(key, _unb64url(kept["credential_id"]), kept["user_handle"])

    def _flags(self) -> int:
        return self._UP | self._UV | self._BE | self._BS

    @staticmethod
    def _client_data(kind: str, challenge: str, origin: str) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge, "origin": origin,
                           "crossOrigin": False}).encode()  # fmt: skip

    def register(self, options: dict, origin: str) -> dict:
        """The answer to registration options (navigator.credentials.create)."""
        self.user_handle = options["user"]["id"]
        numbers = self.private_key.public_key().public_numbers()
        cose = cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})  # fmt: skip
        credential = len(self.credential_id).to_bytes(2, "big") + self.credential_id
        # rpIdHash, flags, counter 0, AAGUID: none (attestation "none"), the credential
        auth_data = (hashlib.sha256(options["rp"]["id"].encode()).digest()
                     + bytes([self._flags() | self._AT]) + bytes(4) + bytes(16)
                     + credential + cose)  # fmt: skip
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {"id": _b64url(self.credential_id), "rawId": _b64url(self.credential_id),
                "type": "public-key", "authenticatorAttachment": "platform",
                "response": {"clientDataJSON": _b64url(client_data),
                             "attestationObject": _b64url(attestation),
                             "transports": ["internal", "hybrid"]},
                "clientExtensionResults": {}}  # fmt: skip

    def assertion(self, challenge: str, rp_id: str, origin: str) -> dict:
        """The answer to a login challenge (navigator.credentials.get), signed with the key."""
        auth_data = hashlib.sha256(rp_id.encode()).digest() + bytes([self._flags()]) + bytes(4)
        client_data = self._client_data("webauthn.get", challenge, origin)
        signature = self.private_key.sign(auth_data + hashlib.sha256(client_data).digest(),
                                          ec.ECDSA(hashes.SHA256()))  # fmt: skip
        return {"id": _b64url(self.credential_id), "rawId": _b64url(self.credential_id),
                "type": "public-key", "authenticatorAttachment": "platform",
                "response": {"clientDataJSON": _b64url(client_data),
                             "authenticatorData": _b64url(auth_data),
                             "signature": _b64url(signature), "userHandle": self.user_handle},
                "clientExtensionResults": {}}  # fmt: skip


class Passkeys:
    """The seeded citizens' passkeys, taken in turn (a passkey may log in again at once)."""

    def __init__(self, kept: dict[str, dict]):
        if not kept:
            raise SystemExit("the seed has no passkeys: seed again with bench/seed.py")
        self.keys = [SoftPasskey.from_json(kept[name]) for name in sorted(kept)]
        self.cycle, self.lock = itertools.cycle(self.keys), threading.Lock()

    def next(self) -> SoftPasskey:
        with self.lock:
            return next(self.cycle)


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


def _authorize(session: requests.Session, issuer: str, seed: dict, bad: list):
    """The service sends the browser to /authorize (PKCE): (the login page, the verifier)."""
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
    return page, verifier


def _finish(session: requests.Session, issuer: str, seed: dict, answer, verifier: str,
            bad: list) -> dict | None:  # fmt: skip
    """From the end of the login to the service: the notice page the first time, the code,
    the token exchange and userinfo."""
    login = seed["login"]
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


def one_login(issuer: str, seed: dict, codes: Codes, bad: list) -> dict | None:
    """One whole login with password and TOTP code; the service's tokens, or None (the
    failure is in ``bad``)."""
    session = requests.Session()
    page, verifier = _authorize(session, issuer, seed, bad)
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
    return _finish(session, issuer, seed, answer, verifier, bad)


def one_passkey_login(issuer: str, seed: dict, passkeys: Passkeys, bad: list) -> dict | None:
    """One whole login with a passkey, as the login page's script does it (usernameless)."""
    session = requests.Session()
    page, verifier = _authorize(session, issuer, seed, bad)
    headers = {**_JSON, "X-CSRFToken": _CSRF.search(page.text).group(1)}
    options = session.post(f"{issuer}/login/passkey/options", json={}, headers=headers)
    if options.status_code != 200:
        bad.append(options.status_code)
        return None
    parts = urlsplit(issuer)
    credential = passkeys.next().assertion(options.json()["challenge"], parts.hostname,
                                           f"{parts.scheme}://{parts.netloc}")  # fmt: skip
    body = {"credential": credential, "next": parse_qs(urlsplit(page.url).query)["next"][0]}
    verified = session.post(f"{issuer}/login/passkey/verify", json=body, headers=headers)
    if verified.status_code != 200:
        bad.append(verified.status_code)
        return None
    location = urljoin(issuer, verified.json()["redirect"])
    answer = _follow(session, session.get(location, allow_redirects=False), issuer, bad)
    return _finish(session, issuer, seed, answer, verifier, bad)


def main(issuer: str, seed_path: str, threads: int, seconds: float,
         method: str = "password") -> None:  # fmt: skip
    with open(seed_path) as seed_file:
        seed = json.load(seed_file)
    if method == "passkey":
        passkeys = Passkeys(seed.get("passkeys") or {})

        def login() -> None:
            one_passkey_login(issuer, seed, passkeys, bad)
    else:
        codes = Codes(seed["totp_seeds"])

        def login() -> None:
            one_login(issuer, seed, codes, bad)

    latencies: list[float] = []
    bad: list[int] = []
    deadline = time.monotonic() + seconds

    def worker() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                login()
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("issuer")
    parser.add_argument("seed", metavar="SEED.json")
    parser.add_argument("threads", type=int)
    parser.add_argument("seconds", type=float)
    parser.add_argument("--method", choices=METHODS, default="password")
    options = parser.parse_args()
    main(options.issuer, options.seed, options.threads, options.seconds, options.method)
