"""Bearer access tokens (RFC 6750) presented to userinfo and to Tillid's own APIs."""

from __future__ import annotations

from dataclasses import dataclass

from flask import jsonify, request

from clients.models import Client
from idp.citizens.models import Citizen, CitizenStatus
from idp.errors import problem
from idp.extensions import db
from idp.oidc import tokens
from idp.oidc.server import query_client


def presented() -> str | None:
    """The token in the Authorization header, or (RFC 6750 2.2) in a form body."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return request.form.get("access_token")
    return None


class Rejected(Exception):
    """A token that does not let this request through: the status, the RFC 6750 error code."""

    def __init__(self, status: int, error: str, description: str, client: Client | None = None):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.client = client  # known when the token was good but not good enough (CORS)

    def _challenge(self) -> str:
        if self.error == "invalid_request" and self.status == 401:
            return "Bearer"  # no token at all: no error code (RFC 6750 3.1)
        return f'Bearer error="{self.error}", error_description="{self.description}"'

    def oauth_response(self):
        """As an OAuth endpoint answers: {"error", "error_description"}."""
        response = jsonify(error=self.error, error_description=self.description)
        response.status_code = self.status
        response.headers["WWW-Authenticate"] = self._challenge()
        return response

    def problem_response(self):
        """As Tillid's APIs answer: RFC 9457 problem details, with the same challenge."""
        response = problem(self.status, self.description, error=self.error)
        response.headers["WWW-Authenticate"] = self._challenge()
        return response


@dataclass
class Bearer:
    record: dict  # what the store keeps for the token: client_id, citizen_id, scope, ...
    client: Client
    citizen: Citizen | None

    @property
    def scopes(self) -> list[str]:
        return self.record["scope"].split()


def authenticate(scope: str | None = None, *, for_citizen: bool | None = None) -> Bearer:
    """The live token of this request, carrying ``scope``; a citizen's token when
    ``for_citizen`` is True, a service's own (client_credentials) when False.
    Raises Rejected otherwise."""
    token = presented()
    if not token:
        raise Rejected(401, "invalid_request", "An access token is required.")
    record = tokens.active_access_token(token)
    if record is None:
        raise Rejected(401, "invalid_token", "The access token is invalid or expired.")
    found = query_client(record["client_id"])
    if found is None:
        raise Rejected(401, "invalid_token", "The client is no longer registered.")
    citizen = db.session.get(Citizen, record["citizen_id"]) if record["citizen_id"] else None
    if record["citizen_id"] and (citizen is None or citizen.status != CitizenStatus.ACTIVE):
        raise Rejected(401, "invalid_token", "The citizen's account is not active.")
    bearer = Bearer(record=record, client=found.client, citizen=citizen)
    if scope is not None and scope not in bearer.scopes:
        problem = f"The token does not carry the {scope} scope."
    elif for_citizen is True and citizen is None:
        problem = "This needs a token issued for a citizen."
    elif for_citizen is False and citizen is not None:
        problem = "This needs the service's own token."
    else:
        return bearer
    raise Rejected(403, "insufficient_scope", problem, client=found.client)
