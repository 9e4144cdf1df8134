"""Authlib wiring: the authorization server, its grants and the tokens it issues."""

from __future__ import annotations

import time

from authlib.integrations.flask_oauth2 import AuthorizationServer, client_authenticated
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Payload, FlaskOAuth2Request
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Error,
    UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload, OAuth2Request
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from flask import Flask, current_app
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from werkzeug.datastructures import EnvironHeaders

from clients import cache as client_cache
from clients import service as clients
from clients.models import Client
from idp.citizens.models import Citizen, CitizenStatus
from idp.core import metrics, rate_limits
from idp.core.extensions import db, store
from idp.keys import service as keys
from idp.mandates import service as mandates
from idp.oidc import (
    backchannel_logout,
    ciba,
    client_auth,
    codes,
    dpop,
    refresh,
    session_tokens,
    subjects,
    tokens,
)
from idp.oidc.endpoints import CONFIDENTIAL_METHODS, Introspection, Revocation
from idp.oidc.id_tokens import id_token_for
from idp.oidc.scopes import grantable_scopes


class _Headers(EnvironHeaders):
    """The request's headers, which are never empty (Host): Authlib's request takes
    `headers or {}`, and Werkzeug's headers answer that by counting themselves, a walk over
    the whole WSGI environ (2 % of a client_credentials grant's request in py-spy)."""

    def __bool__(self) -> bool:
        return True


class _OAuth2Request(FlaskOAuth2Request):
    """Authlib's request of a Flask request, as its own `FlaskOAuth2Request` makes it, over
    the same environ (headers as above)."""

    def __init__(self, request):
        OAuth2Request.__init__(
            self, method=request.method, uri=request.url, headers=_Headers(request.environ)
        )
        self._request = request
        self.payload = FlaskOAuth2Payload(request)


class TillidAuthorizationServer(AuthorizationServer):
    def create_oauth2_request(self, request):
        """The request being served; a dict of parameters (a pushed request, RFC 9126)
        stands in for the query."""
        oauth_request = _OAuth2Request(flask_request._get_current_object())
        if isinstance(request, dict):
            oauth_request.payload = BasicOAuth2Payload(request)
        return oauth_request

    def authenticate_client(self, request, methods, endpoint="token"):
        """Every endpoint and grant authenticates its client here (idp/oidc/client_auth.py).
        A client whose credentials checked out then spends its own budget
        (idp/core/rate_limits.py), before the endpoint does any work. A public client proves
        nothing: its requests are its source's."""
        client = client_auth.authenticate(
            request, methods, query_client=query_client, assertion=ClientAssertion()
        )
        if request.auth_method != "none":
            # With the source's check, if still to be made: one round trip; and with the
            # request's store command, where nothing changes before it (spend_later).
            if getattr(request, "spend_later", False):
                spend = rate_limits.spend_for_client_later
            else:
                spend = rate_limits.spend_for_client
            spend(rate_limits.CLIENT_BUDGET, client.get_client_id())
        else:
            rate_limits.refuse_a_spent_source()  # before the grant spends a code or a token
        return client

    def create_token_response(self, request=None):
        """The client is authenticated whatever the grant: a grant type we do not serve is
        told only to a client that authenticates (each grant authenticates its own)."""
        oauth_request = self.create_oauth2_request(request)
        try:
            grant = self.get_token_grant(oauth_request)
        except UnsupportedGrantTypeError as unsupported:
            try:
                self.authenticate_client(oauth_request, [*CONFIDENTIAL_METHODS, "none"])
            except OAuth2Error as error:
                return self.handle_error_response(oauth_request, error)
            return self.handle_error_response(oauth_request, unsupported)
        # Authlib's own create_token_response from here, with the request and grant above
        # (it would wrap the request and look up its grant a second time).
        try:
            grant.validate_token_request()
            status, body, headers = grant.create_token_response()
        except OAuth2Error as error:
            return self.handle_error_response(oauth_request, error)
        if status == 200:  # every grant names its client by now (each authenticates one)
            client = grant.request.client.client
            per_client = current_app.config["METRICS_PER_CLIENT"]
            metrics.count_token(grant.GRANT_TYPE, str(client.kind),
                                client.client_id if per_client else None)  # fmt: skip
        return self.handle_response(status, body, headers)


authorization = TillidAuthorizationServer()


class OAuthClient(ClientMixin):
    """A registered relying party as Authlib sees it."""

    def __init__(self, client: Client):
        self.client = client

    @property
    def client_metadata(self) -> dict:
        return {"post_logout_redirect_uris": self.client.post_logout_redirect_uris}

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.client.id_token_signed_response_alg

    def get_client_id(self):
        return self.client.client_id

    def get_default_redirect_uri(self):
        return None  # redirect_uri is required on every request (OIDC Core 3.1.2.1)

    def get_allowed_scope(self, scope):
        """The scope of an authorization request (Authlib asks at /authorize and /par)."""
        return " ".join(grantable_scopes(self.client, scope, grant="authorization_code"))

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.client.redirect_uris  # exact match, RFC 9700 4.1.3

    def check_client_secret(self, client_secret):
        return clients.check_secret(self.client, client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method in client_auth.accepted_methods(self.client)

    def check_response_type(self, response_type):
        return response_type == "code" and "authorization_code" in self.client.grant_types

    def check_grant_type(self, grant_type):
        return grant_type in self.client.grant_types


def query_client(client_id: str) -> OAuthClient | None:
    """The enabled client of that id, from the per-process copy (clients/cache.py: a change
    elsewhere is seen within a few seconds, one in this process at once)."""
    # A NUL (say from percent-decoded Basic credentials) is in no client id, and PostgreSQL
    # refuses it in a query.
    readable = isinstance(client_id, str) and "\x00" not in client_id
    client = client_cache.get(client_id) if readable else None
    return OAuthClient(client) if client is not None and client.enabled else None


class S256Required(CodeChallenge):
    """PKCE for every client, and only S256 (RFC 9700 2.1.1): plain and missing are refused."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256).")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


# What client assertions (private_key_jwt) may be signed with.
ASSERTION_ALGORITHMS = ("ES256", "PS256", "RS256", "EdDSA")


class ClientAssertion(JWTBearerClientAssertion):
    """private_key_jwt (RFC 7523): the client signs with a key registered in its `jwks`."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self):
        issuer = current_app.config["ISSUER"]
        endpoints = ("token", "introspect", "revoke", "bc-authorize", "par")
        return [issuer, *(f"{issuer}/{endpoint}" for endpoint in endpoints)]

    def process_assertion_claims(self, assertion, resolve_key):
        """Signed with an asymmetric algorithm we name (never `none` or HMAC). FAPI 2.0
        (5.3.2.1 and 5.4.1) is stricter for its clients: PS256, ES256 or EdDSA, and the
        audience is the issuer alone, as a string (no endpoint URL: audience injection)."""
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ASSERTION_ALGORITHMS))
        except JoseError as error:  # its description may quote the attacker's header
            raise client_auth.Refused(error.description or "The signature does not hold.") from None
        self.verify_claims(token.claims)
        client = query_client(token.claims["sub"])
        if client is not None and client.client.is_fapi:
            if token.header["alg"] not in clients.FAPI_ALGS:
                raise client_auth.Refused(f"Sign assertions with {', '.join(clients.FAPI_ALGS)}.")
            if token.claims["aud"] != current_app.config["ISSUER"]:
                raise client_auth.Refused("The audience must be the issuer alone.")
        return token.claims

    def resolve_client_public_key(self, client):
        return KeySet.import_key_set(client.client.jwks or {"keys": []})

    def validate_jti(self, claims, jti):
        # Each assertion once: remembered until it expires (plus the leeway). Not from a
        # source that spent its budget (idp/core/rate_limits.py): its request is refused.
        rate_limits.refuse_a_spent_source()
        ttl = max(1, int(claims["exp"] - time.time()) + self.leeway)
        key = store.key("client-assertion", claims["iss"], str(jti))
        return bool(store.redis.set(key, 1, nx=True, ex=ttl))


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = [*CONFIDENTIAL_METHODS, "none"]

    def save_authorization_code(self, code, request):
        context = request.authentication_context  # set by the authorization view
        details = context["authorization_details"]
        # A credential asked for by authorization_details is granted as its scope too: the
        # token carries it, and the credential endpoint reads it there.
        scope = " ".join(dict.fromkeys([
            *(request.scope or "").split(), *(d["credential_configuration_id"] for d in details)
        ]))  # fmt: skip
        codes.save(
            code,
            codes.AuthorizationCode(
                client_id=request.client.get_client_id(),
                citizen_id=context["citizen_id"],
                redirect_uri=request.payload.redirect_uri,
                scope=scope,
                code_challenge=request.payload.data["code_challenge"],
                code_challenge_method=request.payload.data["code_challenge_method"],
                nonce=request.payload.data.get("nonce"),
                auth_time=context["auth_time"],
                acr=context["acr"],
                amr=context["amr"],
                sid=context["sid"],
                id_token_claims=list(context["claims"].id_token),
                userinfo_claims=list(context["claims"].userinfo),
                dpop_jkt=request.payload.data.get("dpop_jkt"),
                authorization_details=details,
                acting=context["acting"],
            ),
        )

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True):  # fmt: skip
        code: codes.AuthorizationCode = self.request.authorization_code
        client = self.request.client.client
        scope = grantable_scopes(client, None, grant="authorization_code", granted=code.scope)
        return tokens.issue_access_token(
            client,
            user,
            " ".join(scope),
            code.userinfo_claims,
            jkt=dpop.token_binding(client),
            acting=code.acting,
        )

    def create_token_response(self):
        status, token, headers = super().create_token_response()
        code: codes.AuthorizationCode = self.request.authorization_code
        client = self.request.client
        if code.authorization_details:
            # OpenID4VCI 1.0 6.2: each credential's identifier for the credential request
            # (Tillid's are the configuration ids: one credential dataset each).
            token["authorization_details"] = [
                {**detail, "credential_identifiers": [detail["credential_configuration_id"]]}
                for detail in code.authorization_details
            ]
        if client.check_grant_type("refresh_token") and "offline_access" in token["scope"].split():
            token["refresh_token"] = refresh.issue(
                client_id=client.get_client_id(),
                scope=token["scope"],
                login=code,
                dpop_jkt=_public_client_binding(client.client),
                access_token=token["access_token"],
            )
        return status, token, headers

    def query_authorization_code(self, code, client):
        record = codes.take(code)
        if record is None:
            bought = codes.spent_tokens(code)
            if bought:
                # A replayed code: what it bought is no longer to be trusted (RFC 6749 4.1.2).
                tokens.revoke_access_token(bought)
                raise InvalidGrantError("The authorization code was already used.")
            return None
        if record.client_id != client.get_client_id():
            return None  # a code stolen from another client (code injection)
        dpop.check_bound_grant(record.dpop_jkt, "authorization code")
        return record

    def delete_authorization_code(self, authorization_code):
        """Nothing to do: ``codes.take`` deleted it when it was redeemed."""

    def authenticate_user(self, authorization_code):
        return _subject(authorization_code, self.request.client.client)


def _subject(login, client: Client) -> Citizen | None:
    """The citizen a code or refresh token releases data of: an active account, or, while an
    agent acts under a mandate still in force, the principal (a child or a person under
    guardianship may have no account of their own) whose agent is active."""
    citizen = db.session.get(Citizen, login.citizen_id)
    if citizen is None:
        return None
    acting = login.acting
    if acting is None:
        return citizen if citizen.status == CitizenStatus.ACTIVE else None
    agent = db.session.get(Citizen, acting["agent_id"])
    in_force = mandates.in_force_for(acting["mandate_id"], acting["agent_id"], citizen.id, client)
    usable = citizen.status in (CitizenStatus.ACTIVE, CitizenStatus.PENDING)
    if in_force is None or not usable or agent is None or agent.status != CitizenStatus.ACTIVE:
        return None
    return citizen


class OpenIDCodeFlow(OpenIDCode):
    def exists_nonce(self, nonce, request):
        return codes.nonce_in_use(request.payload.client_id, nonce)

    def generate_user_info(self, user, scope):
        raise NotImplementedError("encode_id_token builds the claims itself")

    def encode_id_token(self, token, request):
        code: codes.AuthorizationCode = request.authorization_code
        client = request.client.client
        id_token = id_token_for(
            client,
            request.user,
            token,
            auth_time=code.auth_time,
            acr=code.acr,
            amr=code.amr,
            released=code.id_token_claims,
            extra={"nonce": code.nonce, "sid": code.sid},
            acting=code.acting,
        )
        # Told when the session ends, by the `sub` this ID token gave it (the principal's
        # while an agent acts: the service's session is about them).
        sub = subjects.pairwise_sub(client.sector_identifier, request.user.id)
        backchannel_logout.remember(code.sid, client, sub)
        return id_token

    def process_token(self, grant, response):
        token = super().process_token(grant, response)
        code = grant.request.authorization_code
        jti = tokens.jti_of(token["access_token"])
        codes.remember_spent(code.code_hash, jti)
        session_tokens.remember(code.sid, jti, token["expires_in"])  # ends with the session
        return token


class RefreshGrant(RefreshTokenGrant):
    """Each use returns a new refresh token of the same family and the used one is spent;
    a FAPI 2.0 client's refresh token is not rotated (it is sender-constrained instead)."""

    TOKEN_ENDPOINT_AUTH_METHODS = [*CONFIDENTIAL_METHODS, "none"]

    def authenticate_refresh_token(self, refresh_token):
        # A key-bound token is checked before it is spent: a thief's try without the key
        # must not spend the client's token (its next use would then look like reuse).
        found = refresh.find(refresh_token)
        if found is not None:
            dpop.check_bound_grant(found.dpop_jkt, "refresh token")
        client = self.request.client
        if found is not None and found.check_client(client) and not found.is_revoked():
            # Nor does asking for more than was granted spend it (a spent one is left to
            # ``redeem``, which revokes the family of a reused token).
            self._scope(found)
        if client.client.is_fapi:  # FAPI 2.0: not rotated
            return refresh.live(refresh_token, client.get_client_id())
        return refresh.redeem(refresh_token, client.get_client_id())

    def _scope(self, refresh_token) -> str:
        """What the new access token carries: the scope asked for, at most the one granted
        (RFC 6749 6), as far as the registration still allows."""
        client = self.request.client.client
        asked = self.request.payload.scope
        return " ".join(
            grantable_scopes(client, asked, grant=self.GRANT_TYPE, granted=refresh_token.scope)
        )

    def authenticate_user(self, refresh_token):
        return _subject(refresh_token, self.request.client.client)

    def revoke_old_credential(self, refresh_token):
        """Nothing to do: ``refresh.redeem`` spent it."""

    def issue_token(self, user, refresh_token):
        client = self.request.client.client
        token = tokens.issue_access_token(
            client,
            user,
            self._scope(refresh_token),
            refresh_token.userinfo_claims,
            jkt=dpop.token_binding(client),
            acting=refresh_token.acting,
        )
        if client.is_fapi:
            refresh.bind_access_token(refresh_token.family_id, token["access_token"])
            return token  # the client goes on with the refresh token it has
        # RFC 6749 6: the new refresh token keeps the scope originally granted.
        token["refresh_token"] = refresh.issue(
            client_id=refresh_token.client_id,
            scope=refresh_token.scope,
            login=refresh_token,
            family_id=refresh_token.family_id,
            dpop_jkt=refresh_token.dpop_jkt,
            access_token=token["access_token"],
        )
        return token


class ServiceGrant(ClientCredentialsGrant):
    """Service-to-service tokens: the client's own registered API scopes, never a citizen's
    (without a scope asked for: all its API scopes)."""

    TOKEN_ENDPOINT_AUTH_METHODS = CONFIDENTIAL_METHODS

    def validate_token_request(self):
        # Nothing changes before the token's record is stored: the client's budget is
        # counted with that (idp/core/rate_limits.py, one round trip).
        self.request.spend_later = True
        super().validate_token_request()
        client = self.request.client.client
        self.request.scope = " ".join(
            grantable_scopes(client, self.request.payload.scope, grant=self.GRANT_TYPE)
        )

    def create_token_response(self):
        # Authlib's would issue the scope as sent; this one issues what the request may have.
        token = self.generate_token(scope=self.request.scope, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


def _generate_token(grant_type, client, user=None, scope=None, expires_in=None,
                    include_refresh_token=True):  # fmt: skip
    return tokens.issue_access_token(
        client.client, user, scope or "", jkt=dpop.token_binding(client.client)
    )


def _public_client_binding(client: Client) -> str | None:
    """RFC 9449 5: a public client's refresh tokens are bound to its DPoP key (a
    confidential client's are bound to it by its authentication)."""
    proof = dpop.token_request_proof()
    return proof.jkt if client.is_public and proof is not None else None


def _keys_sign_for(_server, client: OAuthClient, grant) -> None:
    """Authlib's signal once a token request's client is authenticated, before the grant
    spends anything (a code, a refresh token, a CIBA request): without a key to sign its
    tokens the request is a 503 (NoSigningKey) and the client may try again with the same
    grant once the keys are there."""
    keys.require_signing_keys(client.client.signing_algorithms)


def _save_token(token, request):
    """Access tokens are self-contained JWTs, tracked in the store when issued."""


def init_app(app: Flask) -> None:
    authorization.init_app(app, query_client=query_client, save_token=_save_token)
    authorization.register_token_generator("default", _generate_token)
    client_authenticated.connect(_keys_sign_for, sender=authorization)
    authorization.register_grant(CodeGrant, [S256Required(required=True), OpenIDCodeFlow()])
    authorization.register_grant(RefreshGrant)
    authorization.register_grant(ServiceGrant)
    authorization.register_endpoint(Introspection)
    authorization.register_endpoint(Revocation)
    authorization.register_grant(ciba.CibaGrant)
    authorization.register_endpoint(ciba.BackchannelAuthentication)
