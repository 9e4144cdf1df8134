"""Tillid SIGKILLed (master and workers at once) while services receive citizens' attributes
from several threads: after a restart, `flask ledger verify` passes and every release that
was answered with success has its ledger entry (at userinfo: its own, or, for a repeat under
the same access token, the entry of the first release under that token)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import threading
import uuid

import psycopg
import pytest
import requests

from idp.core import crypto
from tests.faults.browserless import Codes, Recorder, log_in, service_token, userinfo
from tests.faults.processes import tail, wait_until

pytestmark = pytest.mark.faults

AUTHORITY_SCOPE = "openid profile cpr attributes:read ledger:report"
THREADS = 6
ACKNOWLEDGED_BEFORE_KILL = 100
GRANTS = ("authorization_code", "client_credentials")
BACKLOG = 5_000  # pending entries: an integration of a fraction of a second, to kill
PENDING = "SELECT count(*) FROM ledger_entry WHERE leaf_index IS NULL"
# Other sessions of this database: one in a transaction of the integrator's (at one of its
# statements), and any at all.
INTEGRATING = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL "
    "AND (query LIKE 'UPDATE ledger_entry SET leaf_index%' "
    "OR query LIKE 'SELECT ledger_entry.commitment%' OR query LIKE 'INSERT INTO merkle_node%')"
)
CONNECTED = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
)


class Releases:
    """Threads releasing attributes three ways, each answer with success remembered by what
    identifies its entry: the request id Tillid keeps in it, and for a report its entry id."""

    def __init__(self, url: str, access_tokens: list[str], api_token: str, cprs: list[str]):
        self.url, self.access_tokens, self.api_token, self.cprs = (
            url,
            access_tokens,
            api_token,
            cprs,
        )
        self.acknowledged: dict[str, list[str]] = {"userinfo": [], "attribute_api": [],
                                                   "reported_lookup": []}  # fmt: skip
        self.reported: dict[str, int] = {}  # request id -> the entry id the answer gave
        self.token_of: dict[str, int] = {}  # userinfo request id -> index of its access token
        self.refused: list[str] = []  # any answer but success while the server was alive
        self.killed = threading.Event()
        self._lock = threading.Lock()

    def count(self) -> int:
        with self._lock:
            return sum(map(len, self.acknowledged.values()))

    def run(self, seed: int) -> None:
        session = requests.Session()
        kinds = itertools.cycle(["userinfo", "attribute_api", "reported_lookup"])
        for turn in itertools.count(seed):
            kind = next(kinds)
            request_id = uuid.uuid4().hex
            try:
                response = self._release(session, kind, request_id, turn)
            except requests.RequestException as exc:
                if self.killed.is_set():
                    return  # the server is gone: this release was never acknowledged
                with self._lock:
                    self.refused.append(f"{kind}: {exc!r}")
                continue
            if response.status_code not in (200, 201):
                if not self.killed.is_set():
                    with self._lock:
                        self.refused.append(f"{kind}: {response.status_code} {response.text}")
                continue
            with self._lock:
                self.acknowledged[kind].append(request_id)
                if kind == "reported_lookup":
                    self.reported[request_id] = response.json()["entry_id"]
                if kind == "userinfo":
                    self.token_of[request_id] = turn % len(self.access_tokens)

    def _release(self, session, kind: str, request_id: str, turn: int) -> requests.Response:
        headers = {"X-Request-ID": request_id}
        cpr = self.cprs[turn % len(self.cprs)]
        if kind == "userinfo":
            token = self.access_tokens[turn % len(self.access_tokens)]
            headers["Authorization"] = f"Bearer {token}"
            return session.get(f"{self.url}/userinfo", headers=headers, timeout=10)
        headers["Authorization"] = f"Bearer {self.api_token}"
        if kind == "attribute_api":
            return session.post(f"{self.url}/api/citizens/by-cpr/attributes", headers=headers,
                                json={"cpr": cpr, "claims": ["given_name", "family_name"]},
                                timeout=10)  # fmt: skip
        report = {"cpr": cpr, "attributes": ["family_name"], "purpose": "A tax assessment",
                  "legal_basis": "public_task", "reference": request_id,
                  "looked_up_at": dt.datetime.now(dt.UTC).isoformat()}  # fmt: skip
        return session.post(f"{self.url}/api/ledger/reports", headers=headers, json=report,
                            timeout=10)  # fmt: skip


def _cli_json(completed) -> dict:
    return json.loads(completed.stdout)


def test_sigkill_during_concurrent_ledger_appends_loses_no_acknowledged_release(deployment):
    authority = deployment.service(scope=AUTHORITY_SCOPE, grant_types=GRANTS)
    at_login = dataclasses.replace(authority, scope="openid profile cpr")
    seeds = deployment.citizens(4)
    # The integrator every second: kills land in integrations too, not only in appends.
    tillid = deployment.tillid(workers=2, LEDGER_INTEGRATE_SECONDS="1")
    http = Recorder(tillid.url)
    codes = Codes(seeds)
    logins = [log_in(http, at_login, codes) for _ in seeds]
    assert all(logins), "\n".join(map(str, http.answers))
    releases = Releases(
        tillid.url,
        [login.tokens["access_token"] for login in logins],
        service_token(http, authority, "attributes:read ledger:report"),
        list(deployment.cprs.values()),
    )
    threads = [threading.Thread(target=releases.run, args=(n,), daemon=True)
               for n in range(THREADS)]  # fmt: skip
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: releases.count() >= ACKNOWLEDGED_BEFORE_KILL, 60,
                   f"{ACKNOWLEDGED_BEFORE_KILL} releases were answered")  # fmt: skip
        releases.killed.set()
        tillid.kill()
    finally:
        releases.killed.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not releases.refused, "\n".join(releases.refused[:10]) + tail(tillid.log)

    tillid.start()  # the same installation, as an operator brings it back
    # The restarted workers' integrator takes up what is pending; then the operator verifies.
    wait_until(lambda: deployment.rows(PENDING)[0][0] == 0, 20, "every entry was integrated")
    verified = tillid.flask("ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = _cli_json(verified)
    stored = deployment.rows("SELECT count(*) FROM ledger_entry")[0][0]
    assert report["ok"] and report["problems"] == []
    assert report["pending"] == 0 and report["tree_size"] == stored

    entries: dict[str, list[tuple]] = {}
    for request_id, entry_id, channel in deployment.rows(
        "SELECT request_id, id, channel FROM ledger_entry"
    ):
        entries.setdefault(request_id, []).append((entry_id, channel))
    for kind, request_ids in releases.acknowledged.items():
        if kind == "userinfo":
            continue
        lost = [rid for rid in request_ids if [c for _, c in entries.get(rid, [])] != [kind]]
        assert not lost, f"{len(lost)} of {len(request_ids)} acknowledged {kind} releases lost"
    # A userinfo release has its own entry, or is a repeat under a token whose first release
    # is ledgered: an entry of that citizen's with that token's validity (the mark that spares
    # a repeat is written only once that entry committed).
    citizen_of = {request_id: citizen_id for request_id, citizen_id in deployment.rows(
        "SELECT request_id, citizen_id FROM ledger_entry WHERE channel = 'login'")}  # fmt: skip
    first_releases = ("SELECT citizen_id, token_valid_until FROM ledger_entry "
                      "WHERE channel = 'userinfo'")  # fmt: skip
    under_token = {tuple(row) for row in deployment.rows(first_releases)}
    lost = []
    for request_id in releases.acknowledged["userinfo"]:
        if [c for _, c in entries.get(request_id, [])] == ["userinfo"]:
            continue
        login = logins[releases.token_of[request_id]]
        exp = crypto.unverified_jwt_part(login.tokens["access_token"], 1)["exp"]
        token = (citizen_of[login.token_request_id], dt.datetime.fromtimestamp(exp, dt.UTC))
        if token not in under_token:
            lost.append(request_id)
    acknowledged = len(releases.acknowledged["userinfo"])
    assert not lost, f"{len(lost)} of {acknowledged} acknowledged userinfo releases lost"
    for request_id, entry_id in releases.reported.items():
        assert entries[request_id] == [(entry_id, "reported_lookup")]
    for login in logins:
        assert [c for _, c in entries[login.token_request_id]] == ["login"]

    # And it serves again: a citizen's token from before the crash still works, and the
    # restarted workers' integrator takes up the new entry by itself.
    response, answer = userinfo(http, requests.Session(), logins[0].tokens["access_token"])
    assert response.status_code == 200, str(answer)
    wait_until(lambda: deployment.rows(PENDING)[0][0] == 0, 20, "the new entry was integrated")


def test_sigkill_in_the_middle_of_an_integration_holds_up_no_later_one(deployment):
    """A worker killed while it integrates a backlog (after an outage, say) leaves nothing
    behind that stops the next integration: the operator's `flask ledger integrate` right
    after the crash integrates everything, and the log verifies."""
    authority = deployment.service(scope=AUTHORITY_SCOPE, grant_types=GRANTS)
    deployment.citizens(1)
    deployment.backlog(BACKLOG, authority.client_id)
    tillid = deployment.tillid(workers=1, LEDGER_INTEGRATE_SECONDS="1")
    with psycopg.connect(deployment.pg.url(deployment.database), autocommit=True) as watch:
        # Polled closely: the integration takes a fraction of a second.
        wait_until(lambda: watch.execute(INTEGRATING).fetchone()[0] > 0, 30,
                   "the worker's integrator began on the backlog", every=0.005)  # fmt: skip
        tillid.kill()
        assert watch.execute("SELECT count(*) FROM ledger_checkpoint").fetchone()[0] == 0
        wait_until(lambda: watch.execute(CONNECTED).fetchone()[0] == 0, 10,
                   "PostgreSQL saw the killed worker's connections close")  # fmt: skip

    # The operator's commands right after the crash (here in this process, for speed).
    assert deployment.cli("ledger", "integrate") | {"root": None} == {
        "integrated": True,
        "tree_size": BACKLOG,
        "root": None,
    }
    report = deployment.cli("ledger", "verify")
    assert report["ok"] and report["pending"] == 0 and report["tree_size"] == BACKLOG
