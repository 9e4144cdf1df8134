"""Liveness and readiness endpoints for the operator's load balancer and orchestrator."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from clients import cache as client_cache
from idp.core.extensions import db, limiter, roll_back_session, store
from idp.keys import service as keys

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


def _check_signing_keys(checks: dict, reasons: dict) -> None:
    try:
        missing = keys.without_signing_key(client_cache.signing_algorithms_in_use())
    except Exception as exc:  # the database went away since, or is not migrated
        log.warning("signing keys not checked", extra={"error": type(exc).__name__})
        roll_back_session()
        checks["signing_keys"] = "unknown"
        reasons["signing_keys"] = f"could not be read ({type(exc).__name__})"
        return
    if missing:
        log.warning("signing keys not ready", extra={"missing": missing})
        checks["signing_keys"] = "missing"
        reasons["signing_keys"] = (
            f"no active {' or '.join(missing)} signing key, which registered clients' "
            "tokens are signed with: run `flask keys ensure`"
        )


@bp.get("/readyz")
@limiter.exempt
def readyz():
    """Ready when this instance can serve: its database and store answer, and a key signs
    for every algorithm an enabled client's tokens use (else every token request would fail).
    Load balancers poll it: beyond `SELECT 1` and a PING it reads what the key and client
    caches keep (a query each every few seconds at most)."""
    checks = {"database": "ok", "store": "ok", "signing_keys": "ok"}
    reasons = {}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("database not ready", extra={"error": type(exc).__name__})
        roll_back_session()
        checks.update(database="unavailable", signing_keys="unknown")
        reasons["database"] = f"the database did not answer ({type(exc).__name__})"
        reasons["signing_keys"] = "not checked: the keys are in the database"
    else:
        _check_signing_keys(checks, reasons)
    try:
        store.redis.ping()
    except Exception as exc:
        log.warning("store not ready", extra={"error": type(exc).__name__})
        checks["store"] = "unavailable"
        reasons["store"] = f"the store did not answer ({type(exc).__name__})"
    ready = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    if reasons:
        body["reasons"] = reasons
    return jsonify(body), 200 if ready else 503
