"""CORS for public clients that run in the browser (single-page apps using PKCE).

Only a client registered with `token_endpoint_auth_method=none` can run in a browser, and
only from the origins of its registered redirect URIs. So the token, revocation, userinfo
and pushed-request endpoints answer cross-origin requests from exactly those origins, for that
client's own requests; confidential clients (server side) get no CORS at all. No cookies
are ever allowed cross-origin (no Access-Control-Allow-Credentials).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import current_app, request
from sqlalchemy import select

from clients.models import PUBLIC_CLIENT_AUTH, Client
from idp.core.extensions import db

PREFLIGHT_MAX_AGE_SECONDS = 600


def _origin(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def browser_origins(client: Client | None) -> set[str]:
    """The origins ``client`` may call from in a browser: none unless it is public."""
    if client is None or not client.enabled or not client.is_public:
        return set()
    return {_origin(uri) for uri in client.redirect_uris}


def allow_for(response, client_of_request: Callable[[], Client | None]):
    """Let the browser read ``response`` if it answers the requesting client's own page.
    The client is looked up only for a cross-origin request (most calls come from servers)."""
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if origin and origin in browser_origins(client_of_request()):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "WWW-Authenticate, DPoP-Nonce"
    return response


def preflight(methods: str):
    """Answer a preflight: allowed for an origin of some enabled public client."""
    response = current_app.make_response(("", 204))
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    public = db.session.scalars(
        select(Client).where(
            Client.disabled_at.is_(None), Client.token_endpoint_auth_method == PUBLIC_CLIENT_AUTH
        )
    )
    if origin and any(origin in browser_origins(client) for client in public):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, DPoP"
        response.headers["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
    return response
