"""Signing keys: published before they sign, kept after, private halves encrypted at rest."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import text

from idp.app import create_app
from idp.core.crypto import DecryptionError
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.keys import service
from tests.conftest import base_config

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi"}


def keys(runner, *args):
    result = runner.invoke(args=["keys", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def published(client) -> dict[str, dict]:
    response = client.get("/jwks")
    assert response.status_code == 200
    return {jwk["kid"]: jwk for jwk in response.json["keys"]}


class KeyClock:
    """Moves the time the key service reads; the database keeps what was written."""

    def __init__(self, monkeypatch):
        self.now = utcnow()
        monkeypatch.setattr(service, "utcnow", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _tokens(created: list[dict]) -> list[dict]:
    """The token keys of a `keys ensure` (which also makes the wallet's credential key)."""
    return [key for key in created if key["purpose"] == "token"]


def _signs_with(app, alg: str) -> str:
    with app.app_context():
        kid, _ = service.signing_key(alg)
    return kid


def test_ensure_creates_one_rs256_and_one_es256_key_once(runner, client):
    everything = keys(runner, "ensure")["created"]
    created = _tokens(everything)
    assert sorted(k["alg"] for k in created) == ["ES256", "RS256"]
    # And one ES256 key for wallet credentials (tests/wallet/test_credential_keys.py).
    assert [(k["alg"], k["purpose"]) for k in everything if k not in created] == [
        ("ES256", "credential")
    ]
    assert keys(runner, "ensure")["created"] == []
    jwks = published(client)
    assert set(jwks) == {k["kid"] for k in created}
    for jwk in jwks.values():
        assert jwk["use"] == "sig" and jwk["alg"] in ("RS256", "ES256")
        assert not PRIVATE_MEMBERS & jwk.keys(), "a private key member was published"
    assert {jwk["kty"] for jwk in jwks.values()} == {"RSA", "EC"}


def test_jwks_is_cacheable_for_a_short_while(client):
    response = client.get("/jwks")
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.json == {"keys": []}


@pytest.mark.parametrize("alg", service.ALGORITHMS)
def test_a_token_signed_with_the_active_key_verifies_against_the_published_jwks(
    app, runner, client, alg
):
    keys(runner, "ensure")
    with app.app_context():
        kid, private = service.signing_key(alg)
    token = jwt.encode({"alg": alg, "kid": kid}, {"sub": "x"}, private)
    verified = jwt.decode(token, KeySet.import_key_set({"keys": list(published(client).values())}))
    assert verified.claims == {"sub": "x"}


def test_private_keys_are_encrypted_at_rest(app, runner):
    keys(runner, "ensure")
    with app.app_context():
        blobs = db.session.execute(text("SELECT private_key_encrypted FROM signing_key")).all()
    assert len(blobs) == 3  # RS256 and ES256 for tokens, ES256 for credentials
    for (blob,) in blobs:
        assert b"PRIVATE KEY" not in bytes(blob)
    other = create_app(base_config(SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"]))
    try:
        with other.app_context(), pytest.raises(DecryptionError):
            service.signing_key("ES256")
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_rotation_publishes_first_signs_after_the_grace_and_retires_later(
    app, runner, client, monkeypatch
):
    clock = KeyClock(monkeypatch)
    old = {k["alg"]: k["kid"] for k in _tokens(keys(runner, "ensure")["created"])}
    new = {k["alg"]: k["kid"] for k in keys(runner, "rotate", "--grace", "600")["created"]}

    # Published at once, but the old keys still sign during the grace period.
    assert set(published(client)) == set(old.values()) | set(new.values())
    assert _signs_with(app, "ES256") == old["ES256"]
    states = {k["kid"]: k["state"] for k in keys(runner, "list")}
    assert states[new["ES256"]] == "upcoming" and states[old["ES256"]] == "active"

    clock.advance(601)
    assert _signs_with(app, "ES256") == new["ES256"]
    assert _signs_with(app, "RS256") == new["RS256"]
    assert set(published(client)) == set(old.values()) | set(new.values())
    assert {k["kid"]: k["state"] for k in keys(runner, "list")}[old["ES256"]] == "retired"

    clock.advance(app.config["KEY_RETIRED_PUBLISH_SECONDS"])
    assert set(published(client)) == set(new.values())
    assert {k["kid"]: k["state"] for k in keys(runner, "list")}[old["RS256"]] == "expired"


def test_rotating_one_algorithm_leaves_the_other(app, runner, client, monkeypatch):
    clock = KeyClock(monkeypatch)
    old = {k["alg"]: k["kid"] for k in _tokens(keys(runner, "ensure")["created"])}
    (new,) = keys(runner, "rotate", "--alg", "ES256", "--grace", "0")["created"]
    clock.advance(1)
    assert _signs_with(app, "ES256") == new["kid"]
    assert _signs_with(app, "RS256") == old["RS256"]


def test_rotating_twice_within_the_grace_keeps_one_signer_at_a_time(app, runner, monkeypatch):
    clock = KeyClock(monkeypatch)
    keys(runner, "ensure")
    first = keys(runner, "rotate", "--alg", "RS256", "--grace", "100")["created"][0]["kid"]
    clock.advance(50)
    second = keys(runner, "rotate", "--alg", "RS256", "--grace", "100")["created"][0]["kid"]
    clock.advance(60)  # past the first switch, before the second
    assert _signs_with(app, "RS256") == first
    clock.advance(100)
    assert _signs_with(app, "RS256") == second
    active = [k for k in keys(runner, "list") if k["alg"] == "RS256" and k["state"] == "active"]
    assert [k["kid"] for k in active] == [second]


@pytest.mark.parametrize("args", [["--alg", "HS256"], ["--grace", "-1"], ["--grace", "soon"]])
def test_rotate_refuses_bad_options(runner, args):
    result = runner.invoke(args=["keys", "rotate", *args])
    assert result.exit_code != 0
    assert "Error" in result.output


def test_without_keys_nothing_can_sign(app):
    with app.app_context(), pytest.raises(service.NoSigningKey, match="flask keys ensure"):
        service.signing_key("RS256")
