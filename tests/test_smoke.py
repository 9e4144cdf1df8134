"""The whole path on both backends: ready, log in, see the page, log out."""

import pytest

from tests.conftest import BACKENDS, CitizenActions


@pytest.mark.parametrize("backend", BACKENDS)
def test_ready_login_and_logout(make_app, backend):
    app = make_app(backend)
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "store": "ok", "signing_keys": "ok"}

    actions = CitizenActions(app, client)
    actions.create(username="anna")
    response = actions.login("ANNA")
    assert response.status_code == 302
    assert response.headers["Location"] == "/me"
    page = client.get("/me")
    assert page.status_code == 200
    assert "Anna Jensen" in page.text

    assert actions.logout().headers["Location"] == "/logged-out"
    assert client.get("/me").status_code == 302
