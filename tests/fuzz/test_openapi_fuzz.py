"""Schemathesis against /api/openapi.json, in process (WSGI), with real credentials: every
operation of the document, with data that fits its schema and data that does not, from a
logged-in citizen (the SSO cookie and the CSRF token) or a public authority (its own
client_credentials token). Never a 5xx; every answer's status documented, its content type
the documented one (problem details on errors) and its body valid against the schema; data
the schema forbids refused with a 4xx. Without credentials, every guarded operation is a
401 problem."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import csrf_token
from tests.consent.test_authority_api import _authority, _service_token
from tests.fuzz.conftest import budget

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass
class Credentials:
    citizen_cookies: dict[str, str]
    csrf_token: str
    authority_headers: dict[str, str]

    def for_path(self, path: str) -> dict:
        """What a real caller of this path sends: the citizen's browser for /api/me, the
        authority's back end for its APIs; the public ledger needs nothing."""
        if path.startswith("/api/me"):
            return {"cookies": self.citizen_cookies, "headers": {"X-CSRFToken": self.csrf_token}}
        if path.startswith(("/api/citizens", "/api/ledger", "/api/mandates")):
            return {"headers": self.authority_headers}
        return {}


@pytest.fixture
def credentials(app, client, oidc) -> Credentials:
    """Anna logged in with two factors (oidc), an authority that has seen her at a login
    (so her access log, consents and the ledger hold entries), and its API token."""
    authority = _authority(
        app, scope="openid profile address cpr attributes:read ledger:report mandates:write"
    )
    flow = oidc(authority)
    flow.id_token(flow.tokens())
    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0
    assert client.get("/ledger/checkpoint").status_code == 200  # integrated and signed
    token = csrf_token(client.get("/logout"))  # the confirmation form of a logged-in citizen
    cookies = {name: client.get_cookie(name).value for name in ("tillid_sso", "tillid")}
    headers = _service_token(app, authority, "attributes:read ledger:report mandates:write")
    return Credentials(cookies, token, headers)


@pytest.fixture
def api_schema(app, credentials):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def _operations(schema) -> list:
    """Every operation the document describes (schemathesis leaves out the document's own)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    described = {
        f"{method.upper()} {path}"
        for path, methods in schema.raw_schema["paths"].items()
        for method in methods
    }
    assert {op.label for op in operations} == described - {"GET /api/openapi.json"}
    return operations


# schemathesis.pytest.from_fixture needs pytest internals pytest 9 no longer has, so each
# operation runs as a subtest through schemathesis' strategies (its documented Python API).
def test_every_operation_answers_as_documented(api_schema, credentials, subtests):
    for operation in _operations(api_schema):
        raw = operation.definition.raw
        # Data the schema forbids exists only where the operation takes some.
        takes_input = bool(raw.get("parameters") or raw.get("requestBody"))
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if takes_input else [])
        for mode in modes:

            @settings(max_examples=budget(12))
            @given(case=operation.as_strategy(generation_mode=mode))
            def answers_as_documented(case):
                response = case.call(**credentials.for_path(case.path))
                case.validate_response(response, checks=CHECKS)
                if response.status_code >= 400:
                    content_type = response.headers["content-type"][0]
                    assert content_type.startswith("application/problem+json")

            with subtests.test(operation=operation.label, mode=mode.value):
                answers_as_documented()


def test_without_credentials_every_guarded_operation_is_a_401_problem(api_schema, subtests):
    for operation in _operations(api_schema):
        if not operation.definition.raw.get("security"):
            continue  # the public ledger and this document

        @settings(max_examples=budget(3))
        @given(case=operation.as_strategy())
        def is_a_401_problem(case):
            response = case.call()
            # A NUL anywhere is refused as malformed before anything else looks at it.
            sent = [*(case.path_parameters or {}).values(), *(case.query or {}).values()]
            expected = {401, 400} if any("\x00" in str(value) for value in sent) else {401}
            assert response.status_code in expected, (case.path, response.status_code)
            assert response.headers["content-type"][0].startswith("application/problem+json")

        with subtests.test(operation=operation.label):
            is_a_401_problem()
