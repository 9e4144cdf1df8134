"""Helpers for OpenID Connect tests: registered services, PKCE pairs, authorization requests."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.conftest import CitizenActions, csrf_token

BANK_REDIRECT = "https://bank.example/callback"
TAX_REDIRECT = "https://skat.example/callback"


@dataclass
class Service:
    client_id: str
    client_secret: str | None
    redirect_uri: str
    scope: str


def register(app, *, name="Nordbank", kind="private_service", redirect_uri=BANK_REDIRECT,
             scope="openid profile age", legal_basis="consent", extra=()) -> Service:  # fmt: skip
    args = ["clients", "create", "--name", name, "--kind", kind, "--redirect-uri", redirect_uri,
            "--scope", scope, "--legal-basis", legal_basis, "--purpose", "To serve you",
            *extra]  # fmt: skip
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return Service(created["client_id"], created["client_secret"], redirect_uri, scope)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def redirect_params(response) -> dict[str, str]:
    assert response.status_code == 302, response.status_code
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


class Flow:
    """One service's code flow, driven through HTTP as its citizen's browser and back end."""

    def __init__(self, app, client, service: Service):
        self.app, self.client, self.service = app, client, service
        self.verifier, self.challenge = pkce()
        self.nonce = secrets.token_urlsafe(12)
        self.state = secrets.token_urlsafe(12)

    def new_nonce(self) -> None:
        """A fresh nonce: one that reached a code is refused again for a while (replay)."""
        self.nonce = secrets.token_urlsafe(12)

    def params(self, **override) -> dict:
        params = {
            "response_type": "code",
            "client_id": self.service.client_id,
            "redirect_uri": self.service.redirect_uri,
            "scope": self.service.scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        params.update(override)
        return {k: v for k, v in params.items() if v is not None}

    def authorize(self, **override):
        return self.client.get("/authorize", query_string=self.params(**override))

    def decide(self, page, decision="allow", **override):
        return self.client.post(
            "/authorize",
            query_string=self.params(**override),
            data={"csrf_token": csrf_token(page), "decision": decision},
        )

    def code(self, **override) -> str:
        """Authorize (consenting if asked) and return the code from the redirect."""
        response = self.authorize(**override)
        if response.status_code == 200:
            response = self.decide(response, **override)
        params = redirect_params(response)
        assert params["state"] == self.state and "code" in params, params
        return params["code"]

    def exchange(self, code: str, /, **override):
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.service.redirect_uri,
            "code_verifier": self.verifier,
        }
        data.update(override)
        data = {k: v for k, v in data.items() if v is not None}
        auth = (self.service.client_id, self.service.client_secret)
        return self.client.post(
            "/token", data=data, auth=auth if self.service.client_secret else None
        )

    def tokens(self, **override) -> dict:
        response = self.exchange(self.code(**override))
        assert response.status_code == 200, response.json
        return response.json

    def id_token(self, tokens: dict) -> dict:
        jwks = KeySet.import_key_set(self.client.get("/jwks").json)
        return jwt.decode(tokens["id_token"], jwks).claims


@pytest.fixture
def oidc(app, client, citizens: CitizenActions):
    """Keys, one logged-in citizen (Anna Jensen), and a way to start flows for services."""
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    citizens.create(username="anna", email="anna@example.org", address_json=json.dumps(
        {"street": "Vesterbrogade 1", "postcode": "1620", "city": "København V"}))  # fmt: skip
    assert citizens.login().status_code == 302

    def start(service: Service) -> Flow:
        return Flow(app, client, service)

    return start
