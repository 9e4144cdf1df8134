"""Prometheus metrics (idp/core/metrics.py, docs/metrics.md): what a scrape shows after a
login, a token, a release, a refused rate limit and a backend failure, with the labels they
carry and none that names a client or a citizen; the ledger's backlog read at scrape time; and
serve.py's listener: off by default, on METRICS_BIND only, adding up several workers.

The app's own counts are read as the listener serves them (prometheus-client's exposition,
from `metrics.registry`); in one test process they are shared by every app, so each test
reads what its requests added."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests
from prometheus_client import make_wsgi_app
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import Client

from consent.ledger.sequencer import backlog_reader
from idp.app import create_app
from idp.core import metrics
from tests.conftest import (
    TEST_REDIS_URL,
    CitizenActions,
    after_password,
    base_config,
    csrf_token,
    login,
)
from tests.consent.test_authority_api import _authority
from tests.oidc.conftest import (
    oidc,  # noqa: F401 (a fixture)
    register,
)
from tests.test_config import CONFIG_VARIABLES, REPO, VENV_BIN
from tests.test_serve import Served, _free_port

DASHBOARD = REPO / "docs" / "grafana" / "tillid-dashboard.json"


def exposition(*collectors) -> str:
    """A scrape of this process's counts (and ``collectors``), as the listener answers it."""
    response = Client(make_wsgi_app(metrics.registry(None, *collectors))).get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict, name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


class Moved:
    """What the counters moved by between two scrapes."""

    def __init__(self):
        self.before = samples(exposition())

    def __call__(self, name: str, **labels: str) -> float:
        return value(samples(exposition()), name, **labels) - value(self.before, name, **labels)


def test_a_login_a_token_and_a_release_move_their_counters(app, client, oidc, citizens):  # noqa: F811
    bank = register(app)
    moved = Moved()
    citizens.logout()
    assert citizens.login(password="wrong horse battery").status_code == 401
    assert citizens.login().status_code == 302
    assert oidc(bank).tokens()["id_token"]

    assert moved("tillid_logins_total", method="password", outcome="wrong_password") == 1
    assert moved("tillid_logins_total", method="password", outcome="success") == 1
    assert moved("tillid_logins_total", method="totp", outcome="success") == 1
    assert moved("tillid_tokens_issued_total", grant_type="authorization_code",
                 client_kind="private_service") == 1  # fmt: skip
    assert moved("tillid_ledger_appends_total", channel="login") == 1
    assert moved("tillid_http_request_duration_seconds_count", endpoint="oidc.token",
                 method="POST", status="200") == 1  # fmt: skip
    assert moved("tillid_http_request_duration_seconds_count", endpoint="auth.login",
                 method="POST", status="401") == 1  # fmt: skip
    assert moved("tillid_http_request_duration_seconds_bucket", endpoint="oidc.token",
                 method="POST", status="200", le="+Inf") == 1  # fmt: skip


def test_a_wrong_code_and_a_replayed_one_are_second_step_outcomes(app, client, citizens):
    citizens.create(username="anna")
    moved = Moved()
    destination = after_password(login(client, "anna", "correct horse battery"))
    page = client.get("/login/code", query_string={"next": destination})
    wrong = client.post("/login/code", data={"csrf_token": csrf_token(page), "otp": "000000",
                                             "next": destination})  # fmt: skip
    assert wrong.status_code == 401
    code = citizens.totp_code()
    for expected in (302, 401):  # accepted, then the same code again from another login
        if expected == 401:
            citizens.logout()
            destination = after_password(login(client, "anna", "correct horse battery"))
        page = client.get("/login/code", query_string={"next": destination})
        answer = client.post("/login/code", data={"csrf_token": csrf_token(page), "otp": code,
                                                  "next": destination})  # fmt: skip
        assert answer.status_code == expected

    assert moved("tillid_logins_total", method="password", outcome="success") == 2
    assert moved("tillid_logins_total", method="totp", outcome="wrong_code") == 1
    assert moved("tillid_logins_total", method="totp", outcome="success") == 1
    assert moved("tillid_logins_total", method="totp", outcome="code_replayed") == 1


def test_a_made_up_method_or_path_is_one_label_value_not_a_new_one_each(client):
    moved = Moved()
    for made_up in ("BREW", "PROPFIND", "X" * 40):
        assert client.open("/healthz", method=made_up).status_code == 405
    for path in ("/no/such/page", "/another/one"):
        assert client.get(path).status_code == 404

    count = "tillid_http_request_duration_seconds_count"
    assert moved(count, endpoint="none", method="other", status="405") == 3
    assert moved(count, endpoint="none", method="GET", status="404") == 2
    assert "BREW" not in exposition() and "/no/such/page" not in exposition()


def test_no_label_names_a_client_or_a_citizen_unless_asked_per_client(make_app):
    for per_client in (False, True):
        app = make_app(METRICS_PER_CLIENT=per_client)
        assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
        citizens = CitizenActions(app, app.test_client())
        cpr = citizens.next_cpr()
        anna = citizens.create(username="anna", cpr=cpr)
        assert citizens.login().status_code == 302
        skat = _authority(app)
        token = app.test_client().post("/token", data={"grant_type": "client_credentials"},
                                       auth=(skat.client_id, skat.client_secret))  # fmt: skip
        assert token.status_code == 200, token.json

        scraped = exposition()
        for secret in (anna["id"], cpr, "anna"):
            assert secret not in scraped
        per_client_tokens = value(samples(scraped), "tillid_client_tokens_issued_total",
                                  client_id=skat.client_id,
                                  grant_type="client_credentials")  # fmt: skip
        assert (skat.client_id in scraped) is per_client
        assert per_client_tokens == (1 if per_client else 0)


def test_rate_limit_refusals_are_counted_by_the_limit_that_refused(app, client, citizens):
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    skat = _authority(app)
    moved = Moved()
    app.config.update(TOKEN_RATE_LIMIT_PER_CLIENT="1 per minute", LOGIN_RATE_LIMIT="1 per minute")
    grant = {"grant_type": "client_credentials"}
    auth = (skat.client_id, skat.client_secret)
    statuses = [client.post("/token", data=grant, auth=auth).status_code for _ in range(2)]
    assert statuses[1] == 429
    citizens.create(username="anna")
    attempts = [login(app.test_client(), "anna", "wrong").status_code for _ in range(2)]
    assert attempts == [401, 429]

    assert moved("tillid_rate_limit_refusals_total", limit="TOKEN_RATE_LIMIT_PER_CLIENT") == 1
    assert moved("tillid_rate_limit_refusals_total", limit="LOGIN_RATE_LIMIT") == 1


def test_a_503_for_a_missing_signing_key_or_a_store_outage_counts_its_backend(app, client):
    skat = _authority(app)  # no `flask keys ensure`: no key signs its tokens
    moved = Moved()
    grant = {"grant_type": "client_credentials"}
    assert client.post("/token", data=grant, auth=(skat.client_id, skat.client_secret)
                       ).status_code == 503  # fmt: skip
    assert moved("tillid_backend_errors_total", backend="signing_keys") == 1

    if app.config["REDIS_URL"]:
        # The store's server goes away: the client's next command finds nothing listening.
        import redis

        app.extensions["tillid_store"] = redis.Redis(
            host="127.0.0.1", port=_free_port(), socket_connect_timeout=1
        )
        assert login(client, "anna", "correct horse battery").status_code == 503
        assert moved("tillid_backend_errors_total", backend="store") >= 1


def test_the_ledger_backlog_is_read_at_scrape_time(app, client, oidc):  # noqa: F811
    backlog = metrics.LedgerBacklog(backlog_reader(app.config))
    assert oidc(register(app)).tokens()["id_token"]  # one release, not yet integrated
    scraped = samples(exposition(backlog))
    assert value(scraped, "tillid_ledger_pending_entries") == 1
    assert 0 <= value(scraped, "tillid_ledger_sequencer_lag_seconds") < 60

    assert app.test_cli_runner().invoke(args=["ledger", "integrate"]).exit_code == 0
    scraped = samples(exposition(backlog))
    assert value(scraped, "tillid_ledger_pending_entries") == 0
    assert value(scraped, "tillid_ledger_sequencer_lag_seconds") == 0


def test_a_backlog_that_cannot_be_read_leaves_only_its_gauges_out(app):
    unreachable = dict(app.config, SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://127.0.0.1:"
                                                           f"{_free_port()}/none")  # fmt: skip
    scraped = exposition(metrics.LedgerBacklog(backlog_reader(unreachable)))
    assert "tillid_ledger_pending_entries" not in scraped
    assert "tillid_logins_total" in scraped or "tillid_http_request" in scraped


# serve.py's listener


def _listening_ports(pid: int) -> set[int]:
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True, check=True).stdout
    return {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines()
            if f"pid={pid}," in line}  # fmt: skip


def test_no_metrics_are_served_by_default(tmp_path):
    """Nothing listens but the app, which answers 404 at /metrics; and without METRICS_BIND
    the workers write no counts to PROMETHEUS_MULTIPROC_DIR (nobody would read them)."""
    unread = tmp_path / "unread"
    unread.mkdir()
    server = Served(tmp_path, PROMETHEUS_MULTIPROC_DIR=str(unread))
    try:
        server.wait_until_answering()
        assert requests.get(f"{server.url}/metrics", timeout=5).status_code == 404
        app_port = int(server.bind.rsplit(":", 1)[1])
        assert _listening_ports(server.process.pid) <= {app_port}
        assert list(unread.iterdir()) == []
    finally:
        server.stop()


@pytest.mark.skipif(not TEST_REDIS_URL, reason="two workers need Redis (TEST_REDIS_URL)")
def test_metrics_bind_serves_the_sum_of_every_workers_counts_and_the_backlog(tmp_path):
    metrics_bind = f"127.0.0.1:{_free_port()}"
    counts = tmp_path / "counts"
    counts.mkdir()
    (counts / "counter_1.db").write_bytes(b"an earlier run's")  # emptied at the start
    env = {"WEB_CONCURRENCY": "2", "REDIS_URL": TEST_REDIS_URL, "METRICS_BIND": metrics_bind,
           "PROMETHEUS_MULTIPROC_DIR": str(counts),
           "TILLID_STORE_PREFIX": f"metrics-{os.getpid()}:"}  # fmt: skip
    migrated = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=REPO, capture_output=True,
        env={**{k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES},
             "TILLID_INSTANCE_PATH": str(tmp_path / "instance"),
             "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"},
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    server = Served(tmp_path, **env)
    try:
        server.wait_until_answering()
        deadline = time.monotonic() + 60
        while len(server.workers()) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.2)
        # New connections, so the kernel spreads them over both workers' sockets, until each
        # worker has counted one (on a busy machine the second may take a while to listen).
        sent = 0
        while sent < 40 or not {f"histogram_{pid}.db" for pid in server.workers()} <= {
            path.name for path in counts.iterdir()
        }:
            assert time.monotonic() < deadline, "a worker never answered"
            assert requests.get(f"{server.url}/healthz", timeout=30).status_code == 200
            sent += 1
        assert requests.get(f"{server.url}/metrics", timeout=30).status_code == 404

        scrape = requests.get(f"http://{metrics_bind}/metrics", timeout=30)
        assert scrape.status_code == 200
        scraped = samples(scrape.text)
        # The one /healthz of wait_until_answering, those sent, and the app's /metrics 404.
        assert value(scraped, "tillid_http_request_duration_seconds_count",
                     endpoint="ops.healthz", method="GET", status="200") == 1 + sent  # fmt: skip
        assert value(scraped, "tillid_http_request_duration_seconds_count",
                     endpoint="none", method="GET", status="404") == 1  # fmt: skip
        assert value(scraped, "tillid_ledger_pending_entries") == 0
        assert value(scraped, "tillid_ledger_sequencer_lag_seconds") == 0
        counted = {path.name for path in counts.iterdir()}
        assert "counter_1.db" not in counted
        assert {f"histogram_{pid}.db" for pid in server.workers()} <= counted, counted

        # A worker killed and replaced: what it counted still counts (a counter never drops).
        killed = server.workers()[0]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while killed in server.workers() or len(server.workers()) < 2:
            assert time.monotonic() < deadline, "the worker was not replaced"
            time.sleep(0.2)
        server.wait_until_answering()  # one more /healthz
        after = samples(requests.get(f"http://{metrics_bind}/metrics", timeout=30).text)
        assert value(after, "tillid_http_request_duration_seconds_count",
                     endpoint="ops.healthz", method="GET", status="200") == 2 + sent  # fmt: skip
    finally:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(timeout=60)
    deadline = time.monotonic() + 5
    while requests_refused(metrics_bind) is False and time.monotonic() < deadline:
        time.sleep(0.1)
    assert requests_refused(metrics_bind)


def requests_refused(bind: str) -> bool:
    try:
        requests.get(f"http://{bind}/metrics", timeout=2)
    except requests.ConnectionError:
        return True
    return False


@pytest.mark.parametrize("bind", ["9464", "unix:/tmp/metrics.sock"])
def test_a_metrics_bind_that_is_no_host_and_port_is_refused(tmp_path, bind):
    server = Served(tmp_path, METRICS_BIND=bind)
    assert server.process.wait(timeout=60) != 0
    output = server.log.read_text()
    assert "METRICS_BIND" in output and "Traceback" not in output, output


# The dashboard


def _expressions(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in _expressions(value)]
    if isinstance(node, list):
        return [e for item in node for e in _expressions(item)]
    return []


def test_the_grafana_dashboard_reads_only_metrics_tillid_exports_and_shows_each():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["panels"] and dashboard["uid"]
    datasource = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert datasource and datasource[0]["query"] == "prometheus"
    used = set()
    for expression in _expressions(dashboard["panels"]):
        for name in re.findall(r"\btillid_[a-z_]+", expression):
            used.add(re.sub(r"_(bucket|count|sum)$", "", name))
    assert used <= set(metrics.METRIC_NAMES), used - set(metrics.METRIC_NAMES)
    # Every metric but the per-client one (empty unless METRICS_PER_CLIENT=1) has a panel.
    assert set(metrics.METRIC_NAMES) - used == {"tillid_client_tokens_issued_total"}


def test_a_database_that_does_not_answer_is_a_503_counted_as_the_database():
    """PostgreSQL gone (nothing listens on its port): the login's lookup is a 503, counted."""
    nothing = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/tillid"
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=nothing, DATABASE_CONNECT_TIMEOUT=2))
    client = app.test_client()
    moved = Moved()
    assert login(client, "anna", "correct horse battery").status_code == 503
    assert moved("tillid_backend_errors_total", backend="database") == 1
