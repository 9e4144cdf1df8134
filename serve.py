"""Tillid's production server: granian (a Rust HTTP server) running wsgi:app in worker processes.

    .venv/bin/python serve.py

Read from the environment (docs/configuration.md): BIND, WEB_CONCURRENCY (worker processes),
WEB_THREADS (threads per worker running the app), FORWARDED_ALLOW_IPS (the proxies whose
X-Forwarded-* headers count), ACCESS_LOG_STATIC, and METRICS_BIND (HOST:PORT of the Prometheus
metrics listener, off when unset; docs/metrics.md) with PROMETHEUS_MULTIPROC_DIR.

On Linux each worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
connections across them, so a burst of keep-alive connections does not all land on the worker
that woke first. A worker that dies is replaced; SIGTERM or SIGINT stops the workers after the
requests in hand are answered (at most WORKER_STOP_SECONDS).
"""

from __future__ import annotations

import atexit
import gc
import ipaddress
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from idp.core.config import (
    ConfigurationError,
    trace_exporters,
    trace_protocol,
    tracing_configured,
)

HERE = Path(__file__).resolve().parent
WORKER_STOP_SECONDS = 30  # gunicorn's graceful timeout, kept when Tillid moved to granian
# Renamed or gone with gunicorn: refused rather than silently ignored.
_GONE = {"GUNICORN_THREADS": "WEB_THREADS", "GUNICORN_REUSE_PORT": None,
         "GUNICORN_CMD_ARGS": None}  # fmt: skip
# X-Forwarded-* and Forwarded as the WSGI environ names them: what a client outside the
# trusted proxies must not be able to set (werkzeug's ProxyFix trusts by count of hops, not
# by who connected).
_FORWARDED = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
              "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PORT",
              "HTTP_X_FORWARDED_PREFIX")  # fmt: skip


class TrustedProxies:
    """gunicorn's FORWARDED_ALLOW_IPS, as WSGI middleware: the X-Forwarded-* headers reach
    the app only from a peer in ``allowed`` (addresses or networks, "*" for any; a Unix
    socket's peer, which has no address, counts as trusted, as in gunicorn). From such a
    peer X-Forwarded-Proto sets the request's scheme; the client's address is then
    werkzeug's ProxyFix's (TRUSTED_PROXY_COUNT hops, idp/app.py). From any other peer the
    headers are removed, so ProxyFix finds none to trust."""

    def __init__(self, app, allowed: str):
        self.app = app
        entries = [entry.strip() for entry in allowed.split(",") if entry.strip()]
        self.any = "*" in entries
        try:
            self.networks = [ipaddress.ip_network(entry, strict=False)
                             for entry in entries if entry != "*"]  # fmt: skip
        except ValueError as bad:
            raise ConfigurationError(f"FORWARDED_ALLOW_IPS: {bad}") from None

    def trusts(self, peer: str) -> bool:
        if self.any or not peer:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped:  # a dual-stack socket's IPv4 peer
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def __call__(self, environ, start_response):
        if self.trusts(environ.get("REMOTE_ADDR", "")):
            proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
            if proto in ("http", "https"):
                environ["wsgi.url_scheme"] = proto
        else:
            for name in _FORWARDED:
                environ.pop(name, None)
        return self.app(environ, start_response)


class WithoutProcessEnvironment:
    """granian starts every request's WSGI environ from a copy of the process environment
    (os.environ, the CGI way): DATABASE_URL, TILLID_DATA_KEY and every other secret would sit
    in each request's environ, and a variable named like a header (HTTP_PROXY) would look like
    one the client sent. This removes each variable that still holds the process's value (a
    header the client sent with the very same value as a same-named variable is lost: none
    of Tillid's)."""

    def __init__(self, app):
        self.app = app
        self.process = tuple(os.environ.items())

    def __call__(self, environ, start_response):
        for name, value in self.process:
            if environ.get(name) == value:
                del environ[name]
        return self.app(environ, start_response)


class NotStaticFiles(logging.Filter):
    """The access log without the requests for static files (the route /static/…)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(getattr(record, "path", "")).startswith("/static/")


def worker_app():
    """What each worker process serves; granian calls it in the worker, never in the parent
    that forks them (so neither the app's connections nor the integrator's thread are ever
    shared across a fork, and `flask --app wsgi` commands, which import wsgi, start neither)."""
    from consent.ledger.sequencer import start_integrator
    from idp.core import tracing
    from idp.core.logs import ACCESS_LOGGER
    from idp.oidc.backchannel_logout import start_deliverer
    from wsgi import app

    if os.environ.get("ACCESS_LOG_STATIC", "1") == "0":
        logging.getLogger(ACCESS_LOGGER).addFilter(NotStaticFiles())
    # Traces when the OTEL_* variables ask for them (docs/tracing.md): here, after the fork,
    # so the batch exporter's thread is the worker's own; with none of them, nothing at all.
    tracing.start_if_configured(app)
    # The access ledger's integrator: new entries get their leaves and a signed checkpoint
    # every LEDGER_INTEGRATE_SECONDS (one worker at a time, by the sequencer's lock).
    start_integrator(app)
    # Back-Channel Logout: notice expired sessions and send the logout tokens that are due,
    # every BACKCHANNEL_LOGOUT_SECONDS (each delivery claimed by one worker).
    start_deliverer(app)
    # Every template compiled now (41 of them, about 0.26 s of CPU once per worker), not
    # during some citizen's first page: 118-164 ms of a log page's CPU in the ledger bench
    # was its worker's first. Then what loading made (about 177,000 objects that live as
    # long as the worker) goes to the collector's permanent generation, so a full collection
    # no longer walks them in the middle of a request (18-64 ms pauses in that bench:
    # bench/results/profiles/2026-12-03-eve/ledgerread/).
    for name in app.jinja_env.list_templates():
        app.jinja_env.get_template(name)
    gc.freeze()
    trusted = TrustedProxies(app, os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))
    return WithoutProcessEnvironment(trusted)


def _stop_at_once() -> None:
    """In a worker just forked: until granian sets the worker's own handlers (once the app is
    loaded), the worker has its parent's, which only flag the parent's copy of the server: a
    SIGTERM while the app loads was lost, and the stop waited WORKER_STOP_SECONDS to kill
    the worker. No request is in hand yet, so the default (the end) is the graceful stop."""
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, signal.SIG_DFL)


def _count(name: str, default: int) -> int:
    value = os.environ.get(name, "") or str(default)
    if not value.isdigit() or int(value) < 1:
        raise ConfigurationError(f"{name} must be a whole number of at least 1, not {value!r}")
    return int(value)


def bind_address(bind: str) -> dict:
    """BIND as granian takes it: HOST:PORT (an IPv6 host in brackets) or unix:PATH."""
    if bind.startswith("unix:"):
        return {"uds": Path(bind.removeprefix("unix:"))}
    host, colon, port = bind.rpartition(":")
    if not colon or not port.isdigit() or not host:
        raise ConfigurationError(f"BIND must be HOST:PORT or unix:PATH, not {bind!r}")
    return {"address": host.strip("[]"), "port": int(port)}


def metrics_directory(bind: str) -> tuple[dict, str] | None:
    """Where the workers count (prometheus-client's multiprocess mode), when METRICS_BIND asks
    for metrics: PROMETHEUS_MULTIPROC_DIR, emptied of an earlier run's counts, or a new
    temporary directory removed when the server stops. Set in the environment before anything
    imports prometheus-client (the workers inherit it: it chooses how they count). Without
    METRICS_BIND the workers count in memory: files nobody reads would only pile up."""
    if not bind:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        return None
    try:
        address = bind_address(bind)
    except ConfigurationError:
        address = {}
    if "address" not in address:
        raise ConfigurationError(f"METRICS_BIND must be HOST:PORT, not {bind!r}")
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for counted in Path(directory).glob("*.db"):  # a new server counts from zero
            counted.unlink()
    else:
        directory = tempfile.mkdtemp(prefix="tillid-metrics-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return address, directory


def start_metrics_listener(address: dict, directory: str) -> None:
    """The metrics on METRICS_BIND, served by a thread of this process (the workers' parent):
    the workers' counts added up, and the ledger's backlog read from the database at each
    scrape on a connection of its own. A scrape is never one of the app's requests, so it
    is in no request metric. A worker forked later closes its copy of the listening socket."""
    from consent.ledger.sequencer import backlog_reader
    from idp.app import instance_path
    from idp.core import config as config_module
    from idp.core import metrics

    config = config_module.load(instance_path())
    scraped = metrics.registry(directory, metrics.LedgerBacklog(backlog_reader(config)))
    try:
        listener = metrics.listen(address["address"], address["port"], scraped)
    except OSError as refused:
        where = f"{address['address']}:{address['port']}"
        message = f"METRICS_BIND: cannot listen on {where} ({refused.strerror})"
        raise ConfigurationError(message) from None
    os.register_at_fork(after_in_child=listener.socket.close)


def server():
    from granian.constants import Interfaces
    from granian.log import LOGGING_CONFIG
    from granian.server import Server

    for old, new in _GONE.items():
        if old in os.environ:
            instead = f"; use {new}" if new else ""
            raise ConfigurationError(f"{old} is no longer read (Tillid runs on granian){instead}")
    # Before the app's modules are imported: they import prometheus-client.
    metrics = metrics_directory(os.environ.get("METRICS_BIND", ""))

    from idp.app import refuse_workers_on_embedded_store

    workers = _count("WEB_CONCURRENCY", 1)
    threads = _count("WEB_THREADS", 4)
    refuse_workers_on_embedded_store(workers, os.environ.get("REDIS_URL"))
    TrustedProxies(None, os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"))  # checked here
    # OTEL_TRACES_EXPORTER and the OTLP protocol refused here, once, not in every worker.
    if tracing_configured() and "otlp" in (trace_exporters() or ("otlp",)):
        trace_protocol()
    # The server's own lines (start, listening address, workers) on stderr, as the app's.
    logging_config = {"handlers": {
        name: {**handler, "stream": "ext://sys.stderr"}
        for name, handler in LOGGING_CONFIG["handlers"].items()}}  # fmt: skip
    if metrics is not None:
        start_metrics_listener(*metrics)
    os.register_at_fork(after_in_child=_stop_at_once)  # granian forks its workers
    return Server(
        "serve:worker_app",
        factory=True,
        working_dir=HERE,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        websockets=False,
        respawn_failed_workers=True,
        workers_kill_timeout=WORKER_STOP_SECONDS,
        log_dictconfig=logging_config,
        log_access=False,  # the app writes its own JSON access log, without query strings
        **bind_address(os.environ.get("BIND", "127.0.0.1:5000")),
    )


if __name__ == "__main__":
    try:
        tillid = server()
    except ConfigurationError as refused:  # a clear line, not a traceback
        sys.exit(str(refused))
    tillid.serve()
