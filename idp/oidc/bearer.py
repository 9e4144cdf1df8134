"""Access tokens presented to userinfo and to Tillid's own APIs: Bearer (RFC 6750), and
DPoP-bound tokens (RFC 9449 7) with a proof of their key for each request."""

from __future__ import annotations

from dataclasses import dataclass

from flask import jsonify, request

from clients.models import Client
from clients.service import FAPI_ALGS
from idp.citizens.models import Citizen, CitizenStatus
from idp.core import rate_limits
from idp.core.extensions import db
from idp.core.problems import problem
from idp.oidc import dpop, tokens
from idp.oidc.scopes import honoured_scopes
from idp.oidc.server import query_client


def _scheme_and_token() -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "dpop") and value.strip():
        return scheme.lower(), value.strip()
    if request.method == "POST" and request.mimetype == "application/x-www-form-urlencoded":
        return "bearer", request.form.get("access_token")
    return None, None


def presented() -> str | None:
    """The token in the Authorization header (Bearer or DPoP), or (RFC 6750 2.2) in a form."""
    return _scheme_and_token()[1]


class Rejected(Exception):
    """A token that does not let this request through: the status, the RFC 6750 error code
    (or RFC 9449's, with ``dpop``: then the challenge is `DPoP` and carries a nonce); or,
    with ``retry_after``, a 429: a rate limit's budget is spent."""

    def __init__(self, status: int, error: str, description: str, client: Client | None = None,
                 *, dpop: bool = False, retry_after: int | None = None):  # fmt: skip
        super().__init__(description)
        self.status, self.error, self.description = status, error, description
        self.client = client  # known when the token was good but not good enough (CORS)
        self.dpop = dpop
        self.retry_after = retry_after

    def _challenge(self) -> str:
        if self.dpop:
            return dpop.challenge(self.error, self.description)
        if self.error == "invalid_request" and self.status == 401:
            # No token at all: no error code (RFC 6750 3.1), and both schemes offered.
            return f"Bearer, {dpop.challenge()}"
        return f'Bearer error="{self.error}", error_description="{self.description}"'

    def _headers(self, response):
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        else:
            response.headers["WWW-Authenticate"] = self._challenge()
        if self.dpop and dpop.nonce_required():
            response.headers["DPoP-Nonce"] = dpop.current_nonce()
        return response

    def oauth_response(self):
        """As an OAuth endpoint answers: {"error", "error_description"}."""
        response = jsonify(error=self.error, error_description=self.description)
        response.status_code = self.status
        return self._headers(response)

    def problem_response(self):
        """As Tillid's APIs answer: RFC 9457 problem details, with the same challenge."""
        return self._headers(problem(self.status, self.description, error=self.error))


def _check_proof(token: str, scheme: str, bound_to, client: Client) -> None:
    """A DPoP-bound token goes with the DPoP scheme and a proof by its key, made for this
    request and this token (`ath`); a Bearer token is never presented as DPoP."""
    if bound_to is None:
        if scheme == "dpop":
            raise Rejected(401, "invalid_token", "This token is not DPoP-bound.", dpop=True)
        return
    if scheme != "dpop":
        bearer_use = "This token is DPoP-bound: send it as DPoP."
        raise Rejected(401, "invalid_token", bearer_use, dpop=True)
    algorithms = FAPI_ALGS if client.is_fapi else dpop.PROOF_ALGORITHMS
    try:
        proof = dpop.from_request(access_token=token, algorithms=algorithms)
    except dpop.ProofError as failed:
        raise Rejected(401, failed.error, failed.description, dpop=True) from None
    if proof is None:
        raise Rejected(401, "invalid_dpop_proof", "A DPoP proof is required.", dpop=True)
    if not isinstance(bound_to, str) or proof.jkt != bound_to:
        raise Rejected(401, "invalid_dpop_proof", "The proof is not by its key.", dpop=True)


@dataclass
class Bearer:
    record: dict  # what the store keeps for the token: client_id, citizen_id, scope, ...
    client: Client
    citizen: Citizen | None
    # The token's scopes that its client's registration still allows.
    scopes: list[str]


def _verified() -> tuple[dict, Client]:
    """The record of this request's live token, with a proof of its key if it is bound to
    one, and its client; Rejected otherwise."""
    scheme, token = _scheme_and_token()
    if not token:
        raise Rejected(401, "invalid_request", "An access token is required.")
    record = tokens.active_access_token(token)
    if record is None:
        expired = "The access token is invalid or expired."
        raise Rejected(401, "invalid_token", expired, dpop=scheme == "dpop")
    found = query_client(record["client_id"])
    if found is None:
        raise Rejected(401, "invalid_token", "The client is no longer registered.")
    confirmation = record["claims"].get("cnf")
    bound_to = confirmation.get("jkt", "") if isinstance(confirmation, dict) else None
    _check_proof(token, scheme, bound_to, found.client)
    return record, found.client


def _spend(spend, client: Client | None = None) -> None:
    try:
        spend()
    except rate_limits.Exhausted as spent:
        raise Rejected(429, "invalid_request", spent.description, client,
                       retry_after=spent.retry_after) from None  # fmt: skip


def _spend_for_holder(budget: str, record: dict, client: Client) -> None:
    """The token's holder spends: the service, for a token kept on its own server (a
    confidential client); for one on a citizen's device (a public client, the citizen's
    app), that citizen at that app, so that no citizen can spend everyone's."""
    citizen_id = record["citizen_id"] if client.is_public else None
    rate_limits.spend_for_client(budget, client.client_id, citizen_id)


def authenticate(scope: str | None = None, *, for_citizen: bool | None = None,
                 budget: str) -> Bearer:  # fmt: skip
    """The live token of this request, carrying ``scope``; a citizen's token when
    ``for_citizen`` is True, a service's own (client_credentials) when False.
    Raises Rejected otherwise.

    The request spends the rate limit ``budget`` (a configuration name, idp/core/rate_limits.py)
    of the token's holder once the token and its proof checked out; before that, what no
    credential vouches for spends its source address's. Spent: Rejected with 429."""
    try:
        record, client = _verified()
    except Rejected:
        _spend(rate_limits.spend_for_source)
        raise
    _spend(lambda: _spend_for_holder(budget, record, client), client)
    citizen = db.session.get(Citizen, record["citizen_id"]) if record["citizen_id"] else None
    if record["citizen_id"] and (citizen is None or citizen.status != CitizenStatus.ACTIVE):
        raise Rejected(401, "invalid_token", "The citizen's account is not active.")
    scopes = honoured_scopes(client, record["scope"], for_citizen=citizen is not None)
    bearer = Bearer(record=record, client=client, citizen=citizen, scopes=scopes)
    if scope is not None and scope not in bearer.scopes:
        problem = f"The token does not carry the {scope} scope."
    elif for_citizen is True and citizen is None:
        problem = "This needs a token issued for a citizen."
    elif for_citizen is False and citizen is not None:
        problem = "This needs the service's own token."
    else:
        return bearer
    raise Rejected(403, "insufficient_scope", problem, client=client)
