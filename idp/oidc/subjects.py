"""Pairwise subject identifiers: one `sub` per citizen and sector, uncorrelatable across sectors.

A `sub` is a keyed hash, so it cannot be turned back into the citizen. The subjects Tillid
has handed out are remembered, so that an authority can later name a citizen by the `sub`
it was given (the attribute and report APIs); a `sub` never handed out finds nobody.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from idp.core import crypto
from idp.core.dbtypes import UTCDateTime, utcnow
from idp.core.extensions import db


class PairwiseSubject(db.Model):
    __tablename__ = "pairwise_subject"

    sector_identifier: Mapped[str] = mapped_column(String(255), primary_key=True)
    sub: Mapped[str] = mapped_column(String(64), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def pairwise_sub(sector_identifier: str, citizen_id: str) -> str:
    digest = crypto.keyed_hash(f"{sector_identifier}\n{citizen_id}", "pairwise-sub")
    return crypto.b64url_encode(bytes.fromhex(digest))


def remember(sector_identifier: str, citizen_id: str) -> str:
    """The citizen's `sub` in the sector, kept so it can be looked up later (idempotent,
    safe under concurrent logins). Joins the caller's transaction."""
    sub = pairwise_sub(sector_identifier, citizen_id)
    row = {"sector_identifier": sector_identifier, "sub": sub, "citizen_id": citizen_id,
           "created_at": utcnow()}  # fmt: skip
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(PairwiseSubject).values(**row).on_conflict_do_nothing())
    return sub


def citizen_id_for(sector_identifier: str, sub: str) -> str | None:
    """Whose `sub` this is in the sector, if Tillid ever handed it out there."""
    return db.session.scalar(
        select(PairwiseSubject.citizen_id).where(
            PairwiseSubject.sector_identifier == sector_identifier, PairwiseSubject.sub == sub
        )
    )
