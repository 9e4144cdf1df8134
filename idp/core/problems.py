"""RFC 9457 problem details, and which requests are answered in JSON: the error shape every
HTTP surface shares."""

from __future__ import annotations

from flask import g, jsonify, request
from flask_babel import force_locale
from flask_babel import gettext as _

PROBLEM_JSON = "application/problem+json"


class TemporarilyUnavailable(Exception):
    """A service cannot do its part for a while, through no fault of the caller (a key
    missing, say): a 503 with Retry-After. The message is for the log; ``detail`` for the
    caller."""

    detail: str | None = None
    retry_after: int = 5
    # What failed, for the metrics (tillid_backend_errors_total's label).
    backend: str = "other"


# Machine-facing endpoints answer errors in JSON whatever the Accept header says.
OAUTH_PATHS = ("/token", "/userinfo", "/introspect", "/revoke", "/bc-authorize", "/par")
JSON_PATHS = ("/api/", "/jwks", "/.well-known/", "/ledger/", "/wallet/", *OAUTH_PATHS)


def wants_json() -> bool:
    if request.path.startswith(JSON_PATHS):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json", PROBLEM_JSON])
    return best in ("application/json", PROBLEM_JSON)


def titles() -> dict[int, str]:
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
CITIZEN_JSON_PATHS = ("/api/me",)


def title(status: int, default: str) -> str:
    if request.path.startswith(JSON_PATHS) and not request.path.startswith(CITIZEN_JSON_PATHS):
        with force_locale("en"):
            return titles().get(status, default)
    return titles().get(status, default)


def problem(status: int, detail: str | None = None, **extra):
    body = {
        "type": "about:blank",
        "title": title(status, "Error"),
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
