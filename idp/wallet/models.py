"""StatusList and CredentialStatus: which index of which Token Status List each credential has."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.dbtypes import UTCDateTime, utcnow
from idp.core.extensions import db


def _list_id() -> str:
    # Random, not a counter: the URL tells a verifier nothing about how many lists exist.
    return secrets.token_urlsafe(12)


class StatusList(db.Model):
    """One Token Status List (draft-ietf-oauth-status-list) of ``size`` one-bit entries,
    served at /wallet/status/<id>. ``allocated`` counts the indexes handed out, so a full
    list is seen in one row and a new one opened."""

    __tablename__ = "wallet_status_list"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_list_id)
    size: Mapped[int] = mapped_column(Integer)
    allocated: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CredentialStatus(db.Model):
    """The status entry of one issued credential: revoked once ``revoked_at`` is set.

    The row outlives the citizen (citizen_id is then NULL): a deleted person's credentials
    must still read as revoked, never fall back to valid with a cleared bit.
    """

    __tablename__ = "wallet_credential_status"
    __table_args__ = (UniqueConstraint("list_id", "idx"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    list_id: Mapped[str] = mapped_column(ForeignKey("wallet_status_list.id"))
    idx: Mapped[int] = mapped_column(Integer)
    citizen_id: Mapped[str | None] = mapped_column(
        ForeignKey("citizen.id", ondelete="SET NULL"), index=True
    )
    # RFC 7638 thumbprint of the wallet key the credential is bound to (cnf.jwk): which
    # device holds it, for the citizen's list of credentials.
    holder_key_thumbprint: Mapped[str] = mapped_column(String(64))
    # The registered wallet (client kind `wallet`) it was issued to: the recipient its
    # issuance and revocation are ledgered against. NULL once that registration is deleted.
    client_id: Mapped[str | None] = mapped_column(
        ForeignKey("client.client_id", ondelete="SET NULL")
    )
    credential_format: Mapped[str] = mapped_column(
        String(16), default="dc+sd-jwt", server_default="dc+sd-jwt"
    )
    # The claim registry's names of the citizen's attributes it carries (the access log's).
    attributes: Mapped[list] = mapped_column(JSON, default=list, server_default="[]")
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
