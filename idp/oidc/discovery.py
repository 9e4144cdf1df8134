"""Discovery: the provider's metadata at /.well-known/openid-configuration (OpenID Connect
Discovery 1.0) and /.well-known/oauth-authorization-server (RFC 8414)."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    jsonify,
)

from clients.claims import CITIZEN_CLAIMS, CREDENTIAL_SCOPES, SCOPE_CLAIMS
from clients.service import GRANT_TYPES
from idp import i18n
from idp.authenticators import assurance
from idp.core.extensions import limiter
from idp.keys.service import ALGORITHMS
from idp.oidc import ciba, dpop
from idp.oidc.endpoints import CONFIDENTIAL_METHODS
from idp.oidc.server import ASSERTION_ALGORITHMS

bp = Blueprint("discovery", __name__)

_ID_TOKEN_CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid")


def _metadata() -> dict:
    issuer = current_app.config["ISSUER"]
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "introspection_endpoint": f"{issuer}/introspect",
        "revocation_endpoint": f"{issuer}/revoke",
        "end_session_endpoint": f"{issuer}/logout",
        # Back-Channel Logout 1.0 2.1: logout tokens, always with `sid`.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "introspection_endpoint_auth_methods_supported": CONFIDENTIAL_METHODS,
        "revocation_endpoint_auth_methods_supported": [*CONFIDENTIAL_METHODS, "none"],
        # RFC 8414 2: required beside a JWT method (private_key_jwt); what client_auth.py
        # accepts at every endpoint (@openid4vc/oauth2 refuses the metadata without them).
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "jwks_uri": f"{issuer}/jwks",
        # A wallet's credential scopes too (OpenID4VCI: one per credential configuration).
        "scopes_supported": [*SCOPE_CLAIMS, *CREDENTIAL_SCOPES],
        "claims_supported": [*_ID_TOKEN_CLAIMS, *sorted(CITIZEN_CLAIMS)],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "ui_locales_supported": list(i18n.LANGUAGES),
        "grant_types_supported": list(GRANT_TYPES),
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "userinfo_signing_alg_values_supported": [],
        "token_endpoint_auth_methods_supported": [*CONFIDENTIAL_METHODS, "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": list(assurance.LEVELS),
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "pushed_authorization_request_endpoint": f"{issuer}/par",
        # Per client (FAPI 2.0 clients must push); others may still send the query.
        "require_pushed_authorization_requests": False,
        "dpop_signing_alg_values_supported": list(dpop.PROOF_ALGORITHMS),
        # OpenID4VCI 1.0: wallets ask for credentials by RFC 9396 authorization_details too;
        # a credential offer's code is redeemed by a registered wallet only (client_id).
        "authorization_details_types_supported": ["openid_credential"],
        "pre-authorized_grant_anonymous_access_supported": False,
        **ciba.metadata(issuer),
    }


@bp.get("/.well-known/openid-configuration")
@limiter.exempt
def openid_configuration():
    return _public_json(_metadata())


@bp.get("/.well-known/oauth-authorization-server")
@limiter.exempt
def oauth_authorization_server():
    return _public_json(_metadata())


def _public_json(payload: dict):
    response = jsonify(payload)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
