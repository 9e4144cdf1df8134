"""OpenTelemetry traces (idp/core/tracing.py): one server span per request, carrying the
request id of the request's log line, SQL and store commands as its children, and nothing
personal or secret in any span, whatever the instrumentations saw; off without OTEL_*."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from idp.core import tracing
from idp.core.config import ConfigurationError, tracing_configured
from idp.core.logs import ACCESS_LOGGER, JSONFormatter
from tests import log_secrets
from tests.conftest import CitizenActions
from tests.oidc.conftest import Flow, register

ROOT = Path(__file__).resolve().parents[2]
CPR = "0304851234"
USERNAME = "sporbar.borger"
PASSWORD = "a traced but secret phrase"
GIVEN_NAME, FAMILY_NAME, EMAIL = "Vibeke", "Sporsen", "vibeke.sporsen@example.org"
PERSONAL = (CPR, "030485-1234", USERNAME, GIVEN_NAME, FAMILY_NAME, EMAIL)
STORE_SCOPE = "opentelemetry.instrumentation.redis"
SQL_SCOPE = "opentelemetry.instrumentation.sqlalchemy"
# What the Flask instrumentation records of a request and no span of Tillid's may carry.
UNWANTED = {"http.url", "http.target", "url.query", "url.full", "url.path", "http.user_agent",
            "user_agent.original", "net.peer.ip", "client.address", "http.client_ip"}  # fmt: skip


@pytest.fixture
def traced(app):
    """The app traced into an in-memory exporter (through the allowlist), and a second one
    behind no allowlist at all: what the instrumentations themselves recorded."""
    exporter, unfiltered = InMemorySpanExporter(), InMemorySpanExporter()
    traces = tracing.instrument(app, SimpleSpanProcessor(exporter))
    traces.provider.add_span_processor(SimpleSpanProcessor(unfiltered))
    yield exporter, unfiltered
    traces.stop()


@pytest.fixture
def access_lines():
    """The access log's JSON lines during the test, as the app's handler writes them."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    logger.removeHandler(handler)


def _as_text(span) -> str:
    """Everything a span says, as one JSON line (the log-secrets check reads such lines)."""
    return json.dumps({
        "name": span.name,
        "attributes": dict(span.attributes or {}),
        "events": [{"name": event.name, **dict(event.attributes or {})}
                   for event in span.events],
        "status": span.status.description,
        "resource": dict(span.resource.attributes),
    }, default=str)  # fmt: skip


def _children(spans, parent) -> list:
    parent_id = parent.context.span_id
    return [span for span in spans if span.parent is not None and span.parent.span_id == parent_id]


def _login_and_token_request(app, client):
    """A service's authorization request naming the citizen by CPR number (login_hint), the
    password and authenticator-app login it leads to, the consent, and the token request."""
    assert app.test_cli_runner().invoke(args=["keys", "ensure"]).exit_code == 0
    citizens = CitizenActions(app, client)
    citizens.create(username=USERNAME, password=PASSWORD, cpr=CPR, given_name=GIVEN_NAME,
                    family_name=FAMILY_NAME, email=EMAIL)  # fmt: skip
    flow = Flow(app, client, register(app))
    started = flow.authorize(login_hint=CPR)
    assert started.status_code == 302
    login_page = started.headers["Location"]
    destination = parse_qs(urlsplit(login_page).query)["next"][0]
    assert client.get(login_page).status_code == 200
    assert citizens.login(USERNAME, PASSWORD, next_url=destination).status_code == 302
    token = flow.exchange(flow.code())
    assert token.status_code == 200, token.json
    return token


@pytest.mark.cluster
def test_a_login_and_its_token_request_are_traced_without_personal_data(
    app, client, traced, access_lines
):
    exporter, unfiltered = traced
    token = _login_and_token_request(app, client)
    spans = exporter.get_finished_spans()

    # One server span per request, each with the request id its access-log line carries.
    requests = [span for span in spans if span.kind == SpanKind.SERVER]
    logged = [line["request_id"] for line in access_lines()]
    assert len(logged) >= 8  # authorize, login page, password, code page, code, consent x2, token
    assert [span.attributes[tracing.REQUEST_ID_ATTRIBUTE] for span in requests] == logged
    by_id = {span.attributes[tracing.REQUEST_ID_ATTRIBUTE]: span for span in requests}
    token_span = by_id[token.headers["X-Request-ID"]]
    assert token_span.name == "POST /token"
    assert token_span.attributes["http.route"] == "/token"
    statuses = {token_span.attributes.get(name)
                for name in ("http.status_code", "http.response.status_code")}  # fmt: skip
    assert 200 in statuses
    password_step = next(span for span in requests if span.name == "POST /login")

    # SQL and store commands are the children of the request that made them.
    for request in (password_step, token_span):
        scopes = {child.instrumentation_scope.name for child in _children(spans, request)}
        assert {SQL_SCOPE, STORE_SCOPE} <= scopes, (request.name, scopes)
    statements = [span.attributes.get("db.statement", span.attributes.get("db.query.text", ""))
                  for span in spans if span.instrumentation_scope.name == SQL_SCOPE]  # fmt: skip
    assert any("%(" in statement or "?" in statement for statement in statements)
    commands = [span.attributes["db.statement"] for span in spans
                if span.instrumentation_scope.name == STORE_SCOPE
                and "db.statement" in span.attributes]  # fmt: skip
    assert commands and all(
        all(word == "?" for word in line.split()[1:]) for c in commands for line in c.splitlines()
    ), commands

    # What the instrumentations saw holds the CPR number (the authorization request's query
    # string): the allowlist is what keeps it, and every secret, out.
    assert any(CPR in _as_text(span) for span in unfiltered.get_finished_spans())
    # The registry learns no test-client answer's body (werkzeug's are streamed): the
    # tokens are added here.
    log_secrets.CHECK.registry.add_json(token.json)
    secrets = log_secrets.CHECK.registry.current()
    assert PASSWORD in secrets and token.json["access_token"] in secrets  # the check is live
    lines = [_as_text(span) for span in spans]
    leaks = log_secrets.CHECK.scan(lines)
    assert not leaks, "\n".join(leak.describe() for leak in leaks)
    text = "\n".join(lines)
    for value in PERSONAL:
        assert value not in text, f"personal data in a span: {value[:3]}…"
    for span in requests:
        assert "?" not in _as_text(span), "a query string reached a request's span"
        assert not UNWANTED & set(span.attributes)


def test_an_unrouted_path_is_not_the_span_name(app, client, traced):
    exporter, _ = traced
    token_like = "x" * 40
    assert client.get(f"/no/such/{token_like}").status_code == 404
    (span,) = [span for span in exporter.get_finished_spans() if span.kind == SpanKind.SERVER]
    assert span.name == "GET"
    assert token_like not in _as_text(span)


def test_without_otel_variables_nothing_is_traced_or_imported(app):
    """serve.py's worker with no OTEL_* set: no hook added, and no module of OpenTelemetry's
    tracing loaded (redis-py 8 loads the metrics SDK by itself once it is installed, for
    metrics of its own that stay off unless an app turns them on), nor any
    other module of OpenTelemetry's."""
    config = {key: app.config[key] for key in ("SECRET_KEY", "TILLID_DATA_KEY", "ISSUER",
              "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "STORE_KEY_PREFIX")}  # fmt: skip
    program = textwrap.dedent("""
        import json, sys
        import serve
        from idp.app import create_app
        from idp.core import tracing
        app = create_app({"TESTING": True, **json.loads(sys.argv[1])})
        loaded = set(sys.modules)
        served, hooks = app.wsgi_app, list(app.before_request_funcs[None])
        assert tracing.start_if_configured(app) is None
        assert app.wsgi_app is served and app.before_request_funcs[None] == hooks
        assert app.test_client().get("/healthz").status_code == 200
        tracing_modules = ("opentelemetry.sdk.trace", "opentelemetry.instrumentation",
                           "opentelemetry.exporter")
        print(json.dumps(sorted(
            name for name in sys.modules if name.startswith("opentelemetry")
            and (name not in loaded or name.startswith(tracing_modules)))))
    """)
    environ = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    environ["PYTHONPATH"] = str(ROOT)
    result = subprocess.run([sys.executable, "-c", program, json.dumps(config)], cwd=ROOT,
                            env=environ, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("environ", "configured"),
    [
        ({}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SERVICE_NAME": "tillid"}, False),
    ],
)
def test_the_standard_variables_turn_tracing_on(environ, configured):
    assert tracing_configured(environ) is configured


@pytest.mark.parametrize(
    "environ",
    [
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
    ],
)
def test_an_exporter_tillid_cannot_send_through_is_refused_at_startup(environ):
    """serve.py refuses it with one line before any worker starts (not a silent no-trace)."""
    program = "import serve; serve.server()"
    full = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    result = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                            env={**full, **environ, "PYTHONPATH": str(ROOT)}, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr and "OTEL_" in result.stderr
    with pytest.raises(ConfigurationError):
        tracing.start_if_configured(None, environ)


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver: keeps what is posted to /v1/traces."""

    received: list[tuple[str, bytes]]

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_otlp_exporter_sends_the_request_span_to_the_collector(app, monkeypatch):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[tuple[str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "tillid-test")
    try:
        traces = tracing.start_if_configured(app)
        assert traces is not None
        answer = app.test_client().get("/healthz")
        traces.stop()  # flushes the batch
    finally:
        server.shutdown()
    assert received and all(path == "/v1/traces" for path, _ in received)
    spans, services = [], set()
    for _, body in received:
        export = ExportTraceServiceRequest.FromString(body)
        for resource_spans in export.resource_spans:
            services |= {attribute.value.string_value
                         for attribute in resource_spans.resource.attributes
                         if attribute.key == "service.name"}  # fmt: skip
            for scope_spans in resource_spans.scope_spans:
                spans += scope_spans.spans
    assert services == {"tillid-test"}
    request_ids = {attribute.value.string_value for span in spans for attribute in span.attributes
                   if attribute.key == tracing.REQUEST_ID_ATTRIBUTE}  # fmt: skip
    assert request_ids == {answer.headers["X-Request-ID"]}
