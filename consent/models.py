"""ConsentGrant: what a citizen agreed to give one service, and was told it receives."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.dbtypes import UTCDateTime, utcnow
from idp.core.extensions import db


class ConsentGrant(db.Model):
    __tablename__ = "consent_grant"
    __table_args__ = (UniqueConstraint("citizen_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    citizen_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("client.client_id", ondelete="CASCADE")
    )
    # Consent-based claims the citizen agreed to give.
    claims: Mapped[list] = mapped_column(JSON, default=list)
    # Claims released on another legal basis whose notice the citizen has been shown.
    noticed: Mapped[list] = mapped_column(JSON, default=list)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
