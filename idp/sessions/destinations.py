"""Which service a page's form may lead back to: the redirect URI of an authorization request
on this site, checked against its client's registration (the login, security and phone pages
name that service's origin in their `form-action`)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from clients import cache as client_cache
from clients.models import Client
from idp.sessions import pushed_requests


def verified_redirect_uri(authorize_url: str) -> str | None:
    """The redirect URI of an authorization request on this site, if registered for its
    client; else None. Tells a page which service its form may lead back to."""
    found = _verified_request(authorize_url)
    return found[1] if found is not None else None


def requesting_client(authorize_url: str) -> Client | None:
    """The enabled client of an authorization request on this site whose redirect URI it
    registered (a read-only copy); else None. Tells a login page which service it is for."""
    found = _verified_request(authorize_url)
    return found[0] if found is not None else None


def _verified_request(authorize_url: str) -> tuple[Client, str] | None:
    if not isinstance(authorize_url, str):
        return None
    parts = urlsplit(authorize_url)
    if parts.path != "/authorize":
        return None
    query = dict(parse_qsl(parts.query))
    if "request_uri" in query:  # a pushed request (RFC 9126): its own parameters count
        query = pushed_requests.peek(query["request_uri"], query.get("client_id")) or {}
    client_id = query.get("client_id")
    # A NUL (say from a percent-decoded query) is in no client id, and PostgreSQL refuses it.
    readable = isinstance(client_id, str) and "\x00" not in client_id
    client = client_cache.get(client_id) if readable else None
    redirect_uri = query.get("redirect_uri")
    if client is None or not client.enabled or not redirect_uri:
        return None
    return (client, redirect_uri) if redirect_uri in client.redirect_uris else None
