"""Credential signing keys: their own set in the keys registry, made by `flask keys ensure`,
rotated by `flask keys rotate --purpose credential`, published at /.well-known/jwt-vc-issuer
and never at /jwks (nor the token keys there)."""

from __future__ import annotations

import json

import pytest

from idp.keys import service
from tests.idp.test_keys import KeyClock
from tests.wallet.helpers import create_citizen, issue_pid, payload, wallet_key


def keys(runner, *args):
    result = runner.invoke(args=["keys", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _published(client) -> tuple[set[str], set[str]]:
    tokens = {k["kid"] for k in client.get("/jwks").json["keys"]}
    metadata = client.get("/.well-known/jwt-vc-issuer")
    assert metadata.status_code == 200
    assert metadata.json["issuer"] == "http://localhost:5000"
    credentials = {k["kid"] for k in metadata.json["jwks"]["keys"]}
    return tokens, credentials


def _credential_kid(credential: str) -> str:
    header = credential.split(".")[0]
    return json.loads(__import__("base64").urlsafe_b64decode(header + "=="))["kid"]


def test_ensure_makes_a_credential_key_published_apart_from_the_token_keys(runner, client):
    created = keys(runner, "ensure")["created"]
    (credential,) = [k for k in created if k["purpose"] == "credential"]
    assert credential["alg"] == "ES256"
    tokens, credentials = _published(client)
    assert credentials == {credential["kid"]}
    assert credential["kid"] not in tokens and len(tokens) == 2
    metadata = client.get("/.well-known/jwt-vc-issuer").json["jwks"]["keys"][0]
    assert not {"d", "p", "q"} & metadata.keys() and metadata["use"] == "sig"


def test_no_credential_keys_before_ensure(client):
    assert client.get("/.well-known/jwt-vc-issuer").json["jwks"] == {"keys": []}


def test_rotating_credential_keys_leaves_the_token_keys_alone(app, runner, client, monkeypatch):
    clock = KeyClock(monkeypatch)
    keys(runner, "ensure")
    create_citizen(runner)
    tokens_before, (old,) = _published(client)
    assert _credential_kid(issue_pid(app, wallet_key())) == old

    (new,) = keys(runner, "rotate", "--purpose", "credential", "--grace", "600")["created"]
    assert new["purpose"] == "credential" and new["alg"] == "ES256"
    tokens, credentials = _published(client)
    assert tokens == tokens_before and credentials == {old, new["kid"]}
    assert _credential_kid(issue_pid(app, wallet_key())) == old  # still in the grace period

    clock.advance(601)
    signed_by_new = issue_pid(app, wallet_key())
    assert _credential_kid(signed_by_new) == new["kid"]
    states = {k["kid"]: (k["purpose"], k["state"]) for k in keys(runner, "list")}
    assert states[old] == ("credential", "retired")
    assert [s for kid, s in states.items() if kid in tokens] == [("token", "active")] * 2

    # A retired credential key stays published as long as a PID it signed is valid: far
    # longer than a token key.
    clock.advance(app.config["KEY_RETIRED_PUBLISH_SECONDS"] + 1)
    assert old in _published(client)[1]
    clock.advance(app.config["PID_VALIDITY_DAYS"] * 24 * 3600)
    assert _published(client)[1] == {new["kid"]}
    assert payload(signed_by_new)["iss"] == "http://localhost:5000"


def test_rotating_token_keys_leaves_the_credential_key_alone(runner, client, monkeypatch):
    KeyClock(monkeypatch)
    keys(runner, "ensure")
    _, credentials = _published(client)
    created = keys(runner, "rotate", "--grace", "0")["created"]
    assert {k["purpose"] for k in created} == {"token"}
    assert _published(client)[1] == credentials
    assert {k["kid"]: k["state"] for k in keys(runner, "list")}[next(iter(credentials))] == (
        "active"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--purpose", "credential", "--alg", "RS256"],  # credentials are ES256 only (HAIP)
        ["--purpose", "everything"],
    ],
)
def test_rotate_refuses_what_a_purpose_does_not_have(runner, args):
    keys(runner, "ensure")
    result = runner.invoke(args=["keys", "rotate", *args])
    assert result.exit_code == 2
    assert "Error" in result.output and "Traceback" not in result.output


def test_a_credential_key_never_signs_tokens(app, runner):
    keys(runner, "ensure")
    with app.app_context():
        token_es256, _ = service.signing_key("ES256")
        credential_es256, _ = service.signing_key("ES256", service.CREDENTIAL)
    assert token_es256 != credential_es256
