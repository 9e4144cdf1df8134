"""SigningKey: one asymmetric key that signs, for its purpose (tokens or wallet credentials)
and algorithm."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.dbtypes import UTCDateTime, utcnow
from idp.core.extensions import db


class SigningKey(db.Model):
    """Published from creation; signs from ``activates_at``; retired at ``retired_at``.

    A key is published before it signs (relying parties refresh their JWKS caches in the
    grace period) and after it stops signing, until what it signed has expired.
    """

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)  # RFC 7638 thumbprint
    alg: Mapped[str] = mapped_column(String(10), index=True)
    # "token" (ID and access tokens, /jwks) or "credential" (wallet credentials and their
    # status lists, /.well-known/jwt-vc-issuer): never one key for both, so either set can
    # be rotated, published and, if need be, revoked without touching the other.
    purpose: Mapped[str] = mapped_column(String(16), default="token", server_default="token")
    public_jwk: Mapped[str] = mapped_column(Text)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    activates_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
