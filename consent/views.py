"""Public ledger endpoints: the latest signed checkpoint and consistency proofs.

Leaf contents are never public; only tree sizes, hashes and signatures are. A reader: it
serves what the sequencer (consent/ledger/sequencer.py) has signed and never integrates.
"""

from __future__ import annotations

import base64
import re

from flask import Blueprint, current_app, jsonify, request

from consent import checkpoint
from consent.ledger import models, proofs
from idp.core.extensions import limiter
from idp.core.problems import problem

bp = Blueprint("ledger", __name__, url_prefix="/ledger")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")  # ASCII digits only: "²" is a digit to Python


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@bp.get("/checkpoint")
@limiter.exempt
def latest_checkpoint():
    """The latest signed checkpoint as a C2SP note (text/plain); entries logged since it wait
    for the next one the sequencer signs."""
    signed = models.latest_checkpoint()
    if signed is None:
        return problem(404, "No checkpoint has been signed yet.")
    response = current_app.response_class(signed.note, mimetype="text/plain")
    key = models.public_key()
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Tillid-Ledger-Key"] = checkpoint.verifier_key(key.name, key.public_key)
    return response


@bp.get("/key")
def verifier_key():
    """The note verifier key that checks checkpoint signatures."""
    key = models.public_key()
    if key is None:
        return problem(404, "No checkpoint has been signed yet.")
    return jsonify(name=key.name, verifier_key=checkpoint.verifier_key(key.name, key.public_key),
                   public_key=_b64(key.public_key))  # fmt: skip


@bp.get("/proof/consistency")
def consistency():
    """RFC 9162 consistency proof between two signed tree sizes."""
    first, second = request.args.get("first", ""), request.args.get("second", "")
    if not (_WHOLE_NUMBER.fullmatch(first) and _WHOLE_NUMBER.fullmatch(second)):
        return problem(400, "first and second must be tree sizes (whole numbers).")
    first, second = int(first), int(second)
    latest = models.latest_checkpoint()
    size = latest.tree_size if latest else 0
    if not 0 < first <= second <= size:
        return problem(400, f"Need 0 < first <= second <= {size}, the latest tree size.")
    proof = proofs.consistency_proof(first, second)
    return jsonify(first=first, second=second, proof=[_b64(p) for p in proof])
