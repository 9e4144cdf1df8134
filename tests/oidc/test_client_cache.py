"""Registrations kept per process (clients/cache.py): a rotated-away or disabled secret stops
working at once when the change is made in this process, and within CACHE_SECONDS when it
is made elsewhere. Driven through the token and introspection endpoints."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import inspect

from clients import cache
from clients.models import Client
from idp.core.extensions import db
from tests.conftest import sql

CC = {"grant_type": "client_credentials"}


def _service(app) -> tuple[str, str]:
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Ledger reporter", "--kind", "public_authority",
        "--grant-type", "client_credentials", "--scope", "",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return created["client_id"], created["client_secret"]


def _cli(app, *args) -> dict:
    result = app.test_cli_runner().invoke(args=["clients", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def later(monkeypatch):
    """Move the cache's clock forward by ``seconds``."""
    offset = [0.0]
    clock = cache._clock
    monkeypatch.setattr(cache, "_clock", lambda: clock() + offset[0])

    def advance(seconds: float) -> None:
        offset[0] += seconds

    return advance


def test_a_rotated_secret_stops_working_at_once(app, client, oidc):
    client_id, old = _service(app)
    assert client.post("/token", data=CC, auth=(client_id, old)).status_code == 200  # now kept
    new = _cli(app, "rotate-secret", client_id)["client_secret"]
    refused = client.post("/token", data=CC, auth=(client_id, old))
    assert refused.status_code == 401 and refused.json["error"] == "invalid_client"
    assert client.post("/token", data=CC, auth=(client_id, new)).status_code == 200


def test_a_disabled_client_is_refused_at_once_everywhere(app, client, oidc):
    auth = _service(app)
    token = client.post("/token", data=CC, auth=auth).json["access_token"]
    assert client.post("/introspect", data={"token": token}, auth=auth).json["active"] is True
    _cli(app, "disable", auth[0])
    assert client.post("/token", data=CC, auth=auth).status_code == 401
    assert client.post("/introspect", data={"token": token}, auth=auth).status_code == 401


def test_a_change_made_elsewhere_is_seen_within_the_bound(app, client, oidc, later):
    """Another process (the CLI on another machine, another worker) changes the row: this
    process sees it within CACHE_SECONDS, never later."""
    client_id, old = _service(app)
    assert client.post("/token", data=CC, auth=(client_id, old)).status_code == 200
    new = "a-secret-set-by-another-process-" + "x" * 20
    sql(app, "UPDATE client SET secret_digest = :digest WHERE client_id = :client_id",
        digest=hashlib.sha256(new.encode()).hexdigest(), client_id=client_id)  # fmt: skip
    later(cache.CACHE_SECONDS / 2)
    assert client.post("/token", data=CC, auth=(client_id, old)).status_code == 200  # kept
    later(cache.CACHE_SECONDS / 2)
    assert client.post("/token", data=CC, auth=(client_id, old)).status_code == 401
    assert client.post("/token", data=CC, auth=(client_id, new)).status_code == 200


def test_disabling_elsewhere_is_seen_within_the_bound(app, client, oidc, later):
    auth = _service(app)
    assert client.post("/token", data=CC, auth=auth).status_code == 200
    sql(app, "UPDATE client SET disabled_at = CURRENT_TIMESTAMP WHERE client_id = :client_id",
        client_id=auth[0])  # fmt: skip
    later(cache.CACHE_SECONDS)
    assert client.post("/token", data=CC, auth=auth).status_code == 401


def test_an_unknown_client_is_not_remembered(app, client, oidc):
    """A refused id is looked up again next time: a registration made meanwhile works."""
    client_id, secret = _service(app)
    sql(app, "UPDATE client SET client_id = :other WHERE client_id = :client_id",
        other="later-registered", client_id=client_id)  # fmt: skip
    assert client.post("/token", data=CC, auth=("not-yet", secret)).status_code == 401
    sql(app, "UPDATE client SET client_id = :client_id WHERE client_id = :other",
        other="later-registered", client_id="not-yet")  # fmt: skip
    assert client.post("/token", data=CC, auth=("not-yet", secret)).status_code == 200


def test_the_kept_copy_is_in_no_session(app):
    """Shared by a worker's threads, so never bound to one request's session."""
    client_id, _ = _service(app)
    with app.app_context():
        kept = cache.get(client_id)
        assert inspect(kept).detached and all(inspect(p).detached for p in kept.claim_policies)
        assert cache.get(client_id) is kept
        assert db.session.get(Client, client_id) is not kept
