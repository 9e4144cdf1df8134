"""Pushed authorization requests (RFC 9126): the client posts its authorization request to
`/par`, authenticated, and sends the citizen's browser to `/authorize` with only its
`client_id` and the `request_uri` it was given.

A pushed request waits PUSHED_REQUEST_SECONDS in the store, validated and bound to its
client. The first `/authorize` that names it claims it for that browser: it moves to a key
of its own, kept while the citizen logs in and consents (at most INTERACTION_SECONDS), and
it ends with the authorization response. Any other browser or client presenting the same
`request_uri` finds nothing (single use).
"""

from __future__ import annotations

import hashlib
import json
import secrets

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.endpoint import Endpoint, EndpointRequest
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc9101.errors import RequestNotSupportedError
from flask import session

from idp.core import crypto
from idp.core.extensions import store
from idp.oidc import dpop
from idp.oidc.endpoints import CONFIDENTIAL_METHODS

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
PUSHED_REQUEST_SECONDS = 60
INTERACTION_SECONDS = 10 * 60
# What authenticates the client is not part of the request it pushes.
_CLIENT_AUTH_PARAMETERS = frozenset(("client_secret", "client_assertion", "client_assertion_type"))
_BROWSER = "par_browser"


class InvalidRequestUriError(OAuth2Error):
    error = "invalid_request_uri"  # RFC 9101 (JAR) 7


def _reference_hash(request_uri) -> str | None:
    if not isinstance(request_uri, str) or not request_uri.startswith(REQUEST_URI_PREFIX):
        return None
    reference = request_uri[len(REQUEST_URI_PREFIX) :]
    return hashlib.sha256(reference.encode()).hexdigest() if 0 < len(reference) <= 128 else None


def push(client_id: str, params: dict[str, str]) -> str:
    """Keep a validated request for its client; returns its `request_uri`. Only a hash of
    the reference is a key, so a store dump names no usable request_uri."""
    reference = secrets.token_urlsafe(32)
    record = {"client_id": client_id, "params": params}
    key = store.key("par", hashlib.sha256(reference.encode()).hexdigest())
    store.redis.set(key, json.dumps(record), ex=PUSHED_REQUEST_SECONDS)
    return REQUEST_URI_PREFIX + reference


def _browser() -> str:
    """This browser's mark (in its signed session cookie), hashed for the store."""
    if _BROWSER not in session:
        session[_BROWSER] = secrets.token_urlsafe(16)
    return hashlib.sha256(session[_BROWSER].encode()).hexdigest()


def claim(request_uri, client_id) -> dict[str, str] | None:
    """The parameters pushed as ``request_uri`` for ``client_id``, for this browser; None
    when unknown, expired, another client's, or already claimed by another browser."""
    reference = _reference_hash(request_uri)
    if reference is None or not isinstance(client_id, str):
        return None
    claimed_key = store.key("par-claimed", reference)
    # GETDEL: of two browsers racing for one request_uri, exactly one wins it.
    raw = store.redis.getdel(store.key("par", reference))
    if raw is not None:
        record = {**json.loads(raw), "browser": _browser()}
        if record["client_id"] != client_id:
            return None  # shown with another client's id: spent, never honoured
        store.redis.set(claimed_key, json.dumps(record), ex=INTERACTION_SECONDS)
        return record["params"]
    raw = store.redis.get(claimed_key)
    if raw is None:
        return None
    record = json.loads(raw)
    if record["client_id"] != client_id or not crypto.equal(record["browser"], _browser()):
        return None
    return record["params"]


def peek(request_uri, client_id) -> dict[str, str] | None:
    """What ``claim`` would give this browser, without claiming anything (for pages that
    only need to know where the request leads)."""
    reference = _reference_hash(request_uri)
    if reference is None:
        return None
    raw = store.redis.get(store.key("par-claimed", reference))
    if raw is not None:
        record = json.loads(raw)
        if _BROWSER not in session or not crypto.equal(record["browser"], _browser()):
            return None
    else:
        raw = store.redis.get(store.key("par", reference))
        record = json.loads(raw) if raw is not None else None
    if record is None or record["client_id"] != client_id:
        return None
    return record["params"]


def finish(request_uri) -> None:
    """The authorization response went back to the client: the request is spent."""
    reference = _reference_hash(request_uri)
    if reference is not None:
        store.redis.delete(store.key("par-claimed", reference))


class PushedAuthorization(Endpoint):
    """`POST /par`: authenticate the client, validate its authorization request exactly as
    `/authorize` would (the grant and its PKCE and OpenID checks, then Tillid's own), keep
    it, answer `request_uri` and `expires_in` (201). Errors are JSON (RFC 9126 2.3)."""

    ENDPOINT_NAME = "par"
    CLIENT_AUTH_METHODS = [*CONFIDENTIAL_METHODS, "none"]

    def __init__(self, server=None, check_parameters=None):
        super().__init__(server)
        # Tillid's own checks of the parameters (views: response_mode, prompt, claims...).
        self.check_parameters = check_parameters

    def validate_request(self, request) -> EndpointRequest:
        client = self.server.authenticate_client(
            request, self.CLIENT_AUTH_METHODS, self.ENDPOINT_NAME
        )
        form = request.form
        repeated = [name for name in form if len(form.getlist(name)) > 1]
        if repeated:
            raise InvalidRequestError(f"Send {repeated[0]} once.")
        if "request_uri" in form:
            raise InvalidRequestError("A pushed request cannot itself name a request_uri.")
        if "request" in form:
            raise RequestNotSupportedError()
        params = {k: v for k, v in form.items() if k not in _CLIENT_AUTH_PARAMETERS}
        if params.get("client_id", client.get_client_id()) != client.get_client_id():
            raise InvalidRequestError("client_id is not the authenticated client.")
        params["client_id"] = client.get_client_id()
        # RFC 9449 10.1: a proof sent to /par binds the code to its key, as dpop_jkt does.
        proof = dpop.token_request_proof()
        if proof is not None and params.setdefault("dpop_jkt", proof.jkt) != proof.jkt:
            raise InvalidRequestError("dpop_jkt is not the key of the DPoP proof.")
        request.payload = BasicOAuth2Payload(params)
        try:
            grant = self.server.get_authorization_grant(request)
            grant.validate_authorization_request()  # redirect_uri, response_type, scope, PKCE
            if self.check_parameters is not None:
                self.check_parameters(params, client.client)
        except OAuth2Error as error:
            error.redirect_uri = error.state = None  # answered here, as JSON (RFC 9126 2.3)
            raise
        except ValueError:  # Authlib cannot quote a `"` or `\` of ours into its error description
            raise InvalidRequestError("A parameter has characters OAuth does not allow.") from None
        return EndpointRequest(request=request, client=client)

    def create_response(self, validated: EndpointRequest):
        request_uri = push(validated.client.get_client_id(), dict(validated.request.payload.data))
        body = {"request_uri": request_uri, "expires_in": PUSHED_REQUEST_SECONDS}
        return 201, body, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
