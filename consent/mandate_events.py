"""A citizen's mandates in the access log: giving, accepting, appointing and ending one is an
entry in both people's logs (docs/representation.md), provable like any release.

The ledger names a registered client as the other party of every entry; for these, that is
Tillid itself (`clients.service.tillid_itself`, a disabled row no token is ever issued to).
The entry names what the mandate covers (`attributes`) and, in `representation`, the other
person, the mandate and the event.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from clients import service as client_registry
from clients.claims import LegalBasis
from consent import ledger
from idp.citizens.models import Citizen
from idp.core.dbtypes import utcnow
from idp.core.extensions import db, store
from idp.mandates.models import Mandate, Origin

GRANTED, ACCEPTED, APPOINTED, ENDED = "granted", "accepted", "appointed", "ended"
# Its end date passed (a power of attorney's, a custody's at the child's 18th birthday): no
# one ended it, so `record_expiries` notices it, after the fact.
EXPIRED = "expired"
EVENTS = (GRANTED, ACCEPTED, APPOINTED, ENDED, EXPIRED)
# How often the workers look for mandates past their end date (one of them, by a lock in the
# store): an expiry shows in both logs within about this long of the moment it took effect.
# Whether a mandate is in force is decided by its dates on every use, not by this entry.
EXPIRIES_EVERY_SECONDS = 60
# Mandates recorded per transaction: a day of 18th birthdays (~180 at national size) is one.
_EXPIRIES_BATCH = 500

# Why Tillid records the mandate, per origin: a power of attorney because the principal
# gave it; custody and guardianship because the law makes them (the register's extract, an
# authority's decision) and Tillid must honour them.
_BASIS = {
    Origin.GRANTED: (LegalBasis.CONSENT, "A mandate you gave or were given, to act at services"),
    Origin.CUSTODY: (
        LegalBasis.LEGAL_OBLIGATION,
        "Parental custody, as the population register shows it (the Parental Responsibility Act)",
    ),
    Origin.GUARDIANSHIP: (
        LegalBasis.LEGAL_OBLIGATION,
        "A guardianship an authority appointed (the Guardianship Act)",
    ),
}


def record(mandate: Mandate, event: str, *, expired_at: dt.datetime | None = None) -> None:
    """``event`` happened to ``mandate``: an entry in the principal's and in the agent's log,
    made durable by the caller's ``ledger.commit()``."""
    if event not in EVENTS:
        raise ValueError(f"no mandate event {event!r}")
    principal = db.session.get(Citizen, mandate.principal_id)
    agent = db.session.get(Citizen, mandate.agent_id)
    if principal is None or agent is None:
        return  # a person deleted since: their log is gone, and the other's names no one
    basis, purpose = _BASIS[Origin(mandate.origin)]
    tillid = client_registry.tillid_itself()
    common = {"mandate_id": mandate.id, "origin": str(mandate.origin), "event": event}
    if expired_at is not None:  # the entry is written after the fact: it says when
        common["expired_at"] = expired_at.isoformat()
    for whose, representation in (
        (principal.id, {"role": "principal", "agent": agent.full_name, **common}),
        (agent.id, {"role": "agent", "principal": principal.full_name, **common}),
    ):
        ledger.append(citizen_id=whose, client=tillid, channel=ledger.Channel.MANDATE,
                      attributes=list(mandate.attributes), purpose=purpose,
                      legal_basis=basis, representation=representation)  # fmt: skip


def record_expiries(now: dt.datetime | None = None) -> int:
    """Write, in both people's logs, every mandate whose end date has passed and that no one
    ended; each once (``expiry_recorded_at``). Returns how many.

    Each is claimed first (a conditional UPDATE, so two workers never both record one), then
    recorded; if the entries cannot be written, the claim is undone for the next round."""
    now = now or utcnow()
    recorded = 0
    while True:
        due = db.session.scalars(
            select(Mandate)
            .where(
                Mandate.valid_until <= now,
                Mandate.ended_at.is_(None),
                Mandate.expiry_recorded_at.is_(None),
            )
            .order_by(Mandate.valid_until)
            .limit(_EXPIRIES_BATCH)
        ).all()
        claimed = []
        for mandate in due:
            won = db.session.execute(
                update(Mandate)
                .where(Mandate.id == mandate.id, Mandate.expiry_recorded_at.is_(None))
                .values(expiry_recorded_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if won:
                claimed.append(mandate)
                record(mandate, EXPIRED, expired_at=mandate.valid_until)
        try:
            ledger.commit()
        except ledger.LedgerNotRecorded:
            db.session.execute(
                update(Mandate)
                .where(Mandate.id.in_([m.id for m in claimed]))
                .values(expiry_recorded_at=None)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()
            raise
        recorded += len(claimed)
        if len(due) < _EXPIRIES_BATCH:
            return recorded


def record_expiries_now_and_then() -> int:
    """`record_expiries`, at most once every EXPIRIES_EVERY_SECONDS across every worker."""
    if not store.redis.set(store.key("mandate-expiries"), 1, nx=True, ex=EXPIRIES_EVERY_SECONDS):
        return 0
    return record_expiries()
