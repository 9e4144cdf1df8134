"""One error surface per audience: HTML pages for browsers, RFC 9457 problem details for APIs."""

from __future__ import annotations

import logging

import redis
from flask import Flask, g, jsonify, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from idp.extensions import roll_back_session

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class TemporarilyUnavailable(Exception):
    """A service cannot do its part for a while, through no fault of the caller (a key
    missing, say): a 503 with Retry-After. The message is for the log; ``detail`` for the
    caller."""

    detail: str | None = None
    retry_after: int = 5


# Machine-facing endpoints answer errors in JSON whatever the Accept header says.
_OAUTH_PATHS = ("/token", "/userinfo", "/introspect", "/revoke", "/bc-authorize", "/par")
_JSON_PATHS = ("/api/", "/jwks", "/.well-known/", "/ledger/", *_OAUTH_PATHS)


def wants_json() -> bool:
    if request.path.startswith(_JSON_PATHS):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


def _titles() -> dict[int, str]:
    return {
        400: _("The request could not be understood"),
        401: _("You need to log in"),
        403: _("You do not have access"),
        404: _("The page does not exist"),
        405: _("That action is not possible here"),
        413: _("The request is too large"),
        415: _("The request has the wrong format"),
        429: _("Too many requests"),
        500: _("Something went wrong on our side"),
        503: _("The service is temporarily unavailable"),
    }


# The citizen's own account API (their apps show its answers to them) speaks their language;
# the rest of the JSON surface is for services' developers and stays English.
_CITIZEN_JSON_PATHS = ("/api/me",)


def _title(status: int, default: str) -> str:
    if request.path.startswith(_JSON_PATHS) and not request.path.startswith(_CITIZEN_JSON_PATHS):
        with force_locale("en"):
            return _titles().get(status, default)
    return _titles().get(status, default)


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


def problem(status: int, detail: str | None = None, **extra):
    body = {
        "type": "about:blank",
        "title": _title(status, "Error"),
        "status": status,
        "instance": request.path,
        "request_id": g.get("request_id"),
    }
    if detail:
        body["detail"] = detail
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        detail = exc.description if status != 500 else None
        if request.path in _OAUTH_PATHS:
            # OAuth clients read RFC 6749 errors: {"error", "error_description"}; a 503 is
            # one to retry (after Retry-After), which "temporarily_unavailable" says.
            error = "invalid_request" if status < 500 else "server_error"
            response = jsonify(
                error="temporarily_unavailable" if status == 503 else error,
                error_description=detail or _title(status, exc.name),
            )
            response.status_code = status
        elif wants_json():
            response = problem(status, detail)
        else:
            if status >= 500:
                # The page must render even when the database or store is what failed:
                # skip the account navigation, which would need both.
                g.citizen = None
            response = app.make_response(
                (
                    render_template(
                        "errors/error.html",
                        status=status,
                        title=_titles().get(status, exc.name),
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

    @app.errorhandler(OperationalError)  # also a statement or lock timeout (idp/database.py)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)  # every pooled connection busy for DATABASE_CONNECT_TIMEOUT
    @app.errorhandler(redis.ConnectionError)
    @app.errorhandler(redis.TimeoutError)
    @app.errorhandler(redis.exceptions.ClusterError)  # a cluster node down or its slots moving
    def backend_unavailable(exc: Exception):
        # The database or store cannot be reached (or timed out): temporary, so 503.
        log.error("backend unavailable", extra={"error": type(exc).__name__})
        roll_back_session()
        return http_error(ServiceUnavailable(retry_after=5))

    @app.errorhandler(TemporarilyUnavailable)
    def temporarily_unavailable(exc: TemporarilyUnavailable):
        log.error("temporarily unavailable", extra={"error": str(exc)})
        roll_back_session()
        return http_error(ServiceUnavailable(exc.detail, retry_after=exc.retry_after))

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unhandled error")
        roll_back_session()  # nothing half-written survives a failed request
        return http_error(InternalServerError())
