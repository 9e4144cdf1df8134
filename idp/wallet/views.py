"""GET /wallet/status/<id> (Token Status Lists) and /.well-known/jwt-vc-issuer (the keys that
sign wallet credentials). Nothing here issues a credential yet: docs/wallet.md."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, make_response

from idp.core.extensions import limiter
from idp.core.problems import problem
from idp.keys import service as keys
from idp.wallet import status_list

bp = Blueprint("wallet", __name__)


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
