"""What a public authority may be given without the citizen, and how a lookup it reports is
recorded: the decisions behind the authorities' APIs (their HTTP side: idp/api/authority.py).

- Attributes: only those the authority's registration allows on a basis other than consent
  (the citizen takes no part in the lookup); each release is ledgered, channel
  `attribute_api`, by the caller's ``ledger.commit()`` before the answer.
- Reported lookups: a lookup the authority made in its own systems, ledgered (channel
  `reported_lookup`) so that it appears in the citizen's access log. A report with a
  ``reference`` is recorded once: the same report again is a safe retry, other content
  under the same reference a conflict.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError

from clients.claims import LegalBasis
from clients.models import Client
from consent import ledger, release
from idp.citizens.models import Citizen
from idp.core.extensions import db


class NotWithoutConsent(Exception):
    """Attributes the registration does not allow on a basis other than consent."""

    def __init__(self, refused: list[str]):
        super().__init__(
            "Your registration does not allow these attributes without the citizen's consent: "
            + ", ".join(refused)
        )
        self.refused = refused


class ConflictingReport(Exception):
    """A reference already reported with other content."""

    def __init__(self):
        super().__init__("That reference was already reported with other content.")


def check_releasable(client: Client, names: list[str]) -> None:
    """Only what the registration allows on a basis other than consent; NotWithoutConsent
    names the rest."""
    policy = client.release_policy()
    refused = [
        name
        for name in names
        if name not in policy or policy[name].legal_basis == LegalBasis.CONSENT
    ]
    if refused:
        raise NotWithoutConsent(refused)


def release_attributes(client: Client, citizen: Citizen, names: list[str]) -> dict:
    """The values of ``names`` (checked with check_releasable) for ``client``, their ledger
    entries waiting for the caller's ``ledger.commit()`` before the answer."""
    return release.release(client, citizen, [], names, ledger.Channel.ATTRIBUTE_API)


def _same_report(entry: ledger.LedgerEntry, report: dict) -> bool:
    return (
        entry.citizen_id == report["citizen_id"]
        and entry.attributes == report["attributes"]
        and entry.purpose == report["purpose"]
        and entry.legal_basis == report["legal_basis"]
        and entry.released_at == report["released_at"]
    )


def _earlier_report(client: Client, reference: str | None) -> ledger.LedgerEntry | None:
    return ledger.referenced(client.client_id, reference) if reference is not None else None


def record_reported_lookup(
    client: Client,
    *,
    reference: str | None,
    citizen_id: str,
    attributes: list[str],
    purpose: str,
    legal_basis: str,
    released_at: dt.datetime,
) -> tuple[ledger.LedgerEntry, bool]:
    """Ledger the lookup ``client`` reports, committed; the entry and whether it is new.
    With a ``reference`` already reported: that entry again if the report is the same,
    else ConflictingReport."""
    report = {"citizen_id": citizen_id, "attributes": attributes, "purpose": purpose,
              "legal_basis": legal_basis, "released_at": released_at}  # fmt: skip
    earlier = _earlier_report(client, reference)
    if earlier is None:
        entry = ledger.append(client=client, channel=ledger.Channel.REPORTED_LOOKUP,
                              reference=reference, **report)  # fmt: skip
        try:
            db.session.commit()
        except IntegrityError:  # the same reference, reported at this very moment
            db.session.rollback()
            earlier = _earlier_report(client, reference)
        else:
            return entry, True
    if not _same_report(earlier, report):
        raise ConflictingReport()
    return earlier, False
