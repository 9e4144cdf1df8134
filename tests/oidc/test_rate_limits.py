"""Rate limits at the machine endpoints (idp/core/rate_limits.py), through HTTP: a client spends
its own budget once its credential checked out (the token endpoints, userinfo, the
authorities' APIs, /api/me), another client is unaffected, and what no credential vouches
for spends its source address's budget, never the client's it names.

Each test runs with the defaults until its setup is done, then lowers the limit under test
in the app's configuration (read at each request; a new limit is a new window)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import CitizenActions, sql
from tests.consent.test_authority_api import _authority, _service_token
from tests.oidc.conftest import Flow, register
from tests.security.conftest import claims_of, header_of, own_key_forgeries, unsigned

ATTACKER = {"REMOTE_ADDR": "192.0.2.66"}
AUTHORITY = {"REMOTE_ADDR": "198.51.100.10"}  # one address, a NAT in front of its servers
SPA = "https://spa.example"


def _limit(app, **settings: str) -> None:
    app.config.update(settings)


def _oauth_429(response) -> None:
    """Too many, as an OAuth endpoint says it: {"error", "error_description"}, Retry-After."""
    assert response.status_code == 429, (response.status_code, response.get_data(as_text=True))
    assert response.json["error"] == "invalid_request"
    assert "Too many requests" in response.json["error_description"]
    assert response.headers["Retry-After"] == "60"  # the window: the longest wait
    assert "WWW-Authenticate" not in response.headers


def _problem_429(response) -> None:
    """Too many, as the APIs say it: RFC 9457 problem details, Retry-After."""
    assert response.status_code == 429, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 429 and response.json["title"] == "Too many requests"
    assert response.headers["Retry-After"] == "60"


def _client_credentials(client, service, environ=AUTHORITY):
    return client.post("/token", data={"grant_type": "client_credentials",
                                       "scope": "attributes:read"},
                       auth=(service.client_id, service.client_secret),
                       environ_base=environ)  # fmt: skip


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# The token endpoints


def test_a_client_spends_its_own_budget_at_the_token_endpoints_not_its_sources(
    app, client, oidc, caplog
):
    """A big authority behind one address: its authenticated calls never touch the source
    budget (here smaller than its own); over its own it gets 429, its neighbour does not.
    The operator's log says which client."""
    skat, kommune = _authority(app), _authority(app, name="Kommunen")
    _limit(app, TOKEN_RATE_LIMIT="2 per minute", TOKEN_RATE_LIMIT_PER_CLIENT="4 per minute")
    api = app.test_client()
    assert _client_credentials(api, skat).status_code == 200
    token = _client_credentials(api, skat).json["access_token"]
    auth = (skat.client_id, skat.client_secret)
    # Token, introspection and revocation: one budget.
    assert api.post("/introspect", data={"token": token}, auth=auth,
                    environ_base=AUTHORITY).status_code == 200  # fmt: skip
    assert api.post("/revoke", data={"token": "x"}, auth=auth,
                    environ_base=AUTHORITY).status_code == 200  # fmt: skip
    _oauth_429(_client_credentials(api, skat))
    for path in ("/introspect", "/revoke", "/par", "/bc-authorize"):  # where clients authenticate
        _oauth_429(api.post(path, data={"token": token, "client_id": skat.client_id}, auth=auth,
                            environ_base=AUTHORITY))  # fmt: skip
    assert _client_credentials(api, kommune).status_code == 200, "the neighbour has its own"
    logged = [r for r in caplog.records if getattr(r, "event", None) == "rate_limited"]
    assert logged and {(r.budget, r.client_id) for r in logged} == {
        ("TOKEN_RATE_LIMIT_PER_CLIENT", skat.client_id)
    }


def test_attack_failed_client_authentication_spends_the_senders_source_budget(app, client,
                                                                              oidc):  # fmt: skip
    """Wrong secrets, an unknown client, garbled Basic credentials in an authority's name:
    they spend the sender's source budget, and once that is spent even the right secret
    from there is refused (a lucky guess buys nothing). The authority's budget is whole."""
    skat = _authority(app)
    _limit(app, TOKEN_RATE_LIMIT="3 per minute", TOKEN_RATE_LIMIT_PER_CLIENT="3 per minute")
    attacker = app.test_client()
    guesses = [
        {"auth": (skat.client_id, "wrong")},
        {"data": {"client_id": skat.client_id, "client_secret": "wrong"}},
        {"headers": {"Authorization": "Basic %%%"}},
    ]
    for guess in guesses:
        data = {"grant_type": "client_credentials", **guess.pop("data", {})}
        refused = attacker.post("/token", data=data, environ_base=ATTACKER, **guess)
        assert refused.status_code in (400, 401), refused.json
    _oauth_429(attacker.post("/token", data={"grant_type": "client_credentials"},
                             auth=(skat.client_id, skat.client_secret),
                             environ_base=ATTACKER))  # fmt: skip
    _oauth_429(attacker.post("/introspect", data={"token": "x"}, auth=(skat.client_id, "wrong"),
                             environ_base=ATTACKER))  # fmt: skip
    authority = app.test_client()
    assert [_client_credentials(authority, skat).status_code for _ in range(3)] == [200] * 3


def test_attack_a_public_clients_name_spends_only_the_senders_source_budget(app, client, oidc):
    """A public client proves nothing at the token endpoint: junk sent in its name counts
    against the sender's address, and the app still works for everyone else."""
    spa = register(app, name="Borger-app", redirect_uri=f"{SPA}/callback", legal_basis="contract",
                   extra=["--auth-method", "none"])  # fmt: skip
    _limit(app, TOKEN_RATE_LIMIT="2 per minute", TOKEN_RATE_LIMIT_PER_CLIENT="1 per minute")
    attacker = app.test_client()
    junk = {"grant_type": "refresh_token", "refresh_token": "guess", "client_id": spa.client_id}
    for _ in range(2):
        assert attacker.post("/token", data=junk, environ_base=ATTACKER).status_code == 400
    _oauth_429(attacker.post("/token", data=junk, environ_base=ATTACKER))
    flow = Flow(app, client, spa)
    for _ in range(2):  # more than the per-client budget: a public client has none
        exchanged = flow.exchange(flow.code(), client_id=spa.client_id)
        assert exchanged.status_code == 200, exchanged.json
        flow.new_nonce()


# userinfo


def test_userinfo_a_service_spends_its_own_budget_and_another_service_does_not(app, client,
                                                                               oidc):  # fmt: skip
    """A confidential service keeps its citizens' tokens on its server: one budget for
    all of them. Another service's tokens for the same citizen have their own."""
    bank, skat = register(app), _authority(app)
    anna_at_bank = oidc(bank).tokens()["access_token"]
    anna_at_skat = oidc(skat).tokens()["access_token"]
    bodil = CitizenActions(app, app.test_client())
    bodil.create(username="bodil", given_name="Bodil", family_name="Holm", cpr="0101901999")
    assert bodil.login("bodil").status_code == 302
    bodil_at_bank = Flow(app, bodil.client, bank).tokens()["access_token"]
    _limit(app, USERINFO_RATE_LIMIT="2 per minute", TOKEN_RATE_LIMIT="1 per minute")
    server = app.test_client()
    assert server.get("/userinfo", headers=_bearer(anna_at_bank)).status_code == 200
    assert server.post("/userinfo", headers=_bearer(bodil_at_bank)).status_code == 200
    _oauth_429(server.get("/userinfo", headers=_bearer(anna_at_bank)))
    _oauth_429(server.get("/userinfo", headers=_bearer(bodil_at_bank)))
    assert server.get("/userinfo", headers=_bearer(anna_at_skat)).status_code == 200


def test_userinfo_a_citizens_app_spends_per_citizen(app, client, oidc):
    """A public client's tokens live on citizens' devices: each citizen has a budget at the
    app, so one of them cannot spend everyone's. The browser may read the 429 (CORS)."""
    spa = register(app, name="Borger-app", redirect_uri=f"{SPA}/callback", legal_basis="contract",
                   extra=["--auth-method", "none"])  # fmt: skip
    anna_flow = oidc(spa)
    anna = anna_flow.exchange(anna_flow.code(), client_id=spa.client_id).json["access_token"]
    bodil = CitizenActions(app, app.test_client())
    bodil.create(username="bodil", given_name="Bodil", family_name="Holm", cpr="0101901999")
    assert bodil.login("bodil").status_code == 302
    bodil_flow = Flow(app, bodil.client, spa)
    bodil_token = bodil_flow.exchange(bodil_flow.code(), client_id=spa.client_id).json
    _limit(app, USERINFO_RATE_LIMIT="2 per minute")
    browser = {"Origin": SPA}
    for _ in range(2):
        assert client.get("/userinfo", headers={**browser, **_bearer(anna)}).status_code == 200
    spent = client.get("/userinfo", headers={**browser, **_bearer(anna)})
    _oauth_429(spent)
    assert spent.headers["Access-Control-Allow-Origin"] == SPA
    bodils = bodil.client.get("/userinfo", headers=_bearer(bodil_token["access_token"]))
    assert bodils.status_code == 200 and bodils.json["given_name"] == "Bodil"


def test_attack_forged_tokens_at_userinfo_spend_the_senders_budget_not_the_services(
    app, client, oidc
):
    """Forgeries of a service's live token (unsigned, signed with the attacker's own key,
    edited) and plain junk: refused, counted against the attacker's address (429 once it
    is spent), and the service's own budget untouched."""
    bank = register(app)
    token = oidc(bank).tokens()["access_token"]
    _limit(app, USERINFO_RATE_LIMIT="2 per minute", TOKEN_RATE_LIMIT="4 per minute")
    forged = [
        unsigned({**header_of(token), "alg": "none"}, claims_of(token)),
        *own_key_forgeries(token).values(),
        "not-a-token",
    ]
    attacker = app.test_client()
    answers = [attacker.get("/userinfo", headers=_bearer(f), environ_base=ATTACKER)
               for f in forged]  # fmt: skip
    assert [a.status_code for a in answers[:4]] == [401] * 4
    for answer in answers[4:]:
        _oauth_429(answer)
    server = app.test_client()
    assert [server.get("/userinfo", headers=_bearer(token)).status_code
            for _ in range(2)] == [200, 200]  # fmt: skip


def test_a_revoked_token_at_userinfo_is_refused_at_once_and_spends_the_senders_budget(
    app, client, oidc
):
    """A service's token revoked: the next userinfo call with it is refused, and such calls
    count against the sender's address (429 once it is spent), never against the service,
    whose live tokens keep their budget; with that budget spent, the revoked token is still
    told it is invalid, not to wait."""
    bank = register(app)
    revoked, live = (oidc(bank).tokens()["access_token"] for _ in range(2))
    server = app.test_client()
    assert server.get("/userinfo", headers=_bearer(revoked)).status_code == 200
    revocation = server.post("/revoke", data={"token": revoked},
                             auth=(bank.client_id, bank.client_secret))  # fmt: skip
    assert revocation.status_code == 200
    _limit(app, USERINFO_RATE_LIMIT="2 per minute", TOKEN_RATE_LIMIT="2 per minute")
    answers = [server.get("/userinfo", headers=_bearer(revoked), environ_base=ATTACKER)
               for _ in range(3)]  # fmt: skip
    assert [a.status_code for a in answers[:2]] == [401, 401]
    assert answers[0].headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    _oauth_429(answers[2])
    assert [server.get("/userinfo", headers=_bearer(live)).status_code
            for _ in range(2)] == [200, 200]  # fmt: skip
    _oauth_429(server.get("/userinfo", headers=_bearer(live)))
    elsewhere = {"REMOTE_ADDR": "192.0.2.77"}
    still = server.get("/userinfo", headers=_bearer(revoked), environ_base=elsewhere)
    assert still.status_code == 401 and still.json["error"] == "invalid_token"


# The authorities' APIs


def test_the_attribute_and_report_apis_spend_the_authoritys_budget(app, client, oidc):
    skat, kommune = _authority(app), _authority(app, name="Kommunen")
    flow = oidc(skat)
    sub = flow.id_token(flow.tokens())["sub"]
    skat_api = _service_token(app, skat, "attributes:read ledger:report")
    kommune_api = _service_token(app, kommune, "attributes:read")
    _limit(app, API_RATE_LIMIT="2 per minute", TOKEN_RATE_LIMIT="1 per minute")
    api = app.test_client()
    read = f"/api/citizens/{sub}/attributes?claims=address"
    assert api.get(read, headers=skat_api, environ_base=AUTHORITY).status_code == 200
    bad_report = api.post("/api/ledger/reports", headers=skat_api, json={},
                          environ_base=AUTHORITY)  # fmt: skip
    assert bad_report.status_code == 400  # a call all the same
    spent = api.get(read, headers=skat_api, environ_base=AUTHORITY)
    _problem_429(spent)
    _problem_429(api.post("/api/ledger/reports", headers=skat_api, json={},
                          environ_base=AUTHORITY))  # fmt: skip
    other = api.get(f"/api/citizens/{sub}/attributes?claims=address", headers=kommune_api,
                    environ_base=AUTHORITY)  # fmt: skip
    assert other.status_code == 200, "another authority, same address: its own budget"
    # The answer is one the API document describes.
    spec = api.get("/api/openapi.json").json
    schema = spec["paths"]["/api/citizens/{sub}/attributes"]["get"]["responses"]["429"]
    problem = schema["content"]["application/problem+json"]["schema"]
    Draft202012Validator({**problem, "components": spec["components"]}).validate(spent.json)


def test_attack_forged_service_tokens_at_the_api_spend_the_senders_budget(app, client, oidc):
    skat = _authority(app)
    headers = _service_token(app, skat, "attributes:read")
    token = headers["Authorization"].removeprefix("Bearer ")
    _limit(app, API_RATE_LIMIT="1 per minute", TOKEN_RATE_LIMIT="2 per minute")
    attacker = app.test_client()
    path = "/api/citizens/by-cpr/attributes"
    body = {"cpr": "0101901234", "claims": ["address"]}
    forged = unsigned({**header_of(token), "alg": "none"}, claims_of(token))
    for presented in (forged, "junk"):
        refused = attacker.post(path, json=body, headers=_bearer(presented), environ_base=ATTACKER)
        assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
    _problem_429(attacker.post(path, json=body, headers=_bearer(forged), environ_base=ATTACKER))
    own = app.test_client().post(path, json=body, headers=headers)
    assert own.status_code == 404, own.json  # through (nobody with that CPR number here)


# The citizen's own account


def test_the_account_api_spends_the_apps_or_the_logged_in_citizens_budget(app, client, oidc):
    reader = register(app, name="Mit Overblik", scope="openid me")
    app_token = oidc(reader).tokens()["access_token"]
    bodil = CitizenActions(app, app.test_client())
    bodil.create(username="bodil", given_name="Bodil", family_name="Holm", cpr="0101901999")
    assert bodil.login("bodil").status_code == 302
    _limit(app, API_RATE_LIMIT="2 per minute", TOKEN_RATE_LIMIT="1 per minute")
    assert client.get("/api/me").status_code == 200
    assert client.get("/api/me/consents").status_code == 200
    _problem_429(client.get("/api/me/sessions"))  # Anna's browser spent hers
    assert bodil.client.get("/api/me").status_code == 200, "Bodil has her own"
    reading = app.test_client()  # the app's server: its own budget, not Anna's
    assert reading.get("/api/me", headers=_bearer(app_token)).status_code == 200
    assert reading.get("/api/me/access-log", headers=_bearer(app_token)).status_code == 200
    _problem_429(reading.get("/api/me", headers=_bearer(app_token)))
    # Without a login or a token: the source address's budget.
    stranger = app.test_client()
    assert stranger.get("/api/me", environ_base=ATTACKER).status_code == 401
    _problem_429(stranger.get("/api/me", environ_base=ATTACKER))


@pytest.mark.parametrize("name", ["USERINFO_RATE_LIMIT", "API_RATE_LIMIT"])
def test_a_spent_budget_is_refused_before_the_ledger_is_written(app, client, oidc, name):
    """A 429 releases nothing: no ledger entry for the refused call."""
    skat = _authority(app)
    flow = oidc(skat)
    tokens = flow.tokens()
    sub = flow.id_token(tokens)["sub"]
    headers = _service_token(app, skat, "attributes:read")
    _limit(app, **{name: "1 per minute"})
    call = {
        "USERINFO_RATE_LIMIT": lambda: app.test_client().get(
            "/userinfo", headers=_bearer(tokens["access_token"])
        ),
        "API_RATE_LIMIT": lambda: app.test_client().get(
            f"/api/citizens/{sub}/attributes?claims=address", headers=headers
        ),
    }[name]
    assert call().status_code == 200
    entries = sql(app, "SELECT count(*) AS n FROM ledger_entry")[0]["n"]
    assert call().status_code == 429
    assert sql(app, "SELECT count(*) AS n FROM ledger_entry")[0]["n"] == entries
