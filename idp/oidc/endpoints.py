"""Token introspection (RFC 7662) and revocation (RFC 7009), for a client's own tokens only."""

from __future__ import annotations

import time

from authlib.oauth2.rfc6749 import TokenMixin
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import current_app

from idp.oidc import refresh, tokens

SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
CONFIDENTIAL_METHODS = [*SECRET_METHODS, "private_key_jwt"]


class IssuedToken(TokenMixin):
    """An access token we issued that is still live in the store."""

    def __init__(self, record: dict):
        self.record = record
        self.claims = record["claims"]

    def check_client(self, client):
        return self.record["client_id"] == client.get_client_id()

    def get_scope(self):
        return self.record["scope"]

    def get_expires_in(self):
        return max(0, int(self.claims["exp"] - time.time()))

    def is_expired(self):
        return self.claims["exp"] <= time.time()

    def is_revoked(self):
        return False  # a revoked token has no record, so it is never found

    def get_user(self):
        return None

    def get_client(self):
        return None


def _query(token_string: str) -> IssuedToken | refresh.RefreshToken | None:
    """Access tokens are JWTs (three dot-separated parts); refresh tokens are opaque."""
    if token_string.count(".") == 2:
        record = tokens.active_access_token(token_string)
        return IssuedToken(record) if record is not None else None
    return refresh.find(token_string)


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def authenticate_endpoint_client(self, request):
        # Nothing changes before the token's record is read: the client's budget is counted
        # with that read (idp/core/rate_limits.py, one round trip).
        request.spend_later = True
        return super().authenticate_endpoint_client(request)

    def query_token(self, token_string, token_type_hint):
        return _query(token_string)

    def check_permission(self, token, client, request):
        # A client learns about its own tokens only: no probing of other services' tokens.
        return token.check_client(client)

    def introspect_token(self, token):
        if isinstance(token, refresh.RefreshToken):
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": token.client_id,
                "scope": token.scope,
                "iss": current_app.config["ISSUER"],
                "exp": int(token.expires_at.timestamp()),
                "iat": int(token.issued_at.timestamp()),
            }
        claims = token.claims
        bound = {"cnf": claims["cnf"]} if "cnf" in claims else {}  # RFC 9449 6.2
        return {
            "active": True,
            "token_type": "DPoP" if bound else "Bearer",
            **bound,
            "client_id": claims["client_id"],
            "scope": claims["scope"],
            "sub": claims["sub"],
            "aud": claims["aud"],
            "iss": current_app.config["ISSUER"],
            "exp": claims["exp"],
            "iat": claims["iat"],
            "jti": claims["jti"],
        }


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = [*CONFIDENTIAL_METHODS, "none"]

    def query_token(self, token_string, token_type_hint):
        return _query(token_string)

    def revoke_token(self, token, request):
        if isinstance(token, refresh.RefreshToken):
            refresh.revoke_family(token.family_id)  # and every token rotated from it
        else:
            tokens.revoke_access_token(token.claims["jti"])
