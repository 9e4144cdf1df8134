"""RP-initiated logout 1.0: back to a registered address, with state, only on a valid hint."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.conftest import csrf_token
from tests.oidc.conftest import register

BYE = "https://bank.example/goodbye"


def _logged_in_service(app, oidc):
    flow = oidc(register(app, extra=["--post-logout-redirect-uri", BYE]))
    return flow, flow.tokens()["id_token"]


def _logout(client, **params):
    url = "/logout?" + urlencode(params)
    page = client.get(url)
    if page.status_code != 200:
        return page, None
    return page, client.post(url, data={"csrf_token": csrf_token(page)})


@pytest.mark.cluster
def test_a_service_logs_the_citizen_out_and_gets_them_back(app, client, oidc):
    _, id_token = _logged_in_service(app, oidc)
    page, done = _logout(client, id_token_hint=id_token, post_logout_redirect_uri=BYE, state="s1")
    assert "Nordbank asks to log you out of Tillid." in page.text
    assert done.status_code == 302 and done.headers["Location"] == f"{BYE}?state=s1"
    assert client.get("/me").status_code == 302  # the SSO session is over


def test_an_unregistered_address_is_never_followed(app, client, oidc):
    _, id_token = _logged_in_service(app, oidc)
    _, done = _logout(client, id_token_hint=id_token,
                      post_logout_redirect_uri="https://evil.example/")  # fmt: skip
    assert done.headers["Location"] == "/logged-out"


def test_without_an_id_token_hint_there_is_no_redirect(app, client, oidc):
    flow, _ = _logged_in_service(app, oidc)
    _, done = _logout(client, client_id=flow.service.client_id, post_logout_redirect_uri=BYE)
    assert done.headers["Location"] == "/logged-out"


def test_a_bad_hint_changes_nothing(app, client, oidc):
    _, id_token = _logged_in_service(app, oidc)
    for hint in ["garbage", id_token[:-4] + "AAAA", "eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0."]:
        page, _ = _logout(client, id_token_hint=hint, post_logout_redirect_uri=BYE)
        assert page.status_code == 400 and "not valid" in page.text
    assert client.get("/me").status_code == 200  # still logged in


def test_an_access_token_is_no_id_token_hint(app, client, oidc):
    flow = oidc(register(app, extra=["--post-logout-redirect-uri", BYE]))
    access_token = flow.tokens()["access_token"]
    page, _ = _logout(client, id_token_hint=access_token, post_logout_redirect_uri=BYE)
    assert page.status_code == 400


def test_a_client_id_that_is_not_the_hints_audience_is_refused(app, client, oidc):
    _, id_token = _logged_in_service(app, oidc)
    other = register(app, name="Other", redirect_uri="https://other.example/cb")
    page, _ = _logout(client, id_token_hint=id_token, client_id=other.client_id)
    assert page.status_code == 400


def test_already_logged_out_goes_straight_back(app, client, citizens, oidc):
    _, id_token = _logged_in_service(app, oidc)
    citizens.logout()
    response = client.get("/logout?" + urlencode(
        {"id_token_hint": id_token, "post_logout_redirect_uri": BYE, "state": "s2"}))  # fmt: skip
    assert response.status_code == 302 and response.headers["Location"] == f"{BYE}?state=s2"


def test_logout_needs_the_confirmation_form(app, client, oidc):
    _, id_token = _logged_in_service(app, oidc)
    url = "/logout?" + urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": BYE})
    assert client.post(url, data={}).status_code == 400
    assert client.get("/me").status_code == 200


def test_discovery_names_the_end_session_endpoint(client, oidc):
    meta = client.get("/.well-known/openid-configuration").json
    assert meta["end_session_endpoint"] == "http://localhost:5000/logout"
