"""The login journey through HTTP: coming from a service, every page names it and counts
the same steps; the header's account links appear only after the whole login and never
during one for a service; cancelling goes back to the service with access_denied."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import after_password, csrf_token, login
from tests.idp.test_phone_requests import _phone
from tests.oidc.conftest import BANK_REDIRECT, Flow, redirect_params, register

PASSWORD = "correct horse battery"
# A registrant chooses the name: it must come out as text, never as markup.
TRICKY_NAME = 'Nordbank <img src=x onerror="alert(1)"> & Co'
ACCOUNT_NAV = 'aria-label="Your account"'


@pytest.fixture
def bank(app):
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    return register(app, name=TRICKY_NAME)


@pytest.fixture
def start(app, client, citizens, bank):
    """Anna (an app and a phone) at the service's link, not logged in: the login page's URL."""
    anna = citizens.create()
    _phone(app, anna["id"])
    flow = Flow(app, client, bank)
    response = flow.authorize()
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("/login?")
    return flow, location


def destination_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["next"][0]


def step_counter(page) -> tuple[int, int]:
    found = re.search(r"Step ([0-9]) of ([0-9])", page.text)
    assert found, "no step counter"
    return int(found.group(1)), int(found.group(2))


def names_the_service(page) -> bool:
    escaped = html.escape(TRICKY_NAME, quote=False)
    return f"Log in to {escaped}" in page.text.replace("&#34;", '"').replace("&#39;", "'")


def assert_no_markup_from_the_name(page) -> None:
    assert "<img src=x" not in page.text


def test_every_page_of_a_password_journey_names_the_service_and_counts_three_steps(
    client, citizens, start
):
    flow, login_url = start
    destination = destination_of(login_url)
    page = client.get(login_url)
    assert names_the_service(page) and step_counter(page) == (1, 3)
    assert re.search(r"<title>Log in to Nordbank &lt;img", page.text)
    assert re.search(r"<h1>Log in to Nordbank &lt;img", page.text)
    assert_no_markup_from_the_name(page)

    sent = login(client, "anna", PASSWORD, destination)
    code_url = sent.headers["Location"]  # the service needs two factors: on to the second
    assert code_url.startswith("/login/code?") and after_password(sent) == destination
    code_page = client.get(code_url)
    assert names_the_service(code_page) and step_counter(code_page) == (2, 3)
    assert ACCOUNT_NAV not in code_page.text, "no account links after the password alone"
    recovery = client.get("/login/recovery", query_string={"next": destination})
    assert names_the_service(recovery) and step_counter(recovery) == (2, 3)
    assert_no_markup_from_the_name(recovery)

    consent = citizens.client.get(citizens.second_factor(destination).headers["Location"])
    assert consent.status_code == 200 and "Share your information with" in consent.text
    assert step_counter(consent) == (3, 3)
    assert ACCOUNT_NAV not in consent.text, "no account links during a login for a service"
    assert '<a class="tillid-brand"' not in consent.text
    assert_no_markup_from_the_name(consent)
    assert "code" in redirect_params(flow.decide(consent))


def test_every_page_of_a_phone_journey_counts_the_same_three_steps(client, start):
    _, login_url = start
    destination = destination_of(login_url)
    page = client.get("/login/app", query_string={"next": destination})
    assert names_the_service(page) and step_counter(page) == (1, 3)
    sent = client.post(
        "/login/app",
        data={"csrf_token": csrf_token(page), "username": "anna", "next": destination},
    )
    waiting = client.get(sent.headers["Location"])
    assert names_the_service(waiting) and step_counter(waiting) == (2, 3)
    assert_no_markup_from_the_name(waiting)


def test_without_a_service_the_pages_count_two_steps_and_say_tillid(client, citizens):
    citizens.create()
    page = client.get("/login")
    assert "<h1>Log in to Tillid</h1>" in page.text and step_counter(page) == (1, 2)
    assert 'id="journey-service"' not in page.text and 'value="deny"' not in page.text
    assert login(client, "anna", PASSWORD).status_code == 302
    for path in ("/login/code", "/login/recovery", "/login/app"):
        shown = client.get(path, query_string={"next": "/me"})
        assert step_counter(shown)[1] == 2, path
        assert 'id="journey-service"' not in shown.text


def test_the_account_links_appear_only_after_the_whole_login(client, citizens):
    citizens.create()
    assert ACCOUNT_NAV not in client.get("/login").text
    assert login(client, "anna", PASSWORD).status_code == 302
    assert ACCOUNT_NAV not in client.get("/login/code?next=/me").text
    assert ACCOUNT_NAV not in client.get("/me/security/totp", follow_redirects=True).text
    assert citizens.second_factor("/me").headers["Location"] == "/me"
    me = client.get("/me")
    assert ACCOUNT_NAV in me.text and '<a class="tillid-brand"' in me.text


@pytest.mark.parametrize("where", ["/login", "/login/code", "/login/recovery", "/login/app"])
def test_cancel_goes_back_to_the_service_with_access_denied(client, start, where):
    flow, login_url = start
    destination = destination_of(login_url)
    if where in ("/login/code", "/login/recovery"):
        assert login(client, "anna", PASSWORD, destination).status_code == 302
    page = client.get(where, query_string={"next": destination})
    assert "Cancel and go back to Nordbank &lt;img" in page.text
    action = html.unescape(re.search(r'<form method="post" action="([^"]*)" class="tillid-journey'
                                     r'-cancel">', page.text).group(1))  # fmt: skip
    assert action == destination
    response = client.post(action, data={"csrf_token": csrf_token(page), "decision": "deny"})
    assert response.headers["Location"].startswith(BANK_REDIRECT)
    params = redirect_params(response)
    assert params["error"] == "access_denied" and params["state"] == flow.state
    assert params["iss"] == "http://localhost:5000"


def test_a_cancel_without_the_forms_token_is_refused(client, start):
    _, login_url = start
    response = client.post(destination_of(login_url), data={"decision": "deny"})
    assert response.status_code == 400 and "Location" not in response.headers


def test_in_danish_the_login_is_at_the_service_and_counts_trin(client, start):
    _, login_url = start
    page = client.get(login_url, headers={"Accept-Language": "da"})
    assert "<h1>Log på hos Nordbank &lt;img" in page.text
    assert "Trin 1 af 3" in page.text
    assert "Annullér og gå tilbage til Nordbank &lt;img" in page.text
    assert "Godkend og gå tilbage til Nordbank &lt;img" in page.text


def test_setting_up_a_first_authenticator_for_a_service_keeps_the_header_closed(
    client, citizens, bank
):
    citizens.create(username="bodil", totp=False)
    flow = Flow(citizens.app, client, bank)
    destination = destination_of(flow.authorize().headers["Location"])
    assert login(client, "bodil", PASSWORD, destination).status_code == 302
    enrol = client.get(destination, follow_redirects=True)
    assert enrol.request.path == "/me/security/totp", enrol.request.path
    assert ACCOUNT_NAV not in enrol.text and '<a class="tillid-brand"' not in enrol.text
