"""JSON logs, one line per event, each carrying the request id; secrets never reach them."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from flask import g, has_request_context, request

# Defence in depth: whatever a message contains, CPR-shaped numbers are masked.
_CPR_PATTERN = re.compile(r"(?<![0-9A-Za-z])\d{6}-?\d{4}(?![0-9A-Za-z])")
# Values we generate ourselves and that may hold digit runs by chance.
_UNREDACTED = {"time", "request_id", "duration_ms", "status"}
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def redact(text: str) -> str:
    return _CPR_PATTERN.sub("[cpr]", text)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = getattr(g, "request_id", None)
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        safe = {
            key: value if key in _UNREDACTED or not isinstance(value, str) else redact(value)
            for key, value in entry.items()
        }
        return json.dumps(safe, default=lambda value: redact(str(value)))


def configure(level: str) -> None:
    """Route the app's and the WSGI server's logs through the JSON formatter on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing.formatter, JSONFormatter):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's own request lines would print query strings (codes, tokens): ours don't.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


# A path segment long enough to be a token or handle, in a path no route matched.
_TOKEN_SEGMENT = re.compile(r"[A-Za-z0-9_.~%-]{20,}")


def logged_path() -> str:
    """The route, not the path: its variables (a phone request's id, which is also a CIBA
    auth_req_id; a service's pairwise sub) stay out of the log. Never the query string: it
    may carry codes or tokens. A path no route matched keeps its short segments only."""
    if request.url_rule is not None:
        return request.url_rule.rule
    return _TOKEN_SEGMENT.sub("[…]", request.path)


def log_request(response, started: float) -> None:
    logging.getLogger("tillid.access").info(
        "request",
        extra={
            "method": request.method,
            "path": logged_path(),
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "citizen_id": getattr(g, "citizen_id", None),
        },
    )
