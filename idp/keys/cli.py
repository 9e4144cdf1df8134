"""`flask keys ensure|rotate|list`: the operator's handle on signing keys (tokens, wallet
credentials)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from idp.core.commands import emit
from idp.keys import service

keys_cli = AppGroup("keys", help="Manage the keys that sign tokens and wallet credentials.")


@keys_cli.command("ensure")
def ensure_command():
    """Create a signing key for each purpose and algorithm that has none (first start;
    idempotent)."""
    created = service.ensure()
    emit({"created": [{"kid": k.kid, "alg": k.alg, "purpose": k.purpose} for k in created]})


@keys_cli.command("rotate")
@click.option(
    "--purpose",
    type=click.Choice(tuple(service.PURPOSES)),
    default=service.TOKEN,
    show_default=True,
    help="Which keys: token (ID and access tokens) or credential (wallet credentials).",
)
@click.option(
    "--alg",
    "algs",
    multiple=True,
    type=click.Choice(service.ALGORITHMS),
    help="Rotate only this algorithm (repeatable; default: all of the purpose's).",
)
@click.option(
    "--grace",
    type=click.IntRange(min=0),
    help="Seconds the new key is published before it signs (default KEY_ROTATION_GRACE_SECONDS).",
)
def rotate_command(purpose, algs, grace):
    """Publish new keys now; they sign after the grace period, and the old ones retire."""
    grace = current_app.config["KEY_ROTATION_GRACE_SECONDS"] if grace is None else grace
    try:
        created = service.rotate(tuple(algs) or service.PURPOSES[purpose], grace, purpose)
    except service.UnknownAlgorithm as exc:
        raise click.BadParameter(str(exc), param_hint="--alg") from None
    emit(
        {
            "created": [
                {
                    "kid": k.kid,
                    "alg": k.alg,
                    "purpose": k.purpose,
                    "signs_from": k.activates_at.isoformat(),
                }
                for k in created
            ]
        }
    )


@keys_cli.command("list")
def list_command():
    """Every key with its state: upcoming, active, retired (still published) or expired."""
    emit(service.describe_all())
