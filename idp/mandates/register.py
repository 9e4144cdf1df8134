"""Custody from the population register: the extract's `custody` column (on a child's row, the
CPR numbers of the parents with custody) made into custody mandates (docs/operations.md,
docs/representation-registry.md).

The citizen registry reads the column (idp.citizens.service.import_rows: each row's
listing); this module, above it, applies the listings once every row is in, so a parent may
come after the child in the file. For each child listed:

- each listed parent in the register holds a custody mandate over the child (an existing one
  is kept: importing the same extract again changes nothing);
- a parent the register no longer lists loses it (ended by the register);
- a listed parent who is not in the register is a rejected custody (field `custody`, the
  line of the child's row); the child's own data is in, and importing again once the parent
  is there makes the mandate;
- a child of 18 or more gets none (custody ended on the 18th birthday by itself); such rows
  are counted as `adults`.

A child the extract does not list (another extract, a file without the column) is left as
it is.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from clients.claims import CPR_CLAIM
from idp.citizens import service as citizens
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.mandates import service as mandates
from idp.mandates.models import EndedBy, Mandate, Origin

# What a parent may pass on for the child, at every service that accepts representation
# (docs/representation-registry.md says why): the child's names, date of birth (and the
# age_over_18 derived from it), address and CPR number (public authorities need it to find
# the child's case; the claim registry gives it to public authorities only). Not the e-mail
# address or phone number: the register's contact details are the child's own, and a service
# dealing with the parent reaches the parent.
CUSTODY_ATTRIBUTES = (
    "given_name",
    "family_name",
    "name",
    "birthdate",
    "age_over_18",
    "address",
    CPR_CLAIM,
)


def import_extract(lines: Iterable[str]) -> tuple[citizens.ImportReport, list[tuple[Mandate, str]]]:
    """Import a register extract (idp.citizens.service.import_rows), then its custody: the
    report, and the custody mandates made ("appointed") or ended ("ended"), for the caller
    to ledger (consent/mandate_events.py, a layer above)."""
    report = citizens.import_rows(lines)
    return report, apply_custody(report)


def apply_custody(report: citizens.ImportReport) -> list[tuple[Mandate, str]]:
    """Make the custody mandates the report's listings show, end those they no longer show;
    counts in ``report.custody``, refusals in ``report.rejected``; returns what changed."""
    changes: list[tuple[Mandate, str]] = []
    if report.custody_listings is None:
        return changes
    counts = {"granted": 0, "kept": 0, "ended": 0, "adults": 0}
    for listing in report.custody_listings:
        child = citizens.find_by_cpr(listing.child_cpr)
        if child is None:  # gone since its row was imported
            continue
        if mandates.coming_of_age(child.birthdate) <= utcnow():
            # Custody ended on the 18th birthday by itself (its mandates' validity says so,
            # and their expiry is theirs, not the register's): none is made.
            counts["adults"] += bool(listing.parent_cprs)
            continue
        holders: set[str] = set()
        for position, parent_cpr in enumerate(listing.parent_cprs, start=1):
            parent = citizens.find_by_cpr(parent_cpr)
            if parent is None:
                report.rejected.append({
                    "line": listing.line,
                    "field": "custody",
                    "reason": f"parent {position} of {len(listing.parent_cprs)} is not in the"
                              " register: import the parent, then this row again",
                })  # fmt: skip
                continue
            holders.add(parent.id)
            existing = _in_force(child.id, parent.id)
            if existing is not None:
                counts["kept"] += 1
                continue
            changes.append((mandates.custody(parent, child, attributes=CUSTODY_ATTRIBUTES),
                            "appointed"))  # fmt: skip
            counts["granted"] += 1
        for mandate in _custodies_of(child.id):
            if mandate.agent_id not in holders and mandates.end(mandate, EndedBy.REGISTER):
                changes.append((mandate, "ended"))
                counts["ended"] += 1
    report.custody = counts
    return changes


def _custodies_of(child_id: str) -> list[Mandate]:
    return list(db.session.scalars(select(Mandate).where(
        Mandate.principal_id == child_id,
        Mandate.origin == Origin.CUSTODY,
        Mandate.ended_at.is_(None),
    )))  # fmt: skip


def _in_force(child_id: str, parent_id: str) -> Mandate | None:
    return next((m for m in _custodies_of(child_id) if m.agent_id == parent_id), None)
