"""`flask ledger integrate|verify`: the operator's handle on the access ledger."""

from __future__ import annotations

import base64
import json
import sys

import click
from flask.cli import AppGroup

from consent import ledger

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
