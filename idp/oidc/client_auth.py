"""Client authentication at every endpoint that takes it (token, introspection, revocation,
PAR, CIBA): which one method a request uses (RFC 6749 2.3), whether the client's
registration accepts it, the check of the credential, and the one refusal, `401
invalid_client` with `WWW-Authenticate` (RFC 6749 5.2), never a 5xx.

A client registered for `client_secret_basic` or `client_secret_post` may use either, as
node oidc-provider and Keycloak allow: relying-party libraries pick one by default (node
openid-client v6 posts the secret). `private_key_jwt`, `none` and FAPI 2.0 clients use only
what they registered.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from urllib.parse import unquote_plus

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion

from clients.models import PUBLIC_CLIENT_AUTH, Client

SECRET_METHODS = ("client_secret_basic", "client_secret_post")
ASSERTION_METHOD = "private_key_jwt"
ASSERTION_TYPE = JWTBearerClientAssertion.CLIENT_ASSERTION_TYPE
_CREDENTIALS = ("client_secret", "client_assertion", "client_assertion_type")
# What an OAuth error description may hold (RFC 6749 5.2): printable ASCII but `"` and `\`.
_NOT_IN_DESCRIPTIONS = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")
_UNREADABLE = "The client credentials are not readable."


class Refused(InvalidClientError):
    """The client is not authenticated: always 401, so the answer carries WWW-Authenticate
    (Authlib adds it to every 401 invalid_client), whichever method was tried."""

    status_code = 401

    def __init__(self, description: str):
        super().__init__(description=_NOT_IN_DESCRIPTIONS.sub("?", description))


@dataclass(frozen=True)
class Presented:
    """The one way a request authenticates its client, and what it says."""

    method: str
    client_id: str
    secret: str | None = None


def accepted_methods(client: Client) -> tuple[str, ...]:
    registered = client.token_endpoint_auth_method
    if registered in SECRET_METHODS and not client.is_fapi:
        return SECRET_METHODS
    return (registered,)


def registration_expects(client: Client) -> str:
    """The refusal that says what the client's registration expects instead."""
    registered = client.token_endpoint_auth_method
    if registered == PUBLIC_CLIENT_AUTH:
        return "This client is registered for none: a public client sends its client_id alone."
    others = [method for method in accepted_methods(client) if method != registered]
    also = f" ({' or '.join(others)} works too)" if others else ""
    return f"This client is registered for {registered}{also}."


def _basic(header: str) -> tuple[str, str]:
    """client_id and secret of `Basic` credentials: base64 of the two form-urlencoded and
    joined by a colon (RFC 6749 2.3.1); anything else is unreadable."""
    try:
        decoded = base64.b64decode(header.strip(), validate=True).decode("utf-8")
        client_id, secret = decoded.split(":", 1)
        client_id = unquote_plus(client_id, errors="strict")
        secret = unquote_plus(secret, errors="strict")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Refused(_UNREADABLE) from None
    if not client_id or not secret:
        raise Refused("Basic credentials need both a client_id and a secret.")
    if not (client_id + secret).isprintable():  # NUL and other controls: in no id or secret
        raise Refused(_UNREADABLE)
    return client_id, secret


def _assertion_subject(assertion: str) -> str:
    """The client an assertion claims to be, read before its signature is checked (to know
    whose keys check it); unreadable assertions are refused here."""
    try:
        _, claims = JWTBearerClientAssertion().extract_assertion(assertion)
    except InvalidClientError as unreadable:
        raise Refused(unreadable.description) from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise Refused("The client assertion names no client in sub.")
    return claims["sub"]


def presented(request) -> Presented:
    """The one method ``request`` authenticates its client with; a refusal for none at all,
    two at once, credentials in the URL or sent twice, and unreadable ones."""
    form, sent = request.form, request.payload.datalist
    if any(name in request.args for name in _CREDENTIALS):
        raise Refused("Send client credentials in the request body, never in the URL.")
    if any(len(sent.get(name, ())) > 1 for name in (*_CREDENTIALS, "client_id")):
        raise Refused("Send each client credential, and client_id, once.")
    basic = None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "basic":
            raise Refused("Authenticate the client with Basic, client_secret_post or a client "
                          "assertion.")  # fmt: skip
        basic = _basic(credentials)
    asserts = "client_assertion" in form or "client_assertion_type" in form
    if sum((basic is not None, "client_secret" in form, asserts)) > 1:
        raise Refused("Use one client authentication method per request (RFC 6749 2.3).")
    body_id = form.get("client_id") or request.args.get("client_id")
    if basic is not None:
        found = Presented("client_secret_basic", basic[0], basic[1])
    elif "client_secret" in form:
        if not body_id or not form["client_secret"]:
            raise Refused("client_secret_post needs both client_id and client_secret.")
        found = Presented("client_secret_post", body_id, form["client_secret"])
    elif asserts:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise Refused(f"client_assertion_type must be {ASSERTION_TYPE}.")
        if not form.get("client_assertion"):
            raise Refused("client_assertion is missing.")
        found = Presented(ASSERTION_METHOD, _assertion_subject(form["client_assertion"]))
    elif body_id:
        found = Presented(PUBLIC_CLIENT_AUTH, body_id)
    else:
        raise Refused("Authenticate the client (a public client sends its client_id).")
    if body_id and body_id != found.client_id:
        raise Refused("client_id is not the client the credentials are for.")
    return found


def authenticate(request, methods, *, query_client, assertion: JWTBearerClientAssertion):
    """The client ``request`` authenticates as, with one of ``methods`` (what the endpoint or
    grant takes), or a refusal. The registration is checked before the credential, so a
    wrong method is named as such and an assertion's `jti` is not spent on it."""
    found = presented(request)
    client = query_client(found.client_id)
    if client is None:
        raise Refused("No enabled client is registered with this client_id.")
    if found.method not in accepted_methods(client.client):
        raise Refused(registration_expects(client.client))
    if found.method not in methods:  # only ever `none`: every endpoint takes the others
        raise Refused("This request needs an authenticated client: a public client cannot "
                      "make it.")  # fmt: skip
    if found.method in SECRET_METHODS and not client.check_client_secret(found.secret):
        raise Refused("The client secret is wrong.")
    if found.method == ASSERTION_METHOD:
        try:
            client = assertion(query_client, request)
        except InvalidClientError as refused:
            raise Refused(refused.description or "The client assertion is not valid.") from None
    request.auth_method = found.method
    return client
