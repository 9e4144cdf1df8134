"""Prometheus metrics: every metric Tillid exports, the small functions the layers above count
with, and the listener that serves them (docs/metrics.md).

Labels are few and bounded: an endpoint's name (never a path), a method, a status, a client
kind, a grant type, a login method and outcome, a budget's setting name. Never a citizen, a
CPR number, an address or (unless METRICS_PER_CLIENT=1, in a metric of its own) a client id.

Under serve.py the workers count into files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode, chosen when that variable is set before this module is first imported:
serve.py sets it before it imports anything of the app) and the server's main process adds
them up when scraped, on METRICS_BIND only. Every metric here is a counter or a histogram,
which a dead worker's file keeps adding to the total, as a counter should; the only gauges
(the ledger's backlog) are read from the database at scrape time, in the main process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# A page takes tens of milliseconds, a token request a few, a login's password hash about
# 60 ms; a request near 5 s met a store or statement timeout.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# One histogram per request and nothing else: its _count is the request count, so a request
# pays one observation (a dict lookup and two additions), not a counter besides.
REQUEST_SECONDS = Histogram(
    "tillid_http_request_duration_seconds",
    "Time the app took to answer, by endpoint (the route's name), method and status; "
    "_count is the number of requests.",
    ["endpoint", "method", "status"],
    buckets=_REQUEST_BUCKETS,
)
LOGINS = Counter(
    "tillid_logins_total",
    "Login steps by method (password, totp, passkey, recovery_code, phone_app) and outcome.",
    ["method", "outcome"],
)
TOKENS = Counter(
    "tillid_tokens_issued_total",
    "Token responses issued by the token endpoint, by grant type and client kind.",
    ["grant_type", "client_kind"],
)
CLIENT_TOKENS = Counter(
    "tillid_client_tokens_issued_total",
    "Token responses by client id and grant type: only with METRICS_PER_CLIENT=1.",
    ["client_id", "grant_type"],
)
LEDGER_APPENDS = Counter(
    "tillid_ledger_appends_total",
    "Access-ledger entries made durable, by channel.",
    ["channel"],
)
BACKEND_ERRORS = Counter(
    "tillid_backend_errors_total",
    "Requests answered 503 because a backend failed or timed out, by backend "
    "(database, store, ledger, signing_keys).",
    ["backend"],
)
RATE_LIMIT_REFUSALS = Counter(
    "tillid_rate_limit_refusals_total",
    "Requests refused by a rate limit, by the setting that sets it (LOGIN_RATE_LIMIT, ...).",
    ["limit"],
)
LOGOUT_DELIVERIES = Counter(
    "tillid_backchannel_logout_deliveries_total",
    "Back-channel logout tokens sent to services, by outcome.",
    ["outcome"],
)
# Gauges of the ledger's backlog, made at scrape time by LedgerBacklog (no worker sets them).
LEDGER_PENDING = "tillid_ledger_pending_entries"
LEDGER_LAG = "tillid_ledger_sequencer_lag_seconds"

# Any other method is one label value: a client chooses the method, not the label's size.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_request_series: dict[tuple[str, str, int], object] = {}


def observe_request(endpoint: str | None, method: str, status: int, seconds: float) -> None:
    """One answered request. Each label set's series is looked up once per process."""
    key = (endpoint or "none", method if method in _METHODS else "other", status)
    series = _request_series.get(key)
    if series is None:
        series = _request_series[key] = REQUEST_SECONDS.labels(key[0], key[1], str(status))
    series.observe(seconds)


def count_login(method: str, outcome: str) -> None:
    """One login step (a password, a code, a passkey...) and how it ended."""
    LOGINS.labels(method, outcome).inc()


def count_token(grant_type: str, client_kind: str, client_id: str | None = None) -> None:
    """One token response; ``client_id`` is counted too when given (METRICS_PER_CLIENT)."""
    TOKENS.labels(grant_type, client_kind).inc()
    if client_id is not None:
        CLIENT_TOKENS.labels(client_id, grant_type).inc()


def count_ledger_appends(channels: Iterable[str]) -> None:
    """Entries made durable, one channel per entry."""
    counted: dict[str, int] = {}
    for channel in channels:
        counted[channel] = counted.get(channel, 0) + 1
    for channel, entries in counted.items():
        LEDGER_APPENDS.labels(channel).inc(entries)


def count_backend_error(backend: str) -> None:
    """A request answered 503 because ``backend`` failed."""
    BACKEND_ERRORS.labels(backend).inc()


def count_rate_limit_refusal(limit: str) -> None:
    """A request refused by the rate limit that the setting ``limit`` names."""
    RATE_LIMIT_REFUSALS.labels(limit).inc()


def count_logout_delivery(outcome: str) -> None:
    """One attempt to send a back-channel logout token to a service (OpenID Connect
    Back-Channel Logout; idp/oidc/backchannel_logout.py `Outcome`), by outcome: "delivered"
    (the service answered 2xx), "retrying" (it failed: an error status, a timeout, a refused
    connection; another attempt is scheduled), "gave_up" (it failed and the retry window is
    over, or the service is gone)."""
    LOGOUT_DELIVERIES.labels(outcome).inc()


class LedgerBacklog(Collector):
    """The sequencer's backlog, read when scraped: entries still without a leaf, and how long
    the oldest of them has waited (0 when none waits). ``read`` answers (pending, released
    at of the oldest pending as a Unix time or None). A scrape whose read fails leaves the
    two gauges out (and logs why) rather than failing the scrape."""

    def __init__(self, read: Callable[[], tuple[int, float | None]]):
        self.read = read

    def describe(self):
        return []  # not read at registration: the database may not be there yet

    def collect(self):
        try:
            pending, oldest = self.read()
        except Exception as exc:  # the database down: the other metrics still count
            log.warning("ledger backlog not read: %s", type(exc).__name__)
            return
        yield GaugeMetricFamily(LEDGER_PENDING, "Ledger entries without a leaf yet.", pending)
        lag = max(0.0, time.time() - oldest) if oldest is not None else 0.0
        yield GaugeMetricFamily(LEDGER_LAG, "Age of the oldest ledger entry without a leaf.", lag)


def registry(multiprocess_dir: str | None, *collectors: Collector) -> CollectorRegistry:
    """What a scrape reads: the workers' files in ``multiprocess_dir`` added up (or, without
    one, this process's own counts), and ``collectors``."""
    scraped = CollectorRegistry(auto_describe=False)
    if multiprocess_dir:
        multiprocess.MultiProcessCollector(scraped, path=multiprocess_dir)
    else:
        for metric in (REQUEST_SECONDS, LOGINS, TOKENS, CLIENT_TOKENS, LEDGER_APPENDS,
                       BACKEND_ERRORS, RATE_LIMIT_REFUSALS, LOGOUT_DELIVERIES):  # fmt: skip
            scraped.register(metric)
    for collector in collectors:
        scraped.register(collector)
    return scraped


def listen(host: str, port: int, scraped: CollectorRegistry):
    """Serve ``scraped`` over HTTP on ``host``:``port`` (any path; /metrics by convention), from
    a daemon thread of this process: the listener, which the caller closes in a forked
    child (serve.py), since a worker must not hold the metrics port."""
    server, _thread = start_http_server(port, addr=host, registry=scraped)
    return server


METRIC_NAMES = (
    "tillid_http_request_duration_seconds",
    "tillid_logins_total",
    "tillid_tokens_issued_total",
    "tillid_client_tokens_issued_total",
    "tillid_ledger_appends_total",
    "tillid_backend_errors_total",
    "tillid_rate_limit_refusals_total",
    "tillid_backchannel_logout_deliveries_total",
    LEDGER_PENDING,
    LEDGER_LAG,
)
