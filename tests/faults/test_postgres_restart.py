"""PostgreSQL goes down hard (pg_ctl stop -m immediate: a crash, recovered from the WAL at
the next start) while citizens log in: Tillid answers 503 meanwhile, its connection pools
recover without a restart, and no login that was answered lost its ledger entry."""

from __future__ import annotations

import time

import pytest
import requests

from tests.faults.browserless import Codes, LoginTraffic, Recorder, log_in, userinfo
from tests.faults.outages import check_unavailable, faulty
from tests.faults.processes import unexpected_errors, wait_until

pytestmark = pytest.mark.faults


def test_postgres_restarted_during_logins(deployment):
    service = deployment.service(scope="openid profile")
    codes = Codes(deployment.citizens(40))
    tillid = deployment.tillid(workers=2)
    workers = tillid.workers()
    http = Recorder(tillid.url)
    earlier = log_in(http, service, codes)
    assert earlier is not None, "\n".join(map(str, http.answers))
    api = requests.Session()

    with LoginTraffic(http, service, codes, threads=3) as traffic:
        wait_until(lambda: traffic.completed_since(0) >= 3, 30, "logins went through")
        deployment.pg.stop("immediate")
        down = time.monotonic()
        wait_until(lambda: any(a.status == 503 for a in http.since(down)), 10,
                   "a login step was refused while PostgreSQL was down")  # fmt: skip
        info, info_answer = userinfo(http, api, earlier.tokens["access_token"])
        ready = requests.get(f"{tillid.url}/readyz", timeout=10)
        time.sleep(2)  # logins keep trying against the outage
        deployment.pg.start()
        up = time.monotonic()
        wait_until(lambda: traffic.completed_since(up) >= 3, 20,
                   "logins went through again after PostgreSQL came back")  # fmt: skip

    assert info_answer.status == 503 and check_unavailable(info_answer) is None, str(info_answer)
    assert info.json()["error"] == "temporarily_unavailable"
    assert ready.status_code == 503 and ready.json()["checks"] == {
        "database": "unavailable",
        "store": "ok",
    }
    outage = [a for a in http.answers if down <= a.sent_at < up]
    assert any(a.status == 503 and a.for_browser for a in outage), "\n".join(map(str, outage))
    wrong = faulty(http.answers)
    assert not wrong, "\n".join(wrong[:20]) + "\n" + unexpected_errors(tillid.log)
    assert tillid.process.poll() is None and tillid.workers() == workers
    assert requests.get(f"{tillid.url}/readyz", timeout=10).status_code == 200
    response, answer = userinfo(http, api, earlier.tokens["access_token"])
    assert response.status_code == 200, str(answer)
    # Every login answered with tokens released the profile in its ID token: that entry is
    # committed before the answer, so the crash cannot have taken it.
    answered = {earlier.token_request_id, *(login.token_request_id for _, login in traffic.logins)}
    ledgered = {row[0] for row in deployment.rows(
        "SELECT request_id FROM ledger_entry WHERE channel = 'login'")}  # fmt: skip
    assert answered <= ledgered, f"lost: {sorted(answered - ledgered)}"
