"""Refresh tokens: opaque, stored hashed, rotated on every use; a reused one kills its family.

A family is every token descended from one login; when a rotated token comes back, either
the client or a thief holds a copy, so the whole family is revoked (RFC 9700 4.14.2).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from flask import current_app
from sqlalchemy import JSON, ForeignKey, String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.dbtypes import UTCDateTime, utcnow
from idp.core.extensions import db, store
from idp.oidc import tokens


class RefreshToken(db.Model):
    __tablename__ = "refresh_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("client.client_id", ondelete="CASCADE"), index=True
    )
    citizen_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(Text)
    auth_time: Mapped[int]
    acr: Mapped[str] = mapped_column(String(100))
    amr: Mapped[list] = mapped_column(JSON, default=list)
    # Claims asked for by name for userinfo (the `claims` parameter), kept across refreshes.
    userinfo_claims: Mapped[list] = mapped_column(JSON, default=list)
    # A public client's token is bound to its DPoP key (RFC 9449 5): the key's thumbprint.
    dpop_jkt: Mapped[str | None] = mapped_column(String(43))
    # While an agent acts for the citizen (the principal): the mandate, checked on every use,
    # and the agent (docs/representation.md).
    mandate_id: Mapped[str | None] = mapped_column(String(32))
    agent_id: Mapped[str | None] = mapped_column(String(36))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    # Authlib's TokenMixin, for the refresh grant and the revocation endpoint.
    def check_client(self, client) -> bool:
        return self.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - utcnow()).total_seconds()))

    def is_expired(self) -> bool:
        return self.expires_at <= utcnow()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None or self.used_at is not None

    @property
    def acting(self) -> dict | None:
        if self.mandate_id is None:
            return None
        return {"mandate_id": self.mandate_id, "agent_id": self.agent_id}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue(*, client_id: str, scope: str, login, family_id: str | None = None,
          dpop_jkt: str | None = None, access_token: str | None = None) -> str:  # fmt: skip
    """A new refresh token. ``login`` is the authorization code or refresh token it comes
    from: its citizen, and the login's time, level, methods and requested userinfo claims
    carry over. ``dpop_jkt`` binds it to a public client's DPoP key; ``access_token``, the
    one issued with it, ends with its family."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    family_id = family_id or secrets.token_hex(16)
    if access_token is not None:
        bind_access_token(family_id, access_token)
    db.session.add(
        RefreshToken(
            token_hash=_hash(token),
            family_id=family_id,
            client_id=client_id,
            citizen_id=login.citizen_id,
            scope=scope,
            auth_time=login.auth_time,
            acr=login.acr,
            amr=login.amr,
            userinfo_claims=list(login.userinfo_claims),
            dpop_jkt=dpop_jkt,
            mandate_id=(login.acting or {}).get("mandate_id"),
            agent_id=(login.acting or {}).get("agent_id"),
            issued_at=now,
            expires_at=now + dt.timedelta(seconds=current_app.config["REFRESH_TOKEN_SECONDS"]),
        )
    )
    db.session.commit()
    return token


def find(token: str) -> RefreshToken | None:
    return db.session.scalar(select(RefreshToken).where(RefreshToken.token_hash == _hash(token)))


def redeem(token: str, client_id: str) -> RefreshToken | None:
    """Use a refresh token once. The check and the mark are one statement, so two
    concurrent uses cannot both win; a second use revokes the family."""
    now = utcnow()
    claimed = db.session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == _hash(token),
            RefreshToken.client_id == client_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(used_at=now)
    )
    db.session.commit()
    record = find(token)
    if claimed.rowcount == 1:
        return record
    if record is not None and record.client_id == client_id and record.used_at is not None:
        revoke_family(record.family_id)
    return None


def live(token: str, client_id: str) -> RefreshToken | None:
    """A refresh token that stays valid when used (not rotated; FAPI 2.0 5.3.2.1 asks for
    that: a sender-constrained refresh token gains little from rotation, and a lost answer
    would otherwise cost the client its grant). Revocation still ends it, and its family."""
    found = find(token)
    if (
        found is None
        or found.client_id != client_id
        or found.used_at is not None
        or found.revoked_at is not None
        or found.expires_at <= utcnow()
    ):
        return None
    return found


def _family_tokens_key(family_id: str) -> str:
    return store.key("refresh-family-tokens", family_id)


def bind_access_token(family_id: str, access_token: str) -> None:
    """List an access token under the refresh-token family it was issued with (RFC 7009
    2.1: revoking the grant's refresh token ends its access tokens too)."""
    key = _family_tokens_key(family_id)
    pipe = store.redis.pipeline(transaction=True)  # one key: one slot, on a cluster too
    pipe.sadd(key, tokens.jti_of(access_token))
    pipe.expire(key, current_app.config["ACCESS_TOKEN_SECONDS"])  # the newest outlives the rest
    pipe.execute()


def revoke_family(family_id: str) -> None:
    """Revoke every refresh token of the family, and the access tokens issued with them."""
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.session.commit()
    key = _family_tokens_key(family_id)
    for jti in store.redis.smembers(key):
        tokens.revoke_access_token(jti.decode())
    store.redis.delete(key)


def revoke_for(citizen_id: str, client_id: str) -> int:
    """Revoke every live refresh token ``client_id`` holds for ``citizen_id``."""
    revoked = db.session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.citizen_id == citizen_id,
            RefreshToken.client_id == client_id,
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    db.session.commit()
    return revoked.rowcount
