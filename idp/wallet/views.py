"""The wallet's endpoints (OpenID4VCI 1.0): the credential issuer metadata, the nonce and
credential endpoints; the Token Status Lists (/wallet/status/<id>) and the credential keys
(/.well-known/jwt-vc-issuer) that verifiers read. docs/wallet.md."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, make_response, request

from idp.core import rate_limits
from idp.core.extensions import csrf, limiter
from idp.core.problems import problem
from idp.keys import service as keys
from idp.oidc import dpop, guard
from idp.wallet import issuance, metadata, nonces, status_list

bp = Blueprint("wallet", __name__)
# A wallet's token spends that citizen's budget at that wallet (a public client).
RATE_LIMIT = "API_RATE_LIMIT"


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/.well-known/openid-credential-issuer")
@limiter.exempt
def credential_issuer_metadata():
    response = jsonify(metadata.document())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.post("/wallet/nonce")
@csrf.exempt
def nonce():
    """OpenID4VCI 1.0 section 7: a fresh c_nonce, for anyone (it proves nothing by itself);
    each is stored until used or expired, so a source's requests spend its budget."""
    rate_limits.spend_for_source()
    return _no_store(jsonify(c_nonce=nonces.issue()))


@bp.post("/wallet/credential")
@csrf.exempt
def credential():
    return dpop.with_nonce(_credential())


def _granted(token: guard.Token) -> None:
    if not set(token.scopes) & set(issuance.ISSUERS):
        raise guard.Rejected(403, "insufficient_scope", "The token carries no credential scope.")


@guard.token_required(for_citizen=True, budget=RATE_LIMIT, errors=guard.OAUTH, check=_granted)
def _credential():
    """OpenID4VCI 1.0 section 8: credentials for the citizen of the wallet's DPoP-bound token,
    one per key proof."""
    token = guard.token()
    if not request.is_json:
        return _refused(issuance.CredentialError(
            "invalid_credential_request", "Send the request as application/json."))  # fmt: skip
    body = request.get_json(silent=True)
    try:
        credentials = issuance.issue(
            body, citizen=token.citizen, wallet=token.client, granted=token.scopes
        )
    except issuance.CredentialError as refused:
        return _refused(refused)
    return _no_store(jsonify(credentials=[{"credential": c} for c in credentials]))


def _refused(refused: issuance.CredentialError):
    response = jsonify(error=refused.error, error_description=refused.description)
    response.status_code = refused.status
    return _no_store(response)


@bp.get("/wallet/status/<list_id>")
@limiter.exempt  # fetched by every verifier of every credential, like /jwks
def status_list_token(list_id: str):
    try:
        token = status_list.token(list_id)
    except status_list.UnknownStatusList:
        return problem(404, "There is no status list at this address.")
    response = make_response(token)
    response.mimetype = status_list.MEDIA_TYPE
    # Cached no longer than the token says it may be (its ttl): a revocation is seen then.
    response.headers["Cache-Control"] = f"public, max-age={status_list.TTL_SECONDS}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/jwt-vc-issuer")
@limiter.exempt
def jwt_vc_issuer():
    """draft-ietf-oauth-sd-jwt-vc section 5: the issuer and its credential keys (never the
    token keys: those are at /jwks)."""
    response = jsonify(
        issuer=current_app.config["ISSUER"], jwks={"keys": keys.published(keys.CREDENTIAL)}
    )
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
