"""Erasure (GDPR Art. 17): an entry's content goes, its leaf stays, so the log still
verifies."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from consent.ledger.models import LedgerEntry, LedgerReference
from idp.core.dbtypes import utcnow
from idp.core.extensions import db


def erase(citizen_id: str, retention: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Drop the content and salt of the citizen's entries older than ``retention``. The
    commitments (the leaves) stay, so the tree, every checkpoint and every other citizen's
    proof still verify; the erased entry's own content can no longer be shown or checked."""
    cutoff = (now or utcnow()) - retention
    entries = db.session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.citizen_id == citizen_id,
            LedgerEntry.released_at < cutoff,
            LedgerEntry.erased_at.is_(None),
        )
    ).all()
    for entry in entries:
        entry.attributes = entry.purpose = entry.legal_basis = entry.request_id = None
        entry.reference = None
        entry.representation = None  # names the other person
        entry.salt = None
        entry.erased_at = utcnow()
    if entries:
        db.session.execute(
            delete(LedgerReference).where(LedgerReference.entry_id.in_([e.id for e in entries]))
        )
    db.session.commit()
    return len(entries)
