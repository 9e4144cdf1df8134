"""The credentials issued to a citizen's wallets, as the citizen's page and the operator's
`flask wallet` commands see them, and their revocation: the status list's bit and, where the
wallet is still registered, an entry in the citizen's access log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from clients.models import Client
from consent import ledger
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.wallet import ledgering, status_list
from idp.wallet.models import CredentialStatus

VALID, REVOKED, EXPIRED = "valid", "revoked", "expired"
# How much of the holder key's RFC 7638 thumbprint the citizen is shown: enough to tell their
# devices' keys apart (48 bits), short enough to compare with what a wallet shows.
SHORT_KEY = 8


@dataclass(frozen=True)
class Issued:
    entry: CredentialStatus
    wallet: Client | None  # None once the wallet's registration is deleted

    @property
    def status(self) -> str:
        return state_of(self.entry)

    @property
    def short_key(self) -> str:
        return self.entry.holder_key_thumbprint[:SHORT_KEY]


def state_of(entry: CredentialStatus, now: dt.datetime | None = None) -> str:
    if entry.revoked_at is not None:
        return REVOKED
    if entry.expires_at <= (now or utcnow()):
        return EXPIRED
    return VALID


def _with_wallet(*where) -> list[Issued]:
    rows = db.session.execute(
        select(CredentialStatus, Client)
        .outerjoin(Client, Client.client_id == CredentialStatus.client_id)
        .where(*where)
        .order_by(CredentialStatus.issued_at.desc(), CredentialStatus.id.desc())
    ).all()
    return [Issued(entry, wallet) for entry, wallet in rows]


def of_citizen(citizen_id: str) -> list[Issued]:
    """Every credential issued to the citizen's wallets, newest first, with its wallet."""
    return _with_wallet(CredentialStatus.citizen_id == citizen_id)


def owned(citizen_id: str, credential_id: int) -> Issued | None:
    """The citizen's own credential by its id; None for anyone else's or none."""
    found = _with_wallet(
        CredentialStatus.id == credential_id, CredentialStatus.citizen_id == citizen_id
    )
    return found[0] if found else None


def revoke(issued: Issued) -> bool:
    """Revoke one credential: its bit in the status list, and an entry in the citizen's access
    log against the wallet it went to. False (and nothing written) if it was revoked already.

    A credential whose wallet registration has been deleted (client_id NULL) is revoked all
    the same, without a log entry: an entry names its recipient by a registered client
    (the ledger's foreign key), and that wallet no longer is one. Its issuance stays in the
    log, against the wallet as it was registered then."""
    # Read again under a row lock (PostgreSQL; SQLite serialises its writers): of two
    # revocations at once (the citizen's tab and the operator), the second waits, then finds
    # it revoked and writes nothing, so the log has one entry.
    entry = db.session.scalar(
        select(CredentialStatus)
        .where(CredentialStatus.id == issued.entry.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if entry is None or entry.revoked_at is not None:
        db.session.rollback()
        return False
    status_list.revoke(entry)
    if issued.wallet is not None and entry.citizen_id is not None:
        ledgering.revoked(entry.citizen_id, issued.wallet, list(entry.attributes or ()))
    ledger.commit()
    return True


def as_json(issued: Issued) -> dict:
    entry = issued.entry
    return {
        "id": entry.id,
        "issued_at": entry.issued_at.isoformat(),
        "expires_at": entry.expires_at.isoformat(),
        "revoked_at": entry.revoked_at.isoformat() if entry.revoked_at else None,
        "status": issued.status,
        "format": entry.credential_format,
        "wallet": (
            {"client_id": issued.wallet.client_id, "name": issued.wallet.name}
            if issued.wallet is not None
            else None
        ),
        "holder_key_thumbprint": entry.holder_key_thumbprint,
        "attributes": list(entry.attributes or ()),
        "status_list": {"uri": status_list.uri(entry.list_id), "idx": entry.idx},
    }
