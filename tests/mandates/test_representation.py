"""Logging in for someone else (docs/representation.md): at a service that accepts
representation, a citizen holding a mandate chooses whom they log in as; the ID token's `sub`
is the principal's, `act` the agent's, `representation` the mandate; only what the mandate
and the service's registration both allow is released; ending the mandate stops the
session's tokens at once. All through HTTP; the mandates themselves are made with the
registry (the portal, the import and the API have their own tests)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from clients.claims import CPR_CLAIM
from idp.citizens.service import find_by_cpr
from idp.core.extensions import db
from idp.mandates import service as mandates
from idp.mandates.models import EndedBy
from tests.conftest import CitizenActions, csrf_token, sql
from tests.oidc.conftest import TAX_REDIRECT, Flow, redirect_params, register

CHILD_CPR = "1505154234"  # born 15 May 2015 (the seventh digit, 4, puts 15 in 2000s)
ACCEPTS = ["--accepts-representation", "--representation-claim", "name",
           "--representation-claim", CPR_CLAIM]  # fmt: skip


@pytest.fixture
def tax(app):
    return register(app, name="Skattestyrelsen", kind="public_authority",
                    redirect_uri=TAX_REDIRECT, scope="openid profile cpr address offline_access",
                    legal_basis="public_task", extra=(*ACCEPTS, "--grant-type",
                    "authorization_code", "--grant-type", "refresh_token"))  # fmt: skip


@pytest.fixture
def custody(app, runner, oidc):
    """Anna (logged in) has custody of her son Oskar, who has no account of his own."""
    created = runner.invoke(args=["citizens", "create", "--cpr", CHILD_CPR, "--given-name",
                                  "Oskar", "--family-name", "Jensen"])  # fmt: skip
    assert created.exit_code == 0, created.output
    with app.app_context():
        parent = db.session.scalar(db.select(mandates.Citizen).where(
            mandates.Citizen.username == "anna"))  # fmt: skip
        mandate = mandates.custody(
            parent, find_by_cpr(CHILD_CPR), attributes=["name", "given_name", CPR_CLAIM, "address"]
        )
        return mandate.id


def _choose(flow: Flow, choice: str, **override):
    page = flow.authorize(**override)
    assert page.status_code == 200 and 'id="act-for"' in page.text, page.text[:300]
    chosen = flow.client.post(
        "/authorize",
        query_string=flow.params(**override),
        data={"csrf_token": csrf_token(page), "act_for": choice},
    )
    assert chosen.status_code == 303, chosen.status_code
    return chosen


def _tokens_as(flow: Flow, choice: str) -> dict:
    _choose(flow, choice)
    response = flow.authorize()
    if response.status_code == 200:  # told what the authority receives, before it does
        response = flow.decide(response)
    code = redirect_params(response)["code"]
    answer = flow.exchange(code)
    assert answer.status_code == 200, answer.json
    return answer.json


def test_a_parent_logs_in_for_their_child_with_act_and_the_mandate_in_the_id_token(
    app, oidc, tax, custody
):
    flow = oidc(tax)
    own = flow.id_token(_tokens_as(flow, "self"))
    assert "act" not in own and "representation" not in own

    flow = oidc(tax)
    tokens = _tokens_as(flow, custody)
    claims = flow.id_token(tokens)
    assert claims["sub"] != own["sub"], "the child's own subject at the authority"
    assert claims["act"] == {"sub": own["sub"]}, "the parent, by their subject there"
    assert claims["representation"]["mandate_id"] == custody
    assert claims["representation"]["origin"] == "custody"
    assert claims["representation"]["attributes"] == sorted(["name", CPR_CLAIM])
    assert claims["name"] == "Oskar Jensen" and claims[CPR_CLAIM] == CHILD_CPR
    # Registered for the address and given name, but not for representation: not released.
    assert "address" not in claims and "given_name" not in claims
    assert claims["acr"] == own["acr"] and claims["amr"] == own["amr"], "the parent's login"

    userinfo = flow.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 200, userinfo.json
    assert userinfo.json["sub"] == claims["sub"] and "address" not in userinfo.json


def test_ending_the_mandate_stops_userinfo_and_refresh_at_once(app, oidc, tax, custody):
    flow = oidc(tax)
    tokens = _tokens_as(flow, custody)
    auth = (flow.service.client_id, flow.service.client_secret)
    # While the mandate is in force a refresh goes on acting for the child.
    refreshed = flow.client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=auth,
    )
    assert refreshed.status_code == 200, refreshed.json
    tokens = refreshed.json
    child = flow.client.get(
        "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert child.status_code == 200 and child.json["name"] == "Oskar Jensen", child.json
    with app.app_context():
        assert mandates.end(mandates.get(custody), EndedBy.OPERATOR)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    refused = flow.client.get("/userinfo", headers=bearer)
    assert refused.status_code == 401 and "mandate" in refused.json["error_description"]
    refreshed = flow.client.post("/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
    }, auth=auth)  # fmt: skip
    assert refreshed.status_code == 400, refreshed.json
    # And the parent is no longer offered the choice.
    page = oidc(tax).authorize()
    assert 'id="act-for"' not in page.text


def test_a_service_that_does_not_accept_representation_never_offers_it(app, oidc, custody):
    bank = register(app, scope="openid profile", legal_basis="contract")
    response = oidc(bank).authorize()
    assert 'id="act-for"' not in response.text
    assert response.status_code in (200, 302)


def test_custody_past_the_18th_birthday_is_not_offered(app, oidc, tax, custody):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    sql(app, "UPDATE mandate SET valid_until = :t WHERE id = :id", t=past, id=custody)
    assert 'id="act-for"' not in oidc(tax).authorize().text


def test_a_mandate_not_yet_accepted_is_not_offered(app, oidc, tax, custody):
    sql(app, "UPDATE mandate SET accepted_at = NULL WHERE id = :id", id=custody)
    assert 'id="act-for"' not in oidc(tax).authorize().text


def test_a_made_up_or_someone_elses_mandate_is_refused(app, oidc, tax, custody):
    flow = oidc(tax)
    page = flow.authorize()
    forged = flow.client.post(
        "/authorize",
        query_string=flow.params(),
        data={"csrf_token": csrf_token(page), "act_for": "0" * 32},
    )
    assert forged.status_code == 400
    no_csrf = flow.client.post("/authorize", query_string=flow.params(),
                               data={"act_for": custody})  # fmt: skip
    assert no_csrf.status_code == 400


def test_the_representation_claims_must_be_the_services_and_not_on_consent(app):
    refused = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Bank", "--kind", "private_service", "--redirect-uri",
        "https://bank.example/cb", "--scope", "openid profile", "--legal-basis", "consent",
        "--purpose", "p", "--accepts-representation", "--representation-claim", "name",
    ])  # fmt: skip
    assert refused.exit_code != 0 and "released on consent" in refused.output
    unknown = app.test_cli_runner().invoke(args=[
        "clients", "create", "--name", "Skat", "--kind", "public_authority", "--redirect-uri",
        "https://skat.example/cb", "--scope", "openid profile", "--legal-basis", "public_task",
        "--purpose", "p", "--accepts-representation", "--representation-claim", "address",
    ])  # fmt: skip
    assert unknown.exit_code != 0 and "not among the service's claims" in unknown.output
    shown = json.loads(app.test_cli_runner().invoke(args=["clients", "list"]).stdout)
    assert shown == [] or all(c["name"] not in ("Bank", "Skat") for c in shown)


def test_the_choice_is_in_danish_too(app, oidc, tax, custody):
    flow = oidc(tax)
    page = flow.client.get("/authorize", query_string=flow.params(),
                           headers={"Accept-Language": "da"})  # fmt: skip
    assert "Hvem logger du ind som hos Skattestyrelsen?" in page.text
    assert "Oskar Jensen" in page.text and "forældremyndighed" in page.text


def test_both_logs_show_the_release_with_proofs(app, client, oidc, tax, custody):
    """The child's log: received while Anna acted for them; Anna's log: she acted for her
    son. Each entry provable once the integrator has signed it."""
    flow = oidc(tax)
    tokens = _tokens_as(flow, custody)
    flow.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0

    parents = client.get("/api/me/access-log").json["entries"]  # Anna is logged in
    acted = [e for e in parents if e["representation"]]
    assert {e["channel"] for e in acted} == {"login", "userinfo"}
    for entry in acted:
        assert entry["representation"]["role"] == "agent"
        assert entry["representation"]["principal"] == "Oskar Jensen"
        assert entry["representation"]["mandate_id"] == custody
        assert set(entry["attributes"]) <= {"name", CPR_CLAIM}
        assert entry["verified"] is True
    page = client.get("/me/access-log", headers={"Accept-Language": "en"}).text
    assert "You acted for Oskar Jensen" in page

    childs = sql(
        app,
        "SELECT l.channel, l.representation FROM ledger_entry l"
        " JOIN citizen c ON c.id = l.citizen_id WHERE c.given_name = 'Oskar'",
    )
    assert sorted(row["channel"] for row in childs) == ["login", "userinfo"]
    for row in childs:
        said = row["representation"]
        said = json.loads(said) if isinstance(said, str) else said
        assert said["role"] == "principal" and said["agent"] == "Anna Jensen"
    verified = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert verified.exit_code == 0, verified.output


def test_the_summaries_count_releases_by_agents_apart_and_acting_for_others_not_at_all(
    app, client, oidc, tax
):
    """Oskar (with an account of his own) is in Anna's custody. Anna logs in at the tax
    authority once for herself and once for him, each login followed by userinfo (one
    login counts once). Oskar's summary: one release, made while someone acted for him.
    Anna's: her own one release only, and one time she acted for someone else."""
    oskar = CitizenActions(app, app.test_client())
    oskar.create(username="oskar", cpr=CHILD_CPR, given_name="Oskar", family_name="Jensen")
    with app.app_context():
        parent = db.session.scalar(db.select(mandates.Citizen).where(
            mandates.Citizen.username == "anna"))  # fmt: skip
        custody = mandates.custody(parent, find_by_cpr(CHILD_CPR), attributes=["name", CPR_CLAIM])
        custody_id = custody.id
    for choice in ("self", custody_id):
        flow = oidc(tax)
        tokens = _tokens_as(flow, choice)
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert flow.client.get("/userinfo", headers=bearer).status_code == 200

    anna = client.get("/api/me/access-log/summary").json
    assert anna["total"] == 1 and anna["by_agents"] == 0 and anna["acted_for"] == 1, anna
    assert [(s["name"], s["releases"]) for s in anna["services"]] == [("Skattestyrelsen", 1)]
    page = client.get("/me/access-log", headers={"Accept-Language": "en"}).text
    assert "You acted for someone else 1 time in these months." in page
    assert 'id="summary-by-agents"' not in page

    assert oskar.login("oskar").status_code == 302
    child = oskar.client.get("/api/me/access-log/summary").json
    assert child["total"] == 1 and child["by_agents"] == 1 and child["acted_for"] == 0, child
    (service,) = child["services"]
    assert (service["name"], service["releases"], service["by_agents"]) == ("Skattestyrelsen", 1, 1)
    assert {a["attribute"] for a in child["attributes"]} <= {"name", CPR_CLAIM}
    danish = oskar.client.get("/me/access-log", headers={"Accept-Language": "da"}).text
    assert "Heraf skete 1, mens en anden handlede på dine vegne med et mandat" in danish
    assert "Heraf, mens en anden handlede for dig" in danish
