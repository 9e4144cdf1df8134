"""OpenTelemetry traces of requests, SQL and Redis, off unless the standard OTEL_*
variables ask for them (docs/tracing.md).

serve.py calls ``start_if_configured`` in each worker after the fork (the batch exporter's
thread is never forked). When tracing is off nothing of OpenTelemetry's tracing is imported
and no hook is added: a request costs what it cost before. When it is on, each request is one
server span carrying the request id of its log lines (``tillid.request_id``), with a child
span for each SQL statement and each Redis command (the store's and the rate limits').

What leaves the process is kept to an allowlist, whatever the instrumentations record or
their own variables ask them to capture: no URL, query string, header, client address or user
agent, no bound SQL value (statements keep their placeholders), no Redis key or value (a
command is its name and a `?` per argument), no exception message (only its type).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from flask import Flask, g, has_request_context

from idp.core.config import trace_exporters, trace_protocol, tracing_configured
from idp.core.extensions import db

if TYPE_CHECKING:  # only ever imported when tracing is on
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

REQUEST_ID_ATTRIBUTE = "tillid.request_id"
DEFAULT_SERVICE_NAME = "tillid"

# What a request's (server) span may carry: the method, the route (a rule such as
# /login/app/<request_id>, never the path itself), the status and the server's own name.
_SERVER_ATTRIBUTES = frozenset({
    "http.method", "http.request.method", "http.route", "http.status_code",
    "http.response.status_code", "http.scheme", "url.scheme", "http.flavor",
    "network.protocol.version", "http.host", "http.server_name", "net.host.name",
    "net.host.port", "server.address", "server.port", "error.type", REQUEST_ID_ATTRIBUTE,
})  # fmt: skip
# What a span of SQL or of Redis may carry: the database and the statement (SQLAlchemy's,
# with placeholders for every value; a Redis command reduced to its name, below).
_CLIENT_ATTRIBUTES = frozenset({
    "db.system", "db.system.name", "db.name", "db.namespace", "db.statement",
    "db.query.text", "db.operation", "db.operation.name", "db.redis.database_index",
    "db.redis.args_length", "db.redis.pipeline_length", "net.peer.name", "net.peer.port",
    "net.transport", "server.address", "server.port", "network.peer.address", "network.peer.port",
    "network.transport", "error.type",
})  # fmt: skip
_EVENT_ATTRIBUTES = frozenset({"exception.type", "exception.escaped"})
_REDIS_SCOPE = "opentelemetry.instrumentation.redis"
_REDIS_STATEMENTS = ("db.statement", "db.query.text")
_WORD = re.compile(r"\S+")


class Tracing:
    """One app's tracing: its provider and what was instrumented, to undo in ``stop``."""

    def __init__(self, app: Flask, provider: TracerProvider):
        self.app = app
        self.provider = provider

    def stop(self) -> None:
        """Every span sent, the instrumentation taken off again (tests)."""
        from opentelemetry.instrumentation.flask import FlaskInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        self.provider.force_flush()
        FlaskInstrumentor.uninstrument_app(self.app)
        SQLAlchemyInstrumentor().uninstrument()
        RedisInstrumentor().uninstrument()
        self.provider.shutdown()


def start_if_configured(app: Flask, environ=None) -> Tracing | None:
    """Traces through the exporters the OTEL_* variables name (OTLP over HTTP unless
    OTEL_TRACES_EXPORTER says otherwise), in batches off the request's thread; None, and
    nothing imported or hooked, when they name none."""
    if not tracing_configured(environ):
        return None
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    exporters = trace_exporters(environ) or ("otlp",)
    processors = []
    for name in exporters:
        if name == "otlp":
            trace_protocol(environ)
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
    return instrument(app, *processors)


def instrument(app: Flask, *processors: SpanProcessor) -> Tracing:
    """Trace ``app``'s requests, its SQL and its Redis commands into ``processors``, each behind the
    allowlist. Before the app's first request (Flask takes no new request hooks after it).
    Tests call this with an in-memory exporter's processor."""
    from opentelemetry.instrumentation.flask import FlaskInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)  # its sampler: OTEL_TRACES_SAMPLER
    for processor in processors:
        provider.add_span_processor(_allowlisted(processor))

    FlaskInstrumentor.instrument_app(
        app, tracer_provider=provider, response_hook=_name_the_request, enable_commenter=False
    )
    # The request's span first: what the other before_request hooks do (the session, the
    # citizen, rate limits) is inside it, and so are the answers they may give instead.
    hooks = app.before_request_funcs[None]
    hooks.insert(0, hooks.pop(hooks.index(app._before_request)))
    with app.app_context():
        engines = list(db.engines.values())
    SQLAlchemyInstrumentor().instrument(
        engines=engines,
        tracer_provider=provider,
        enable_commenter=False,
        # Its declared range stops below SQLAlchemy 2.1, which it traces all the same
        # (tests/ops/test_tracing.py).
        skip_dep_check=True,
    )
    # redis-py's classes, not the store's client alone: its per-client wrapping breaks a Redis
    # Cluster client's pipelines (it wraps a method they do not have), and this way the rate
    # limits' own Redis commands are traced as well.
    RedisInstrumentor().instrument(tracer_provider=provider)
    return Tracing(app, provider)


def _name_the_request(span, status, response_headers) -> None:
    """The request id its log lines carry (idp/core/web.py made it), on the request's span."""
    if span is not None and span.is_recording() and has_request_context():
        request_id = getattr(g, "request_id", None)
        if request_id:
            span.set_attribute(REQUEST_ID_ATTRIBUTE, request_id)


def _allowlisted(inner: SpanProcessor) -> SpanProcessor:
    from opentelemetry.sdk.trace import SpanProcessor

    class Allowlisted(SpanProcessor):
        """Hands ``inner`` each ended span as a copy holding only what may leave."""

        def on_start(self, span, parent_context=None) -> None:
            inner.on_start(span, parent_context=parent_context)

        def on_end(self, span: ReadableSpan) -> None:
            inner.on_end(allowlisted(span))

        def shutdown(self) -> None:
            inner.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return inner.force_flush(timeout_millis)

    return Allowlisted()


def allowlisted(span: ReadableSpan) -> ReadableSpan:
    """``span`` with only the allowlisted attributes, the route for its name when it is a
    request's, its events' exception types only, and no status description (an exception's
    message: a database error's may quote a row)."""
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import SpanKind, Status

    attributes = dict(span.attributes or {})
    name = span.name
    if span.kind == SpanKind.SERVER:
        allowed = _SERVER_ATTRIBUTES
        method = attributes.get("http.request.method") or attributes.get("http.method") or ""
        route = attributes.get("http.route")
        name = f"{method} {route}" if route else (method or "HTTP")  # never an unrouted path
    else:
        allowed = _CLIENT_ATTRIBUTES
    kept = _only(attributes, allowed)
    scope = span.instrumentation_scope
    if scope is not None and scope.name == _REDIS_SCOPE:
        for key in _REDIS_STATEMENTS:
            if key in kept:
                kept[key] = _command_names(str(kept[key]))
    events = [
        Event(event.name, _only(event.attributes, _EVENT_ATTRIBUTES), event.timestamp)
        for event in span.events
    ]
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=kept,
        events=events,
        links=(),
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=scope,
    )


def _only(attributes, allowed: frozenset) -> dict:
    return {key: value for key, value in (attributes or {}).items() if key in allowed}


def _command_names(statement: str) -> str:
    """A Redis command (or a pipeline's, one a line) as its name and a `?` per argument."""
    lines = []
    for line in statement.splitlines():
        words = _WORD.findall(line)
        if words:
            lines.append(" ".join([words[0], *["?"] * (len(words) - 1)]))
    return "\n".join(lines)
