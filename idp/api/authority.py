"""The APIs public authorities call with their own (client_credentials) tokens: their HTTP
side. What may be released and how a report is recorded are decided in consent/authority.py.

- The attribute API, in the spirit of Denmark's basic-data distributor: an authority reads
  a citizen's attributes that its registration allows on a basis other than consent (the
  citizen takes no part in the lookup), naming the citizen by the pairwise `sub` it was
  given at a login, or by the CPR number when it may receive the CPR number. Each answer
  is ledgered (channel `attribute_api`), its entry durable before the answer is sent.
- The report API: an authority reports a lookup it made in its own systems, so that it
  appears in the citizen's access log (channel `reported_lookup`). Only its own lookups.

Errors are RFC 9457 problem details; CPR numbers travel only in request bodies, never in
URLs (which end up in logs).
"""

from __future__ import annotations

import datetime as dt
import unicodedata

from flask import Blueprint, current_app, jsonify, request

from clients.claims import ATTRIBUTES_READ, CITIZEN_CLAIMS, LEDGER_REPORT, LegalBasis
from clients.models import Client, ClientKind
from consent import authority, ledger
from idp.citizens import cpr
from idp.citizens.models import Citizen
from idp.citizens.service import find_by_cpr
from idp.core.dbtypes import utcnow
from idp.core.extensions import db
from idp.core.problems import problem
from idp.core.web import json_body
from idp.oidc import guard, subjects

bp = Blueprint("authority_api", __name__, url_prefix="/api")

_CLOCK_SKEW = dt.timedelta(minutes=5)
_REPORT_FIELDS = {"sub", "cpr", "attributes", "purpose", "legal_basis", "looked_up_at", "reference"}


class BadRequest(Exception):
    """The caller's mistake, answered as a problem with ``status`` and extra members."""

    def __init__(self, status: int, detail: str, **extra):
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def _public_authority(token: guard.Token) -> None:
    if token.client.kind != ClientKind.PUBLIC_AUTHORITY:
        raise guard.Rejected(403, None, "Only public authorities use this API.")


def authority_token(scope: str):
    """A public authority's own live token carrying ``scope`` (idp/oidc/guard.py); each
    call spends the authority's API_RATE_LIMIT (idp/core/rate_limits.py)."""
    return guard.token_required(scope, for_citizen=False, budget="API_RATE_LIMIT",
                                check=_public_authority)  # fmt: skip


@bp.errorhandler(BadRequest)
def _bad_request(bad: BadRequest):
    db.session.rollback()
    return problem(bad.status, bad.detail, **bad.extra)


@bp.errorhandler(authority.NotWithoutConsent)
def _not_without_consent(refused: authority.NotWithoutConsent):
    db.session.rollback()
    return problem(403, str(refused), not_allowed=refused.refused)


@bp.errorhandler(authority.ConflictingReport)
def _conflicting_report(conflict: authority.ConflictingReport):
    db.session.rollback()
    return problem(409, str(conflict))


def _citizen(client: Client, *, sub=None, cpr_number=None) -> Citizen:
    """The citizen named by exactly one of the authority's `sub` or a CPR number."""
    if (sub is None) == (cpr_number is None):
        raise BadRequest(400, "Name the citizen by exactly one of sub and cpr.")
    if cpr_number is not None:
        if not client.may_name_citizens_by_cpr():
            raise BadRequest(403, "This authority may not name citizens by CPR number.")
        if not isinstance(cpr_number, str):
            raise BadRequest(400, "cpr must be a string.")
        try:
            found = find_by_cpr(cpr.parse(cpr_number))
        except cpr.InvalidCPR as exc:
            raise BadRequest(400, f"cpr: {exc}") from None
    else:
        if not isinstance(sub, str) or not 0 < len(sub) <= 64:
            raise BadRequest(400, "sub must be the subject identifier Tillid gave you.")
        citizen_id = subjects.citizen_id_for(client.sector_identifier, sub)
        found = db.session.get(Citizen, citizen_id) if citizen_id else None
    if found is None:
        raise BadRequest(404, "No citizen is known to you by that identifier.")
    return found


def _attribute_names(raw, *, field: str) -> list[str]:
    if not isinstance(raw, list) or not raw or not all(isinstance(n, str) for n in raw):
        raise BadRequest(400, f"{field} must be a non-empty list of attribute names.")
    names = list(dict.fromkeys(raw))
    unknown = [name for name in names if name not in CITIZEN_CLAIMS]
    if unknown:
        raise BadRequest(400, f"Unknown attributes: {', '.join(unknown)}.", unknown=unknown)
    return names


def _answer(client: Client, citizen: Citizen, names: list[str]):
    values = authority.release_attributes(client, citizen, names)
    policy = client.release_policy()
    response = jsonify(
        sub=subjects.remember(client.sector_identifier, citizen.id),
        attributes=values,
        released=[
            {
                "attribute": name,
                "legal_basis": str(policy[name].legal_basis),
                "purpose": policy[name].purpose,
            }
            for name in values
        ],
    )
    ledger.commit()  # the sub, then the ledger entries, durable before the answer
    return response


@bp.get("/citizens/<sub>/attributes")
@authority_token(ATTRIBUTES_READ)
def attributes_by_sub(sub: str):
    """?claims=a,b (or claims=a&claims=b): attributes of the citizen you know by ``sub``."""
    raw = [name for value in request.args.getlist("claims") for name in value.split(",") if name]
    names = _attribute_names(raw, field="claims")
    client = guard.token().client
    authority.check_releasable(client, names)
    return _answer(client, _citizen(client, sub=sub), names)


@bp.post("/citizens/by-cpr/attributes")
@authority_token(ATTRIBUTES_READ)
def attributes_by_cpr():
    """{"cpr": "...", "claims": [...]}: by CPR number, kept out of the URL."""
    body = json_body()
    _known_fields(body, {"cpr", "claims"})
    names = _attribute_names(body.get("claims"), field="claims")
    client = guard.token().client
    authority.check_releasable(client, names)
    return _answer(client, _citizen(client, cpr_number=body.get("cpr")), names)


def _known_fields(body: dict, known: set[str]) -> None:
    unknown = sorted(set(body) - known)
    if unknown:
        raise BadRequest(400, f"Unknown fields: {', '.join(unknown)}.", unknown=unknown)


def _text(body: dict, field: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(400, f"{field} is required and must be text.")
    value = value.strip()
    if len(value) > limit or any(unicodedata.category(ch) == "Cc" for ch in value):
        raise BadRequest(400, f"{field} must be at most {limit} characters, without controls.")
    return value


def _looked_up_at(raw) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        moment = None
    try:  # year 1 or 9999 with an offset falls outside what a datetime holds in UTC
        moment = moment.astimezone(dt.UTC) if moment and moment.tzinfo else None
    except OverflowError:
        moment = None
    if moment is None:
        raise BadRequest(400, "looked_up_at must be an ISO 8601 time with its offset.")
    now = utcnow()
    if moment > now + _CLOCK_SKEW:
        raise BadRequest(400, "looked_up_at is in the future.")
    if moment < now - dt.timedelta(days=current_app.config["LEDGER_RETENTION_DAYS"]):
        raise BadRequest(400, "looked_up_at is older than the ledger keeps entries.")
    return moment


def _report_json(entry: ledger.LedgerEntry) -> dict:
    return {
        "entry_id": entry.id,
        "reference": entry.reference,
        "looked_up_at": entry.released_at.isoformat(),
        "attributes": entry.attributes,
        "purpose": entry.purpose,
        "legal_basis": entry.legal_basis,
    }


@bp.post("/ledger/reports")
@authority_token(LEDGER_REPORT)
def report_lookup():
    """Report a lookup made in the authority's own systems; 201 with the entry, or 200 with
    the same entry when a report with this ``reference`` was already made (a safe retry)."""
    client = guard.token().client
    body = json_body()
    if "client_id" in body and body["client_id"] != client.client_id:
        raise BadRequest(403, "An authority reports only its own lookups.")
    _known_fields(body, _REPORT_FIELDS | {"client_id"})
    basis = body.get("legal_basis")
    if basis not in {b.value for b in LegalBasis}:
        raise BadRequest(400, f"legal_basis must be one of {', '.join(LegalBasis)}.")
    report = {
        "citizen_id": _citizen(client, sub=body.get("sub"), cpr_number=body.get("cpr")).id,
        "attributes": _attribute_names(body.get("attributes"), field="attributes"),
        "purpose": _text(body, "purpose", 1000),
        "legal_basis": basis,
        "released_at": _looked_up_at(body.get("looked_up_at")),
    }
    reference = _text(body, "reference", 100, required=False)
    entry, new = authority.record_reported_lookup(client, reference=reference, **report)
    return jsonify(_report_json(entry)), 201 if new else 200
