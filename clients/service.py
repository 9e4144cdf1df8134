"""Registering relying parties: validation, secrets, and the release policy per claim."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from clients.claims import (
    ACCOUNT_ACCESS,
    API_SCOPES,
    CLAIMS,
    CREDENTIAL_SCOPES,
    SCOPE_CLAIMS,
    LegalBasis,
    claims_for,
    for_public_authorities_only,
)
from clients.models import FAPI2_PROFILE, PUBLIC_CLIENT_AUTH, ClaimPolicy, Client, ClientKind
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.keys.service import ALGORITHMS

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
# OpenID4VCI 1.0 3.5: a wallet redeems a credential offer's code (idp/wallet/offers.py).
PRE_AUTHORIZED_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
GRANT_TYPES = (
    "authorization_code", "refresh_token", "client_credentials", CIBA_GRANT, PRE_AUTHORIZED_GRANT
)  # fmt: skip
# Every kind an operator registers (Tillid's own row is made by `tillid_itself`).
REGISTRABLE_KINDS = [kind for kind in ClientKind if kind != ClientKind.TILLID]
TILLID_CLIENT_ID = "tillid"
# What a wallet may be registered for: credentials by the code flow or a credential offer.
WALLET_GRANTS = ("authorization_code", PRE_AUTHORIZED_GRANT)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", PUBLIC_CLIENT_AUTH)
# What a client may have its ID and access tokens signed with (Tillid keeps a key of each).
SIGNING_ALGS = ALGORITHMS
PROFILES = (FAPI2_PROFILE,)
# FAPI 2.0 Security Profile 5.4.1: the only JWS algorithms a FAPI client may use or be sent.
FAPI_ALGS = ("PS256", "ES256", "EdDSA")
_FAPI_MIN_RSA_BITS = 2048  # FAPI 2.0 5.4.1: RSA keys of at least 2048 bits
# A claim for public authorities only (the CPR number) needs a legal basis in law.
_NOT_IN_LAW = (LegalBasis.CONSENT, LegalBasis.LEGITIMATE_INTEREST)
_SECRET_METHODS = ("client_secret_basic", "client_secret_post")
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
_FIELDS = {
    "name",
    "kind",
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "scope",
    "token_endpoint_auth_method",
    "id_token_signed_response_alg",
    "access_token_signed_response_alg",
    "sector_identifier",
    "jwks",
    "legal_basis",
    "purpose",
    "claims",
    "backchannel_token_delivery_mode",
    "profile",
    "require_pushed_authorization_requests",
    "dpop_bound_access_tokens",
    "accepts_representation",
    "representation_claims",
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
}


class InvalidRegistration(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class ClientNotFound(LookupError):
    pass


def _text(field_name: str, value, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidRegistration(field_name, "is required")
    value = value.strip()
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise InvalidRegistration(field_name, "contains control characters")
    if len(value) > limit:
        raise InvalidRegistration(field_name, f"is longer than {limit} characters")
    return value


def _choice(field_name: str, value, allowed) -> str:
    if value not in allowed:
        raise InvalidRegistration(field_name, f"must be one of {', '.join(allowed)}")
    return value


def _list(field_name: str, value) -> list:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidRegistration(field_name, "must be a list of strings")
    return list(dict.fromkeys(value))  # unique, in order


def check_redirect_uri(field_name: str, uri: str) -> str:
    """Exact, absolute URIs only: https, or http on the loopback interface (development)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidRegistration(field_name, f"{uri!r} is not an absolute http(s) URL")
    if parts.scheme == "http" and parts.netloc.rsplit(":", 1)[0] not in _LOOPBACK:
        raise InvalidRegistration(field_name, f"{uri!r}: plain http only on localhost")
    if parts.fragment or "#" in uri:
        raise InvalidRegistration(field_name, f"{uri!r} must not have a fragment")
    if parts.username or parts.password:
        raise InvalidRegistration(field_name, f"{uri!r} must not carry user information")
    if "*" in uri or any(ch.isspace() for ch in uri) or len(uri) > 2000:
        raise InvalidRegistration(field_name, f"{uri!r} must be one exact URL, no wildcards")
    return uri


def _backchannel_logout(spec: dict, grant_types: list[str]) -> tuple[str | None, bool]:
    """Where the service receives logout tokens (Back-Channel Logout 1.0 2.2), and whether it
    needs `sid` in them. Checked like a redirect URI (https, or http on the loopback
    interface; no fragment; Tillid POSTs to it from its own network, so an operator, never a
    service, registers it). A public client may register one too: the spec allows it, and
    the token tells its back end, if it has one, nothing it did not learn from its ID token."""
    uri = spec.get("backchannel_logout_uri")
    required = _flag("backchannel_logout_session_required",
                     spec.get("backchannel_logout_session_required"))  # fmt: skip
    if uri is None:
        if required:
            raise InvalidRegistration(
                "backchannel_logout_session_required", "needs a backchannel_logout_uri"
            )
        return None, False
    if not isinstance(uri, str):
        raise InvalidRegistration("backchannel_logout_uri", "must be a URL")
    if "authorization_code" not in grant_types:
        raise InvalidRegistration(
            "backchannel_logout_uri", "only a login service (the code flow) has sessions to end"
        )
    return check_redirect_uri("backchannel_logout_uri", uri), required


def _claim_policies(kind: ClientKind, scopes: list[str], spec: dict) -> list[ClaimPolicy]:
    claims = claims_for(scopes)
    per_claim = spec.get("claims") or {}
    if not isinstance(per_claim, dict):
        raise InvalidRegistration("claims", "must map each claim to its legal_basis and purpose")
    unknown = set(per_claim) - set(claims)
    if unknown:
        raise InvalidRegistration(
            "claims", f"not brought by the scopes: {', '.join(sorted(unknown))}"
        )
    restricted = [CLAIMS[claim] for claim in claims if for_public_authorities_only(claim)]
    if kind == ClientKind.PRIVATE_SERVICE and restricted:
        raise InvalidRegistration(
            "scope", f"a private service may not receive {restricted[0].noun}"
        )
    policies = []
    for claim in claims:
        given = per_claim.get(claim) or {}
        if not isinstance(given, dict):
            raise InvalidRegistration(f"claims.{claim}", "must be an object")
        # Reading the account is always by consent, whatever basis the other claims have.
        default_basis = LegalBasis.CONSENT if claim == ACCOUNT_ACCESS else spec.get("legal_basis")
        basis = given.get("legal_basis", default_basis)
        purpose = given.get("purpose", spec.get("purpose"))
        if basis is None or purpose is None:
            raise InvalidRegistration(
                f"claims.{claim}", "needs a legal basis and a purpose (--legal-basis, --purpose)"
            )
        basis = LegalBasis(_choice(f"claims.{claim}.legal_basis", basis, list(LegalBasis)))
        if claim == ACCOUNT_ACCESS and basis != LegalBasis.CONSENT:
            raise InvalidRegistration(
                f"claims.{claim}", "reading a citizen's Tillid account needs their consent"
            )
        if for_public_authorities_only(claim) and basis in _NOT_IN_LAW:
            raise InvalidRegistration(
                f"claims.{claim}", f"{CLAIMS[claim].noun} needs a legal basis in law, not consent"
            )
        policies.append(
            ClaimPolicy(
                claim=claim,
                legal_basis=basis,
                purpose=_text(f"claims.{claim}.purpose", purpose, 1000),
            )
        )
    return policies


def _check_public_jwks(jwks) -> None:
    """Asymmetric public keys only: a private or shared key here would be a leaked secret."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise InvalidRegistration("jwks", "private_key_jwt needs the client's public keys")
    for key in jwks["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC", "OKP"):
            raise InvalidRegistration("jwks", "only RSA, EC or OKP public keys")
        if {"d", "p", "q", "k"} & key.keys():
            raise InvalidRegistration("jwks", "holds private key material: send public keys only")
    try:
        KeySet.import_key_set(jwks)
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise InvalidRegistration("jwks", f"is not a usable key set ({exc})") from None


def _flag(field_name: str, value) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidRegistration(field_name, "must be true or false")
    return value


def _fapi_defaults(spec: dict) -> dict:
    """A FAPI 2.0 client: PAR, DPoP, private_key_jwt, and tokens signed ES256 (of FAPI's
    algorithms, the one Tillid signs with). A field that contradicts the profile is refused,
    never silently changed."""
    required = {
        "token_endpoint_auth_method": "private_key_jwt",
        "require_pushed_authorization_requests": True,
        "dpop_bound_access_tokens": True,
        "id_token_signed_response_alg": "ES256",
        "access_token_signed_response_alg": "ES256",
    }
    for name, value in required.items():
        if spec.get(name) not in (None, value):
            shown = "true" if value is True else value
            raise InvalidRegistration(name, f"must be {shown} for a FAPI 2.0 client")
    return {**spec, **required}


def _wallet_defaults(spec: dict) -> dict:
    """A wallet (HAIP 1.0): a public app on the citizen's phone that pushes its requests
    (PAR) and holds DPoP-bound tokens; it asks for credentials, never for claims in tokens.
    A field that contradicts this is refused, never silently changed."""
    required = {
        "token_endpoint_auth_method": PUBLIC_CLIENT_AUTH,
        "require_pushed_authorization_requests": True,
        "dpop_bound_access_tokens": True,
    }
    for name, value in required.items():
        if spec.get(name) not in (None, value):
            shown = "true" if value is True else value
            raise InvalidRegistration(name, f"must be {shown} for a wallet")
    if spec.get("profile") is not None:
        raise InvalidRegistration("profile", "a wallet has no security profile but HAIP's")
    scope = spec.get("scope") or ""
    scopes = _list("scope", scope.split() if isinstance(scope, str) else scope)
    if not scopes or any(name not in CREDENTIAL_SCOPES for name in scopes):
        raise InvalidRegistration(
            "scope", f"a wallet asks for credentials only: {' '.join(CREDENTIAL_SCOPES)}"
        )
    grants = _list("grant_types", spec.get("grant_types")) or ["authorization_code"]
    if any(grant not in WALLET_GRANTS for grant in grants):
        raise InvalidRegistration("grant_types", f"a wallet uses {' and '.join(WALLET_GRANTS)}")
    return {**spec, **required}


def _representation(spec: dict, kind: ClientKind, grant_types, policies) -> tuple[bool, list]:
    """Whether the service lets citizens log in for someone they hold a mandate for, and
    which of its claims it receives then (docs/representation.md): each one it is registered
    for, with that claim's legal basis; never on consent (the person represented gave none)."""
    accepts = _flag("accepts_representation", spec.get("accepts_representation"))
    claims = _list("representation_claims", spec.get("representation_claims"))
    if not accepts:
        if claims:
            raise InvalidRegistration("representation_claims", "needs accepts_representation")
        return False, []
    if kind == ClientKind.WALLET or "authorization_code" not in grant_types:
        raise InvalidRegistration(
            "accepts_representation", "only a login service (the code flow) accepts it"
        )
    registered = {policy.claim: policy for policy in policies}
    for claim in claims:
        if claim not in registered:
            raise InvalidRegistration(
                "representation_claims", f"{claim!r} is not among the service's claims"
            )
        if registered[claim].legal_basis == LegalBasis.CONSENT:
            raise InvalidRegistration(
                "representation_claims",
                f"{claim!r} is released on consent, which the person represented did not give",
            )
    return True, list(dict.fromkeys(claims))


def _check_fapi_keys(jwks: dict) -> None:
    for key in KeySet.import_key_set(jwks).keys:
        if key.key_type == "RSA" and key.raw_value.key_size < _FAPI_MIN_RSA_BITS:
            raise InvalidRegistration("jwks", "RSA keys need at least 2048 bits (FAPI 2.0)")


def _sector(spec: dict, redirect_uris: list[str], client_id: str) -> str:
    if spec.get("sector_identifier"):
        return _text("sector_identifier", spec["sector_identifier"], 255)
    hosts = {urlsplit(uri).hostname for uri in redirect_uris}
    if len(hosts) > 1:
        raise InvalidRegistration(
            "sector_identifier", "redirect URIs on several hosts need an explicit sector"
        )
    return hosts.pop() if hosts else f"client:{client_id}"


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(32)  # 256 bits
    return secret, hashlib.sha256(secret.encode()).hexdigest()


def register(spec: dict) -> tuple[Client, str | None]:
    """Validate a registration and store it; returns the client and its secret (shown once)."""
    unknown = set(spec) - _FIELDS
    if unknown:
        raise InvalidRegistration("registration", f"unknown fields: {', '.join(sorted(unknown))}")
    profile = spec.get("profile")
    if profile is not None:
        _choice("profile", profile, PROFILES)
        spec = _fapi_defaults(spec)
    client_id = secrets.token_hex(16)  # no leading dash: it is typed as a CLI argument
    kind = ClientKind(_choice("kind", spec.get("kind"), REGISTRABLE_KINDS))
    if kind == ClientKind.WALLET:
        spec = _wallet_defaults(spec)
    grant_types = _list("grant_types", spec.get("grant_types")) or ["authorization_code"]
    for grant in grant_types:
        _choice("grant_types", grant, GRANT_TYPES)
    if "refresh_token" in grant_types and "authorization_code" not in grant_types:
        raise InvalidRegistration("grant_types", "refresh_token needs authorization_code")
    redirect_uris = [
        check_redirect_uri("redirect_uris", uri)
        for uri in _list("redirect_uris", spec.get("redirect_uris"))
    ]
    if "authorization_code" in grant_types and not redirect_uris:
        raise InvalidRegistration("redirect_uris", "the code flow needs at least one")
    logout_uris = [
        check_redirect_uri("post_logout_redirect_uris", uri)
        for uri in _list("post_logout_redirect_uris", spec.get("post_logout_redirect_uris"))
    ]
    scope = spec.get("scope") or ""
    scopes = _list("scope", scope.split() if isinstance(scope, str) else scope)
    for name in scopes:
        _choice("scope", name, [*SCOPE_CLAIMS, *API_SCOPES, *CREDENTIAL_SCOPES])
    if kind != ClientKind.WALLET:
        if credential_scopes := [name for name in scopes if name in CREDENTIAL_SCOPES]:
            raise InvalidRegistration("scope", f"{credential_scopes[0]} is for wallets only")
        if PRE_AUTHORIZED_GRANT in grant_types:
            raise InvalidRegistration("grant_types", f"{PRE_AUTHORIZED_GRANT} is for wallets only")
    api_scopes = [name for name in scopes if name in API_SCOPES]
    if api_scopes and "client_credentials" not in grant_types:
        raise InvalidRegistration("scope", f"{api_scopes[0]} needs the client_credentials grant")
    if api_scopes and kind != ClientKind.PUBLIC_AUTHORITY:
        raise InvalidRegistration("scope", f"{api_scopes[0]} is for public authorities only")
    login_grants = {"authorization_code", CIBA_GRANT} & set(grant_types)
    if login_grants and kind != ClientKind.WALLET and "openid" not in scopes:
        raise InvalidRegistration("scope", "a login client needs the openid scope")
    if spec.get("backchannel_token_delivery_mode", "poll") != "poll":
        raise InvalidRegistration("backchannel_token_delivery_mode", "only poll is supported")
    if "backchannel_token_delivery_mode" in spec and CIBA_GRANT not in grant_types:
        raise InvalidRegistration(
            "backchannel_token_delivery_mode", f"needs the {CIBA_GRANT} grant"
        )
    if "offline_access" in scopes and "refresh_token" not in grant_types:
        raise InvalidRegistration("scope", "offline_access needs the refresh_token grant")
    method = _choice(
        "token_endpoint_auth_method",
        spec.get("token_endpoint_auth_method") or "client_secret_basic",
        AUTH_METHODS,
    )
    if method == PUBLIC_CLIENT_AUTH and {"client_credentials", CIBA_GRANT} & set(grant_types):
        raise InvalidRegistration(
            "token_endpoint_auth_method", "client_credentials and CIBA need client authentication"
        )
    jwks = spec.get("jwks")
    if method == "private_key_jwt":
        _check_public_jwks(jwks)
        if profile == FAPI2_PROFILE:
            _check_fapi_keys(jwks)
    elif jwks is not None:
        raise InvalidRegistration("jwks", "only for private_key_jwt")
    client = Client(
        client_id=client_id,
        name=_text("name", spec.get("name"), 200),
        kind=kind,
        sector_identifier=_sector(spec, redirect_uris, client_id),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=logout_uris,
        grant_types=grant_types,
        scopes=scopes,
        token_endpoint_auth_method=method,
        id_token_signed_response_alg=_choice(
            "id_token_signed_response_alg",
            spec.get("id_token_signed_response_alg") or "RS256",
            SIGNING_ALGS,
        ),
        access_token_signed_response_alg=_choice(
            "access_token_signed_response_alg",
            spec.get("access_token_signed_response_alg") or "ES256",
            SIGNING_ALGS,
        ),
        jwks=jwks,
        profile=profile,
        require_pushed_authorization_requests=_flag(
            "require_pushed_authorization_requests",
            spec.get("require_pushed_authorization_requests"),
        ),
        dpop_bound_access_tokens=_flag(
            "dpop_bound_access_tokens", spec.get("dpop_bound_access_tokens")
        ),
        claim_policies=_claim_policies(kind, scopes, spec),
    )
    client.backchannel_logout_uri, client.backchannel_logout_session_required = _backchannel_logout(
        spec, grant_types
    )
    client.accepts_representation, client.representation_claims = _representation(
        spec, kind, grant_types, client.claim_policies
    )
    secret = None
    if method in _SECRET_METHODS:
        secret, client.secret_digest = _new_secret()
    db.session.add(client)
    db.session.commit()
    return client, secret


def get(client_id: str) -> Client:
    client = db.session.get(Client, client_id)
    if client is None:
        raise ClientNotFound(f"no client {client_id!r}")
    return client


def find_by_name(name: str) -> Client | None:
    return db.session.scalar(select(Client).where(Client.name == name).limit(1))


def by_id(client_ids) -> dict[str, Client]:
    """The named clients (those still registered), by client_id, in one query."""
    ids = list(set(client_ids))
    found = db.session.scalars(select(Client).where(Client.client_id.in_(ids))) if ids else []
    return {client.client_id: client for client in found}


def all_clients() -> list[Client]:
    """Every registered service (not Tillid's own row)."""
    return list(db.session.scalars(
        select(Client).where(Client.kind != ClientKind.TILLID).order_by(Client.created_at)
    ))  # fmt: skip


def tillid_itself() -> Client:
    """Tillid's own row in the client registry, made on first use: the other party of the
    ledger entries about a citizen's mandates. Disabled, so no token is ever issued to it."""
    found = db.session.get(Client, TILLID_CLIENT_ID)
    if found is not None:
        return found
    now = utcnow()
    itself = Client(client_id=TILLID_CLIENT_ID, name="Tillid", kind=ClientKind.TILLID,
                    sector_identifier=f"client:{TILLID_CLIENT_ID}", redirect_uris=[],
                    post_logout_redirect_uris=[], grant_types=[], scopes=[],
                    token_endpoint_auth_method=PUBLIC_CLIENT_AUTH, disabled_at=now)  # fmt: skip
    db.session.add(itself)
    try:
        db.session.commit()
    except IntegrityError:  # made at the same moment by another request
        db.session.rollback()
        return db.session.get(Client, TILLID_CLIENT_ID)
    return itself


def rotate_secret(client_id: str) -> str:
    client = get(client_id)
    if client.token_endpoint_auth_method not in _SECRET_METHODS:
        raise InvalidRegistration(
            "token_endpoint_auth_method", f"{client.token_endpoint_auth_method} uses no secret"
        )
    secret, client.secret_digest = _new_secret()
    db.session.commit()
    return secret


def disable(client_id: str) -> Client:
    client = get(client_id)
    if client.disabled_at is None:
        client.disabled_at = utcnow()
        db.session.commit()
    return client


def check_secret(client: Client, presented: str) -> bool:
    """Constant-time comparison of digests; a disabled client never authenticates."""
    if client.secret_digest is None or not client.enabled:
        return False
    digest = hashlib.sha256(presented.encode()).hexdigest()
    return hmac.compare_digest(digest, client.secret_digest)


def describe(client: Client) -> dict:
    """The registration as an operator sees it (never the secret or its digest)."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "kind": client.kind.value,
        "enabled": client.enabled,
        "sector_identifier": client.sector_identifier,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        **({"backchannel_token_delivery_mode": "poll"} if CIBA_GRANT in client.grant_types else {}),
        "scope": " ".join(client.scopes),
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "access_token_signed_response_alg": client.access_token_signed_response_alg,
        "profile": client.profile,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "accepts_representation": client.accepts_representation,
        "representation_claims": client.representation_claims,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "claims": {
            policy.claim: {"legal_basis": policy.legal_basis.value, "purpose": policy.purpose}
            for policy in client.claim_policies
        },
        "created_at": client.created_at.isoformat(),
        "disabled_at": client.disabled_at.isoformat() if client.disabled_at else None,
    }
