"""Per-request plumbing: request ids, input sanity, security headers, access log."""

from __future__ import annotations

import re
import time
import uuid
from urllib.parse import urlsplit

from flask import Flask, abort, g, request
from flask_babel import gettext as _

from idp.core import logs
from idp.core.config import issuer_is_https

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# A DNS name (labels of 1-63 characters) or a bracketed IPv6 address, with an optional port.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_RE = re.compile(rf"^(?:{_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{{1,5}})?$")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def allow_form_target(response, uri: str | None):
    """Let this page's form lead to ``uri``'s origin as well as to Tillid.

    Browsers apply `form-action` to every redirect after a form is sent, so a page whose
    POST ends at a service (login or consent on its behalf, logout back to it) must name
    that service's origin: only ever an address already verified against its registration.
    """
    if uri:
        parts = urlsplit(uri)
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}"
        )
    return response


class HostGuard:
    """Refuse a malformed Host header before routing: Werkzeug cannot build URLs from one."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST")
        if host is not None and (len(host) > 260 or not _HOST_RE.match(host)):
            start_response(
                "400 Bad Request",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
                    ("X-Content-Type-Options", "nosniff"),
                    ("Cache-Control", "no-store"),
                ],
            )
            return [b"Bad Request: the Host header is malformed.\n"]
        return self.wsgi_app(environ, start_response)


def _has_nul(values) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in values.items(multi=True))


def init_app(app: Flask) -> None:
    hsts = issuer_is_https(app.config)
    app.wsgi_app = HostGuard(app.wsgi_app)

    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        # NUL cannot be stored (PostgreSQL text) and is never meaningful in our input.
        if (
            "\x00" in request.path
            or _has_nul(request.args)
            or (request.method == "POST" and _has_nul(request.form))
        ):
            abort(400, description=_("The request contains a NUL character."))

    @app.after_request
    def finish_request(response):
        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "")
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if hsts:
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        if request.endpoint != "static":
            headers.setdefault("Cache-Control", "no-store")
        logs.log_request(response, g.get("started", time.perf_counter()))
        return response


def _unstorable(body) -> bool:
    """Text no database column takes anywhere in a parsed JSON body: NUL, or a lone
    surrogate (a \\ud800 escape). A loop, not recursion: bodies nest as deep as the parser."""
    pending = [body]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if "\x00" in value or (not value.isascii() and not _encodable(value)):
                return True
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_body() -> dict:
    """The request's JSON object, or a 400 (problem details for the JSON endpoints)."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser recurses: not a body we take
        body = None
    if not isinstance(body, dict):
        abort(400, _("Send a JSON object."))
    if _unstorable(body):
        abort(400, _("The request contains a NUL character or text that is not Unicode."))
    return body
