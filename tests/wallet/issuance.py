"""A wallet as the issuance tests drive it through HTTP: registered as a wallet client, with a
DPoP key (tests/oidc/test_fapi.py's Holder), a citizen logged in at High in its browser, and
key proofs for the credential endpoint. The third-party wallet is tests/interop/openid4vci."""

from __future__ import annotations

import json
import secrets
import time
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import ECKey

from idp.wallet.configurations import PID_SD_JWT
from tests.conftest import activate, login
from tests.oidc.conftest import pkce
from tests.oidc.test_fapi import ISSUER, Holder, server_nonce
from tests.security.conftest import (
    SoftAuthenticator,
    login_challenge,
    register_passkey,
    send_assertion,
)

WALLET_REDIRECT = "https://wallet.example/callback"
PASSWORD = "correct horse battery"
DETAILS = json.dumps([{"type": "openid_credential", "credential_configuration_id": PID_SD_JWT}])


def register_wallet(runner, *extra: str) -> str:
    result = runner.invoke(args=[
        "clients", "create", "--kind", "wallet", "--name", "Testpung",
        "--redirect-uri", WALLET_REDIRECT, "--scope", PID_SD_JWT,
        "--grant-type", "authorization_code", "--auth-method", "none", *extra,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["client_id"]


def citizen_at_high(app, citizens, username="ida", *, cpr=None, pid_fields=True, **fields):
    """A citizen (by default with what the PID needs), activated by letter with a first
    passkey (bound at High), logged in with it: the browser, and the passkey."""
    cpr = cpr or citizens.next_cpr()
    if pid_fields:
        fields = {"birth_country": "DK", "birth_locality": "Odense", "nationality": "DK", **fields}
    citizens.create(username=None, cpr=cpr, **fields)
    setup = app.test_client()
    assert activate(setup, cpr, citizens.letter(cpr), username, PASSWORD).status_code == 302
    assert login(setup, username, PASSWORD).status_code == 302
    passkey = SoftAuthenticator()
    register_passkey(setup, passkey, page="/me/security/totp")
    browser = app.test_client()
    token, challenge = login_challenge(browser)
    assert send_assertion(browser, token, passkey.assertion(challenge)).status_code == 200
    return browser, passkey


class Wallet:
    def __init__(self, app, browser, client_id: str):
        self.app, self.browser, self.client_id = app, browser, client_id
        self.http = app.test_client()  # the wallet app's own requests: no cookies
        self.holder = Holder()
        self.holder.nonce = server_nonce(self.http)
        self.verifier, self.challenge = pkce()
        self.state = secrets.token_urlsafe(12)

    def dpop(self, path: str, access_token=None) -> dict:
        return {"DPoP": self.holder.proof("POST", f"{ISSUER}{path}", access_token=access_token)}

    def push(self, **override):
        data = {"response_type": "code", "client_id": self.client_id,
                "redirect_uri": WALLET_REDIRECT, "code_challenge": self.challenge,
                "code_challenge_method": "S256", "state": self.state,
                "authorization_details": DETAILS, **override}  # fmt: skip
        data = {k: v for k, v in data.items() if v is not None}
        return self.http.post("/par", data=data, headers=self.dpop("/par"))

    def authorize(self, **override):
        pushed = self.push(**override)
        assert pushed.status_code == 201, pushed.json
        query = {"client_id": self.client_id, "request_uri": pushed.json["request_uri"]}
        return self.browser.get("/authorize", query_string=query)

    def code(self, **override) -> str:
        response = self.authorize(**override)
        assert response.status_code == 302, (response.status_code, response.text[:300])
        location = response.headers["Location"]
        assert location.startswith(WALLET_REDIRECT), location
        params = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        assert params["state"] == self.state and params["iss"] == ISSUER, params
        return params["code"]

    def token(self, code: str, **override):
        data = {"grant_type": "authorization_code", "code": code, "client_id": self.client_id,
                "redirect_uri": WALLET_REDIRECT, "code_verifier": self.verifier,
                **override}  # fmt: skip
        return self.http.post("/token", data=data, headers=self.dpop("/token"))

    def access_token(self, **override) -> dict:
        response = self.token(self.code(**override))
        assert response.status_code == 200, response.json
        return response.json

    def c_nonce(self) -> str:
        response = self.http.post("/wallet/nonce")
        assert response.status_code == 200, response.json
        return response.json["c_nonce"]

    def credential_request(self, access_token: str, body: dict):
        headers = {"Authorization": f"DPoP {access_token}",
                   **self.dpop("/wallet/credential", access_token)}  # fmt: skip
        return self.http.post("/wallet/credential", json=body, headers=headers)


def key_proof(key: ECKey, nonce: str | None, *, header=None, sign_with=None, **claims) -> str:
    """An openid4vci-proof+jwt by ``key`` (its public JWK in the header)."""
    body = {"aud": ISSUER, "iat": int(time.time()), "nonce": nonce, **claims}
    body = {k: v for k, v in body.items() if v is not None}
    protected = {"typ": "openid4vci-proof+jwt", "alg": "ES256",
                 "jwk": key.as_dict(private=False), **(header or {})}  # fmt: skip
    return jwt.encode(protected, body, sign_with or key, algorithms=["ES256"])


def new_key() -> ECKey:
    return ECKey.generate_key("P-256", private=True)
