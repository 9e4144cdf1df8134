"""The guardianship API: a public authority with the `mandates:write` scope appoints a guardian
for a citizen (a mandate of origin `guardianship`, in force at once) and ends the ones it
appointed (docs/representation-registry.md).

- ``POST /api/mandates`` {principal_cpr, agent_cpr, attributes, valid_until?, service_kind?,
  client_ids?}: 201 with the mandate. The people are named by CPR number, in the body (never
  in a URL), so only an authority that may name citizens by CPR number (registered for it on
  a basis in law) may call it.
- ``DELETE /api/mandates/<id>``: 204; a mandate this authority did not appoint (another's,
  one a citizen granted, a parent's custody) is a 404, as one that does not exist.

Errors are RFC 9457 problem details; nothing is written unless the whole request is good.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify

from clients.claims import CITIZEN_CLAIMS, MANDATES_WRITE
from clients.models import Client, ClientKind
from consent import ledger, mandate_events
from idp.api.authority import authority_token
from idp.citizens import cpr
from idp.citizens.models import Citizen
from idp.citizens.service import find_by_cpr
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.core.problems import problem
from idp.core.web import json_body
from idp.mandates import service as mandates
from idp.mandates.models import EndedBy, Mandate, Origin
from idp.oidc import guard

bp = Blueprint("mandates_api", __name__, url_prefix="/api")

_FIELDS = {"principal_cpr", "agent_cpr", "attributes", "valid_until", "service_kind", "client_ids"}
# How far ahead an end date may lie: a guardianship is reviewed, and a date beyond this is a
# typing mistake (year 9999 would not even fit the day after it).
MAX_YEARS_AHEAD = 100


class Refused(Exception):
    """The caller's mistake: a problem with ``status``, ``detail`` and extra members."""

    def __init__(self, status: int, detail: str, **extra):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


@bp.errorhandler(Refused)
def _refused(refused: Refused):
    db.session.rollback()
    return problem(refused.status, refused.detail, **refused.extra)


def mandate_json(mandate: Mandate) -> dict:
    """A mandate as the API and `flask mandates` show it (without the people: the caller
    named them)."""

    def moment(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": mandate.id,
        "origin": str(mandate.origin),
        "appointed_by": mandate.appointed_by,
        "service_kind": mandate.service_kind,
        "client_ids": list(mandate.client_ids or ()),
        "attributes": list(mandate.attributes or ()),
        "valid_from": moment(mandate.valid_from),
        "valid_until": moment(mandate.valid_until),
        "accepted_at": moment(mandate.accepted_at),
        "ended_at": moment(mandate.ended_at),
        "ended_by": str(mandate.ended_by) if mandate.ended_by is not None else None,
        "in_force": mandate.in_force(),
    }


def parse_until(raw) -> dt.datetime | None:
    """``valid_until`` as given (YYYY-MM-DD, the last day in force, or None), as the moment
    it ends; ValueError with the reason otherwise."""
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) != 10:
        raise ValueError("valid_until must be a date, YYYY-MM-DD (the last day in force)")
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError("valid_until must be a date, YYYY-MM-DD (the last day in force)") from None
    today = utcnow().astimezone(mandates.DANISH_TIME).date()
    if day < today:
        raise ValueError("valid_until is in the past")
    if day.year > today.year + MAX_YEARS_AHEAD:
        raise ValueError(f"valid_until is more than {MAX_YEARS_AHEAD} years ahead")
    return mandates.end_of_day(day)


def _person(client: Client, body: dict, field: str) -> Citizen:
    raw = body.get(field)
    if not isinstance(raw, str):
        raise Refused(400, f"{field} is required: a CPR number, DDMMYYXXXX or DDMMYY-XXXX.")
    try:
        found = find_by_cpr(cpr.parse(raw))
    except cpr.InvalidCPR as exc:
        raise Refused(400, f"{field}: {exc}") from None
    if found is None:
        raise Refused(404, f"{field}: no citizen is registered with that CPR number.")
    return found


def _attributes(raw) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        raise Refused(400, "attributes must be a non-empty list of attribute names.")
    unknown = [name for name in dict.fromkeys(raw) if name not in CITIZEN_CLAIMS]
    if unknown:
        raise Refused(400, f"Unknown attributes: {', '.join(unknown)}.", unknown=unknown)
    return list(dict.fromkeys(raw))


def _client_ids(raw) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise Refused(400, "client_ids must be a list of client ids.")
    return raw


@bp.post("/mandates")
@authority_token(MANDATES_WRITE)
def appoint():
    """Appoint a guardian: 201 with the mandate, in force at once."""
    client = guard.token().client
    body = json_body()
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise Refused(400, f"Unknown fields: {', '.join(unknown)}.", unknown=unknown)
    if not client.may_name_citizens_by_cpr():
        raise Refused(403, "This authority may not name citizens by CPR number.")
    attributes = _attributes(body.get("attributes"))
    try:
        valid_until = parse_until(body.get("valid_until"))
    except ValueError as exc:
        raise Refused(400, f"{exc}.") from None
    kind = body.get("service_kind")
    if kind is not None and kind not in (ClientKind.PUBLIC_AUTHORITY, ClientKind.PRIVATE_SERVICE):
        raise Refused(400, "service_kind must be public_authority or private_service.")
    client_ids = _client_ids(body.get("client_ids"))
    principal = _person(client, body, "principal_cpr")
    agent = _person(client, body, "agent_cpr")
    try:
        mandate = mandates.appoint(
            principal, agent, attributes=attributes, valid_until=valid_until,
            service_kind=kind, client_ids=client_ids, appointed_by=client.client_id,
        )  # fmt: skip
    except mandates.MandateRefused as refused:
        raise Refused(400, f"{refused.field}: {refused.message}.", field=refused.field) from None
    mandate_events.record(mandate, mandate_events.APPOINTED)
    response = jsonify(mandate_json(mandate))
    ledger.commit()  # the entries durable before the answer
    return response, 201


@bp.delete("/mandates/<mandate_id>")
@authority_token(MANDATES_WRITE)
def end(mandate_id: str):
    """End a guardianship this authority appointed: 204 (again 204 once it has ended)."""
    client = guard.token().client
    mandate = mandates.get(mandate_id)
    if (
        mandate is None
        or mandate.origin != Origin.GUARDIANSHIP
        or mandate.appointed_by != client.client_id
    ):
        raise Refused(404, "No guardianship you appointed has that id.")
    if mandates.end(mandate, EndedBy.AUTHORITY):
        mandate_events.record(mandate, mandate_events.ENDED)
        ledger.commit()
    return "", 204
