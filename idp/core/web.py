"""Per-request plumbing: request ids, input sanity, security headers, access log."""

from __future__ import annotations

import logging
import os
import re
import time
from urllib.parse import urlsplit

from flask import Flask, abort, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _

from idp.core import logs, metrics
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


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, without its cost where there is none: a request that
    sends no session cookie (every machine request) gets an empty session without a signer
    being built, an answer whose session was never touched skips saving it, and the signer
    is built once per key set rather than twice per request."""

    def __init__(self):
        self._serializers: dict = {}

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        serializer = self._serializers.get(keys)
        if serializer is None:
            serializer = super().get_signing_serializer(app)
            if len(self._serializers) > 8:  # keys rotated (or many test apps): start afresh
                self._serializers.clear()
            self._serializers[keys] = serializer
        return serializer

    def open_session(self, app: Flask, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()  # what Flask's own answers without a cookie
        return super().open_session(app, request)

    def save_session(self, app: Flask, session, response) -> None:
        if session.accessed or session.modified or session:
            super().save_session(app, session, response)


def _has_nul(values) -> bool:
    return any("\x00" in key or "\x00" in value for key, value in values.items(multi=True))


def _query_has_nul(query: str) -> bool:
    """Whether the query string decodes to a NUL anywhere: only `%00` (or a raw NUL) does,
    so the raw string says it without parsing the arguments."""
    return "%00" in query or "\x00" in query


def _security_headers(hsts: bool) -> tuple[tuple[str, str], ...]:
    """What every answer carries, whatever a view set (besides CSP and Cache-Control)."""
    headers = (
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    )
    if hsts:
        headers += (("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),)
    return headers


def init_app(app: Flask) -> None:
    hsts = issuer_is_https(app.config)
    app.wsgi_app = HostGuard(app.wsgi_app)
    app.session_interface = CookieSessions()
    always = _security_headers(hsts)
    always_names = frozenset(name.lower() for name, _value in always)
    access_log = logging.getLogger(logs.ACCESS_LOGGER)

    @app.before_request
    def start_request():
        req = request._get_current_object()  # one context lookup, not one per attribute
        environ = req.environ
        state = g._get_current_object()
        state.started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        state.request_id = incoming if _REQUEST_ID_RE.match(incoming) else os.urandom(16).hex()
        # NUL cannot be stored (PostgreSQL text) and is never meaningful in our input.
        if (
            "\x00" in req.path
            or _query_has_nul(environ.get("QUERY_STRING", ""))
            or (req.method == "POST" and _has_nul(req.form))
        ):
            abort(400, description=_("The request contains a NUL character."))

    @app.after_request
    def finish_request(response):
        req = request._get_current_object()
        state = g._get_current_object()
        headers = response.headers
        present = {name.lower() for name, _value in headers}
        request_id = getattr(state, "request_id", "")
        if "x-request-id" in present:
            headers["X-Request-ID"] = request_id
        else:
            headers.add("X-Request-ID", request_id)
        if "content-security-policy" not in present:
            headers.add("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if present.isdisjoint(always_names):
            headers.extend(always)
        else:  # a view set one of them: ours replaces it
            for name, value in always:
                headers[name] = value
        if "cache-control" not in present and req.endpoint != "static":
            headers.add("Cache-Control", "no-store")
        started = getattr(state, "started", None) or time.perf_counter()
        if access_log.isEnabledFor(logging.INFO):
            logs.log_request(response, started)
        metrics.observe_request(
            req.endpoint, req.method, response.status_code, time.perf_counter() - started
        )
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
