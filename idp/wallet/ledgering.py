"""Every credential issued to a citizen's wallet, and every revocation, in the citizen's access
log: an entry like any release (consent/ledger), against the wallet that received it."""

from __future__ import annotations

from clients.claims import LegalBasis
from clients.models import Client
from consent import ledger

# The PID provider issues on the Member State's obligation (GDPR Art. 6(1)(c)): eIDAS as
# amended by Regulation (EU) 2024/1183, Art. 5a(5)(a) and 5a(18), at the citizen's request.
LEGAL_BASIS = LegalBasis.LEGAL_OBLIGATION
ISSUANCE_PURPOSE = (
    "Your person identification data (PID) in your EU Digital Identity Wallet, issued at"
    " your request as eIDAS (Regulation (EU) 2024/1183, Art. 5a) obliges"
)
REVOCATION_PURPOSE = (
    "A credential in your EU Digital Identity Wallet revoked; wallets and services now see it"
    " as no longer valid"
)


def issued(citizen_id: str, wallet: Client, attributes: list[str]) -> None:
    """An issuance's entry, made durable by the caller's ``ledger.commit()``."""
    ledger.append(citizen_id=citizen_id, client=wallet, channel=ledger.Channel.WALLET_ISSUANCE,
                  attributes=attributes, purpose=ISSUANCE_PURPOSE,
                  legal_basis=LEGAL_BASIS)  # fmt: skip


def revoked(citizen_id: str, wallet: Client, attributes: list[str]) -> None:
    """A revocation's entry, made durable by the caller's ``ledger.commit()``."""
    ledger.append(citizen_id=citizen_id, client=wallet, channel=ledger.Channel.WALLET_REVOCATION,
                  attributes=attributes, purpose=REVOCATION_PURPOSE,
                  legal_basis=LEGAL_BASIS)  # fmt: skip
