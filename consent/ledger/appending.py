"""The one write a release makes to the ledger: an entry in the caller's transaction. It has
no leaf yet; the sequencer gives it one and signs it into a checkpoint."""

from __future__ import annotations

import datetime as dt
import secrets

from flask import g
from sqlalchemy import select

from clients.models import Client
from consent.ledger.models import Channel, LedgerEntry, LedgerReference
from idp.core.dbtypes import utcnow
from idp.core.extensions import db


def append(
    *,
    citizen_id: str,
    client: Client,
    channel: Channel,
    attributes: list[str],
    purpose: str,
    legal_basis: str,
    released_at: dt.datetime | None = None,
    reference: str | None = None,
    token_valid_until: dt.datetime | None = None,
) -> LedgerEntry:
    """Add an entry to the caller's transaction: it commits with the release, or not at all.
    ``token_valid_until``: a release under an access token (userinfo), until when it is valid."""
    entry = LedgerEntry(
        citizen_id=citizen_id,
        client_id=client.client_id,
        client_name=client.name,
        client_kind=str(client.kind),
        channel=channel,
        attributes=list(attributes),
        purpose=purpose,
        legal_basis=str(legal_basis),
        request_id=g.get("request_id"),
        released_at=released_at or utcnow(),
        reference=reference,
        token_valid_until=token_valid_until,
        salt=secrets.token_bytes(32),
    )
    entry.commitment = entry.committed()
    db.session.add(entry)
    if reference is not None:
        db.session.flush()  # the entry's id, for its reference
        db.session.add(
            LedgerReference(client_id=client.client_id, reference=reference, entry_id=entry.id)
        )
    return entry


def referenced(client_id: str, reference: str) -> LedgerEntry | None:
    """The entry an authority reported under ``reference``, if any (a retried report is the
    same entry, not a second one)."""
    entry_id = db.session.scalar(
        select(LedgerReference.entry_id).where(
            LedgerReference.client_id == client_id, LedgerReference.reference == reference
        )
    )
    return db.session.get(LedgerEntry, entry_id) if entry_id is not None else None
