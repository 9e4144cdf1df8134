"""The scopes a token may carry: registered ∩ requested ∩ what the grant allows, for every
grant, for PAR and for the guard of Tillid's own APIs.

- **Registered.** A scope asked for that the client's registration does not hold is
  `invalid_scope` (RFC 6749 4.1.2.1, 5.2): never dropped in silence, so a service learns at
  once that it asks for more than it was given.
- **The grant.** A citizen's token (authorization code, CIBA, a refresh of either) carries
  citizen scopes (clients/claims.py SCOPE_CLAIMS), never an API scope: a login by an
  authority registered for both leaves its API scopes out, and the token response's
  `scope` says so (RFC 6749 3.3). A service's own token (client_credentials) carries API
  scopes only; asking it for a citizen scope is `invalid_scope` (there is no citizen).
- **Granted before.** A token issued on an earlier grant (a code, an approved CIBA request,
  a refresh token) carries no more than that grant; a refresh that asks for more is
  `invalid_scope` (RFC 6749 6). What the registration has lost since the grant is left out.
- **Nothing asked.** A refresh keeps what was granted; client_credentials gets the
  registration's API scopes (RFC 6749 3.3's pre-defined default); a login gets none.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidScopeError

from clients.claims import API_SCOPES, CREDENTIAL_SCOPES, SCOPE_CLAIMS
from clients.models import Client
from clients.service import CIBA_GRANT, PRE_AUTHORIZED_GRANT, WALLET_GRANTS

SERVICE_GRANT = "client_credentials"
CITIZEN_GRANTS = ("authorization_code", "refresh_token", CIBA_GRANT, PRE_AUTHORIZED_GRANT)


def _listed(scope) -> list[str] | None:
    """A space-separated scope (or a list), each name once, in order; None when empty."""
    names = scope.split() if isinstance(scope, str) else list(scope or ())
    return list(dict.fromkeys(names)) or None


def _named(names: list[str]) -> str:
    """The scopes for an error description: only names Tillid knows are repeated (a
    description allows no `"` or `\\` (RFC 6749 5.2), and echoes nothing a caller made up)."""
    known = [name for name in names if name in (*SCOPE_CLAIMS, *API_SCOPES, *CREDENTIAL_SCOPES)]
    unknown = len(names) - len(known)
    return " ".join([*known, *([f"({unknown} unknown)"] if unknown else [])])


def _grant_carries(grant: str, name: str) -> bool:
    if grant == SERVICE_GRANT:
        return name in API_SCOPES
    if grant in CITIZEN_GRANTS:
        # A wallet's credential scopes come only with its own grants (registration gives
        # them to wallets alone, idp/wallet/).
        return name in SCOPE_CLAIMS or (grant in WALLET_GRANTS and name in CREDENTIAL_SCOPES)
    raise ValueError(f"no scope rule for the grant {grant!r}")


def grantable_scopes(client: Client, requested, *, grant: str, granted=None) -> list[str]:
    """The scopes a token of ``grant`` (a grant type) for ``client`` may carry, given the
    scope the request names (``requested``: a string, a list or None) and, for a token on
    an earlier grant, what that grant gave (``granted``). Raises InvalidScopeError when the
    request names a scope it may not have."""
    registered = set(client.scopes)
    asked = _listed(requested)
    if asked is not None:
        unregistered = [name for name in asked if name not in registered]
        if unregistered:
            raise InvalidScopeError(f"Not registered for this client: {_named(unregistered)}.")
        if granted is not None:
            beyond = [name for name in asked if name not in set(_listed(granted) or ())]
            if beyond:
                raise InvalidScopeError(f"More than originally granted: {_named(beyond)}.")
        if grant == SERVICE_GRANT and any(name in SCOPE_CLAIMS for name in asked):
            raise InvalidScopeError("client_credentials tokens carry no citizen scopes.")
        candidates = asked
    elif granted is not None:
        candidates = _listed(granted) or []
    elif grant == SERVICE_GRANT:
        candidates = client.scopes
    else:
        candidates = []
    return [name for name in candidates if name in registered and _grant_carries(grant, name)]


def honoured_scopes(client: Client, token_scope: str, *, for_citizen: bool) -> list[str]:
    """Of a live token's scopes, those its client's registration still allows (a scope
    taken away since the token was issued no longer opens an API)."""
    grant = CITIZEN_GRANTS[0] if for_citizen else SERVICE_GRANT
    return grantable_scopes(client, None, grant=grant, granted=token_scope)
