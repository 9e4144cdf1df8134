"""One error surface per audience: HTML pages for browsers, RFC 9457 problem details for APIs."""

from __future__ import annotations

import logging

import redis
from flask import Flask, g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from idp.core import metrics
from idp.core.extensions import roll_back_session
from idp.core.problems import (
    OAUTH_PATHS,
    TemporarilyUnavailable,
    problem,
    title,
    titles,
    wants_json,
)

log = logging.getLogger(__name__)


def _html_details() -> dict[int, str]:
    """What a citizen reads under the title when the error says nothing more specific."""
    return {
        400: _("Something in what was sent is wrong or missing. Go back and try again."),
        401: _("Log in and try again."),
        404: _("Check the address, or start again from the front page."),
        413: _("What was sent is larger than Tillid accepts."),
        429: _("Wait a little and try again."),
        500: _(
            "Try again in a moment. If it keeps happening, contact citizen support and give"
            " them the reference below."
        ),
        503: _("Try again in a moment."),
    }


def _html_detail(exc: HTTPException, status: int) -> str | None:
    """Tillid's own (translated) description, else a translated one: never werkzeug's
    English default or the rate limit's "20 per 1 minute" on a citizen's page."""
    own = exc.description if status < 500 else None
    if isinstance(exc, RateLimitExceeded) and not exc.limit.error_message:
        own = None
    if own and own != type(exc).description:
        return own
    return _html_details().get(status)


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        detail = exc.description if status != 500 else None
        if request.path in OAUTH_PATHS:
            # OAuth clients read RFC 6749 errors: {"error", "error_description"}; a 503 is
            # one to retry (after Retry-After), which "temporarily_unavailable" says.
            error = "invalid_request" if status < 500 else "server_error"
            response = jsonify(
                error="temporarily_unavailable" if status == 503 else error,
                error_description=detail or title(status, exc.name),
            )
            response.status_code = status
        elif wants_json():
            response = problem(status, detail)
        else:
            if status >= 500:
                # The page must render even when the database or store is what failed:
                # skip the account navigation and the login journey's service, which would
                # need them (a failed lookup would fail this page too: a bare 500).
                g.citizen = None
                g.login_journey = None
            response = app.make_response(
                (
                    render_template(
                        "errors/error.html",
                        status=status,
                        title=titles().get(status, exc.name),
                        detail=_html_detail(exc, status),
                    ),
                    status,
                )
            )
        # Keep Allow on 405, Retry-After on 429 and the like.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        if isinstance(exc, RateLimitExceeded):
            # The limiter's own headers cost two store calls on every request; a refusal
            # says how long to wait at most (the limit's window) by itself.
            response.headers.setdefault("Retry-After", str(exc.limit.limit.get_expiry()))
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        exc.description = _(
            "The form has expired or was not sent from this site. "
            "Go back, reload the page and try again."
        )
        return http_error(exc)

    @app.errorhandler(OperationalError)  # also a statement or lock timeout (idp/core/database.py)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)  # every pooled connection busy for DATABASE_CONNECT_TIMEOUT
    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    @app.errorhandler(redis.exceptions.ClusterError)  # a cluster node down or its slots moving
    def backend_unavailable(exc: Exception):
        # The database or store cannot be reached (or timed out): temporary, so 503.
        log.error("backend unavailable", extra={"error": type(exc).__name__})
        metrics.count_backend_error("store" if isinstance(exc, redis.RedisError) else "database")
        roll_back_session()
        return http_error(ServiceUnavailable(retry_after=5))

    @app.errorhandler(TemporarilyUnavailable)
    def temporarily_unavailable(exc: TemporarilyUnavailable):
        log.error("temporarily unavailable", extra={"error": str(exc)})
        metrics.count_backend_error(exc.backend)
        roll_back_session()
        return http_error(ServiceUnavailable(exc.detail, retry_after=exc.retry_after))

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unhandled error")
        roll_back_session()  # nothing half-written survives a failed request
        return http_error(InternalServerError())
