"""`flask ledger integrate|verify`: the operator's handle on the access ledger."""

from __future__ import annotations

import base64
import datetime as dt
import json
import sys

import click
from flask import current_app
from flask.cli import AppGroup

from consent import ledger
from idp.citizens.models import Citizen
from idp.extensions import db

ledger_cli = AppGroup("ledger", help="The access ledger (a signed Merkle log).")


def _emit(payload: dict) -> None:
    click.echo(json.dumps(payload, indent=2))


@ledger_cli.command("integrate")
def integrate_command():
    """Add pending entries to the tree and sign a checkpoint; prints the checkpoint."""
    signed = ledger.integrate()
    latest = signed or ledger.latest_checkpoint()
    _emit({
        "integrated": signed is not None,
        "tree_size": latest.tree_size if latest else 0,
        "root": base64.b64encode(latest.root_hash).decode() if latest else None,
    })  # fmt: skip


@ledger_cli.command("verify")
def verify_command():
    """Recompute the tree from the stored entries and check every signed checkpoint.
    Exit status 1 when anything is wrong; the problems name the entries."""
    report = ledger.verify()
    _emit(report)
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
    _emit({"erased": ledger.erase(citizen_id, dt.timedelta(days=days)), "retention_days": days})
