"""What the fuzzers found, each pinned by one plain test: every one of these was a 500 (or a
crash, or a leak) before its fix."""

from __future__ import annotations

import base64
import json

import pytest

from consent import checkpoint
from idp.app import create_app
from idp.core.config import ConfigurationError
from tests.conftest import base_config
from tests.consent.test_authority_api import _authority, _service_token
from tests.fuzz.test_checkpoint_properties import PUBLIC_KEY, sign_body

DEEP = "[" * 3000  # nested past what Python's JSON parser recurses into: RecursionError


def test_a_claims_parameter_nested_too_deep_is_invalid_request(app, client, oidc):
    flow = oidc(_authority(app))
    response = flow.authorize(claims='{"userinfo": ' + DEEP + "}")
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["Location"]


def test_an_id_token_hint_nested_too_deep_is_refused_at_logout(app, client):
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    header = base64.urlsafe_b64encode(DEEP.encode()).decode().rstrip("=")
    response = client.get("/logout", query_string={"id_token_hint": f"{header}.e30.x"})
    assert response.status_code == 400


def test_an_id_token_hint_before_any_signing_key_exists_is_refused_at_logout(client):
    response = client.get("/logout", query_string={"id_token_hint": "eyJhbGciOiJub25lIn0.e30."})
    assert response.status_code == 400


@pytest.fixture
def reporter(app, client, oidc):
    authority = _authority(app)
    flow = oidc(authority)
    sub = flow.id_token(flow.tokens())["sub"]
    return sub, _service_token(app, authority, "attributes:read ledger:report")


def _report(sub: str, **override) -> dict:
    return {"sub": sub, "attributes": ["address"], "purpose": "A case",
            "legal_basis": "public_task", "looked_up_at": "2026-11-01T09:30:00+00:00",
            **override}  # fmt: skip


def test_json_bodies_and_paths_the_database_cannot_hold_are_400_problems(app, reporter):
    _, headers = reporter
    api = app.test_client()
    json_headers = {**headers, "Content-Type": "application/json"}
    for body in (DEEP, '{"sub": ' + DEEP + "}"):
        response = api.post("/api/ledger/reports", data=body, headers=json_headers)
        assert response.status_code == 400, response.get_data()
        assert response.mimetype == "application/problem+json"
    # JSON may escape NUL or a lone surrogate; no database column stores either.
    for escaped in ("\\u0000", "\\udfff", "a\\ud800b"):
        body = json.dumps(_report("SUB")).replace('"SUB"', f'"{escaped}"')
        response = api.post("/api/ledger/reports", data=body, headers=json_headers)
        assert response.status_code == 400, escaped
        assert "NUL" in response.json["detail"]
    response = api.get("/api/citizens/%00/attributes?claims=address", headers=headers)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_a_report_time_beyond_what_utc_holds_is_a_400(app, reporter):
    sub, headers = reporter
    for moment in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        response = app.test_client().post(
            "/api/ledger/reports", json=_report(sub, looked_up_at=moment), headers=headers
        )
        assert response.status_code == 400, moment
        assert "looked_up_at" in response.json["detail"]


@pytest.mark.parametrize(
    ("size", "root"),
    [
        ("²", base64.b64encode(bytes(32)).decode()),  # a digit to str.isdigit, not to int
        ("007", base64.b64encode(bytes(32)).decode()),  # not what was signed, read back
        ("7", "A"),  # not base64
        ("7", "AAAA"),  # not a SHA-256 hash
    ],
)
def test_a_signed_body_that_is_no_checkpoint_is_a_bad_note(size, root):
    note = sign_body(f"tillid\n{size}\n{root}\n", "tillid")
    with pytest.raises(checkpoint.BadNote):
        checkpoint.open_note(note, "tillid", PUBLIC_KEY)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        # A "/" in the password starts the URL's path: the path was repeated back.
        ("redis+cluster://tillid:pa/S3cr3t@h:7000", "a Redis Cluster has only database 0 ("),
        # An unclosed IPv6 bracket: urlsplit's ValueError escaped.
        ("redis+cluster://h:7000,[::1", "REDIS_URL: not a cluster URL"),
    ],
)
def test_a_bad_cluster_url_is_a_configuration_error_that_keeps_the_password(url, message):
    with pytest.raises(ConfigurationError) as refused:
        create_app(base_config(REDIS_URL=url))
    assert message in str(refused.value)
    assert "S3cr3t" not in str(refused.value)


def test_an_authorization_scheme_without_credentials_is_invalid_client(client):
    for endpoint in ("/token", "/introspect", "/revoke", "/bc-authorize"):
        for header in ("Basic", "Bearer  ", "Basic "):
            response = client.post(endpoint, data={"token": "x"}, headers={"Authorization": header})
            assert response.status_code == 401, (endpoint, header)
            assert response.json["error"] == "invalid_client"


def test_a_client_id_holding_a_nul_is_an_unknown_client(client):
    """Basic credentials are percent-decoded: "%00" is a NUL, which PostgreSQL refused in the
    client lookup."""
    header = "Basic " + base64.b64encode(b"%00:0").decode()
    for endpoint in ("/token", "/introspect", "/revoke", "/bc-authorize"):
        response = client.post(endpoint, data={"token": "x"}, headers={"Authorization": header})
        assert 400 <= response.status_code < 500, (endpoint, response.status_code)
        assert response.json["error"]  # an OAuth error: the grant or the client refused


def test_the_access_log_filters_take_what_the_document_says(client, oidc):
    """Schemathesis: `from=` (empty) was accepted though the document said a date, and
    `20260101` was read as a date though the document says YYYY-MM-DD. Empty means no filter
    (the page's form sends it) and is now documented; other forms are refused."""
    spec = client.get("/api/openapi.json").json
    parameters = spec["paths"]["/api/me/access-log"]["get"]["parameters"]
    for name in ("from", "to", "attribute", "channel"):
        (schema,) = [p["schema"] for p in parameters if p["name"] == name]
        assert {"type": "string", "maxLength": 0} in schema["anyOf"]
    assert client.get("/api/me/access-log?from=&to=&attribute=&channel=").status_code == 200
    # The last day of the calendar has no next day to stop before: was an OverflowError.
    assert client.get("/api/me/access-log?to=9999-12-31").status_code == 200
    assert client.get("/me/access-log?to=9999-12-31").status_code == 200
    for odd in ("20260101", "2026-W01-1", " 2026-01-01"):
        assert client.get("/api/me/access-log", query_string={"from": odd}).status_code == 400


def test_operator_input_past_what_python_reads_is_a_clear_cli_error(app):
    runs = [
        (["citizens", "create", "--cpr", "0101901234", "--given-name", "A", "--family-name",
          "B", "--address-json", DEEP], None, "--address-json is nested too deeply"),
        (["clients", "create", "--from-file", "-"], DEEP, "--from-file is nested too deeply"),
        # The month after 9999-12 has no first day a date can hold: was an OverflowError.
        (["ledger", "partitions", "ensure", "--from", "9999-12"], None, "is after the last"),
    ]  # fmt: skip
    for args, stdin, message in runs:
        result = app.test_cli_runner().invoke(args=args, input=stdin)
        assert isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code in (1, 2) and message in result.output
