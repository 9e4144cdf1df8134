"""Redis (SSO sessions, codes, replay marks, rate limits) stops while citizens log in, and
comes back empty: Tillid answers 503 meanwhile and resumes by itself."""

from __future__ import annotations

import time

import pytest
import requests

from idp.store import TIMEOUTS
from tests.faults.browserless import (
    Codes,
    LoginTraffic,
    Recorder,
    log_in,
    service_token,
    userinfo,
)
from tests.faults.outages import check_unavailable, faulty
from tests.faults.processes import unexpected_errors, wait_until

pytestmark = pytest.mark.faults

STORE_TIMEOUT_SECONDS = TIMEOUTS["socket_timeout"]


def test_redis_stopped_and_restarted_during_logins(deployment):
    service = deployment.service(grant_types=("authorization_code", "client_credentials"),
                                 scope="openid profile attributes:read")  # fmt: skip
    service.scope = "openid profile"  # what its citizens' logins ask for
    codes = Codes(deployment.citizens(40))
    tillid = deployment.tillid(workers=2)
    workers = tillid.workers()
    http = Recorder(tillid.url)
    earlier = log_in(http, service, codes)
    assert earlier is not None, "\n".join(map(str, http.answers))
    api = requests.Session()

    with LoginTraffic(http, service, codes, threads=3) as traffic:
        wait_until(lambda: traffic.completed_since(0) >= 3, 30, "logins went through")
        deployment.redis.stop()
        down = time.monotonic()
        wait_until(lambda: any(a.status == 503 for a in http.since(down)), 10,
                   "a login step was refused while Redis was down")  # fmt: skip
        # A service's calls meanwhile: its token request and its userinfo call.
        grant = {"grant_type": "client_credentials", "scope": "attributes:read"}
        auth = (service.client_id, service.client_secret)
        token, token_answer = http.send(api, "POST", "/token", auth=auth, data=grant)
        _, info_answer = userinfo(http, api, earlier.tokens["access_token"])
        ready = requests.get(f"{tillid.url}/readyz", timeout=10)
        time.sleep(2)  # logins keep trying against the outage
        deployment.redis.start()
        up = time.monotonic()
        wait_until(lambda: traffic.completed_since(up) >= 3, 20,
                   "logins went through again after Redis came back")  # fmt: skip

    for answer in (token_answer, info_answer):
        assert answer.status == 503 and check_unavailable(answer) is None, str(answer)
    assert token.json()["error"] == "temporarily_unavailable"
    assert ready.status_code == 503 and ready.json()["checks"] == {
        "database": "ok",
        "store": "unavailable",
    }
    outage = [a for a in http.answers if down <= a.sent_at < up]
    refused_pages = [a for a in outage if a.status == 503 and a.for_browser]
    assert refused_pages, "no browser step met the outage: " + "\n".join(map(str, outage))
    wrong = faulty(http.answers)
    assert not wrong, "\n".join(wrong[:20]) + "\n" + unexpected_errors(tillid.log)
    # Resumed by itself: the same master and workers, none restarted, and a service works.
    assert tillid.process.poll() is None and tillid.workers() == workers
    assert requests.get(f"{tillid.url}/readyz", timeout=10).status_code == 200
    assert service_token(http, service, "attributes:read")
    latest = traffic.logins[-1][1].tokens["access_token"]
    response, answer = userinfo(http, api, latest)
    assert response.status_code == 200 and response.json()["given_name"] == "Fault", str(answer)


def test_a_hung_redis_costs_a_few_seconds_not_a_hang(deployment):
    """Redis that accepts connections and never answers (SIGSTOP: a stuck server, a
    partition that drops packets): each request gives up within the store's timeout and
    answers 503; once it answers again, so does Tillid."""
    service = deployment.service(grant_types=("authorization_code", "client_credentials"),
                                 scope="openid profile attributes:read")  # fmt: skip
    service.scope = "openid profile"
    codes = Codes(deployment.citizens(30))
    tillid = deployment.tillid(workers=2)
    workers = tillid.workers()
    http = Recorder(tillid.url)
    api = requests.Session()
    grant = {"grant_type": "client_credentials", "scope": "attributes:read"}
    auth = (service.client_id, service.client_secret)

    with LoginTraffic(http, service, codes, threads=3) as traffic:
        wait_until(lambda: traffic.completed_since(0) >= 3, 30, "logins went through")
        deployment.redis.pause()
        hung = time.monotonic()
        token, token_answer = http.send(api, "POST", "/token", auth=auth, data=grant)
        wait_until(lambda: any(a.status == 503 for a in http.since(hung) if a.for_browser), 15,
                   "a login step was refused while Redis hung")  # fmt: skip
        deployment.redis.resume()
        answering = time.monotonic()
        wait_until(lambda: traffic.completed_since(answering) >= 3, 20,
                   "logins went through again once Redis answered")  # fmt: skip

    assert token_answer.status == 503 and check_unavailable(token_answer) is None, str(token_answer)
    assert token.json()["error"] == "temporarily_unavailable"
    # The store's timeout is 5 s; a request makes at most one call that waits for it.
    wrong = faulty(http.answers, slowest=STORE_TIMEOUT_SECONDS + 2)
    assert not wrong, "\n".join(wrong[:20]) + "\n" + unexpected_errors(tillid.log)
    assert tillid.process.poll() is None and tillid.workers() == workers
    assert service_token(http, service, "attributes:read")
