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

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6749.endpoint import Endpoint, EndpointRequest
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc9101.errors import RequestNotSupportedError

from idp.oidc import dpop
from idp.oidc.endpoints import CONFIDENTIAL_METHODS
from idp.sessions.pushed_requests import PUSHED_REQUEST_SECONDS, push

# What authenticates the client is not part of the request it pushes.
_CLIENT_AUTH_PARAMETERS = frozenset(("client_secret", "client_assertion", "client_assertion_type"))


class InvalidRequestUriError(OAuth2Error):
    error = "invalid_request_uri"  # RFC 9101 (JAR) 7


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
