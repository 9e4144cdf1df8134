"""`flask ledger integrate|status|verify|erase|partitions|archive`: the operator's handle on
the access ledger."""

from __future__ import annotations

import base64
import datetime as dt
import sys

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from consent import partitions
from consent.ledger import audit, erasure, sequencer
from consent.ledger.models import LedgerEntry, latest_checkpoint
from idp.citizens.models import Citizen
from idp.core.commands import emit
from idp.core.database import unbounded_statements
from idp.core.extensions import db


@click.group("ledger", cls=AppGroup, help="The access ledger (a signed Merkle log).")
def ledger_cli():
    # Its commands' work grows with the ledger (verify reads every leaf, archive and
    # partitions move months): no statement timeout (idp/core/database.py).
    click.get_current_context().with_resource(unbounded_statements())


@ledger_cli.command("integrate")
def integrate_command():
    """Add pending entries to the tree and sign a checkpoint; prints the checkpoint."""
    signed = sequencer.integrate_all()
    latest = signed or latest_checkpoint()
    emit({
        "integrated": signed is not None,
        "tree_size": latest.tree_size if latest else 0,
        "root": base64.b64encode(latest.root_hash).decode() if latest else None,
    })  # fmt: skip


@ledger_cli.command("status")
@click.option("--max-wait", type=click.IntRange(min=1), default=None, metavar="SECONDS",
              help="Exit status 1 when an entry has waited longer for its leaf.")  # fmt: skip
def status_command(max_wait):
    """How far integration has come: the latest checkpoint and what waits for the next one
    (for monitoring: a growing wait means the integrator no longer keeps up)."""
    latest = latest_checkpoint()
    pending, oldest = db.session.execute(
        select(func.count(), func.min(LedgerEntry.released_at)).where(
            LedgerEntry.leaf_index.is_(None)
        )
    ).one()
    now = dt.datetime.now(dt.UTC)
    waited = (now - oldest).total_seconds() if oldest else 0.0
    emit({
        "tree_size": latest.tree_size if latest else 0,
        "checkpoint_at": latest.created_at.isoformat() if latest else None,
        "pending": pending,
        "oldest_pending_at": oldest.isoformat() if oldest else None,
        "oldest_pending_seconds": round(waited, 1),
    })  # fmt: skip
    if max_wait is not None and waited > max_wait:
        sys.exit(1)


@ledger_cli.command("verify")
def verify_command():
    """Recompute the tree from the stored entries and check every signed checkpoint.
    Exit status 1 when anything is wrong; the problems name the entries."""
    report = audit.verify()
    emit(report)
    if not report["ok"]:
        sys.exit(1)


@ledger_cli.command("erase")
@click.option(
    "--citizen", "citizen_id", required=True, help="The citizen's id (see citizens create)."
)
@click.option("--retention-days", type=click.IntRange(min=0), default=None,
              help="Keep entries younger than this (default LEDGER_RETENTION_DAYS).")  # fmt: skip
def erase_command(citizen_id, retention_days):
    """Erase the content of a citizen's entries past the retention period; the leaves stay,
    so the log still verifies. Prints {"erased": N}."""
    if db.session.get(Citizen, citizen_id) is None:
        raise click.ClickException("no citizen with this id")
    days = current_app.config["LEDGER_RETENTION_DAYS"] if retention_days is None else retention_days
    emit({"erased": erasure.erase(citizen_id, dt.timedelta(days=days)), "retention_days": days})


@ledger_cli.group("partitions", invoke_without_command=True)
@click.pass_context
@with_appcontext  # a group's own callback is not run in the app context by itself
def partitions_group(context):
    """List the ledger's monthly partitions (PostgreSQL)."""
    if context.invoked_subcommand is None:
        emit({"partitions": [_month_json(month) for month in _attached()]})


@partitions_group.command("ensure")
@click.option(
    "--months-ahead",
    type=click.IntRange(min=0, max=120),
    default=partitions.MONTHS_AHEAD,
    show_default=True,
    help="Make partitions up to this many months after this one.",
)
@click.option("--from", "since", type=click.DateTime(formats=["%Y-%m", "%Y-%m-%d"]),
              help="Make them from this month on (default: this month).")  # fmt: skip
def ensure_command(months_ahead, since):
    """Make the coming months' partitions (the integrator also does this hourly). Rows the
    default partition caught for a month move into it."""
    today = dt.datetime.now(dt.UTC)
    last = (today.year * 12 + today.month - 1) + months_ahead
    if since is not None and since.year * 12 + since.month - 1 > last:
        # Nothing to make (and a month past 9999-12 has no end a date can hold).
        raise click.BadParameter(
            f"{since:%Y-%m} is after the last month to make, {last // 12:04d}-{last % 12 + 1:02d}",
            param_hint="--from",
        )
    made = _partitioned(lambda: partitions.ensure(months_ahead, since and since.date()))
    emit({"made": made, "partitions": [_month_json(month) for month in _attached()]})


@ledger_cli.command("archive")
@click.option("--before", required=True, type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m"]),
              help="Detach every month ending on or before this date (YYYY-MM[-DD]).")  # fmt: skip
def archive_command(before):
    """Detach months past the retention period from the ledger. Each stays in the database
    as its own table (ledger_entry_yYYYYmMM) for you to dump and drop; its leaves stay in the
    tree, so checkpoints and proofs still hold and `ledger verify` counts them as archived."""
    retention = dt.timedelta(days=current_app.config["LEDGER_RETENTION_DAYS"])
    try:
        done = _partitioned(lambda: partitions.archive(before.date(), retention))
    except partitions.Refused as refused:
        raise click.ClickException(str(refused)) from None
    emit({"archived": done})


def _partitioned(action):
    try:
        return action()
    except partitions.NotPartitioned as missing:
        raise click.ClickException(
            f"{missing}; this database is {db.engine.dialect.name}"
        ) from None


def _attached():
    return _partitioned(partitions.attached)


def _month_json(month: partitions.Month) -> dict:
    return {
        "partition": month.name,
        "from": month.starts_at.isoformat(),
        "to": month.ends_at.isoformat(),
    }
