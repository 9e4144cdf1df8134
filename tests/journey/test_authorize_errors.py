"""A service's broken link to /authorize, as the citizen meets it: a readable page in their
language that says what is wrong in plain words, never OAuth's error codes or Authlib's
descriptions; what can go back to the service still goes back, as OAuth says."""

from __future__ import annotations

import re

import pytest

from idp.sessions.pushed_requests import REQUEST_URI_PREFIX
from tests.oidc.conftest import BANK_REDIRECT, redirect_params, register

# Every error code of RFC 6749, OpenID Connect, RFC 9126 and the words Authlib describes
# them with: none of them belongs on a citizen's page.
OAUTH_WORDS = re.compile(
    r"invalid_request|invalid_client|unauthorized_client|access_denied|unsupported_response"
    r"|invalid_scope|server_error|temporarily_unavailable|invalid_request_uri|login_required"
    r"|request_not_supported|response_type|redirect_uri|client_id|The response type"
    r"|is not supported by client|Missing|Invalid",
)


@pytest.fixture
def bank(app):
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    return register(app)


def good(bank, **override):
    params = {
        "response_type": "code",
        "client_id": bank.client_id,
        "redirect_uri": bank.redirect_uri,
        "scope": "openid",
        "state": "s1",
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbWqljKuvFhM",
        "code_challenge_method": "S256",
    }
    params.update(override)
    return {name: value for name, value in params.items() if value is not None}


# (what is wrong, the query) — none of these can be answered to the service.
UNREDIRECTABLE = {
    "no parameters": lambda bank: {},
    "no client_id": lambda bank: good(bank, client_id=None),
    "an unknown client": lambda bank: good(bank, client_id="no-such-service"),
    "an unregistered redirect_uri": lambda bank: good(bank, redirect_uri="https://evil.example/"),
    "no response_type and no client": lambda bank: good(bank, response_type=None, client_id=None),
    "a bad scope and a bad redirect_uri": lambda bank: good(
        bank, scope="openid <b>admin</b>", redirect_uri="https://evil.example/"
    ),
    "a non-ASCII parameter": lambda bank: good(bank, state="ø"),
    "an unknown request_uri": lambda bank: {
        "client_id": bank.client_id,
        "request_uri": REQUEST_URI_PREFIX + "made-up",
    },
}


@pytest.mark.parametrize("language", ["da", "en"])
@pytest.mark.parametrize("case", UNREDIRECTABLE, ids=list(UNREDIRECTABLE))
def test_a_request_that_cannot_go_back_shows_plain_words(client, bank, case, language):
    response = client.get(
        "/authorize",
        query_string=UNREDIRECTABLE[case](bank),
        headers={"Accept-Language": language},
    )
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    page = response.text
    main = page[page.index("<main") : page.index("</main>")]
    assert not OAUTH_WORDS.search(main), OAUTH_WORDS.search(main).group(0)
    assert 'id="authorize-refused"' in main
    if language == "da":
        assert "Login kan ikke starte" in page and "tilbage til tjenesten" in main
    else:
        assert "The login cannot start" in page and "Go back to the service" in main
    assert "<b>admin</b>" not in page


def test_the_page_says_which_part_is_wrong(client, bank):
    english = {"Accept-Language": "en"}
    unknown = client.get("/authorize", query_string=good(bank, client_id="x"), headers=english)
    assert "does not say which service you came from" in unknown.text
    elsewhere = good(bank, redirect_uri="https://evil.example/")
    wrong_way_back = client.get("/authorize", query_string=elsewhere, headers=english)
    assert "an address the service has not registered" in wrong_way_back.text
    spent = {"client_id": bank.client_id, "request_uri": REQUEST_URI_PREFIX + "made-up"}
    expired = client.get("/authorize", query_string=spent, headers=english)
    assert "has expired or has been used already" in expired.text


@pytest.mark.parametrize(
    "override, error",
    [
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"prompt": "none"}, "login_required"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"response_type": None}, "unsupported_response_type"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
    ids=[
        "a bad scope",
        "prompt=none without a session",
        "an unknown response_mode",
        "no response_type",
        "an unknown response_type",
    ],
)
def test_what_can_go_back_to_the_service_still_does(client, bank, override, error):
    response = client.get("/authorize", query_string=good(bank, **override))
    assert response.headers["Location"].startswith(BANK_REDIRECT)
    params = redirect_params(response)
    assert params["error"] == error and params["state"] == "s1"
