"""`flask mandates list|appoint|end`: the operator's handle on the mandate registry (a court's
guardianship order on paper, a mandate to end at once). JSON on stdout; every run in the
admin audit log (CPR numbers there masked). Refusals exit 1 with the reason."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from clients.claims import CITIZEN_CLAIMS
from clients.models import ClientKind
from consent import ledger, mandate_events
from idp.api.mandates import mandate_json, parse_until
from idp.citizens.cli import registered_citizen
from idp.citizens.models import Citizen
from idp.core.commands import emit
from idp.core.extensions import db
from idp.mandates import service as mandates
from idp.mandates.models import EndedBy, Mandate

mandates_cli = AppGroup("mandates", help="Who may act for whom: mandates, custody, guardianship.")

SERVICE_KINDS = (ClientKind.PUBLIC_AUTHORITY.value, ClientKind.PRIVATE_SERVICE.value)


def _person(citizen_id: str) -> dict:
    person = db.session.get(Citizen, citizen_id)
    return {"citizen_id": citizen_id, "name": person.full_name if person else None}


def _described(mandate: Mandate) -> dict:
    return {
        **mandate_json(mandate),
        "principal": _person(mandate.principal_id),
        "agent": _person(mandate.agent_id),
    }


@mandates_cli.command("list")
@click.option("--cpr", required=True, help="The citizen's CPR number, DDMMYYXXXX or DDMMYY-XXXX.")
def list_command(cpr):
    """The mandates the citizen gave (or that others hold for them: custody, guardianship)
    and those they hold for others, newest first, ended ones too."""
    citizen = registered_citizen(cpr, "cpr")
    emit({
        "citizen_id": citizen.id,
        "given": [_described(m) for m in mandates.given(citizen.id)],
        "held": [_described(m) for m in mandates.held(citizen.id)],
    })  # fmt: skip


@mandates_cli.command("appoint")
@click.option("--principal-cpr", required=True, help="The person under guardianship.")
@click.option("--agent-cpr", required=True, help="The guardian.")
@click.option(
    "--attribute",
    "attributes",
    multiple=True,
    required=True,
    help="An attribute of the principal the guardian may pass on (repeatable): "
    + ", ".join(sorted(CITIZEN_CLAIMS)),
)
@click.option("--until", help="The last day in force, YYYY-MM-DD (default: until ended).")
@click.option(
    "--service-kind",
    help=f"Only services of this kind: {' or '.join(SERVICE_KINDS)} (default: every kind).",
)
@click.option(
    "--client",
    "client_ids",
    multiple=True,
    help="Only this service (a client id that accepts representation; repeatable).",
)
def appoint_command(principal_cpr, agent_cpr, attributes, until, service_kind, client_ids):
    """Appoint a guardian (origin guardianship, by the operator): in force at once."""
    principal = registered_citizen(principal_cpr, "principal-cpr")
    agent = registered_citizen(agent_cpr, "agent-cpr")
    unknown = [name for name in attributes if name not in CITIZEN_CLAIMS]
    if unknown:
        raise click.ClickException(
            f"attribute: unknown {', '.join(unknown)} (choose from"
            f" {', '.join(sorted(CITIZEN_CLAIMS))})"
        )
    if service_kind is not None and service_kind not in SERVICE_KINDS:
        raise click.ClickException(f"service-kind: choose {' or '.join(SERVICE_KINDS)}")
    try:
        valid_until = parse_until(until)
    except ValueError as exc:
        raise click.ClickException(str(exc).replace("valid_until", "until", 1)) from None
    try:
        mandate = mandates.appoint(principal, agent, attributes=attributes,
                                   valid_until=valid_until, service_kind=service_kind,
                                   client_ids=client_ids)  # fmt: skip
    except mandates.MandateRefused as refused:
        raise click.ClickException(f"{refused.field}: {refused.message}") from None
    mandate_events.record(mandate, mandate_events.APPOINTED)
    ledger.commit()
    emit(_described(mandate))


@mandates_cli.command("end")
@click.option("--id", "mandate_id", required=True, help="The mandate's id (from `list`).")
def end_command(mandate_id):
    """End a mandate of any origin now (ended by the operator); prints whether it was in
    force until now ("ended": false if it had ended already)."""
    mandate = mandates.get(mandate_id)
    if mandate is None:
        raise click.ClickException("id: no mandate has that id")
    ended = mandates.end(mandate, EndedBy.OPERATOR)
    if ended:
        mandate_events.record(mandate, mandate_events.ENDED)
        ledger.commit()
    emit({"id": mandate.id, "ended": ended, "ended_by": str(mandate.ended_by)})


@mandates_cli.command("expire")
def expire_command():
    """Write, in both people's logs, every mandate whose end date has passed (a custody at
    the child's 18th birthday, a power of attorney's last day); each once. The server's
    workers do this every minute: this is for a deployment that runs none, or to see now."""
    emit({"recorded": mandate_events.record_expiries()})
