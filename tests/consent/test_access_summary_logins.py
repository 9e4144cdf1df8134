"""The access summary counts one login once: the attributes a service got in the ID token and
fetched again at userinfo with the access token of that login are one release in the
summary (the log still lists both entries). Through HTTP, with real code flows."""

from __future__ import annotations

from tests.consent.test_userinfo_repeats import _change_policy, call, userinfo_entries
from tests.oidc.conftest import register


def _summary(client) -> dict:
    response = client.get("/api/me/access-log/summary")
    assert response.status_code == 200, response.json
    return response.json


def _counts(summary: dict) -> tuple[dict, dict]:
    services = {s["client_id"]: s["releases"] for s in summary["services"]}
    attributes = {a["attribute"]: a["releases"] for a in summary["attributes"]}
    return services, attributes


def _logged_entries(client) -> int:
    return len(client.get("/api/me/access-log").json["entries"])


def test_the_id_token_and_userinfo_of_one_login_count_once(app, client, oidc):
    bank = oidc(register(app))
    tokens = bank.tokens()
    call(bank, tokens)
    assert len(userinfo_entries(app)) == 1
    assert _logged_entries(client) == 2  # the log lists both: both happened
    summary = _summary(client)
    services, attributes = _counts(summary)
    assert services == {bank.service.client_id: 1} and summary["total"] == 1
    assert attributes == {"given_name": 1, "family_name": 1, "name": 1, "age_over_18": 1}
    page = client.get("/me/access-log")
    assert "In all, 1 release of your information." in page.text
    assert "A login counts once" in page.text


def test_two_logins_with_userinfo_each_count_twice_not_four_times(app, client, oidc):
    bank = oidc(register(app))
    call(bank, bank.tokens())
    bank.new_nonce()
    call(bank, bank.tokens())
    assert _logged_entries(client) == 4
    services, attributes = _counts(_summary(client))
    assert services == {bank.service.client_id: 2}
    assert attributes["age_over_18"] == 2


def test_userinfo_that_releases_something_else_than_its_login_counts(app, client, oidc):
    bank = oidc(register(app))
    tokens = bank.tokens()  # the login: the name and age, for one purpose
    # Between the login and the call, the age gets another purpose: userinfo releases the
    # name (not all the login sent, so not the same release) and the age for the new one.
    _change_policy(app, bank.service.client_id, "age_over_18", purpose="To check your age")
    call(bank, tokens)
    assert len(userinfo_entries(app)) == 2
    services, attributes = _counts(_summary(client))
    assert services == {bank.service.client_id: 3}
    assert attributes["name"] == 2 and attributes["age_over_18"] == 2


def test_another_services_login_is_never_taken_for_this_ones(app, client, oidc):
    bank = oidc(register(app))
    other = oidc(register(app, name="Andelskassen", redirect_uri="https://andel.example/cb"))
    other.tokens()  # a login at another service, at the same moment
    call(bank, bank.tokens())
    services, _ = _counts(_summary(client))
    assert services == {bank.service.client_id: 1, other.service.client_id: 1}


def test_a_userinfo_call_long_after_its_tokens_login_still_counts_once(app, client, oidc):
    """The pairing goes by when the token was issued, not when it was used: a call at the
    end of the token's life is still the same login's."""
    app.config["ACCESS_TOKEN_SECONDS"] = 3600
    bank = oidc(register(app))
    tokens = bank.tokens()
    call(bank, tokens)
    services, _ = _counts(_summary(client))
    assert services == {bank.service.client_id: 1}
    # Had the token been issued an hour later than the login (another token), it would not
    # be the login's: seen from a configuration where tokens live an hour less.
    app.config["ACCESS_TOKEN_SECONDS"] = 60
    services, _ = _counts(_summary(client))
    assert services == {bank.service.client_id: 2}


def test_the_page_counts_the_parts_of_the_name_as_one_line(app, client, oidc):
    bank = oidc(register(app))
    bank.tokens()  # the first, last and full name, and the age, in one login
    summary = _summary(client)
    # The JSON twin counts each claim; the page reads them as the citizen does.
    assert {a["attribute"] for a in summary["attributes"]} >= {"given_name", "family_name"}
    page = client.get("/me/access-log").text
    table = page[
        page.index('id="table-attributes"') : page.index(
            "</table>", page.index('id="table-attributes"')
        )
    ]
    assert "Your name</a>" in table
    assert "Your first name" not in table and "Your full name" not in table
    assert "Your name: 1 time, to 1 service or authority" in page
    # Each entry of the log too: one line for the name.
    assert "Your name, Whether you are over 18" in page
