"""Fresh proofs of possession, held for the page that acts on them.

A password reset proves the citizen first (a recovery code, a passkey, the phone) and sets
the new password on the next page; a password change takes a passkey's answer before the
form is sent. Between the two the proof waits in the store under a random token that only
this browser's signed session names, for a few minutes, and is taken once: a copied cookie
replays nothing, and a proof never outlives the page it was made for.
"""

from __future__ import annotations

import dataclasses
import json
import secrets

from flask import session

from idp.core.extensions import store

HOLD_SECONDS = 10 * 60


@dataclasses.dataclass
class Proof:
    citizen_id: str
    method: str  # "recovery_code", "passkey" or "phone"
    amr: list[str]  # RFC 8176 methods of what was proved
    level: str | None = None  # the NSIS level it reached, when the methods alone do not say
    # A recovery code proves the account is theirs, not a second factor: afterwards the
    # citizen may enrol a new authenticator, nothing more (as after /login/recovery).
    recovered: bool = False


def _session_key(purpose: str) -> str:
    return f"possession-{purpose}"


def _store_key(purpose: str, token: str) -> str:
    return store.key("possession", purpose, token)


def hold(purpose: str, proof: Proof) -> None:
    """Keep ``proof`` for this browser's next step of ``purpose``; an earlier one is dropped."""
    take(purpose)
    token = secrets.token_urlsafe(32)
    store.redis.set(_store_key(purpose, token), json.dumps(dataclasses.asdict(proof)),
                    ex=HOLD_SECONDS)  # fmt: skip
    session[_session_key(purpose)] = token


def peek(purpose: str) -> Proof | None:
    """The proof this browser holds for ``purpose``, left in place."""
    token = session.get(_session_key(purpose))
    if not isinstance(token, str):
        return None
    raw = store.redis.get(_store_key(purpose, token))
    return Proof(**json.loads(raw)) if raw is not None else None


def take(purpose: str) -> Proof | None:
    """The proof, spent: a second take (a reload, a copied cookie) finds nothing."""
    token = session.pop(_session_key(purpose), None)
    if not isinstance(token, str):
        return None
    raw = store.redis.getdel(_store_key(purpose, token))
    return Proof(**json.loads(raw)) if raw is not None else None
