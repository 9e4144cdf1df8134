"""`flask wallet list|revoke`: the operator's handle on the credentials issued to a citizen's
wallets (a lost phone, a death). JSON on stdout; every run in the admin audit log (the CPR
number there as its keyed lookup hash, like every command's)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from idp.citizens.cli import registered_citizen
from idp.core.commands import emit
from idp.wallet import credentials

wallet_cli = AppGroup("wallet", help="The credentials issued to citizens' wallets.")

REASONS = ("lost_device", "death", "other")


@wallet_cli.command("list")
@click.option("--cpr", required=True, help="The citizen's CPR number, DDMMYYXXXX or DDMMYY-XXXX.")
def list_command(cpr):
    """The citizen's credentials, newest first: when issued, to which wallet, the device key's
    thumbprint, format, attributes, status (valid, revoked, expired)."""
    citizen = registered_citizen(cpr)
    emit(
        {
            "citizen_id": citizen.id,
            "credentials": [credentials.as_json(i) for i in credentials.of_citizen(citizen.id)],
        }
    )


@wallet_cli.command("revoke")
@click.option("--cpr", required=True, help="The citizen's CPR number, DDMMYYXXXX or DDMMYY-XXXX.")
@click.option(
    "--reason",
    type=click.Choice(REASONS),
    default="other",
    show_default=True,
    help="Why (kept in the admin audit log): a lost device, the citizen's death, other.",
)
def revoke_command(cpr, reason):
    """Revoke every valid credential of the citizen, each with an entry in their access log;
    prints what was revoked. Run again, it revokes nothing more."""
    citizen = registered_citizen(cpr)
    revoked = []
    for issued in credentials.of_citizen(citizen.id):
        if issued.status == credentials.VALID and credentials.revoke(issued):
            revoked.append(issued.entry.id)
    emit({"citizen_id": citizen.id, "reason": reason, "revoked": revoked})
