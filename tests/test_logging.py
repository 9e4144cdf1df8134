"""Logs are JSON lines with a request id, and never carry a secret or a CPR number."""

from __future__ import annotations

import io
import json
import logging

import pytest

from idp.core.logs import JSONFormatter
from tests.conftest import csrf_token

CPR = "0101900002"
PASSWORD = "a long and secret phrase"
WRONG_PASSWORD = "wrong-but-also-secret"


@pytest.fixture
def log_lines():
    """Everything the app logs during the test, formatted as the app's handler formats it."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.removeHandler(handler)


def _full_flow(client, citizens):
    citizens.create(username=None, cpr=CPR)
    code = json.loads(citizens.runner.invoke(args=["citizens", "activation-code", CPR]).stdout)
    secrets = {
        CPR,
        "010190-0002",
        code["activation_code"],
        code["activation_code"].replace("-", ""),
    }
    responses = []

    page = client.get("/activate?cpr=" + CPR)  # a CPR in a query string must not leak either
    secrets.add(csrf_token(page))
    responses += [page]
    responses.append(
        client.post(
            "/activate",
            data={
                "csrf_token": csrf_token(page),
                "cpr": "010190-0002",
                "activation_code": code["activation_code"],
                "username": "karen",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            },
        )
    )
    responses.append(citizens.login("karen", WRONG_PASSWORD))
    secrets.add(client.get_cookie("tillid").value)  # the form session, before the login
    login = citizens.login("karen", PASSWORD, next_url="/me?token=querysecret")
    responses.append(login)
    secrets.add(client.get_cookie("tillid_sso").value)
    # The login drops the form session's CSRF token: the cookie may be gone until a form.
    if client.get_cookie("tillid") is not None:
        secrets.add(client.get_cookie("tillid").value)
    responses.append(client.get("/me"))
    responses.append(client.get("/me/sessions"))
    responses.append(citizens.logout())
    return responses, secrets | {PASSWORD, WRONG_PASSWORD, "querysecret"}


def test_a_full_flow_logs_no_secret(client, citizens, log_lines):
    responses, secrets = _full_flow(client, citizens)
    assert [r.status_code for r in responses[:4]] == [200, 302, 401, 302]
    lines = log_lines()
    assert any(line.get("event") == "login_failed" for line in lines)
    text = "\n".join(json.dumps(line) for line in lines)
    for secret in secrets:
        assert secret not in text, f"a secret reached the logs: {secret[:4]}…"


def test_every_request_is_logged_once_with_its_request_id(client, citizens, log_lines):
    responses, _ = _full_flow(client, citizens)
    access = [line for line in log_lines() if line["logger"] == "tillid.access"]
    logged_ids = [line["request_id"] for line in access]
    for response in responses:
        assert logged_ids.count(response.headers["X-Request-ID"]) == 1
    for line in access:
        assert "?" not in line["path"], "query strings must not be logged"
        assert {"method", "path", "status", "duration_ms", "time", "level"} <= line.keys()


def test_a_sane_request_id_is_kept_and_a_hostile_one_replaced(client, log_lines):
    kept = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.42_x"})
    assert kept.headers["X-Request-ID"] == "lb-7f3a.42_x"
    for hostile in ["a" * 65, "with space", 'quote"', "new\\nline", "<script>", ""]:
        response = client.get("/healthz", headers={"X-Request-ID": hostile})
        assert response.headers["X-Request-ID"] != hostile
        assert len(response.headers["X-Request-ID"]) == 32
    assert all(line["request_id"] != "with space" for line in log_lines())


def test_cpr_shaped_numbers_are_masked_in_any_log_line(app, log_lines):
    with app.test_request_context():
        logging.getLogger("tillid.test").warning("looked up 010190-1234 and 0101901234")
    (line,) = [line for line in log_lines() if line["logger"] == "tillid.test"]
    assert "0101901234" not in line["message"] and "010190-1234" not in line["message"]
    assert line["message"].count("[cpr]") == 2


def test_paths_are_logged_as_their_route_so_no_handle_in_a_url_is(client, log_lines):
    """A phone request's id is also the CIBA auth_req_id a service polls with: the route's
    variables are not logged, and a long segment of a path no route matched is masked."""
    handle = "Zq3xV9kR2mN8pL4tW7yB1cD5fG6hJ0aS"
    client.post(f"/app/api/requests/{handle}/reject", json={})
    client.get(f"/no/such/{handle}/page")
    paths = [line["path"] for line in log_lines() if line["logger"] == "tillid.access"]
    assert paths == ["/app/api/requests/<request_id>/reject", "/no/such/[…]/page"]
    assert handle not in json.dumps(log_lines())
