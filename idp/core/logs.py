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
            "time": _timestamp(record.created, record.msecs),
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
        for key, value in entry.items():
            if key not in _UNREDACTED and isinstance(value, str):
                entry[key] = redact(value)
        return json.dumps(entry, default=lambda value: redact(str(value)))


_last_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def _timestamp(created: float, msecs: float) -> str:
    global _last_second
    second, text = _last_second  # one tuple: threads never see half of an update
    if second != int(created):
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        _last_second = (int(created), text)
    return f"{text}.{int(msecs):03d}Z"


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


ACCESS_LOGGER = "tillid.access"
_access = logging.getLogger(ACCESS_LOGGER)


def log_request(response, started: float) -> None:
    """The request's line in the access log: method, route, status, duration, citizen."""
    if not _access.isEnabledFor(logging.INFO):
        return
    extra = {
        "method": request.method,
        "path": logged_path(),
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        "citizen_id": getattr(g, "citizen_id", None),
    }
    # As Logger.info would, without looking up the caller's file and line (no formatter
    # here prints them): a walk up the stack on every request.
    record = _access.makeRecord(ACCESS_LOGGER, logging.INFO, "", 0, "request", (), None,
                                extra=extra)  # fmt: skip
    _access.handle(record)
