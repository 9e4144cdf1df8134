"""/api/openapi.json: a valid OpenAPI 3.1 document that describes every /api/ route, and
whose schemas the real answers match."""

from __future__ import annotations

import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.consent.test_authority_api import _authority, _service_token


@pytest.fixture
def spec(client) -> dict:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json


def test_the_document_is_valid_openapi(spec):
    validate(spec)
    assert spec["openapi"].startswith("3.1")


def test_every_api_route_is_described(app, spec):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/ledger/")):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        assert path in spec["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in spec["paths"][path], (path, method)


def _matches(spec: dict, schema: dict, instance) -> None:
    """Validate against a schema of the document (its $refs resolve within it)."""
    Draft202012Validator({**schema, "components": spec["components"]}).validate(instance)


def _response_schema(spec: dict, path: str, method: str, status: int) -> dict:
    answer = spec["paths"][path][method]["responses"][str(status)]
    media = "application/problem+json" if status >= 400 else "application/json"
    return answer["content"][media]["schema"]


def test_real_answers_match_the_schemas(app, client, oidc, spec):
    authority = _authority(app)
    flow = oidc(authority)
    sub = flow.id_token(flow.tokens())["sub"]
    headers = _service_token(app, authority, "attributes:read ledger:report")
    api = app.test_client()
    report = {
        "sub": sub,
        "attributes": ["address"],
        "purpose": "A case",
        "legal_basis": "public_task",
        "looked_up_at": "2026-11-01T09:30:00+00:00",
    }
    entry = client.get("/api/me/access-log").json["entries"][0]
    pending = client.get(entry["proof"])  # in no signed checkpoint yet
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0
    answers = [
        ("/api/me", "get", client.get("/api/me")),
        ("/api/me/consents", "get", client.get("/api/me/consents")),
        ("/api/me/sessions", "get", client.get("/api/me/sessions")),
        ("/api/me/authenticators", "get", client.get("/api/me/authenticators")),
        ("/api/me/access-log", "get", client.get("/api/me/access-log")),
        ("/api/me/access-log", "get", client.get("/api/me/access-log?page=x")),
        ("/api/me/access-log/{entry_id}/proof", "get", pending),
        ("/api/me/access-log/{entry_id}/proof", "get", client.get(entry["proof"])),
        ("/api/me/access-log/{entry_id}/proof", "get", client.get("/api/me/access-log/9/proof")),
        ("/api/citizens/{sub}/attributes", "get",
         api.get(f"/api/citizens/{sub}/attributes?claims=address", headers=headers)),
        ("/api/citizens/{sub}/attributes", "get",
         api.get(f"/api/citizens/{sub}/attributes?claims=email", headers=headers)),
        ("/api/citizens/{sub}/attributes", "get", api.get(f"/api/citizens/{sub}/attributes")),
        ("/api/ledger/reports", "post", api.post("/api/ledger/reports", headers=headers,
                                                 json=report)),
        ("/api/ledger/reports", "post", api.post("/api/ledger/reports", headers=headers,
                                                 json={**report, "purpose": ""})),
        ("/ledger/key", "get", api.get("/ledger/key")),
        ("/ledger/proof/consistency", "get", api.get("/ledger/proof/consistency?first=1&second=1")),
        ("/ledger/proof/consistency", "get", api.get("/ledger/proof/consistency?first=a")),
    ]  # fmt: skip
    statuses = set()
    for path, method, response in answers:
        statuses.add(response.status_code)
        schema = _response_schema(spec, path, method, response.status_code)
        _matches(spec, schema, response.json)
    assert statuses >= {200, 201, 400, 401, 403, 404, 409}
