"""Liveness and readiness as a load balancer sees them."""

from idp.app import create_app
from tests.conftest import base_config, csrf_token


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_checks_database_and_store(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "checks": {"database": "ok", "store": "ok"}}


def test_readyz_is_503_when_the_store_is_unreachable(tmp_path):
    app = create_app(
        base_config(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'x.db'}",
            REDIS_URL="redis://127.0.0.1:1/0",
        )
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "ok", "store": "unavailable"}


def test_readyz_is_503_when_the_database_is_unreachable():
    app = create_app(
        base_config(SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/tillid")
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "unavailable", "store": "ok"}


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


def test_a_cluster_node_down_is_a_503_not_a_500(app, monkeypatch):
    # What redis-py raises when a Redis Cluster node serving the key's slot is gone.
    from redis.exceptions import ClusterDownError

    def down(*args, **kwargs):
        raise ClusterDownError("CLUSTERDOWN The cluster is down")

    monkeypatch.setattr(app.extensions["tillid_store"], "get", down)
    client = app.test_client()
    client.set_cookie("tillid_sso", "some-session")
    response = client.get("/me")
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
