"""The one write a release makes to the ledger: an entry, made durable by the caller's
``ledger.commit()`` together with the entries of concurrent releases (group_commit.py). It
has no leaf yet; the sequencer gives it one and signs it into a checkpoint. Its commitment
covers `models.entry_content`, the same bytes `LedgerEntry.content` gives when it is read."""

from __future__ import annotations

import datetime as dt
import logging
import secrets

from flask import after_this_request, g, has_request_context
from sqlalchemy import select
from werkzeug.exceptions import InternalServerError

from clients.models import Client
from consent.ledger import group_commit
from consent.ledger.models import (
    Channel,
    LedgerEntry,
    LedgerReference,
    commitment,
    entry_content,
)
from idp.core import metrics
from idp.core.dbtypes import utcnow
from idp.core.extensions import db

log = logging.getLogger(__name__)


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
    representation: dict | None = None,
) -> LedgerEntry | None:
    """An entry for the release the caller is making: it waits for the caller's
    ``ledger.commit()``, which commits the caller's transaction and then makes the entry
    durable (group_commit.py); None is returned. An authority's report of its own lookup
    instead joins the caller's transaction, whose commit makes it durable with its unique
    reference: that entry is returned (the report's answer gives its id)."""
    content = {
        "citizen_id": citizen_id,
        "client_id": client.client_id,
        "client_name": client.name,
        "client_kind": str(client.kind),
        "channel": channel,
        "attributes": list(attributes),
        "purpose": purpose,
        "legal_basis": str(legal_basis),
        "request_id": g.get("request_id"),
        "released_at": released_at or utcnow(),
        "reference": reference,
        "token_valid_until": token_valid_until,
        "representation": representation,
    }
    salt = secrets.token_bytes(32)
    # The row as the table stores it, built without an ORM instance: a release's entry is
    # only ever written (by the group committer), and its instance cost a third of an append.
    row = {
        **content,
        "salt": salt,
        "commitment": commitment(salt, entry_content(**content)),
        "leaf_index": None,
        "erased_at": None,
    }
    if channel != Channel.REPORTED_LOOKUP:
        if group_commit.add(row) and has_request_context():
            after_this_request(_refuse_unrecorded)
        return None
    entry = LedgerEntry(**row)
    db.session.add(entry)
    db.session.flush()  # the entry's id, for the answer and its reference
    # Counted once written into the caller's transaction (its commit is the caller's).
    metrics.count_ledger_appends([channel])
    if reference is not None:
        db.session.add(
            LedgerReference(client_id=client.client_id, reference=reference, entry_id=entry.id)
        )
    return entry


def _refuse_unrecorded(response):
    """No successful answer leaves with a release whose entries were never committed (a
    caller that forgot ``ledger.commit()``): a 500 instead, the released data withheld."""
    if response.status_code < 400 and group_commit.has_pending():
        log.error("a release was answered without ledger.commit(); answer withheld")
        return InternalServerError().get_response()
    return response


def referenced(client_id: str, reference: str) -> LedgerEntry | None:
    """The entry an authority reported under ``reference``, if any (a retried report is the
    same entry, not a second one)."""
    entry_id = db.session.scalar(
        select(LedgerReference.entry_id).where(
            LedgerReference.client_id == client_id, LedgerReference.reference == reference
        )
    )
    return db.session.get(LedgerEntry, entry_id) if entry_id is not None else None
