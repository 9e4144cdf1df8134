"""Liveness and readiness endpoints for the operator's load balancer and orchestrator."""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from idp.core.extensions import db, limiter, store

bp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
@limiter.exempt
def readyz():
    checks = {"database": "ok", "store": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except Exception as exc:
        log.warning("database not ready", extra={"error": type(exc).__name__})
        checks["database"] = "unavailable"
        db.session.rollback()
    try:
        store.redis.ping()
    except Exception as exc:
        log.warning("store not ready", extra={"error": type(exc).__name__})
        checks["store"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "unavailable", checks=checks), (
        200 if ready else 503
    )
