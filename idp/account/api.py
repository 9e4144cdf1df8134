"""The citizen's own account as JSON under /api/me, the twins of the pages under /me.

Two ways in: the citizen's browser (the SSO session at the default level; changes also
need the CSRF token in X-CSRFToken), or an app the citizen allowed to read their account
(an access token with scope `me`, issued after the citizen's consent and only while that
consent stands). Tokens read; only the citizen's own browser changes anything.
"""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, jsonify
from flask_babel import gettext as _

from clients import service as client_registry
from clients.claims import ACCOUNT_ACCESS, ME
from consent import release
from idp.account import my_data
from idp.authenticators import service as authenticators
from idp.citizens.models import Citizen
from idp.core.problems import problem
from idp.oidc import guard, refresh
from idp.sessions import current, sessions

bp = Blueprint("me_api", __name__, url_prefix="/api/me")

RATE_LIMIT = "API_RATE_LIMIT"  # idp/core/rate_limits.py


def citizen() -> Citizen:
    """The citizen whose account this request reads (let in by ``citizen_api``)."""
    return guard.citizen()


def _consent_stands(token: guard.Token) -> None:
    # Consent withdrawn on the portal ends the app's access at once, not at token expiry.
    decision = release.decide(token.client, token.citizen.id, [ME])
    if ACCOUNT_ACCESS not in {rule.claim for rule in decision.granted}:
        raise guard.Rejected(403, "insufficient_scope", "The citizen has withdrawn consent.")


def citizen_api(*, tokens: bool = True):
    """The guard of a JSON twin (idp/oidc/guard.py): a token with scope `me` while the
    citizen's consent to it stands (when ``tokens``), or the SSO session at the default
    level; else a 401 problem, never a redirect to a login page. A change (``tokens=False``)
    is the session's alone, with its CSRF token, after a token has had its clear 403. Each
    call spends API_RATE_LIMIT: the token's holder's, the logged-in citizen's, or else the
    source address's."""
    if not tokens:
        return guard.session_required(budget=RATE_LIMIT)
    return guard.token_required(ME, for_citizen=True, budget=RATE_LIMIT,
                                check=_consent_stands, session=True)  # fmt: skip


def _timestamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


@bp.get("")
@citizen_api()
def data():
    return jsonify(my_data.as_json(citizen()))


def consents_json(citizen_id: str) -> list[dict]:
    grants = release.grants_of(citizen_id)
    names = client_registry.by_id(grant.client_id for grant in grants)
    items = []
    for grant in grants:
        client = names.get(grant.client_id)
        policy = client.release_policy() if client else {}
        items.append(
            {
                "service": {
                    "client_id": grant.client_id,
                    "name": client.name if client else None,
                    "kind": str(client.kind) if client else None,
                },
                "granted_at": grant.granted_at.isoformat(),
                "attributes": [
                    {"name": claim, "purpose": policy[claim].purpose if claim in policy else None}
                    for claim in grant.claims
                ],
            }
        )
    return items


@bp.get("/consents")
@citizen_api()
def consents():
    return jsonify(consents=consents_json(citizen().id))


@bp.delete("/consents/<client_id>")
@citizen_api(tokens=False)
def withdraw_consent(client_id: str):
    """Withdraw consent to one service (the CSRF token comes in X-CSRFToken)."""
    if not release.withdraw(citizen().id, client_id):
        return problem(404, _("You have not agreed to share anything with that service."))
    refresh.revoke_for(citizen().id, client_id)
    return "", 204


def sessions_json(citizen_id: str) -> list[dict]:
    this = current.sso_session()
    return [
        {
            "id": s.id_hash,
            "device": s.user_agent,
            "logged_in_at": _timestamp(s.created_at),
            "last_active_at": _timestamp(s.last_seen),
            "expires_at": _timestamp(s.expires_at()),
            "level": s.level,
            "methods": s.amr,
            "this_session": this is not None and s.id_hash == this.id_hash,
        }
        for s in sessions.list_for(citizen_id)
    ]


@bp.get("/sessions")
@citizen_api()
def session_list():
    return jsonify(sessions=sessions_json(citizen().id))


def authenticators_json(citizen_id: str) -> list[dict]:
    def iso(moment: dt.datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return [
        {
            "id": a.id,
            "kind": str(a.kind),
            "name": a.name,
            "added_at": iso(a.created_at),
            "last_used_at": iso(a.last_used_at),
            # A passkey that may be synced to other devices, and one blocked as a suspected clone.
            "synced": bool(a.backup_eligible) if a.kind == "webauthn" else None,
            "blocked": a.suspect_at is not None,
        }
        for a in authenticators.active(citizen_id)
    ]


@bp.get("/authenticators")
@citizen_api()
def authenticator_list():
    return jsonify(authenticators=authenticators_json(citizen().id))
