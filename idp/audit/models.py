"""AuditEntry: one operator command as it ended. Rows are only ever added."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, BigInteger, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from idp.core.dbtypes import UTCDateTime, string_enum, utcnow
from idp.core.extensions import db


class Outcome(enum.Enum):
    SUCCESS = "success"  # exit status 0
    FAILURE = "failure"  # refused or failed: exit status other than 0
    INTERRUPTED = "interrupted"  # Ctrl-C (a long-running command such as demo services)


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    os_user: Mapped[str] = mapped_column(String(64))
    # Who the operator says they are (TILLID_ADMIN), for shared service accounts; not proven.
    actor: Mapped[str | None] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    command: Mapped[str] = mapped_column(String(200))
    arguments: Mapped[dict] = mapped_column(JSON)  # secrets redacted, CPR numbers masked
    outcome: Mapped[Outcome] = mapped_column(string_enum(Outcome, "audit_outcome", 16))
    exit_code: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class AppendOnly(Exception):
    """Something tried to change or delete an audit entry."""


@event.listens_for(AuditEntry, "before_update")
@event.listens_for(AuditEntry, "before_delete")
def _refuse_change(mapper, connection, entry):
    raise AppendOnly("audit entries are never changed or deleted")
