"""The authorities' APIs: attributes by pairwise sub or CPR (attributes:read), and reported
lookups (ledger:report); every answer ledgered, every refusal a problem and no entry."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from tests.conftest import sql
from tests.oidc.conftest import Service, register

TAX_REDIRECT = "http://localhost:5001/callback"
CPR = "https://data.gov.dk/model/core/eid/cprNumber"


def _authority(app, *, scope="openid profile address cpr attributes:read ledger:report",
               name="Skattestyrelsen", claims=None) -> Service:  # fmt: skip
    spec = {
        "name": name,
        "kind": "public_authority",
        "redirect_uris": [TAX_REDIRECT],
        "grant_types": ["authorization_code", "client_credentials"],
        "scope": scope,
        "legal_basis": "public_task",
        "purpose": "To assess your tax",
        "claims": claims or {},
    }
    result = app.test_cli_runner().invoke(
        args=["clients", "create", "--from-file", "-"], input=json.dumps(spec)
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    return Service(created["client_id"], created["client_secret"], TAX_REDIRECT, scope)


def _service_token(app, service: Service, scope: str) -> dict:
    response = app.test_client().post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(service.client_id, service.client_secret),
    )
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


@pytest.fixture
def tax(app, client, oidc):
    """The authority, the sub it learnt at Anna's login there, and its API token."""
    authority = _authority(app)
    flow = oidc(authority)
    sub = flow.id_token(flow.tokens())["sub"]
    headers = _service_token(app, authority, "attributes:read ledger:report")
    return authority, sub, headers


def _entries(app, channel: str) -> list:
    return sql(app, "SELECT attributes, client_id FROM ledger_entry WHERE channel = :c", c=channel)


def test_an_authority_reads_attributes_by_the_sub_it_knows_and_the_read_is_ledgered(
    app, client, tax
):
    _, sub, headers = tax
    api = app.test_client()
    response = api.get(f"/api/citizens/{sub}/attributes?claims=given_name,address", headers=headers)
    assert response.status_code == 200, response.json
    assert response.json["sub"] == sub
    assert response.json["attributes"]["given_name"] == "Anna"
    assert response.json["attributes"]["address"]["street_address"] == "Vesterbrogade 1"
    assert {r["legal_basis"] for r in response.json["released"]} == {"public_task"}
    log = client.get("/api/me/access-log?channel=attribute_api").json["entries"]
    assert len(log) == 1 and log[0]["service"]["name"] == "Skattestyrelsen"
    assert sorted(log[0]["attributes"]) == ["address", "given_name"]


def test_repeated_claims_parameters_work_too(app, tax):
    _, sub, headers = tax
    response = app.test_client().get(
        f"/api/citizens/{sub}/attributes?claims=given_name&claims=family_name", headers=headers
    )
    assert set(response.json["attributes"]) == {"given_name", "family_name"}


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),  # no claims named
        ("?claims=shoe_size", 400),  # not an attribute
        ("?claims=email", 403),  # not in the authority's registration
    ],
)
def test_bad_attribute_requests_are_problems_and_leave_no_entry(app, tax, query, status):
    _, sub, headers = tax
    response = app.test_client().get(f"/api/citizens/{sub}/attributes{query}", headers=headers)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert _entries(app, "attribute_api") == []


def test_consent_based_claims_are_never_released_through_the_api(app, client, oidc):
    by_consent = {"email": {"legal_basis": "consent", "purpose": "Reminders"}}
    authority = _authority(
        app, name="Kommunen", scope="openid profile email attributes:read", claims=by_consent
    )
    flow = oidc(authority)
    sub = flow.id_token(flow.tokens())["sub"]  # Anna consents to e-mail at this login
    headers = _service_token(app, authority, "attributes:read")
    response = app.test_client().get(f"/api/citizens/{sub}/attributes?claims=email",
                                     headers=headers)  # fmt: skip
    assert response.status_code == 403 and response.json["not_allowed"] == ["email"]
    assert _entries(app, "attribute_api") == []


def test_a_sub_never_given_to_this_sector_finds_nobody(app, client, oidc, tax):
    _, tax_sub, headers = tax
    bank = register(app)  # another sector: Anna's sub there is not the tax authority's
    flow = oidc(bank)
    bank_sub = flow.id_token(flow.tokens())["sub"]
    api = app.test_client()
    assert bank_sub != tax_sub
    for sub in (bank_sub, "made-up", "x" * 200):
        response = api.get(f"/api/citizens/{sub}/attributes?claims=given_name", headers=headers)
        assert response.status_code in (400, 404), sub
        assert response.mimetype == "application/problem+json"
    assert _entries(app, "attribute_api") == []


def test_the_api_needs_an_authoritys_own_token_with_the_scope(app, client, oidc, tax):
    authority, sub, _ = tax
    api = app.test_client()
    path = f"/api/citizens/{sub}/attributes?claims=given_name"
    assert api.get(path).status_code == 401
    report_only = _service_token(app, authority, "ledger:report")
    refused = api.get(path, headers=report_only)
    assert refused.status_code == 403 and refused.json["error"] == "insufficient_scope"
    # A citizen's token (from a login) never carries an API scope.
    citizen_token = oidc(authority).tokens()
    assert "attributes:read" not in citizen_token["scope"]
    as_citizen = api.get(path, headers={"Authorization": f"Bearer {citizen_token['access_token']}"})
    assert as_citizen.status_code == 403


def test_a_private_service_cannot_register_the_api_scopes(app):
    for scope in ("profile attributes:read", "profile ledger:report"):
        result = app.test_cli_runner().invoke(args=[
            "clients", "create", "--name", "Bank", "--kind", "private_service",
            "--grant-type", "client_credentials", "--scope", scope,
            "--legal-basis", "contract", "--purpose", "p",
        ])  # fmt: skip
        assert result.exit_code != 0 and "public authorities only" in result.output


def test_an_authority_may_name_a_citizen_by_cpr_in_the_body(app, client, tax, citizens):
    _, sub, headers = tax
    export = client.get("/me/export.json").json
    anna_cpr = {a["name"]: a["value"] for a in export["data"]["attributes"]}["cpr"]
    api = app.test_client()
    response = api.post("/api/citizens/by-cpr/attributes", headers=headers,
                        json={"cpr": anna_cpr, "claims": ["family_name", CPR]})  # fmt: skip
    assert response.status_code == 200, response.json
    assert response.json["sub"] == sub and response.json["attributes"][CPR] == anna_cpr
    for body, status in [
        ({"cpr": "not a cpr", "claims": ["family_name"]}, 400),
        ({"cpr": "3112991234", "claims": ["family_name"]}, 404),  # no such citizen
        ({"claims": ["family_name"]}, 400),  # nobody named
        ({"cpr": anna_cpr, "sub": sub, "claims": ["family_name"]}, 400),  # two names
    ]:
        assert api.post("/api/citizens/by-cpr/attributes", headers=headers,
                        json=body).status_code == status, body  # fmt: skip
    not_json = api.post("/api/citizens/by-cpr/attributes", headers=headers, data="cpr=1")
    assert not_json.status_code == 400


def test_an_authority_without_the_cpr_number_cannot_look_up_by_it(app, client, oidc):
    authority = _authority(app, name="Biblioteket", scope="openid profile attributes:read")
    headers = _service_token(app, authority, "attributes:read")
    body = {"cpr": "0101901234", "claims": ["given_name"]}
    response = app.test_client().post("/api/citizens/by-cpr/attributes", headers=headers, json=body)
    assert response.status_code == 403


def _report(known_sub: str, **override) -> dict:
    return {
        "sub": known_sub,
        "attributes": ["address"],
        "purpose": "Checking your address for a property tax case",
        "legal_basis": "public_task",
        "looked_up_at": "2026-11-01T09:30:00+01:00",
        "reference": "case-4711",
        **override,
    }


def test_a_reported_lookup_appears_in_the_citizens_log_once(app, client, tax):
    _, sub, headers = tax
    api = app.test_client()
    first = api.post("/api/ledger/reports", headers=headers, json=_report(sub))
    assert first.status_code == 201, first.json
    assert first.json["looked_up_at"].startswith("2026-11-01T08:30:00")
    retried = api.post("/api/ledger/reports", headers=headers, json=_report(sub))
    assert retried.status_code == 200 and retried.json["entry_id"] == first.json["entry_id"]
    changed = api.post("/api/ledger/reports", headers=headers,
                       json=_report(sub, purpose="Something else"))  # fmt: skip
    assert changed.status_code == 409
    log = client.get("/api/me/access-log?channel=reported_lookup").json["entries"]
    assert len(log) == 1
    assert log[0]["purpose"] == "Checking your address for a property tax case"
    assert log[0]["released_at"].startswith("2026-11-01T08:30:00")
    verified = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert json.loads(verified.stdout)["ok"] is True


def test_an_authority_reports_only_for_itself(app, client, oidc, tax):
    _, sub, headers = tax
    other = _authority(app, name="Udbetaling Danmark")
    response = app.test_client().post("/api/ledger/reports", headers=headers,
                                      json=_report(sub, client_id=other.client_id))  # fmt: skip
    assert response.status_code == 403
    assert _entries(app, "reported_lookup") == []


@pytest.mark.parametrize(
    "override",
    [
        {"looked_up_at": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()},
        {"looked_up_at": "2026-11-01T09:30:00"},  # no offset
        {"looked_up_at": "yesterday"},
        {"looked_up_at": "1990-01-01T00:00:00+00:00"},  # older than the ledger keeps
        {"legal_basis": "because"},
        {"attributes": []},
        {"attributes": ["shoe_size"]},
        {"purpose": ""},
        {"purpose": "x" * 1001},
        {"purpose": "line\u0000break"},
        {"reference": 7},
        {"colour": "blue"},
        {"sub": "made-up"},
    ],
)
def test_bad_reports_are_problems_and_leave_no_entry(app, tax, override):
    _, sub, headers = tax
    response = app.test_client().post("/api/ledger/reports", headers=headers,
                                      json=_report(sub, **override))  # fmt: skip
    assert 400 <= response.status_code < 500, override
    assert response.mimetype == "application/problem+json"
    assert _entries(app, "reported_lookup") == []
