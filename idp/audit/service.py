"""Recording operator commands: what they were given (secrets redacted), who ran them, how
they ended; one structured log line each on the `tillid.audit` logger and one row."""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import pwd
import socket

from sqlalchemy import inspect, select
from sqlalchemy.exc import SQLAlchemyError

from idp.audit.models import AuditEntry, Outcome
from idp.citizens import cpr as cpr_numbers
from idp.citizens.models import cpr_lookup
from idp.core import config, logs
from idp.core.extensions import db

log = logging.getLogger("tillid.audit")

REDACTED = "[redacted]"
PERSONAL = "[personal data]"
# Parameter names whose values are never written down: present and future options alike.
_SECRET_WORDS = ("password", "secret", "token", "seed", "private", "key", "code", "otp")
# A citizen's personal data stays out of an append-only log that can never be erased; the
# CPR number becomes its keyed lookup hash (citizen.cpr_lookup), which names the citizen to
# whoever holds the data key and to no one else.
_PERSONAL_PARAMS = {
    "given_name", "family_name", "birthdate", "email", "phone", "address_json",
    "birth_country", "birth_region", "birth_locality", "nationalities",
}  # fmt: skip


class AuditTableMissing(Exception):
    """The audit table is missing (not migrated) or out of reach: commands would go
    unrecorded."""


def redact_arguments(params: dict) -> dict:
    return {name: _safe_value(name, value) for name, value in params.items()}


def _safe_value(name: str, value):
    if value is None or value == ():
        return None
    if any(word in name.lower() for word in _SECRET_WORDS):
        return REDACTED
    if name in _PERSONAL_PARAMS:
        return PERSONAL
    if name in ("cpr", "custody_of") or name.endswith("_cpr"):  # --agent-cpr, --custody-of …
        if isinstance(value, list | tuple):
            return [_cpr_value(str(item)) for item in value]
        return _cpr_value(str(value))
    return _plain(value)


def _cpr_value(value: str) -> str:
    try:
        return "cpr-lookup:" + cpr_lookup(cpr_numbers.parse(value))
    except cpr_numbers.InvalidCPR:
        return _text(value)


def _plain(value):
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, io.IOBase) or hasattr(value, "read"):
        return "file:" + str(getattr(value, "name", "<stream>"))  # the name, never the content
    return _text(str(value))


def _text(value: str) -> str:
    # CPR-shaped numbers masked as in every log line; NUL bytes, which PostgreSQL's text
    # columns refuse, shown instead of stored.
    return logs.redact(value).replace("\x00", "\\x00")


def os_user() -> str:
    try:
        name = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry (containers)
        name = f"uid {os.geteuid()}"
    sudo_user = config.admin_identity()["sudo_user"]
    if sudo_user and sudo_user != name:
        name = f"{name} (sudo by {sudo_user})"
    return name[:64]


def require_table() -> None:
    try:
        present = inspect(db.engine).has_table(AuditEntry.__tablename__)
    except SQLAlchemyError as exc:
        raise AuditTableMissing(
            f"the database cannot be reached to record this command ({type(exc).__name__}); "
            "nothing was done"
        ) from None
    if not present:
        raise AuditTableMissing(
            "the database has no audit_entry table, so this command would go unrecorded: "
            "run `flask db upgrade` first"
        )


def record(
    *,
    command: str,
    arguments: dict,
    started_at: dt.datetime,
    duration_ms: int,
    outcome: Outcome,
    exit_code: int,
    error: str | None,
    table_may_be_missing: bool = False,
) -> bool:
    """Log the command and store it; False when it could not be stored. Never raises: the
    command's own outcome must reach the operator either way."""
    entry = AuditEntry(
        started_at=started_at,
        duration_ms=duration_ms,
        os_user=os_user(),
        actor=(config.admin_identity()["actor"] or "")[:200] or None,
        host=socket.gethostname()[:255],
        command=_text(command)[:200],
        arguments=arguments,
        outcome=outcome,
        exit_code=exit_code,
        error=_text(error)[:2000] if error else None,
    )
    log.info(
        "admin command",
        extra={
            "event": "admin_command",
            "command": entry.command,
            "arguments": arguments,
            "outcome": outcome.value,
            "exit_code": exit_code,
            "error": entry.error,
            "os_user": entry.os_user,
            "actor": entry.actor,
            "host": entry.host,
            # Milliseconds, like the line's own time: six digits of microseconds could read
            # as a one-time code to anyone scanning logs for leaked codes (the log-secrets
            # check did, once in 10^6).
            "started_at": started_at.isoformat(timespec="milliseconds"),
            "duration_ms": duration_ms,
        },
    )
    try:
        # The command's unfinished work is not ours to commit (the app context's teardown
        # would roll it back anyway), and a failed transaction must not take the entry along.
        db.session.rollback()
        db.session.add(entry)
        db.session.commit()
        return True
    except Exception as exc:  # the database is down, or the table is gone
        db.session.rollback()
        missing = _table_missing()
        if table_may_be_missing and missing:
            # `db downgrade` below the audit table's migration: the log line is the record.
            log.warning("audit table absent: the entry is only in the log",
                        extra={"event": "audit_not_stored", "command": entry.command})  # fmt: skip
            return True
        log.error(
            "audit entry not stored",
            extra={"event": "audit_not_stored", "command": entry.command,
                   "error": type(exc).__name__},
        )  # fmt: skip
        return False


def _table_missing() -> bool:
    try:
        return not inspect(db.engine).has_table(AuditEntry.__tablename__)
    except SQLAlchemyError:
        return False


def entries(since: dt.datetime | None = None, limit: int | None = None) -> list[AuditEntry]:
    """Oldest first (the order they happened in), from ``since`` on."""
    query = select(AuditEntry).order_by(AuditEntry.id)
    if since is not None:
        query = query.where(AuditEntry.started_at >= since)
    if limit is not None:
        # The newest ``limit``, still printed oldest first.
        query = query.order_by(None).order_by(AuditEntry.id.desc()).limit(limit)
        return list(reversed(db.session.scalars(query).all()))
    return list(db.session.scalars(query))


def as_dict(entry: AuditEntry) -> dict:
    return {
        "id": entry.id,
        "started_at": entry.started_at.isoformat(),
        "duration_ms": entry.duration_ms,
        "os_user": entry.os_user,
        "actor": entry.actor,
        "host": entry.host,
        "command": entry.command,
        "arguments": entry.arguments,
        "outcome": entry.outcome.value,
        "exit_code": entry.exit_code,
        "error": entry.error,
    }
