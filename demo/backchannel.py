"""A demo service's side of Back-Channel Logout 1.0: validate a logout token (2.6) and
remember which of its sessions have ended, so its next request finds them logged out.

The demo keeps its sessions in signed cookies, which it cannot reach from Tillid's POST: it
keeps, in memory, the `sid` values (and the `sub` values, for a token without `sid`) whose
sessions have ended, and each request checks its session against them (``ended``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TOKEN_TYPE = "logout+jwt"  # noqa: S105 (a JWT type, no secret)
# What Tillid signs ID tokens (and so logout tokens) with; nothing else is accepted.
ALGORITHMS = ("RS256", "ES256")
CLOCK_SKEW_SECONDS = 60
# How long a jti is remembered: longer than any logout token lives (Tillid's: 2 minutes).
JTI_MEMORY_SECONDS = 10 * 60


class InvalidLogoutToken(ValueError):
    pass


class LogoutReceiver:
    """Validates logout tokens for one service, and keeps what they ended."""

    def __init__(self, issuer: str, client_id: str, key_set: Callable[[bool], KeySet]):
        # key_set(refresh): the IdP's published keys; refresh=True fetches them again (a
        # token signed with a key not seen yet: the IdP may have rotated).
        self.issuer, self.client_id, self.key_set = issuer, client_id, key_set
        self._lock = threading.Lock()
        self._seen_jtis: dict[str, float] = {}
        self._ended_sids: set[str] = set()
        self._ended_subs: dict[str, float] = {}

    def _verify(self, token: str):
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError) as exc:
            raise InvalidLogoutToken(f"not a JWS: {exc}") from None
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidLogoutToken(f"typ is not {TOKEN_TYPE}")
        if header.get("alg") not in ALGORITHMS:
            raise InvalidLogoutToken("not signed with an accepted algorithm")
        for refresh in (False, True):
            keys = self.key_set(refresh)
            if not any(key.kid == header.get("kid") for key in keys.keys):
                continue  # a key not seen yet: fetch the set again, once
            try:
                return jwt.decode(token, keys, algorithms=list(ALGORITHMS)).claims
            except (JoseError, ValueError) as exc:
                raise InvalidLogoutToken(f"bad signature: {exc}") from None
        raise InvalidLogoutToken("signed with a key the IdP does not publish")

    def validate(self, token: str) -> dict:
        """The token's claims, once every rule of Back-Channel Logout 1.0 2.6 holds."""
        claims = self._verify(token)
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise InvalidLogoutToken("wrong issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.client_id not in audiences:
            raise InvalidLogoutToken("not meant for this service")
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int | float) or iat > now + CLOCK_SKEW_SECONDS:
            raise InvalidLogoutToken("no iat, or one in the future")
        if not isinstance(exp, int | float) or exp < now - CLOCK_SKEW_SECONDS:
            raise InvalidLogoutToken("no exp, or expired")
        if not claims.get("sub") and not claims.get("sid"):
            raise InvalidLogoutToken("neither sub nor sid")
        events = claims.get("events")
        if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
            raise InvalidLogoutToken("no back-channel logout event")
        if "nonce" in claims:
            raise InvalidLogoutToken("a nonce: this is no logout token")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise InvalidLogoutToken("no jti")
        with self._lock:
            self._seen_jtis = {j: t for j, t in self._seen_jtis.items() if t > now}
            if jti in self._seen_jtis:
                raise InvalidLogoutToken("replayed (jti seen before)")
            self._seen_jtis[jti] = now + JTI_MEMORY_SECONDS
        return claims

    def receive(self, token: str) -> None:
        """Validate the token and end the sessions it names: the one with its `sid`, or,
        without one, every session of its `sub` that began before the token."""
        claims = self.validate(token)
        with self._lock:
            if claims.get("sid"):
                self._ended_sids.add(claims["sid"])
            else:
                self._ended_subs[claims["sub"]] = claims["iat"]

    def ended(self, id_token: dict, logged_in_at: float) -> bool:
        """Whether the session that received ``id_token`` (at ``logged_in_at``) has ended."""
        with self._lock:
            if id_token.get("sid") in self._ended_sids:
                return True
            ended_at = self._ended_subs.get(id_token.get("sub"))
            return ended_at is not None and logged_in_at <= ended_at
