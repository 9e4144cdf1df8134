"""A bounded load on loopback, as production runs (serve.py with 2 workers on PostgreSQL and
Redis): whole logins beside a service's token, introspection and userinfo calls, and not
one answer that is not a success."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time

import pytest
import requests

from tests.faults.browserless import Codes, LoginTraffic, Recorder, log_in, service_token
from tests.faults.processes import unexpected_errors

pytestmark = pytest.mark.faults

SECONDS = 20
LOGIN_THREADS = 3
SERVICE_THREADS = 3


def _service_calls(http: Recorder, service, access_token: str, until: float) -> None:
    """A service at work: a client_credentials token, introspection, a citizen's userinfo."""
    session = requests.Session()
    auth = (service.client_id, service.client_secret)
    token = None
    for turn in itertools.count():
        if time.monotonic() >= until:
            return
        if turn % 3 == 0:
            response, _ = http.send(session, "POST", "/token", auth=auth,
                                    data={"grant_type": "client_credentials",
                                          "scope": "attributes:read"})  # fmt: skip
            if response is not None and response.status_code == 200:
                token = response.json()["access_token"]
        elif turn % 3 == 1 and token:
            http.send(session, "POST", "/introspect", auth=auth, data={"token": token})
        else:
            http.send(session, "GET", "/userinfo",
                      headers={"Authorization": f"Bearer {access_token}"})  # fmt: skip


def test_mixed_load_of_logins_and_token_calls_has_no_error(deployment):
    service = deployment.service(grant_types=("authorization_code", "client_credentials"),
                                 scope="openid profile attributes:read")  # fmt: skip
    at_login = dataclasses.replace(service, scope="openid profile")
    # Each citizen's app gives one fresh code per time step: enough citizens for the logins.
    codes = Codes(deployment.citizens(100))
    tillid = deployment.tillid(workers=2)
    http = Recorder(tillid.url)
    first = log_in(http, at_login, codes)
    assert first is not None, "\n".join(map(str, http.answers))
    assert service_token(http, service, "attributes:read")

    started = time.monotonic()
    until = started + SECONDS
    callers = [threading.Thread(target=_service_calls, daemon=True,
                                args=(http, service, first.tokens["access_token"], until))
               for _ in range(SERVICE_THREADS)]  # fmt: skip
    with LoginTraffic(http, at_login, codes, threads=LOGIN_THREADS) as traffic:
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=SECONDS + 30)
    answers = http.since(started)

    failed = [str(a) for a in answers if a.status is None or a.status >= 400]
    assert not failed, (
        f"{len(failed)} of {len(answers)} failed:\n"
        + "\n".join(failed[:20])
        + ("\n" + unexpected_errors(tillid.log))
    )
    by_path = {path: sum(1 for a in answers if a.path == path)
               for path in ("/login", "/token", "/introspect", "/userinfo")}  # fmt: skip
    logins = traffic.completed_since(started)
    print(f"{len(answers)} answers in {SECONDS} s, {logins} whole logins: {by_path}")
    # Not a speed test (the machine may be busy): only that the load was there.
    assert logins >= 5, by_path
    assert min(by_path.values()) >= 20, by_path
