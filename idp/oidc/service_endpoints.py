"""The endpoints services call: /par, /token, /introspect, /revoke, /bc-authorize and
/userinfo, on the blueprint `oidc` of idp/oidc/authorize.py (one set of endpoint names)."""

from __future__ import annotations

import contextlib
import functools

from authlib.oauth2 import OAuth2Error
from flask import (
    g,
    jsonify,
    request,
)

from consent import ledger, release
from idp.core import rate_limits
from idp.core.extensions import csrf
from idp.oidc import ciba, cors, dpop, guard, par, subjects
from idp.oidc.authorize import (
    UNREADABLE,
    bp,
    check_request,
    malformed_protocol_parameters,
    required_level,
)
from idp.oidc.endpoints import Introspection, Revocation
from idp.oidc.server import authorization


def _client_endpoint(respond):
    """The endpoints that authenticate clients: junk gets an OAuth error, never a crash
    (unreadable client credentials too: idp/oidc/client_auth.py)."""
    if malformed_protocol_parameters():
        return _token_error(400, "invalid_request", UNREADABLE)
    return respond()


def _token_error(status: int, error: str, description: str):
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _client_of_form():
    """The client a token or revocation request names (for CORS only; Authlib authenticates)."""
    client_id = request.form.get("client_id")
    found = authorization.query_client(client_id) if client_id else None
    return found.client if found is not None else None


def _service_limit(view):
    """The budgets of the endpoints that authenticate clients (idp/core/rate_limits.py). A client
    whose authentication checks out spends its own (TOKEN_RATE_LIMIT_PER_CLIENT, counted by
    the authorization server); every other request (failed or no client authentication, a
    public client, junk) its source address's (TOKEN_RATE_LIMIT), and a source that spent
    that is refused before any authentication: guessing codes, refresh tokens or secrets is
    hopeless anyway (256 bits), but a lucky guess would still get nothing."""

    @functools.wraps(view)
    def limited(*args, **kwargs):
        if request.method != "POST":
            return view(*args, **kwargs)
        # Made with the first budget spent (one round trip), or at once before anything
        # else is spent (idp/core/rate_limits.py).
        rate_limits.check_source_later()
        try:
            response = view(*args, **kwargs)
        except Exception:
            with contextlib.suppress(rate_limits.Exhausted):
                rate_limits.settle()  # a failed request still counts
            raise
        rate_limits.settle()  # a client's budget left for a store command that never came
        if not rate_limits.spent_this_request():
            unchecked = rate_limits.source_check_pending()
            try:
                rate_limits.spend_for_source()
            except rate_limits.Exhausted:
                if unchecked:
                    raise  # a spent source: refused, whatever the answer would have been
                # else it was spent by this very request: the next one is refused
        return response

    return limited


def _checked_dpop_proof():
    """Verify this request's DPoP proof (kept in ``g`` for the grants) before anything is
    spent (a code, a refresh token): None when fine or absent, else the error answer."""
    if "DPoP" in request.headers:
        rate_limits.refuse_a_spent_source()  # before the proof's jti is spent
    try:
        g.dpop_proof = dpop.from_request()
    except dpop.ProofError as failed:
        return _token_error(400, failed.error, failed.description)
    return None


def _check_pushed(params: dict, client) -> None:
    """A pushed request gets the checks `/authorize` makes of its parameters, when pushed."""
    g.authorization_params = params
    asked = check_request((params.get("prompt") or "").split(), client)
    required_level(asked)


_pushed_authorization = par.PushedAuthorization(authorization, check_parameters=_check_pushed)


@bp.route("/par", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@csrf.exempt
@_service_limit
def pushed_authorization_request():
    """RFC 9126: a client pushes its authorization request (idp/oidc/par.py); a public
    browser app may, from its own origin (CORS as at the token endpoint)."""
    if request.method == "OPTIONS":
        return cors.preflight("POST")

    def respond():
        refused = _checked_dpop_proof()
        if refused is not None:
            return refused
        oauth_request = authorization.create_oauth2_request(None)
        try:
            return authorization.handle_response(*_pushed_authorization(oauth_request))
        except OAuth2Error as error:
            return authorization.handle_error_response(oauth_request, error)

    return cors.allow_for(dpop.with_nonce(_client_endpoint(respond)), _client_of_form)


@bp.route("/token", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@csrf.exempt
@_service_limit
def token():
    if request.method == "OPTIONS":
        return cors.preflight("POST")

    def respond():
        refused = _checked_dpop_proof()
        return refused if refused is not None else authorization.create_token_response()

    return cors.allow_for(dpop.with_nonce(_client_endpoint(respond)), _client_of_form)


@bp.post("/introspect")
@csrf.exempt
@_service_limit
def introspect():
    return _client_endpoint(
        lambda: authorization.create_endpoint_response(Introspection.ENDPOINT_NAME)
    )


@bp.post("/bc-authorize")
@csrf.exempt
@_service_limit
def backchannel_authentication():
    """CIBA: a service asks for the citizen's approval on their phone (idp/oidc/ciba.py)."""
    return _client_endpoint(
        lambda: authorization.create_endpoint_response(ciba.BackchannelAuthentication.ENDPOINT_NAME)
    )


@bp.route("/revoke", methods=["POST", "OPTIONS"], provide_automatic_options=False)
@csrf.exempt
@_service_limit
def revoke():
    if request.method == "OPTIONS":
        return cors.preflight("POST")
    response = _client_endpoint(
        lambda: authorization.create_endpoint_response(Revocation.ENDPOINT_NAME)
    )
    return cors.allow_for(response, _client_of_form)


@bp.route("/userinfo", methods=["GET", "POST", "OPTIONS"], provide_automatic_options=False)
@csrf.exempt
def userinfo():
    if request.method == "OPTIONS":
        return cors.preflight("GET, POST")
    # Answers and refusals alike: a public client reads them in the browser, with the nonce.
    return cors.allow_for(dpop.with_nonce(_userinfo()), guard.client_of_request)


@guard.token_required("openid", for_citizen=True, budget="USERINFO_RATE_LIMIT", errors=guard.OAUTH,
                      with_consent=True)  # fmt: skip
def _userinfo():
    """The claims the token's scopes (and its `claims` request) release. The first release
    under a token is ledgered and committed with the answer it describes; a repeat of it
    under the same token adds no entry: that entry says until when the token was valid
    (consent/repeats.py). Only a transaction that wrote something commits."""
    token = guard.token()
    client, citizen = token.client, token.citizen
    released = release.release_under_token(
        client, citizen, token.scopes, token.record["userinfo_claims"], ledger.Channel.USERINFO,
        token.under, consent=token.consent, acting=token.acting,
    )  # fmt: skip
    claims = {"sub": subjects.pairwise_sub(client.sector_identifier, citizen.id)}
    claims.update(released.values)
    response = jsonify(claims)
    if released.ledgered:
        # The request's writes, then its ledger entries, durable before the answer.
        ledger.commit()
        released.pending.remember()  # only once committed: a failed commit leaves no mark
    return response
