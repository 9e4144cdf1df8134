"""Liveness and readiness as a load balancer sees them."""

import datetime as dt
import json
import shutil
from urllib.parse import urlencode

from idp.app import create_app
from idp.core.dbtypes import utcnow
from tests.conftest import base_config, csrf_token, sql
from tests.idp.test_keys import KeyClock

READY = {"database": "ok", "store": "ok", "signing_keys": "ok"}


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_checks_database_and_store(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": READY}


def test_readyz_is_503_when_the_store_is_unreachable(tmp_path, sqlite_template):
    shutil.copy(sqlite_template, tmp_path / "x.db")
    app = create_app(
        base_config(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'x.db'}",
            REDIS_URL="redis://127.0.0.1:1/0",
        )
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {**READY, "store": "unavailable"}
    assert response.json["reasons"] == {"store": "the store did not answer (ConnectionError)"}


def test_readyz_is_503_when_the_database_is_unreachable():
    app = create_app(
        base_config(SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/tillid")
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {
        "database": "unavailable",
        "store": "ok",
        "signing_keys": "unknown",
    }
    assert response.json["reasons"] == {
        "database": "the database did not answer (OperationalError)",
        "signing_keys": "not checked: the keys are in the database",
    }


def _register(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Skattestyrelsen", "--kind", "public_authority",
        "--grant-type", "client_credentials", "--scope", "", *args,
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["client_id"]


def _run(app, *args: str) -> None:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output


def test_readyz_is_503_while_no_key_signs_for_a_registered_client(app, client):
    assert client.get("/readyz").status_code == 200  # no client: no key is needed yet
    _register(app)  # ID tokens RS256, access tokens ES256 (the defaults)

    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {**READY, "signing_keys": "missing"}
    assert response.json["reasons"] == {
        "signing_keys": "no active ES256 or RS256 signing key, which registered clients' "
        "tokens are signed with: run `flask keys ensure`"
    }

    _run(app, "keys", "ensure")
    assert client.get("/readyz").json == {"status": "ready", "checks": READY}


def test_readyz_is_503_once_the_key_of_an_algorithm_in_use_retired(app, client, monkeypatch):
    _register(app, "--id-token-alg", "ES256", "--access-token-alg", "RS256")
    _run(app, "keys", "ensure")
    # The RS256 key retires in a minute, with no successor (the rotation's new key lost).
    sql(app, "UPDATE signing_key SET retired_at = :at WHERE alg = 'RS256'",
        at=utcnow() + dt.timedelta(minutes=1))  # fmt: skip
    clock = KeyClock(monkeypatch)
    assert client.get("/readyz").status_code == 200

    clock.advance(61)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["reasons"]["signing_keys"].startswith("no active RS256 signing key")

    _run(app, "keys", "ensure")
    assert client.get("/readyz").status_code == 200


def test_readyz_needs_no_key_for_a_disabled_client(app, client):
    client_id = _register(app)
    assert client.get("/readyz").status_code == 503
    _run(app, "clients", "disable", client_id)
    assert client.get("/readyz").json == {"status": "ready", "checks": READY}


def test_a_database_outage_is_a_readable_503_page(tmp_path):
    # The login page itself needs no database; logging in does, and must fail cleanly.
    app = create_app(
        base_config(SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/tillid")
    )
    client = app.test_client()
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login",
        data={"csrf_token": csrf_token(page), "username": "anna", "password": "whatever1"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert "temporarily unavailable" in response.text
    assert "Traceback" not in response.text


def test_a_login_for_a_service_during_a_database_outage_is_a_readable_503_page():
    # Its page names the service, which needs the registry: the outage page that answers
    # instead must render without it (its header looked the service up again: a bare 500).
    app = create_app(
        base_config(SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/tillid")
    )
    authorize = "/authorize?" + urlencode(
        {"response_type": "code", "client_id": "bank", "redirect_uri": "https://bank.example/cb"}
    )
    response = app.test_client().get("/login?" + urlencode({"next": authorize}))
    assert response.status_code == 503
    assert "temporarily unavailable" in response.text


def test_a_cluster_node_down_is_a_503_not_a_500(app, monkeypatch):
    # What redis-py raises when a Redis Cluster node serving the key's slot is gone.
    from redis.exceptions import ClusterDownError

    def down(*args, **kwargs):
        raise ClusterDownError("CLUSTERDOWN The cluster is down")

    # The SSO session is read by a script (EVALSHA, EVAL the first time) on Redis, by GET on
    # the embedded store.
    for command in ("get", "evalsha", "eval"):
        monkeypatch.setattr(app.extensions["tillid_store"], command, down)
    client = app.test_client()
    client.set_cookie("tillid_sso", "some-session")
    response = client.get("/me")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
