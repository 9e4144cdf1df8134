"""The citizen's reads of their log: a page of entries with filters, every entry for the
export, and the services in it. Entries are shown as they are stored, pending ones too."""

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
                until: dt.datetime | None = None, page: int = 1,
                per_page: int = 20) -> tuple[list[LedgerEntry], int]:  # fmt: skip
    """One page of the citizen's entries, newest first, and how many match in all."""
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
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    items = db.session.scalars(
        query.order_by(*_NEWEST_FIRST).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(items), total


def clients_in_log(citizen_id: str) -> list[tuple[str, str]]:
    """(client id, name) of every service in the citizen's log, for the filter."""
    rows = db.session.execute(
        select(LedgerEntry.client_id, LedgerEntry.client_name)
        .where(LedgerEntry.citizen_id == citizen_id)
        .distinct()
        .order_by(LedgerEntry.client_name)
    ).all()
    return [tuple(row) for row in rows]
