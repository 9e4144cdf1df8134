"""OpenID Connect Client-Initiated Backchannel Authentication (CIBA) 1.0, poll mode.

A registered service calls the backchannel authentication endpoint with a `login_hint`
(the pairwise `sub` it knows, or a CPR number for an authority allowed the CPR number),
an optional `binding_message` and its scopes; the citizen sees the request in the phone app
(service, message, what it will receive and why) and approves with the phone's key, or
rejects. Meanwhile the service polls the token endpoint with the CIBA grant. Approving on
the phone is also the citizen's consent to the consent-based claims it showed; the release
goes through the same decision and ledger as a login in the browser.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import BaseGrant, TokenEndpointMixin
from authlib.oauth2.rfc6749.endpoint import Endpoint, EndpointRequest
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc8628.errors import (
    AuthorizationPendingError,
    ExpiredTokenError,
    SlowDownError,
)
from flask_babel import force_locale

from clients.service import CIBA_GRANT
from idp.authenticators import assurance, pairing
from idp.citizens import cpr
from idp.citizens.models import Citizen, CitizenStatus
from idp.citizens.service import find_by_cpr
from idp.core.extensions import db, store
from idp.keys import service as keys
from idp.oidc import dpop, subjects, tokens
from idp.oidc.endpoints import CONFIDENTIAL_METHODS
from idp.oidc.id_tokens import id_token_for
from idp.oidc.scopes import grantable_scopes
from idp.phone import requests as phone_requests

POLL_INTERVAL_SECONDS = 5
BINDING_MESSAGE_LIMIT = 64
_CPR_SHAPE = re.compile(r"[0-9]{6}-?[0-9]{4}")


class UnknownUserIdError(OAuth2Error):
    error = "unknown_user_id"


class InvalidBindingMessageError(OAuth2Error):
    error = "invalid_binding_message"


class RefusedError(AccessDeniedError):
    status_code = 403  # CIBA 13: access_denied at the backchannel endpoint is a 403


@dataclass
class BackchannelRequest(EndpointRequest):
    citizen: Citizen | None = None
    scope: list[str] | None = None
    binding_message: str | None = None


def _citizen_of(client, hint: str) -> Citizen:
    if client.may_name_citizens_by_cpr() and _CPR_SHAPE.fullmatch(hint):
        try:
            found = find_by_cpr(cpr.parse(hint))
        except cpr.InvalidCPR:
            found = None
    else:
        citizen_id = subjects.citizen_id_for(client.sector_identifier, hint)
        found = db.session.get(Citizen, citizen_id) if citizen_id else None
    if found is None or found.status != CitizenStatus.ACTIVE:
        raise UnknownUserIdError("No citizen is known to you by this login_hint.")
    return found


def _binding_message(raw: str | None) -> str | None:
    if raw is None:
        return None
    message = raw.strip()
    if (
        not message
        or len(message) > BINDING_MESSAGE_LIMIT
        or any(unicodedata.category(ch).startswith("C") for ch in message)
    ):
        raise InvalidBindingMessageError(
            f"binding_message must be 1 to {BINDING_MESSAGE_LIMIT} printable characters."
        )
    return message


class BackchannelAuthentication(Endpoint):
    """POST /bc-authorize: start a CIBA request (CIBA 7)."""

    ENDPOINT_NAME = "backchannel_authentication"

    def validate_request(self, request) -> BackchannelRequest:
        oauth_client = self.server.authenticate_client(
            request, CONFIDENTIAL_METHODS, self.ENDPOINT_NAME
        )
        if not oauth_client.check_grant_type(CIBA_GRANT):
            raise UnauthorizedClientError("The client is not registered for CIBA.")
        client = oauth_client.client
        # Before the citizen is asked on the phone: the approval could not be redeemed.
        keys.require_signing_keys(client.signing_algorithms)
        data = request.payload.data
        if data.get("login_hint_token") or data.get("id_token_hint"):
            raise InvalidRequestError("Only login_hint is supported.")
        hint = data.get("login_hint")
        if not hint:
            raise InvalidRequestError("login_hint is required.")
        scope = grantable_scopes(client, data.get("scope"), grant=CIBA_GRANT)
        if "openid" not in scope:
            raise InvalidScopeError("The scope must include openid.")
        acr_values = (data.get("acr_values") or "").split()
        if acr_values and not any(
            assurance.meets(assurance.SUBSTANTIAL, level) for level in acr_values
        ):
            raise InvalidRequestError("A phone approval reaches Substantial, no higher.")
        expiry = data.get("requested_expiry")
        if expiry and not re.fullmatch(r"[0-9]{1,6}", expiry):
            raise InvalidRequestError("requested_expiry must be a whole number of seconds.")
        return BackchannelRequest(
            request=request,
            client=oauth_client,
            citizen=_citizen_of(client, hint),
            scope=scope,
            binding_message=_binding_message(data.get("binding_message")),
        )

    def create_response(self, validated: BackchannelRequest):
        client = validated.client.client
        if not pairing.phones_of(validated.citizen.id):
            raise RefusedError("The citizen has no phone to approve on.")
        try:
            started = phone_requests.create(
                validated.citizen.id,
                channel="ciba",
                client_id=client.client_id,
                scope=validated.scope,
                binding_message=validated.binding_message,
                source_device=client.name,
            )
        except phone_requests.RequestRefused as exc:
            with force_locale("en"):  # for the service's developers, not the citizen
                raise RefusedError(str(exc)) from None
        body = {
            "auth_req_id": started.id,
            "expires_in": started.seconds_left,
            "interval": POLL_INTERVAL_SECONDS,
        }
        return 200, body, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


def _polled_too_soon(request_id: str) -> bool:
    """True when the last poll was less than the interval ago (then slow_down)."""
    # The request's hash tag: beside its other keys on a cluster.
    fresh = store.redis.set(store.key("ciba-poll", store.tag(request_id)), "1", nx=True,
                            px=POLL_INTERVAL_SECONDS * 1000 - 250)  # fmt: skip
    return not fresh


class CibaGrant(BaseGrant, TokenEndpointMixin):
    """grant_type=urn:openid:params:grant-type:ciba with the auth_req_id (CIBA 10-11)."""

    GRANT_TYPE = CIBA_GRANT
    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def validate_token_request(self):
        client = self.authenticate_token_endpoint_client()  # first, as at every endpoint
        auth_req_id = self.request.payload.data.get("auth_req_id")
        if not auth_req_id:
            raise InvalidRequestError("auth_req_id is required.")
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("The client is not registered for CIBA.")
        found = phone_requests.load(auth_req_id)
        if found is None or found.channel != "ciba" or found.client_id != client.get_client_id():
            raise InvalidGrantError("Unknown auth_req_id.")
        answered = phone_requests.outcome(found)
        status = answered["status"]
        if status == phone_requests.EXPIRED:
            raise ExpiredTokenError("The citizen did not answer in time.")
        if status == phone_requests.REJECTED:
            raise AccessDeniedError("The citizen rejected the request.")
        if status == phone_requests.PENDING:
            if _polled_too_soon(found.id):
                raise SlowDownError(f"Poll at most every {POLL_INTERVAL_SECONDS} seconds.")
            raise AuthorizationPendingError("The citizen has not answered yet.")
        if not phone_requests.use(found):
            raise InvalidGrantError("The auth_req_id was already used.")
        citizen = db.session.get(Citizen, found.citizen_id)
        if citizen is None or citizen.status != CitizenStatus.ACTIVE:
            raise InvalidGrantError("The citizen's account is not active.")
        self.request.client = client
        self.request.user = citizen
        self.request.phone_request = found
        self.request.answer = answered

    def create_token_response(self):

        client = self.request.client.client
        found: phone_requests.PhoneRequest = self.request.phone_request
        scope = grantable_scopes(client, None, grant=CIBA_GRANT, granted=found.scope)
        token = tokens.issue_access_token(
            client, self.request.user, " ".join(scope), jkt=dpop.token_binding(client)
        )
        token["id_token"] = id_token_for(
            client,
            self.request.user,
            token,
            auth_time=self.request.answer["at"],
            acr=assurance.SUBSTANTIAL,
            amr=self.request.answer["amr"],
            extra={"urn:openid:params:jwt:claim:auth_req_id": found.id},
        )
        return 200, token, [("Content-Type", "application/json"), ("Cache-Control", "no-store")]


def metadata(issuer: str) -> dict:
    return {
        "backchannel_authentication_endpoint": f"{issuer}/bc-authorize",
        "backchannel_token_delivery_modes_supported": ["poll"],
        "backchannel_user_code_parameter_supported": False,
    }
