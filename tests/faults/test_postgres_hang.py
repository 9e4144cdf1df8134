"""PostgreSQL does not answer (every process of it stopped, as when its disk or host froze), or
a stuck transaction holds a row a request needs: Tillid gives up within its bounded waits
(idp/core/database.py) and answers 503 with Retry-After, then serves again by itself once
PostgreSQL answers or the lock is gone."""

from __future__ import annotations

import time

import psycopg
import pytest
import requests

from idp.core.config import DATABASE_TIMEOUTS
from tests.faults.browserless import Codes, LoginTraffic, Recorder, log_in, userinfo
from tests.faults.outages import check_unavailable, faulty
from tests.faults.processes import unexpected_errors, wait_until

pytestmark = pytest.mark.faults

STATEMENT = DATABASE_TIMEOUTS["DATABASE_STATEMENT_TIMEOUT"]
CONNECT = DATABASE_TIMEOUTS["DATABASE_CONNECT_TIMEOUT"]
LOCK = DATABASE_TIMEOUTS["DATABASE_LOCK_TIMEOUT"]
# The worst a request meets (idp/core/database.py): a statement under way gets no answer (the
# statement timeout and a second), or the check of a pooled connection none (the connect
# timeout) and then a new connection none either. Two seconds more for the rest of it.
SLOWEST_WHILE_HUNG = max(STATEMENT + 1, 2 * CONNECT) + 2


def test_postgres_hung_then_resumed_during_logins(deployment):
    service = deployment.service(scope="openid profile")
    codes = Codes(deployment.citizens(40))
    tillid = deployment.tillid(workers=2)  # the defaults: nothing set for the timeouts
    workers = tillid.workers()
    http = Recorder(tillid.url)
    earlier = log_in(http, service, codes)
    assert earlier is not None, "\n".join(map(str, http.answers))
    api = requests.Session()

    with LoginTraffic(http, service, codes, threads=3) as traffic:
        wait_until(lambda: traffic.completed_since(0) >= 3, 30, "logins went through")
        deployment.pg.pause()
        hung = time.monotonic()
        info, info_answer = userinfo(http, api, earlier.tokens["access_token"])
        started = time.monotonic()
        ready = requests.get(f"{tillid.url}/readyz", timeout=30)
        ready_seconds = time.monotonic() - started
        wait_until(lambda: any(a.status == 503 for a in http.since(hung) if a.for_browser),
                   2 * SLOWEST_WHILE_HUNG, "a login step was refused")  # fmt: skip
        deployment.pg.resume()
        answering = time.monotonic()
        wait_until(lambda: traffic.completed_since(answering) >= 3, 30,
                   "logins went through again once PostgreSQL answered")  # fmt: skip

    assert info_answer.status == 503 and check_unavailable(info_answer) is None, str(info_answer)
    assert info.json()["error"] == "temporarily_unavailable"
    assert ready.status_code == 503 and ready.json()["checks"]["database"] == "unavailable"
    assert ready_seconds < SLOWEST_WHILE_HUNG
    # Answers under way at any moment while it hung may take the bounded waits; no more.
    met_the_hang = [a.sent_at < answering and a.ended_at > hung for a in http.answers]
    wrong = faulty([a for a, met in zip(http.answers, met_the_hang, strict=True) if met],
                   slowest=SLOWEST_WHILE_HUNG)  # fmt: skip
    wrong += faulty([a for a, met in zip(http.answers, met_the_hang, strict=True) if not met])
    assert not wrong, "\n".join(wrong[:20]) + "\n" + unexpected_errors(tillid.log)
    assert any(a.status == 503 for a, met in zip(http.answers, met_the_hang, strict=True) if met)
    # Resumed by itself: the same master and workers, none restarted.
    assert tillid.process.poll() is None and tillid.workers() == workers
    assert requests.get(f"{tillid.url}/readyz", timeout=10).status_code == 200
    response, answer = userinfo(http, api, earlier.tokens["access_token"])
    assert response.status_code == 200, str(answer)


def test_a_row_held_by_a_stuck_transaction_is_a_503_until_it_lets_go(deployment):
    """A refresh marks its token used with an UPDATE of the token's row. Another session
    holds that row (a stuck transaction, an operator's forgotten psql): the refresh waits
    the lock timeout, answers 503, spends nothing, and works once the row is free."""
    service = deployment.service(scope="openid profile offline_access",
                                 grant_types=("authorization_code", "refresh_token"))  # fmt: skip
    codes = Codes(deployment.citizens(1))
    tillid = deployment.tillid(workers=1)
    http = Recorder(tillid.url)
    login = log_in(http, service, codes)
    assert login is not None, "\n".join(map(str, http.answers))
    grant = {"grant_type": "refresh_token", "refresh_token": login.tokens["refresh_token"]}
    auth = (service.client_id, service.client_secret)
    api = requests.Session()

    with psycopg.connect(deployment.pg.url(deployment.database)) as stuck:
        stuck.execute("SELECT 1 FROM refresh_token FOR UPDATE")  # and then nothing more
        refused, refused_answer = http.send(api, "POST", "/token", data=grant, auth=auth)
        stuck.rollback()

    assert refused_answer.status == 503 and check_unavailable(refused_answer) is None, (
        str(refused_answer) + "\n" + unexpected_errors(tillid.log)
    )
    assert refused.json()["error"] == "temporarily_unavailable"
    assert LOCK <= refused_answer.seconds < LOCK + 2, str(refused_answer)
    renewed, answer = http.send(api, "POST", "/token", data=grant, auth=auth)
    assert renewed.status_code == 200, str(answer)
    assert renewed.json()["refresh_token"] != grant["refresh_token"]
