"""The OpenAPI 3.1 description of Tillid's JSON APIs, served at /api/openapi.json.

The document is idp/openapi.yaml. It is read once, when the app is built, and what is said
elsewhere is filled in: the enums of attribute names, legal bases and ledger channels from
their registries, and the ISSUER setting for "{issuer}" (per request, as tests serving on a
port of their own set ISSUER after building the app).
"""

from __future__ import annotations

import functools
from importlib import resources

import yaml
from flask import Blueprint, current_app, jsonify

from clients.claims import CITIZEN_CLAIMS, LegalBasis
from consent.ledger import Channel
from idp.core.extensions import limiter

bp = Blueprint("openapi", __name__)


@functools.cache
def _template() -> dict:
    """openapi.yaml with its enums filled in; "{issuer}" still in place."""
    text = resources.files("idp").joinpath("openapi.yaml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    # x-shared is written out where it is used, by YAML alias.
    too_many_requests = spec.pop("x-shared")["problems"]["too_many_requests"]
    schemas = spec["components"]["schemas"]
    schemas["AttributeName"]["enum"] = sorted(CITIZEN_CLAIMS)
    schemas["LegalBasis"]["enum"] = [basis.value for basis in LegalBasis]
    # The same object as the access log's channel filter (a YAML alias): both get the enum.
    schemas["AccessLogEntry"]["properties"]["channel"]["enum"] = [c.value for c in Channel]
    # Every guarded /api/ operation spends a rate limit's budget (idp/core/rate_limits.py).
    for path, operations in spec["paths"].items():
        if path.startswith("/api/") and path != "/api/openapi.json":
            for operation in operations.values():
                operation["responses"]["429"] = too_many_requests
    return spec


def _with_issuer(node, issuer: str):
    if isinstance(node, str):
        return node.replace("{issuer}", issuer)
    if isinstance(node, dict):
        return {key: _with_issuer(value, issuer) for key, value in node.items()}
    if isinstance(node, list):
        return [_with_issuer(item, issuer) for item in node]
    return node


@functools.lru_cache(maxsize=8)
def _document(issuer: str) -> dict:
    return _with_issuer(_template(), issuer)


def document() -> dict:
    """The document for this app's issuer (shared between requests: not to be changed)."""
    return _document(current_app.config["ISSUER"])


bp.record_once(lambda state: _template())  # a broken openapi.yaml fails at start


@bp.get("/api/openapi.json")
@limiter.exempt
def openapi_json():
    response = jsonify(document())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
