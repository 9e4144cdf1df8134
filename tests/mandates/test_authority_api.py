"""The guardianship API (`mandates:write`, public authorities only), through HTTP with a real
client_credentials token: an authority appoints a guardian and ends the guardianships it
appointed; every bad request is a 4xx problem and writes nothing."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import sql
from tests.consent.test_authority_api import _authority, _service_token
from tests.oidc.conftest import register

KAREN, SOEREN, STRANGER = "0101401234", "0202701234", "0303751234"
SCOPE = "openid profile address cpr mandates:write"
CPR = "https://data.gov.dk/model/core/eid/cprNumber"


def _create(runner, cpr, given, family="Lund"):
    args = ["citizens", "create", "--cpr", cpr, "--given-name", given, "--family-name", family]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output


@pytest.fixture
def authority(app, runner):
    """Karen (the principal), Søren (her guardian-to-be), and an authority's token."""
    assert runner.invoke(args=["keys", "ensure"]).exit_code == 0
    _create(runner, KAREN, "Karen")
    _create(runner, SOEREN, "Søren")
    service = _authority(app, scope=SCOPE, name="Familieretshuset")
    return service, _service_token(app, service, "mandates:write")


def _appoint(app, headers, **body):
    body = {"principal_cpr": KAREN, "agent_cpr": SOEREN, "attributes": ["name", CPR], **body}
    return app.test_client().post("/api/mandates", headers=headers, json=body)


def _mandates(app) -> list:
    return sql(app, "SELECT * FROM mandate")


def test_an_authority_appoints_a_guardian_in_force_at_once(app, runner, authority):
    service, headers = authority
    response = _appoint(app, headers, service_kind="public_authority")
    assert response.status_code == 201, response.json
    mandate = response.json
    assert mandate["origin"] == "guardianship"
    assert mandate["appointed_by"] == service.client_id
    assert mandate["attributes"] == ["name", CPR]
    assert mandate["service_kind"] == "public_authority" and mandate["client_ids"] == []
    assert mandate["valid_until"] is None and mandate["ended_at"] is None
    assert mandate["accepted_at"] is not None and mandate["in_force"] is True
    assert KAREN not in response.text and SOEREN not in response.text
    # The operator sees it on both people.
    listed = json.loads(runner.invoke(args=["mandates", "list", "--cpr", SOEREN]).stdout)
    (held,) = listed["held"]
    assert held["id"] == mandate["id"] and held["principal"]["name"] == "Karen Lund"
    # Søren may use it at an authority that accepts representation.
    from clients.models import Client
    from idp.citizens.service import find_by_cpr
    from idp.core.extensions import db
    from idp.mandates.service import in_force_at

    tax = register(app, name="Skat", kind="public_authority", scope="openid profile",
                   legal_basis="public_task")  # fmt: skip
    sql(app, "UPDATE client SET accepts_representation = :y WHERE client_id = :c",
        y=True, c=tax.client_id)  # fmt: skip
    with app.app_context():
        found = in_force_at(find_by_cpr(SOEREN).id, db.session.get(Client, tax.client_id))
        assert [principal.given_name for _, principal in found] == ["Karen"]


def test_valid_until_is_the_last_day_in_force_in_danish_time(app, authority):
    _, headers = authority
    day = dt.date.today() + dt.timedelta(days=30)
    response = _appoint(app, headers, valid_until=day.isoformat())
    assert response.status_code == 201, response.json
    until = dt.datetime.fromisoformat(response.json["valid_until"])
    from zoneinfo import ZoneInfo

    danish = until.astimezone(ZoneInfo("Europe/Copenhagen"))
    assert (danish.date(), danish.time()) == (day + dt.timedelta(days=1), dt.time())


def test_client_ids_name_services_that_accept_representation(app, authority):
    _, headers = authority
    tax = register(app, name="Skat", kind="public_authority", scope="openid profile",
                   legal_basis="public_task")  # fmt: skip
    refused = _appoint(app, headers, client_ids=[tax.client_id])
    assert refused.status_code == 400
    assert refused.json["field"] == "client_ids"
    sql(app, "UPDATE client SET accepts_representation = :y WHERE client_id = :c",
        y=True, c=tax.client_id)  # fmt: skip
    response = _appoint(app, headers, client_ids=[tax.client_id, tax.client_id])
    assert response.status_code == 201, response.json
    assert response.json["client_ids"] == [tax.client_id]


TOMORROW = (dt.date.today() + dt.timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    ("change", "status", "detail"),
    [
        ({"principal_cpr": None}, 400, "principal_cpr is required"),
        ({"agent_cpr": 101401234}, 400, "agent_cpr is required"),
        ({"principal_cpr": "01014O1234"}, 400, "principal_cpr: a CPR number has 10 digits"),
        ({"agent_cpr": "3102801234"}, 400, "agent_cpr: the first six digits"),
        ({"agent_cpr": STRANGER}, 404, "agent_cpr: no citizen is registered"),
        ({"principal_cpr": STRANGER}, 404, "principal_cpr: no citizen is registered"),
        ({"agent_cpr": KAREN}, 400, "agent: a person cannot be their own guardian"),
        ({"attributes": None}, 400, "attributes must be a non-empty list"),
        ({"attributes": []}, 400, "attributes must be a non-empty list"),
        ({"attributes": "name"}, 400, "attributes must be a non-empty list"),
        ({"attributes": ["name", 7]}, 400, "attributes must be a non-empty list"),
        ({"attributes": ["name", "shoe_size"]}, 400, "Unknown attributes: shoe_size."),
        ({"attributes": ["place_of_birth"]}, 400, "Unknown attributes: place_of_birth."),
        ({"valid_until": "2020-01-01"}, 400, "valid_until is in the past"),
        ({"valid_until": "tomorrow"}, 400, "valid_until must be a date, YYYY-MM-DD"),
        ({"valid_until": "20991231"}, 400, "valid_until must be a date, YYYY-MM-DD"),
        ({"valid_until": "2099-02-30"}, 400, "valid_until must be a date, YYYY-MM-DD"),
        ({"valid_until": "9999-12-31"}, 400, "more than 100 years ahead"),
        ({"valid_until": TOMORROW + "T00:00:00"}, 400, "valid_until must be a date"),
        ({"valid_until": 20991231}, 400, "valid_until must be a date"),
        ({"service_kind": "wallet"}, 400, "service_kind must be public_authority or private"),
        ({"service_kind": ["public_authority"]}, 400, "service_kind must be"),
        ({"client_ids": "abc"}, 400, "client_ids must be a list"),
        ({"client_ids": [1]}, 400, "client_ids must be a list"),
        ({"client_ids": ["no-such-client"]}, 400, "client_ids: a service named does not"),
        ({"appointed_by": "someone-else"}, 400, "Unknown fields: appointed_by."),
        ({"origin": "custody"}, 400, "Unknown fields: origin."),
    ],
)
def test_a_bad_request_is_a_problem_and_writes_nothing(app, authority, change, status, detail):
    _, headers = authority
    body = {"principal_cpr": KAREN, "agent_cpr": SOEREN, "attributes": ["name"], **change}
    body = {key: value for key, value in body.items() if value is not None}
    response = app.test_client().post("/api/mandates", headers=headers, json=body)
    assert response.status_code == status, response.json
    assert response.content_type.startswith("application/problem+json")
    assert detail in response.json["detail"], response.json
    assert _mandates(app) == []


@pytest.mark.parametrize(
    "data", ["[]", '"text"', "not json", '{"a": "\\u0000"}', "null", "[" * 100000]
)
def test_a_body_that_is_not_a_json_object_is_a_problem(app, authority, data):
    _, headers = authority
    response = app.test_client().post(
        "/api/mandates", headers=headers, data=data, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.content_type.startswith("application/problem+json")
    assert _mandates(app) == []


def test_only_an_authority_with_the_scope_and_the_right_to_cpr_numbers_appoints(app, authority):
    # A token without mandates:write.
    reader = _authority(app, scope="openid profile cpr attributes:read", name="Skat")
    token = _service_token(app, reader, "attributes:read")
    assert _appoint(app, token).status_code == 403
    # An authority not registered for the CPR number may not name people by it.
    blind = _authority(app, scope="openid profile mandates:write", name="Kommune")
    response = _appoint(app, _service_token(app, blind, "mandates:write"))
    assert response.status_code == 403
    assert "may not name citizens by CPR number" in response.json["detail"]
    # No token, a made-up token.
    assert app.test_client().post("/api/mandates", json={}).status_code == 401
    bad = {"Authorization": "Bearer not-a-token"}
    assert app.test_client().post("/api/mandates", headers=bad, json={}).status_code == 401
    assert _mandates(app) == []


def test_a_private_service_cannot_register_for_the_scope(app):
    spec = {
        "name": "Nordbank",
        "kind": "private_service",
        "redirect_uris": ["http://localhost:5002/callback"],
        "grant_types": ["authorization_code", "client_credentials"],
        "scope": "openid profile mandates:write",
        "legal_basis": "consent",
        "purpose": "To serve you",
    }
    result = app.test_cli_runner().invoke(
        args=["clients", "create", "--from-file", "-"], input=json.dumps(spec)
    )
    assert result.exit_code != 0
    assert "mandates:write is for public authorities only" in result.output


def test_an_authority_ends_the_guardianship_it_appointed_and_no_other(app, runner, authority):
    _, headers = authority
    mine = _appoint(app, headers).json["id"]
    other = _authority(app, scope=SCOPE, name="Statsforvaltningen")
    other_headers = _service_token(app, other, "mandates:write")
    theirs = _appoint(app, other_headers).json["id"]
    # A parent's custody and a granted power of attorney are no authority's to end.
    _create(runner, "1203154321", "Emil")
    created = runner.invoke(
        args=[
            "citizens",
            "create",
            "--cpr",
            "0505801234",
            "--given-name",
            "Mette",
            "--family-name",
            "Lund",
            "--custody-of",
            "1203154321",
        ]
    )
    assert created.exit_code == 0, created.output
    (custody,) = json.loads(created.stdout)["custody"]
    from idp.citizens.service import find_by_cpr
    from idp.mandates import service as mandates

    with app.app_context():
        granted = mandates.grant(
            find_by_cpr(KAREN),
            SOEREN,
            "Søren Lund",
            attributes=["name"],
            valid_until=dt.datetime.now(dt.UTC) + dt.timedelta(days=9),
        ).id
    api = app.test_client()
    for refused in (theirs, custody, granted, "0" * 32, "not-an-id", "x" * 500):
        response = api.delete(f"/api/mandates/{refused}", headers=headers)
        assert response.status_code == 404, refused
        assert response.content_type.startswith("application/problem+json")
    assert sql(app, "SELECT count(*) AS n FROM mandate WHERE ended_at IS NOT NULL")[0]["n"] == 0
    response = api.delete(f"/api/mandates/{mine}", headers=headers)
    assert response.status_code == 204 and response.data == b""
    (row,) = sql(app, "SELECT ended_by, ended_at FROM mandate WHERE id = :i", i=mine)
    assert row["ended_by"] == "authority" and row["ended_at"] is not None
    assert api.delete(f"/api/mandates/{mine}", headers=headers).status_code == 204  # again
    assert api.delete(f"/api/mandates/{mine}").status_code == 401
    assert sql(app, "SELECT count(*) AS n FROM mandate WHERE ended_at IS NOT NULL")[0]["n"] == 1


def test_the_answers_match_the_openapi_document(app, authority):
    _, headers = authority
    spec = app.test_client().get("/api/openapi.json").json
    operations = spec["paths"]["/api/mandates"]["post"]["responses"]

    def matches(schema, instance):
        Draft202012Validator({**schema, "components": spec["components"]}).validate(instance)

    created = _appoint(app, headers, valid_until=TOMORROW, client_ids=[])
    assert created.status_code == 201
    matches(operations["201"]["content"]["application/json"]["schema"], created.json)
    matches(spec["components"]["schemas"]["GuardianshipRequest"],
            {"principal_cpr": KAREN, "agent_cpr": SOEREN, "attributes": ["name"],
             "valid_until": TOMORROW})  # fmt: skip
    for status, response in ((400, _appoint(app, headers, attributes=[])),
                             (404, _appoint(app, headers, agent_cpr=STRANGER))):  # fmt: skip
        assert response.status_code == status
        matches(operations[str(status)]["content"]["application/problem+json"]["schema"],
                response.json)  # fmt: skip
    deleted = spec["paths"]["/api/mandates/{mandate_id}"]["delete"]["responses"]
    assert {"204", "404"} <= set(deleted)
