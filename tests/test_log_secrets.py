"""The whole-suite check that no secret reaches a log (tests/log_secrets.py) catches what it
should: these plant secrets in log records and look for the finding. Each test takes its
own planted lines back (or plants them in a run of its own), so it stays clean itself."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import flask
import pyotp
import pytest

from tests.conftest import csrf_token, new_recovery_codes
from tests.oidc.conftest import (
    oidc,  # noqa: F401 (a fixture)
    register,
)
from tests.oidc.test_refresh_tokens import OFFLINE, REFRESHABLE

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("tillid.planted")


def take_findings(check) -> list:
    """What the check finds in this test's records so far; those records are then dropped."""
    return check.scan(check.handler.take())


def test_a_registered_secret_in_a_log_record_is_found(log_secret_check):
    # Hex: a dash at either end would make its dashless form (a code's) a second finding.
    planted = secrets.token_hex(24)
    log_secret_check.registry.add(planted)
    log.warning("a careless line", extra={"detail": f"token was {planted}"})
    (finding,) = take_findings(log_secret_check)
    assert finding.kind == "known secret" and finding.secret == planted
    assert planted not in finding.describe()  # the report shows a prefix only
    log.warning("a careful line", extra={"detail": "token was [redacted]"})
    assert take_findings(log_secret_check) == []


def test_a_jwt_or_private_key_is_found_even_unregistered(app, log_secret_check):
    header = base64.urlsafe_b64encode(b'{"alg":"ES256","typ":"at+jwt"}').decode().rstrip("=")
    payload = base64.urlsafe_b64encode(b'{"sub":"someone-unknown"}').decode().rstrip("=")
    token = f"{header}.{payload}.c2lnbmF0dXJl"
    with app.test_request_context("/userinfo"):
        log.warning("refused %s", token)
    log.error("key material", extra={"pem": "-----BEGIN EC PRIVATE KEY-----\nMHcC..."})
    kinds = sorted(finding.kind for finding in take_findings(log_secret_check))
    assert kinds == ["JWT", "private key"]


def test_a_one_time_code_is_found_as_a_word_only(log_secret_check):
    code = pyotp.TOTP(pyotp.random_base32()).now()
    log_secret_check.registry.add(code)
    log.warning("request", extra={"request_id": f"ab{code}cd", "duration_ms": 12.5})
    assert take_findings(log_secret_check) == []  # inside another value: chance, not a leak
    log.warning(f"code {code} refused")
    assert [finding.kind for finding in take_findings(log_secret_check)] == ["one-time code"]


def test_a_secret_that_is_also_a_field_name_is_found_in_values_only(log_secret_check):
    """The fuzzers draw strings from the code's own constants: one sent as a client secret
    (say "arguments") is not leaked by a log line that merely has a field of that name."""
    log_secret_check.registry.add("arguments", "client_secret")
    log.warning("admin command", extra={"arguments": {"name": "Nordbank"}})
    assert take_findings(log_secret_check) == []
    log.warning("admin command", extra={"arguments": {"secret": "arguments"}})
    assert [finding.kind for finding in take_findings(log_secret_check)] == ["known secret"]


def test_a_made_up_request_teaches_no_secret(client, log_secret_check):
    # A fuzzer's word in a token's field (here a scope) is no secret: its next mention in a
    # log is no leak. Sent as a real request, the same value is learnt.
    word = "offline_access"
    with log_secret_check.registry.made_up_requests():
        client.post("/revoke", data={"token": word})
    log.warning("scope requested", extra={"scope": f"openid {word}"})
    assert take_findings(log_secret_check) == []
    client.post("/revoke", data={"token": word})
    log.warning("scope requested", extra={"scope": f"openid {word}"})
    assert [finding.secret for finding in take_findings(log_secret_check)] == [word]


def test_what_the_app_hands_out_is_learnt_without_the_test_saying_so(
    app, client, citizens, runner, log_secret_check
):
    """Through the pages and the CLI, as every other test meets them: the password typed,
    the session cookie set, the client secret printed are all known to the check."""
    citizens.create(username="mads", password="a very leaky passphrase")
    assert citizens.login("mads", "a very leaky passphrase").status_code == 302
    cookie = client.get_cookie("tillid_sso").value
    created = runner.invoke(args=[
        "clients", "create", "--name", "Leaky", "--kind", "private_service",
        "--redirect-uri", "https://leaky.example/cb", "--scope", "openid",
        "--legal-basis", "consent", "--purpose", "Testing",
    ])  # fmt: skip
    client_secret = json.loads(created.stdout)["client_secret"]
    assert take_findings(log_secret_check) == []  # the app itself logged none of them
    for value in ("a very leaky passphrase", cookie, client_secret):
        log.warning("oops", extra={"value": value})
        (finding,) = take_findings(log_secret_check)
        assert finding.secret == value


PLANTED_CONFTEST = """
import logging

from tests.conftest import *  # noqa: F403
from tests import log_secrets

def pytest_collection_finish(session):
    log_secrets.CHECK.registry.add("planted-outside-tests-k9W4")
    logging.getLogger("tillid.planted").warning("collected; planted-outside-tests-k9W4")
"""

PLANTED_TESTS = """
import logging

import pytest

log = logging.getLogger("tillid.planted")

def test_clean(log_secret_check):
    log_secret_check.registry.add("planted-secret-of-the-clean-test")
    log.warning("nothing to see")

def test_leaking(log_secret_check):
    log_secret_check.registry.add("planted-secret-x7Q2")
    log.warning("the secret is planted-secret-x7Q2")

@pytest.fixture
def leaky_teardown(log_secret_check):
    log_secret_check.registry.add("planted-teardown-secret-p3Z8")
    yield
    log.warning("tearing down planted-teardown-secret-p3Z8")

def test_with_a_leaky_fixture(leaky_teardown):
    pass
"""


@pytest.mark.parametrize("workers", [None, "2"], ids=["one-process", "xdist"])
def test_a_leak_fails_the_test_that_logged_it(tmp_path, workers):
    """A run with this suite's conftest (and so its log check), in one process and on
    pytest-xdist workers: the leaking test fails, a fixture leaking in its teardown errors,
    the clean test passes, a leak outside any test fails the run; no report shows a secret."""
    (tmp_path / "conftest.py").write_text(PLANTED_CONFTEST)
    (tmp_path / "test_planted.py").write_text(PLANTED_TESTS)
    parallel = ["-n", workers] if workers else ["-p", "no:xdist"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *parallel,
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "1 failed, 2 passed, 1 error" in run.stdout, output
    failures = re.findall(r"^(FAILED|ERROR) (\S+)", run.stdout, re.M)
    assert sorted(failures) == [
        ("ERROR", "test_planted.py::test_with_a_leaky_fixture"),
        ("FAILED", "test_planted.py::test_leaking"),
    ], output
    assert "test_planted.py::test_leaking: known secret plan…" in run.stdout
    assert "test_planted.py::test_with_a_leaky_fixture: known secret plan…" in run.stdout
    outside = run.stdout.split("secrets in logs outside tests", 1)[1]
    assert "(outside tests): known secret plan…" in outside
    assert "reached the logs: the run fails" in outside
    for secret in ("planted-secret-x7Q2", "planted-teardown-secret-p3Z8",
                   "planted-outside-tests-k9W4"):  # fmt: skip
        assert secret not in output


def test_what_the_app_shows_only_in_an_answer_body_is_learnt(
    app,
    client,
    citizens,
    log_secret_check,
    oidc,  # noqa: F811
):
    """A secret the test client only ever received in an answer's body, never sent back:
    the refresh token of /token's JSON, the CSRF token of a page's hidden input, the key of
    the authenticator-app page and the recovery codes' page. Logged, each is found; the
    test still reads each body as it was (the check read it first)."""
    tokens = oidc(register(app, scope=OFFLINE, extra=REFRESHABLE)).tokens()
    codes = new_recovery_codes(client)
    citizens.logout()
    citizens.create(username="bodil", totp=False)
    assert citizens.login("bodil").status_code == 302
    enrol = client.get("/me/security/totp")
    totp_key = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', enrol.text).group(1)
    form_token = csrf_token(enrol)
    assert take_findings(log_secret_check) == []  # the app itself logged none of them
    shown = {
        "refresh_token": tokens["refresh_token"],
        "csrf_token": form_token,
        "totp_secret": totp_key.replace(" ", ""),
        "recovery_code": codes[0],
    }
    for name, value in shown.items():
        logging.getLogger("idp.planted").warning("oops", extra={"value": value})
        found = value in {finding.secret for finding in take_findings(log_secret_check)}
        assert found, f"the {name} shown in an answer's body was not learnt"


def test_a_streamed_answer_is_left_to_the_test(log_secret_check):
    """An answer the app makes as it goes (here an endless event stream) is not read by the
    check: the request returns, and the test reads as much of the stream as it wants."""
    streaming = flask.Flask("streaming")

    @streaming.get("/events")
    def events():
        def endless():
            for number in itertools.count():
                yield f"data: {number}\n\n"

        return flask.Response(endless(), mimetype="text/event-stream")

    answer = streaming.test_client().get("/events")
    assert answer.headers.get("Content-Length") is None
    assert next(answer.response) == b"data: 0\n\n"
    answer.close()
