"""Per-request plumbing: request ids, input sanity, security headers, access log."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, abort, g, request

from idp import logs
from idp.config import issuer_is_https

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

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


def _has_nul(values) -> bool:
    return any("\x00" in key or any("\x00" in v for v in values.getlist(key)) for key in values)


def init_app(app: Flask) -> None:
    hsts = issuer_is_https(app.config)

    @app.before_request
    def start_request():
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        # NUL cannot be stored (PostgreSQL text) and is never meaningful in our input.
        if _has_nul(request.args) or (request.method == "POST" and _has_nul(request.form)):
            abort(400, description="The request contains a NUL character.")

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
