"""GET /jwks: the public signing keys, for relying parties to verify tokens."""

from flask import Blueprint, jsonify

from idp.core.extensions import limiter
from idp.keys import service

bp = Blueprint("keys", __name__)


@bp.get("/jwks")
@limiter.exempt
def jwks():
    response = jsonify(keys=service.published())
    # Short enough that a rotation's grace period always covers a cached copy.
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
