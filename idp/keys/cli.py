"""`flask keys ensure|rotate|list`: the operator's handle on token-signing keys."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from idp.core.commands import emit
from idp.keys import service

keys_cli = AppGroup("keys", help="Manage the keys that sign tokens.")


@keys_cli.command("ensure")
def ensure_command():
    """Create a signing key for each algorithm that has none (first start; idempotent)."""
    created = service.ensure()
    emit({"created": [{"kid": k.kid, "alg": k.alg} for k in created]})


@keys_cli.command("rotate")
@click.option(
    "--alg",
    "algs",
    multiple=True,
    type=click.Choice(service.ALGORITHMS),
    help="Rotate only this algorithm (repeatable; default: all).",
)
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    help="Seconds the new key is published before it signs (default KEY_ROTATION_GRACE_SECONDS).",
)
def rotate_command(algs, grace):
    """Publish new keys now; they sign after the grace period, and the old ones retire."""
    grace = current_app.config["KEY_ROTATION_GRACE_SECONDS"] if grace is None else grace
    created = service.rotate(tuple(algs) or service.ALGORITHMS, grace)
    emit(
        {
            "created": [
                {"kid": k.kid, "alg": k.alg, "signs_from": k.activates_at.isoformat()}
                for k in created
            ]
        }
    )


@keys_cli.command("list")
def list_command():
    """Every key with its state: upcoming, active, retired (still published) or expired."""
    emit(service.describe_all())
