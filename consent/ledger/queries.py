"""The citizen's reads of their log: a page of entries with filters, and every entry for
the export (the services in the log come with the page's summary pass, in
idp/account/access_summary.py). Entries are shown as they are stored, pending ones too."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Text, func, select

from consent.ledger.models import LedgerEntry
from idp.core.extensions import db

_NEWEST_FIRST = (LedgerEntry.released_at.desc(), LedgerEntry.id.desc())


def every_entry_of(citizen_id: str):
    """All of the citizen's entries, newest first, streamed (the export)."""
    query = (
        select(LedgerEntry)
        .where(LedgerEntry.citizen_id == citizen_id)
        .order_by(*_NEWEST_FIRST)
        .execution_options(yield_per=500)
    )
    yield from db.session.scalars(query)


def entries_for(citizen_id: str, *, client_id: str | None = None, attribute: str | None = None,
                channel: str | None = None, since: dt.datetime | None = None,
                until: dt.datetime | None = None, page: int = 1, per_page: int = 20,
                count: bool = True) -> tuple[list[LedgerEntry], int | None]:  # fmt: skip
    """One page of the citizen's entries, newest first, and how many match in all (None
    without ``count``: a caller that knows it already, the unfiltered page's from its
    summary pass)."""
    query = select(LedgerEntry).where(LedgerEntry.citizen_id == citizen_id)
    if client_id:
        query = query.where(LedgerEntry.client_id == client_id)
    if attribute:
        # JSON text on both databases: the quoted name is an exact element match.
        query = query.where(LedgerEntry.attributes.cast(Text).contains(json.dumps(attribute)))
    if channel:
        query = query.where(LedgerEntry.channel == channel)
    if since:
        query = query.where(LedgerEntry.released_at >= since)
    if until:
        query = query.where(LedgerEntry.released_at < until)
    total = db.session.scalar(select(func.count()).select_from(query.subquery())) if count else None
    items = db.session.scalars(
        query.order_by(*_NEWEST_FIRST).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(items), total
