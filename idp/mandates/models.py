"""Mandate: one person (the agent) may act for another (the principal) at some services, with
some of the principal's attributes, for a time (docs/representation.md)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.dbtypes import UTCDateTime, string_enum, utcnow
from idp.core.extensions import db


class Origin(enum.StrEnum):
    GRANTED = "granted"  # by the principal, in the portal; the agent accepts it
    CUSTODY = "custody"  # a parent's, from the population register, until the 18th birthday
    GUARDIANSHIP = "guardianship"  # appointed by an authority (API or CLI)


class EndedBy(enum.StrEnum):
    PRINCIPAL = "principal"
    AGENT = "agent"
    AUTHORITY = "authority"
    OPERATOR = "operator"
    REGISTER = "register"  # the population register no longer shows the custody


class Mandate(db.Model):
    __tablename__ = "mandate"
    __table_args__ = (
        # The mandates whose end date is still to be written in the logs (consent/
        # mandate_events.py `record_expiries`): a small range, however many mandates there are.
        Index(
            "ix_mandate_expiry_unrecorded",
            "valid_until",
            postgresql_where=text("ended_at IS NULL AND expiry_recorded_at IS NULL"),
            sqlite_where=text("ended_at IS NULL AND expiry_recorded_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True,
                                    default=lambda: uuid.uuid4().hex)  # fmt: skip
    principal_id: Mapped[str] = mapped_column(
        ForeignKey("citizen.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[str] = mapped_column(ForeignKey("citizen.id", ondelete="CASCADE"), index=True)
    origin: Mapped[Origin] = mapped_column(string_enum(Origin, "mandate_origin"))
    # What it covers: every service (both None/empty), the services of one kind
    # (`service_kind`, a ClientKind value), or the services named (`client_ids`).
    service_kind: Mapped[str | None] = mapped_column(String(32))
    client_ids: Mapped[list] = mapped_column(JSON, default=list)
    # The principal's attributes (claim registry names) that may be released while the agent
    # acts: a service gets no other of the principal's, whatever it is registered for.
    attributes: Mapped[list] = mapped_column(JSON, default=list)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None: until ended. Custody: the child's 18th birthday (00:00 Danish time, as UTC).
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A granted mandate takes effect once the agent accepts it; custody and guardianship at once.
    accepted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # When its end date passing was written in both people's logs (once: consent/mandate_events.py).
    expiry_recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[EndedBy | None] = mapped_column(string_enum(EndedBy, "mandate_ended_by"))
    # The authority that appointed a guardian (NULL once its registration is deleted).
    appointed_by: Mapped[str | None] = mapped_column(
        ForeignKey("client.client_id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def in_force(self, now: dt.datetime | None = None) -> bool:
        """Accepted, not ended, and within its validity now."""
        now = now or utcnow()
        return (
            self.accepted_at is not None
            and self.ended_at is None
            and self.valid_from <= now
            and (self.valid_until is None or now < self.valid_until)
        )

    def covers(self, client_id: str, client_kind: str) -> bool:
        """Whether it reaches the service ``client_id`` (of kind ``client_kind``)."""
        if self.client_ids:
            return client_id in self.client_ids
        return self.service_kind is None or self.service_kind == client_kind
