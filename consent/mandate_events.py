"""A citizen's mandates in the access log: giving, accepting, appointing and ending one is an
entry in both people's logs (docs/representation.md), provable like any release.

The ledger names a registered client as the other party of every entry; for these, that is
Tillid itself (`clients.service.tillid_itself`, a disabled row no token is ever issued to).
The entry names what the mandate covers (`attributes`) and, in `representation`, the other
person, the mandate and the event.
"""

from __future__ import annotations

from clients import service as client_registry
from clients.claims import LegalBasis
from consent import ledger
from idp.citizens.models import Citizen
from idp.core.extensions import db
from idp.mandates.models import Mandate, Origin

GRANTED, ACCEPTED, APPOINTED, ENDED = "granted", "accepted", "appointed", "ended"
EVENTS = (GRANTED, ACCEPTED, APPOINTED, ENDED)

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


def record(mandate: Mandate, event: str) -> None:
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
    for whose, representation in (
        (principal.id, {"role": "principal", "agent": agent.full_name, **common}),
        (agent.id, {"role": "agent", "principal": principal.full_name, **common}),
    ):
        ledger.append(citizen_id=whose, client=tillid, channel=ledger.Channel.MANDATE,
                      attributes=list(mandate.attributes), purpose=purpose,
                      legal_basis=basis, representation=representation)  # fmt: skip
