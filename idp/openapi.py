"""The OpenAPI 3.1 description of Tillid's JSON APIs, served at /api/openapi.json.

The OAuth and OpenID Connect endpoints are described by discovery
(/.well-known/openid-configuration), as their specifications say, and are not repeated here.
A test checks that every /api/ route is described and that real answers match the schemas.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from clients.claims import CITIZEN_CLAIMS, LegalBasis
from consent.ledger import Channel
from idp.extensions import limiter

bp = Blueprint("openapi", __name__)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _problems(*statuses: int) -> dict:
    described = {
        400: "The request is malformed; `detail` says what to fix.",
        401: "No valid access token (or no login for the citizen's own APIs).",
        403: "Authenticated, but not allowed this (scope, registration or consent).",
        404: "Nothing known by that identifier.",
        409: "A retried report with the same reference but other content.",
        429: "Too many requests (a rate limit's budget is spent); retry after Retry-After seconds.",
        503: "Not yet possible; retry shortly.",
    }
    return {
        str(status): {
            "description": described[status],
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        }
        for status in statuses
    }


_NULLABLE_TEXT = {"type": ["string", "null"]}
_TIME = {"type": "string", "format": "date-time"}

SCHEMAS: dict[str, dict] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "request_id": _NULLABLE_TEXT,
            "error": {"type": "string", "description": "RFC 6750 error code, for token errors"},
        },
    },
    "AttributeName": {"type": "string", "enum": sorted(CITIZEN_CLAIMS)},
    "LegalBasis": {"type": "string", "enum": [basis.value for basis in LegalBasis]},
    "Service": {
        "type": "object",
        "required": ["client_id", "name", "kind"],
        "properties": {
            "client_id": {"type": "string"},
            "name": _NULLABLE_TEXT,
            "kind": {
                "type": ["string", "null"],
                "enum": ["public_authority", "private_service", None],
            },
        },
    },
    "MyData": {
        "type": "object",
        "required": ["attributes", "sources", "updated_at"],
        "properties": {
            "attributes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "label", "value", "source"],
                    "properties": {
                        "name": {"type": "string"},
                        "label": {"type": "string"},
                        "value": _NULLABLE_TEXT,
                        "source": {"type": "string"},
                    },
                },
            },
            "sources": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "correction": {"type": "string"}},
                },
            },
            "updated_at": _TIME,
        },
    },
    "Consent": {
        "type": "object",
        "required": ["service", "granted_at", "attributes"],
        "properties": {
            "service": _ref("Service"),
            "granted_at": _TIME,
            "attributes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "purpose": _NULLABLE_TEXT},
                },
            },
        },
    },
    "Session": {
        "type": "object",
        "required": ["id", "logged_in_at", "last_active_at", "level", "this_session"],
        "properties": {
            "id": {"type": "string"},
            "device": {"type": "string"},
            "logged_in_at": _TIME,
            "last_active_at": _TIME,
            "expires_at": _TIME,
            "level": {"type": "string", "description": "NSIS level of assurance (acr)"},
            "methods": {"type": "array", "items": {"type": "string"}},
            "this_session": {"type": "boolean"},
        },
    },
    "Authenticator": {
        "type": "object",
        "required": ["id", "kind", "name", "blocked"],
        "properties": {
            "id": {"type": "string"},
            "kind": {"type": "string", "enum": ["totp", "webauthn"]},
            "name": {"type": "string"},
            "added_at": {"type": ["string", "null"], "format": "date-time"},
            "last_used_at": {"type": ["string", "null"], "format": "date-time"},
            "synced": {"type": ["boolean", "null"]},
            "blocked": {"type": "boolean"},
        },
    },
    "AccessLogEntry": {
        "type": "object",
        "required": ["id", "released_at", "service", "channel", "erased", "verified", "proof"],
        "properties": {
            "id": {"type": "integer"},
            "released_at": _TIME,
            "service": _ref("Service"),
            "channel": {"type": "string", "enum": [channel.value for channel in Channel]},
            "attributes": {"type": ["array", "null"], "items": {"type": "string"}},
            "purpose": _NULLABLE_TEXT,
            "legal_basis": _NULLABLE_TEXT,
            "erased": {"type": "boolean", "description": "content erased after retention"},
            "verified": {
                "type": ["boolean", "null"],
                "description": "its inclusion proof checked against the signed checkpoint",
            },
            "proof": {"type": "string", "description": "URL of the entry's inclusion proof"},
        },
    },
    "AccessLogPage": {
        "type": "object",
        "required": ["total", "page", "per_page", "entries"],
        "properties": {
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "entries": {"type": "array", "items": _ref("AccessLogEntry")},
        },
    },
    "AccessLogSummary": {
        "type": "object",
        "description": "The calendar months of DISPLAY_TIMEZONE from 11 months back to this one."
        " Erased entries count as releases but for no attribute.",
        "required": ["from", "to", "timezone", "total", "erased", "services", "attributes"],
        "additionalProperties": False,
        "properties": {
            "from": {"type": "string", "format": "date", "description": "first day"},
            "to": {"type": "string", "format": "date", "description": "last day"},
            "timezone": {"type": "string"},
            "total": {"type": "integer", "minimum": 0},
            "erased": {"type": "integer", "minimum": 0},
            "services": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["client_id", "name", "kind", "releases", "erased"],
                    "additionalProperties": False,
                    "properties": {
                        "client_id": {"type": "string"},
                        "name": {"type": "string"},
                        "kind": {"type": "string"},
                        "releases": {"type": "integer", "minimum": 1},
                        "erased": {"type": "integer", "minimum": 0},
                    },
                },
            },
            "attributes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["attribute", "releases", "services"],
                    "additionalProperties": False,
                    "properties": {
                        "attribute": {"type": "string"},
                        "releases": {"type": "integer", "minimum": 1},
                        "services": {"type": "integer", "minimum": 1},
                    },
                },
            },
        },
    },
    "InclusionProof": {
        "type": "object",
        "description": "Check it offline with `python -m consent.verify PROOF.json KEY`.",
        "required": ["entry_id", "leaf_index", "tree_size", "leaf", "inclusion_proof"],
        "properties": {
            "entry_id": {"type": "integer"},
            "leaf_index": {"type": "integer"},
            "tree_size": {"type": "integer"},
            "leaf": {"type": "string", "contentEncoding": "base64"},
            "salt": {"type": ["string", "null"], "contentEncoding": "base64"},
            "content": {"type": ["string", "null"], "description": "the committed JSON body"},
            "inclusion_proof": {"type": "array", "items": {"type": "string"}},
            "checkpoint": {"type": "string", "description": "C2SP signed note"},
            "verifier_key": {"type": "string"},
        },
    },
    "AttributeRelease": {
        "type": "object",
        "required": ["sub", "attributes", "released"],
        "properties": {
            "sub": {"type": "string", "description": "the citizen's pairwise sub for you"},
            "attributes": {
                "type": "object",
                "description": "values in OpenID Connect's shapes (address is an object)",
            },
            "released": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "attribute": {"type": "string"},
                        "legal_basis": _ref("LegalBasis"),
                        "purpose": {"type": "string"},
                    },
                },
            },
        },
    },
    "CprLookup": {
        "type": "object",
        "required": ["cpr", "claims"],
        "additionalProperties": False,
        "properties": {
            "cpr": {"type": "string", "pattern": "^[0-9]{6}-?[0-9]{4}$"},
            "claims": {"type": "array", "minItems": 1, "items": _ref("AttributeName")},
        },
    },
    "LookupReport": {
        "type": "object",
        "description": "Name the citizen by exactly one of sub and cpr.",
        "required": ["attributes", "purpose", "legal_basis", "looked_up_at"],
        "additionalProperties": False,
        "properties": {
            "sub": {"type": "string", "maxLength": 64},
            "cpr": {"type": "string", "pattern": "^[0-9]{6}-?[0-9]{4}$"},
            "attributes": {"type": "array", "minItems": 1, "items": _ref("AttributeName")},
            "purpose": {"type": "string", "minLength": 1, "maxLength": 1000},
            "legal_basis": _ref("LegalBasis"),
            "looked_up_at": {**_TIME, "description": "with its UTC offset; not in the future"},
            "reference": {
                "type": "string",
                "maxLength": 100,
                "description": "your own id: a retry with the same one is the same entry",
            },
            "client_id": {"type": "string", "description": "if given, must be your own"},
        },
    },
    "ReportedEntry": {
        "type": "object",
        "required": ["entry_id", "looked_up_at", "attributes", "purpose", "legal_basis"],
        "properties": {
            "entry_id": {"type": "integer"},
            "reference": _NULLABLE_TEXT,
            "looked_up_at": _TIME,
            "attributes": {"type": "array", "items": {"type": "string"}},
            "purpose": {"type": "string"},
            "legal_basis": {"type": "string"},
        },
    },
    "VerifierKey": {
        "type": "object",
        "required": ["name", "verifier_key", "public_key"],
        "properties": {
            "name": {"type": "string"},
            "verifier_key": {"type": "string", "description": "C2SP note verifier key"},
            "public_key": {"type": "string", "contentEncoding": "base64"},
        },
    },
    "ConsistencyProof": {
        "type": "object",
        "required": ["first", "second", "proof"],
        "properties": {
            "first": {"type": "integer"},
            "second": {"type": "integer"},
            "proof": {"type": "array", "items": {"type": "string"}},
        },
    },
}

_CITIZEN = [{"citizenSession": []}, {"oauth2": ["me"]}]
_CITIZEN_SESSION_ONLY = [{"citizenSession": []}]


def _get(summary: str, ok: dict, *problems: int, security=None, parameters=()) -> dict:
    operation = {"summary": summary, "responses": {"200": ok, **_problems(*problems)}}
    if security is not None:
        operation["security"] = security
    if parameters:
        operation["parameters"] = list(parameters)
    return {"get": operation}


def _query(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _or_empty(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def _path_parameter(name: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _paths() -> dict:
    # Each filter may also be sent empty, meaning no filter (what the page's form sends).
    access_log_filters = [
        _query("service", "client_id of one service"),
        _query("attribute", "one attribute name", _or_empty(_ref("AttributeName"))),
        _query(
            "channel",
            "how it left Tillid",
            _or_empty(SCHEMAS["AccessLogEntry"]["properties"]["channel"]),
        ),
        _query(
            "from",
            "first day, YYYY-MM-DD (a day of DISPLAY_TIMEZONE, as the portal shows times)",
            _or_empty({"type": "string", "format": "date"}),
        ),
        _query(
            "to",
            "last day, YYYY-MM-DD (a day of DISPLAY_TIMEZONE)",
            _or_empty({"type": "string", "format": "date"}),
        ),
        _query("page", "from 1", {"type": "integer", "minimum": 1, "maximum": 100000}),
    ]
    return {
        "/api/me": _get(
            "What Tillid holds about me, and where each attribute comes from",
            _json(_ref("MyData"), "My data (the CPR number masked)"),
            401,
            403,
            security=_CITIZEN,
        ),
        "/api/me/consents": _get(
            "What I have agreed to share, per service",
            _json(
                {
                    "type": "object",
                    "properties": {"consents": {"type": "array", "items": _ref("Consent")}},
                },
                "My consents",
            ),
            401,
            403,
            security=_CITIZEN,
        ),
        "/api/me/consents/{client_id}": {
            "delete": {
                "summary": "Withdraw my consent to one service (also ends its refresh tokens)",
                "description": "The citizen's browser only, with the CSRF token in X-CSRFToken.",
                "security": _CITIZEN_SESSION_ONLY,
                "parameters": [_path_parameter("client_id", {"type": "string"})],
                "responses": {"204": {"description": "Withdrawn"}, **_problems(400, 401, 403, 404)},
            }
        },
        "/api/me/sessions": _get(
            "Where I am logged in",
            _json(
                {
                    "type": "object",
                    "properties": {"sessions": {"type": "array", "items": _ref("Session")}},
                },
                "My sessions",
            ),
            401,
            403,
            security=_CITIZEN,
        ),
        "/api/me/authenticators": _get(
            "How I log in: my authenticator apps and passkeys",
            _json(
                {
                    "type": "object",
                    "properties": {
                        "authenticators": {"type": "array", "items": _ref("Authenticator")}
                    },
                },
                "My authenticators",
            ),
            401,
            403,
            security=_CITIZEN,
        ),
        "/api/me/access-log": _get(
            "Who received my information: newest first, 20 per page, each verified",
            _json(_ref("AccessLogPage"), "One page of my access log"),
            400,
            401,
            403,
            security=_CITIZEN,
            parameters=access_log_filters,
        ),
        "/api/me/access-log/summary": _get(
            "Who received my information in the last 12 months: per service and per attribute",
            _json(_ref("AccessLogSummary"), "Counts per service and per attribute"),
            401,
            403,
            security=_CITIZEN,
        ),
        "/api/me/access-log/{entry_id}/proof": {
            **_get(
                "The inclusion proof of one of my entries against the latest checkpoint",
                _json(_ref("InclusionProof"), "Proof, checkpoint and verifier key"),
                401,
                403,
                404,
                503,
                security=_CITIZEN,
                parameters=[_path_parameter("entry_id", {"type": "integer", "minimum": 1})],
            ),
        },
        "/api/citizens/{sub}/attributes": _get(
            "Attributes of a citizen you know by the pairwise sub Tillid gave you",
            _json(_ref("AttributeRelease"), "The attributes released, and ledgered"),
            400,
            401,
            403,
            404,
            security=[{"oauth2": ["attributes:read"]}],
            parameters=[
                # As Tillid hands them out: base64url, no padding (a SHA-256 is 43 characters).
                _path_parameter("sub", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
                {
                    "name": "claims",
                    "in": "query",
                    "required": True,
                    "description": "attribute names, comma-separated or repeated",
                    "schema": {"type": "string"},
                },
            ],
        ),
        "/api/citizens/by-cpr/attributes": {
            "post": {
                "summary": "Attributes of a citizen named by CPR number (in the body, not the URL)",
                "security": [{"oauth2": ["attributes:read"]}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("CprLookup")}},
                },
                "responses": {
                    "200": _json(_ref("AttributeRelease"), "The attributes released, and ledgered"),
                    **_problems(400, 401, 403, 404),
                },
            }
        },
        "/api/ledger/reports": {
            "post": {
                "summary": "Report a lookup made in your own systems, for the citizen's log",
                "security": [{"oauth2": ["ledger:report"]}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("LookupReport")}},
                },
                "responses": {
                    "201": _json(_ref("ReportedEntry"), "Ledgered"),
                    "200": _json(_ref("ReportedEntry"), "Already reported with this reference"),
                    **_problems(400, 401, 403, 404, 409),
                },
            }
        },
        "/ledger/checkpoint": {
            "get": {
                "summary": "The latest signed checkpoint (C2SP signed note)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The note",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_problems(404),
                },
            }
        },
        "/ledger/key": _get(
            "The verifier key of the checkpoint signatures",
            _json(_ref("VerifierKey"), "The key"),
            404,
            security=[],
        ),
        "/ledger/proof/consistency": _get(
            "RFC 9162 consistency proof between two signed tree sizes",
            _json(_ref("ConsistencyProof"), "The proof"),
            400,
            security=[],
            parameters=[
                {
                    **_query("first", "older tree size", {"type": "integer", "minimum": 1}),
                    "required": True,
                },
                {
                    **_query("second", "newer tree size", {"type": "integer", "minimum": 1}),
                    "required": True,
                },
            ],
        ),
        "/api/openapi.json": _get(
            "This document", _json({"type": "object"}, "OpenAPI 3.1"), security=[]
        ),
    }


def _rate_limited(paths: dict) -> dict:
    """Every guarded /api/ operation may answer 429 (idp/rate_limits.py)."""
    for path, operations in paths.items():
        if path.startswith("/api/") and path != "/api/openapi.json":
            for operation in operations.values():
                operation["responses"].update(_problems(429))
    return paths


def document() -> dict:
    issuer = current_app.config["ISSUER"]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Tillid APIs",
            "version": "1",
            "description": (
                "The citizen's own account (/api/me), the authorities' attribute and report "
                "APIs, and the public ledger. Errors are RFC 9457 problem details. "
                f"OAuth and OpenID Connect: see {issuer}/.well-known/openid-configuration."
            ),
        },
        "servers": [{"url": issuer}],
        "paths": _rate_limited(_paths()),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "description": (
                        "Access tokens from Tillid's token endpoint (RFC 9068 JWTs), as "
                        "`Authorization: Bearer`; a DPoP-bound token (RFC 9449) as "
                        "`Authorization: DPoP` with a `DPoP` proof header for each request."
                    ),
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": f"{issuer}/token",
                            "scopes": {
                                "attributes:read": "Read citizens' attributes (authorities)",
                                "ledger:report": "Report lookups to the access ledger",
                            },
                        },
                        "authorizationCode": {
                            "authorizationUrl": f"{issuer}/authorize",
                            "tokenUrl": f"{issuer}/token",
                            "scopes": {"me": "Read the citizen's Tillid account (by consent)"},
                        },
                    },
                },
                "citizenSession": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Host-tillid_sso",
                    "description": "The citizen's login (tillid_sso on plain-http development).",
                },
            },
        },
    }


@bp.get("/api/openapi.json")
@limiter.exempt
def openapi_json():
    response = jsonify(document())
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
