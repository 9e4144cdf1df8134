"""Redis (SSO sessions, codes, replay marks, rate limits) hangs, then stops, while citizens
log in, and comes back empty: Tillid answers 503 meanwhile, quickly, and resumes by itself."""

from __future__ import annotations

import dataclasses
import time

import pytest
import requests

from idp.core.store import TIMEOUTS
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

# A request makes at most one store call that waits out the store's timeout.
SLOWEST_WHILE_HUNG = TIMEOUTS["socket_timeout"] + 2


def test_redis_hung_then_stopped_and_restarted_during_logins(deployment):
    service = deployment.service(grant_types=("authorization_code", "client_credentials"),
                                 scope="openid profile attributes:read")  # fmt: skip
    at_login = dataclasses.replace(service, scope="openid profile")
    codes = Codes(deployment.citizens(40))
    tillid = deployment.tillid(workers=2)
    workers = tillid.workers()
    http = Recorder(tillid.url)
    earlier = log_in(http, at_login, codes)
    assert earlier is not None, "\n".join(map(str, http.answers))
    api = requests.Session()
    grant = {"grant_type": "client_credentials", "scope": "attributes:read"}
    auth = (service.client_id, service.client_secret)

    with LoginTraffic(http, at_login, codes, threads=3) as traffic:
        wait_until(lambda: traffic.completed_since(0) >= 3, 30, "logins went through")
        # Hung: it accepts connections and never answers (a stuck server, a partition that
        # drops packets). Each request gives up after the store's timeout.
        deployment.redis.pause()
        hung = time.monotonic()
        hung_token, hung_token_answer = http.send(api, "POST", "/token", auth=auth, data=grant)
        wait_until(lambda: any(a.status == 503 for a in http.since(hung) if a.for_browser), 15,
                   "a login step was refused while Redis hung")  # fmt: skip
        deployment.redis.resume()
        answering = time.monotonic()
        wait_until(lambda: traffic.completed_since(answering) >= 3, 20,
                   "logins went through again once Redis answered")  # fmt: skip

        # Gone: refused at once.
        deployment.redis.stop()
        down = time.monotonic()
        wait_until(lambda: any(a.status == 503 for a in http.since(down) if a.for_browser), 10,
                   "a login step was refused while Redis was down")  # fmt: skip
        token, token_answer = http.send(api, "POST", "/token", auth=auth, data=grant)
        _, info_answer = userinfo(http, api, earlier.tokens["access_token"])
        ready = requests.get(f"{tillid.url}/readyz", timeout=10)
        time.sleep(1)  # logins keep trying against the outage
        deployment.redis.start()
        up = time.monotonic()
        wait_until(lambda: traffic.completed_since(up) >= 3, 20,
                   "logins went through again after Redis came back")  # fmt: skip

    for answer in (hung_token_answer, token_answer, info_answer):
        assert answer.status == 503 and check_unavailable(answer) is None, str(answer)
    assert hung_token.json()["error"] == token.json()["error"] == "temporarily_unavailable"
    assert ready.status_code == 503 and ready.json()["checks"] == {
        "database": "ok",
        "store": "unavailable",
        "signing_keys": "ok",
    }
    # Answers that were under way at any moment while Redis hung may take the timeout.
    met_the_hang = [a.sent_at < answering and a.ended_at > hung for a in http.answers]
    wrong = faulty([a for a, met in zip(http.answers, met_the_hang, strict=True) if met],
                   slowest=SLOWEST_WHILE_HUNG)  # fmt: skip
    wrong += faulty([a for a, met in zip(http.answers, met_the_hang, strict=True) if not met])
    assert not wrong, "\n".join(wrong[:20]) + "\n" + unexpected_errors(tillid.log)
    # Resumed by itself: the same master and workers, none restarted, and a service works.
    assert tillid.process.poll() is None and tillid.workers() == workers
    assert requests.get(f"{tillid.url}/readyz", timeout=10).status_code == 200
    assert service_token(http, service, "attributes:read")
    latest = traffic.logins[-1][1].tokens["access_token"]
    response, answer = userinfo(http, api, latest)
    assert response.status_code == 200 and response.json()["given_name"] == "Fault", str(answer)


def test_a_grant_after_redis_restarted_works_on_the_first_try(deployment):
    """Each worker thread keeps its own connection for the budget script
    (idp/core/rate_limits.py): one closed by a Redis that restarted since its last use is
    replaced on the spot, so the first grant after the restart is answered, not a 503. One
    worker with one thread, so the grant after the restart meets the kept connection."""
    service = deployment.service(grant_types=("client_credentials",), scope="attributes:read")
    tillid = deployment.tillid(workers=1, WEB_THREADS="1")
    http = Recorder(tillid.url)
    assert service_token(http, service, "attributes:read")
    deployment.redis.stop()
    deployment.redis.start()
    wait_until(lambda: requests.get(f"{tillid.url}/readyz", timeout=10).status_code == 200, 20,
               "ready again after Redis came back")  # fmt: skip
    assert service_token(http, service, "attributes:read")
