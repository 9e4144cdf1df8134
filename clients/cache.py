"""Registrations kept per process for a few seconds, for the endpoints that read one on every
call (token, introspection, revocation, userinfo, authorize), and the signing algorithms they
use, for the readiness check a load balancer polls.

Reading the client was a database round trip and about a quarter of a token call's time
(py-spy under `make bench`), for a row that changes a few times a year. What that costs
in freshness, and the bound:

- A change made in this process (an admin request, `flask clients ...` run by the server's
  own app, a test) is seen at once: any flush that touches a Client or a ClaimPolicy drops
  every registration kept, and so does its commit.
- A change made elsewhere (the command line on another machine, another worker) is seen
  within CACHE_SECONDS: a disabled client, or a secret rotated away, stops working
  everywhere within that time. A secret is never kept by itself, only its SHA-256 digest
  inside the registration, and checking it is the same constant-time comparison as before.

Unknown client ids are not kept (a new registration works at once, and made-up ids cannot
fill the cache). What is kept is a detached copy, never in any session: read it, never
change it (change a registration through clients.service, which loads its own).
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from itertools import chain

from flask import current_app
from sqlalchemy import event, inspect, select, union
from sqlalchemy.orm import Session, make_transient_to_detached

from clients.models import ClaimPolicy, Client
from idp.core.extensions import db

CACHE_SECONDS = 5.0
_MAX_KEPT = 1024  # registrations per process; past that it starts afresh
_clock = time.monotonic

_lock = threading.Lock()
_generation = 0  # bumped by every change to a registration made in this process


@dataclass(frozen=True)
class _Kept:
    value: Client | frozenset[str]
    loaded_at: float
    generation: int


def _fresh(hit: _Kept | None) -> bool:
    return (
        hit is not None
        and hit.generation == _generation
        and _clock() - hit.loaded_at < CACHE_SECONDS
    )


def get(client_id: str) -> Client | None:
    """The registration of ``client_id`` (enabled or not), at most CACHE_SECONDS old."""
    kept: dict[str, _Kept] = current_app.extensions.setdefault("tillid_client_cache", {})
    hit = kept.get(client_id)
    if _fresh(hit):
        return hit.value
    generation, loaded_at = _generation, _clock()  # before the read: a change during it wins
    client = db.session.get(Client, client_id)
    if client is None:
        kept.pop(client_id, None)
        return None
    snapshot = _detached_copy(client)
    if len(kept) >= _MAX_KEPT:
        kept.clear()
    kept[client_id] = _Kept(snapshot, loaded_at, generation)
    return snapshot


def signing_algorithms_in_use() -> frozenset[str]:
    """The algorithms enabled registrations have their tokens signed with (ID and access
    tokens), at most CACHE_SECONDS old: what readiness needs a signing key for."""
    hit = current_app.extensions.get("tillid_client_algorithms")
    if _fresh(hit):
        return hit.value
    generation, loaded_at = _generation, _clock()
    enabled = Client.disabled_at.is_(None)
    algorithms = frozenset(db.session.scalars(union(
        select(Client.id_token_signed_response_alg).where(enabled),
        select(Client.access_token_signed_response_alg).where(enabled),
    )))  # fmt: skip
    current_app.extensions["tillid_client_algorithms"] = _Kept(algorithms, loaded_at, generation)
    return algorithms


def forget() -> None:
    """Drop every registration kept in this process (the next read goes to the database)."""
    global _generation
    with _lock:
        _generation += 1


def _columns(instance) -> dict:
    return {
        column.key: copy.deepcopy(getattr(instance, column.key))
        for column in inspect(type(instance)).column_attrs
    }


def _detached_copy(client: Client) -> Client:
    """A copy of ``client`` and its claim policies, fully loaded and in no session."""
    policies = [ClaimPolicy(**_columns(policy)) for policy in client.claim_policies]
    snapshot = Client(**_columns(client), claim_policies=policies)
    for instance in (snapshot, *policies):
        make_transient_to_detached(instance)
    return snapshot


def _touches_registrations(session: Session) -> bool:
    return any(
        isinstance(instance, Client | ClaimPolicy)
        for instance in chain(session.new, session.dirty, session.deleted)
    )


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    if _touches_registrations(session):
        session.info["tillid_registration_changed"] = True
        forget()


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Again at the commit: another thread may have read the old row in between.
    if session.info.pop("tillid_registration_changed", False):
        forget()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("tillid_registration_changed", None)
