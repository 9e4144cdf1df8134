"""The browser's and the phone app's JSON endpoints (passkey login, pairing, approving on the
phone), which no OpenAPI document describes, fuzzed with any body: JSON of any shape with
the fields they read (a WebAuthn credential, a pairing token, a binding code), NUL and lone
surrogates in strings, nesting deeper than the parser goes, and bodies that are no JSON at
all. With the real CSRF tokens, a paired phone and a pending CIBA request, so the fuzzing
reaches past the guards. Never a 5xx; a refusal is a problem details JSON."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import csrf_token
from tests.fuzz.conftest import budget
from tests.idp.test_phone_requests import _authority as ciba_authority
from tests.idp.test_phone_requests import _bc_authorize, _csrf

BROWSER_ENDPOINTS = ["/login/passkey/options", "/login/passkey/verify",
                     "/app/api/pair/options", "/app/api/pair/verify"]  # fmt: skip
PHONE_ACTIONS = ["options", "approve", "reject"]

b64 = st.binary(max_size=64).map(lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("="))
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    scalars | b64,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
credentials = st.fixed_dictionaries(
    {},
    optional={
        "id": b64 | json_values,
        "rawId": b64 | json_values,
        "type": st.sampled_from(["public-key", "", "x"]) | json_values,
        "authenticatorAttachment": st.sampled_from(["platform", "cross-platform"]),
        "response": st.fixed_dictionaries(
            {},
            optional={
                name: b64 | json_values
                for name in (
                    "clientDataJSON",
                    "authenticatorData",
                    "signature",
                    "userHandle",
                    "attestationObject",
                )
            },
        )
        | json_values,
        "clientExtensionResults": json_values,
    },
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "credential": credentials | json_values,
        "token": st.text() | json_values,
        "name": st.text() | json_values,
        "code": st.text(max_size=6) | json_values,
        "next": st.sampled_from(["/me", "https://evil.example/", "//evil.example", "/\\evil"])
        | json_values,
        "username": st.text() | json_values,
    },
).map(json.dumps)
raw_bodies = st.sampled_from(
    ["", "null", "[]", "1", '"x"', "{", "[" * 5000, '{"token": "\\ud800"}',
     '{"name": "a\\u0000b", "credential": {}}', '{"code": "\\udfff"}',
     '{"credential": {"id": "\\u0000"}}', '{"next": ' + "[" * 900 + "]" * 900 + "}"]
)  # fmt: skip
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", ""]
)


def assert_json_answer(response) -> None:
    assert response.status_code < 500, (response.status_code, response.get_data())
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json", response.mimetype
        assert response.get_json()["status"] == response.status_code


@pytest.fixture
def pending(client, runner, phone_app) -> str:
    """A CIBA request waiting on the demo citizen's paired phone: its id."""
    started = _bc_authorize(client, ciba_authority(runner))
    assert started.status_code == 200, started.json
    return started.json["auth_req_id"]


@settings(max_examples=budget(80))
@given(data=st.data())
def test_any_body_to_the_json_endpoints_is_answered_without_a_5xx(client, phone_app, pending, data):
    if data.draw(st.booleans(), label="on the phone"):
        browser, token = phone_app, _csrf(phone_app)
        request_id = data.draw(st.sampled_from([pending, "x", "%00", "\u00e6"]), label="id")
        endpoint = f"/app/api/requests/{request_id}/{data.draw(st.sampled_from(PHONE_ACTIONS))}"
    else:
        browser, token = client, csrf_token(client.get("/login"))
        endpoint = data.draw(st.sampled_from(BROWSER_ENDPOINTS), label="endpoint")
    body = data.draw(bodies | raw_bodies, label="body")
    headers = {"Accept": "application/json", "X-CSRFToken": token}
    content_type = data.draw(content_types, label="content type")
    if content_type:
        headers["Content-Type"] = content_type
    assert_json_answer(browser.post(endpoint, data=body, headers=headers))
