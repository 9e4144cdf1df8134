"""`flask logout deliver|pending`: the back-channel logout queue (docs/backchannel-logout.md)."""

from __future__ import annotations

from flask.cli import AppGroup

from idp.core.commands import emit
from idp.oidc import backchannel_logout
from idp.sessions import sessions

logout_cli = AppGroup("logout", help="Logout tokens for the services (Back-Channel Logout).")


@logout_cli.command("deliver")
def deliver_command():
    """Once, what each worker does every BACKCHANNEL_LOGOUT_SECONDS: end the sessions that
    expired, then attempt the logout tokens that are due."""
    expired = sessions.sweep_expired()
    outcomes = backchannel_logout.deliver_due()
    emit({"sessions_expired": expired,
          **{outcome.value: outcomes[outcome] for outcome in backchannel_logout.Outcome},
          "pending": len(backchannel_logout.pending())})  # fmt: skip


@logout_cli.command("pending")
def pending_command():
    """The logout tokens still to deliver: to which service, how many attempts, since when
    and when the next is due (Unix times)."""
    emit(backchannel_logout.pending())
