"""The sequencer: the only writer of the ledger's tree. It gives pending entries their
leaves, stores the new subtree hashes and signs a checkpoint, one integrator at a time (a
lock), in bulk; every worker runs it in a thread, and `flask ledger integrate` on demand.
Readers never integrate: they serve what the sequencer has signed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app
from sqlalchemy import create_engine, func, insert, select, text, update
from sqlalchemy.pool import NullPool

from consent import checkpoint, mandate_events, merkle, partitions
from consent.ledger.models import (
    LedgerCheckpoint,
    LedgerEntry,
    LedgerKey,
    MerkleNode,
    latest_checkpoint,
    public_key,
    stored_nodes,
    stored_subtree,
)
from idp.core import crypto
from idp.core.database import engine_options, unbounded_statements
from idp.core.extensions import db, store

KEY_NAME_SUFFIX = "/ledger"
_INTEGRATE_LOCK_SECONDS = 60
# The integrator's PostgreSQL advisory lock (advisory locks are per database): RFC 9162's number.
_INTEGRATE_LOCK_ID = 9162
# Entries per checkpoint: a batch integrates in a few seconds, well inside the lock.
INTEGRATE_BATCH = 50_000


def signing_key() -> tuple[str, Ed25519PrivateKey]:
    """The checkpoint signing key, made at the first checkpoint."""
    key = public_key()
    if key is None:
        private = Ed25519PrivateKey.generate()
        key = LedgerKey(
            name=key_name(),
            public_key=private.public_key().public_bytes_raw(),
            private_key_encrypted=crypto.encrypt(private.private_bytes_raw(), "ledger_key"),
        )
        db.session.add(key)
        db.session.flush()
    raw = crypto.decrypt(key.private_key_encrypted, "ledger_key")
    return key.name, Ed25519PrivateKey.from_private_bytes(raw)


def key_name() -> str:
    return urlsplit(current_app.config["ISSUER"]).netloc + KEY_NAME_SUFFIX


def integrate(limit: int = INTEGRATE_BATCH) -> LedgerCheckpoint | None:
    """Give up to ``limit`` pending entries their leaves, store the new subtree hashes and
    sign a checkpoint, in one transaction. One integrator at a time (``_integration_lock``);
    returns the new checkpoint, if any. Call again while entries are pending."""
    unlock = _integration_lock()
    if unlock is None:
        return None
    try:
        latest = latest_checkpoint()
        old = latest.tree_size if latest else 0  # every leaf so far is under a checkpoint
        # Leaves in id order, numbered in the database: one statement, however many entries.
        # (released_at in the join lets PostgreSQL go straight to each entry's partition.)
        pending = (
            select(LedgerEntry.id, LedgerEntry.released_at,
                   func.row_number().over(order_by=LedgerEntry.id).label("rank"))
            .where(LedgerEntry.leaf_index.is_(None))
            .order_by(LedgerEntry.id)
            .limit(limit)
            .subquery()
        )  # fmt: skip
        placed = db.session.execute(
            update(LedgerEntry)
            .where(LedgerEntry.id == pending.c.id, LedgerEntry.released_at == pending.c.released_at)
            .values(leaf_index=old + pending.c.rank - 1)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not placed:
            db.session.rollback()
            return None
        new = old + placed
        commitments = db.session.scalars(
            select(LedgerEntry.commitment)
            .where(LedgerEntry.leaf_index >= old, LedgerEntry.leaf_index < new)
            .order_by(LedgerEntry.leaf_index)
        ).all()
        # The old tree's nodes the new ones and the root build on, in one query: at each
        # level the last complete subtree before ``old`` and before ``new``.
        cache = stored_nodes({
            (level, (size >> level) - 1)
            for size in (old, new)
            for level in range(new.bit_length())
            if size >> level > 0 and (size >> level) - 1 < old >> level
        })  # fmt: skip
        cache.update(
            ((0, old + offset), merkle.leaf_hash(commitment))
            for offset, commitment in enumerate(commitments)
        )
        subtree = stored_subtree(cache)
        level = 1
        while new >> level:
            for index in range(old >> level, new >> level):
                half = 1 << (level - 1)
                left = subtree(index << level, half)
                right = subtree((index << level) + half, half)
                cache[(level, index)] = merkle.node_hash(left, right)
            level += 1
        _store_nodes([key for key in cache if key[1] >= old >> key[0]], cache)
        root = merkle.root(0, new, subtree)
        name, private = signing_key()
        signed = LedgerCheckpoint(
            tree_size=new,
            root_hash=root,
            note=checkpoint.sign(checkpoint.Checkpoint(name, new, root), name, private),
        )
        db.session.add(signed)
        db.session.commit()
        return signed
    except Exception:
        db.session.rollback()
        raise
    finally:
        unlock()


def _store_nodes(keys: list[tuple[int, int]], cache: dict[tuple[int, int], bytes]) -> None:
    """Insert the new nodes: on PostgreSQL by COPY on the session's connection, in its
    transaction (the checkpoint commits them). Rows through COPY are formatted by psycopg's
    C code; the earlier INSERT from three array parameters had psycopg dump each array
    element by element in Python, 48 % of the integrator's time
    (bench/results/profiles/2026-12-03-eve/integrator/), and an executemany of a batch's
    thousands of rows cost more still."""
    if db.engine.dialect.name == "postgresql":
        connection = db.session.connection().connection.dbapi_connection
        copy_in = 'COPY merkle_node (level, "index", hash) FROM STDIN'
        with connection.cursor() as cursor, cursor.copy(copy_in) as copy:
            for key in keys:
                copy.write_row((key[0], key[1], cache[key]))
        return
    db.session.execute(
        insert(MerkleNode.__table__),
        [{"level": level, "index": index, "hash": cache[level, index]} for level, index in keys],
    )


def _integration_lock() -> Callable[[], object] | None:
    """Take the one integrator's lock: what releases it, or None when another holds it.

    On PostgreSQL a transaction-scoped advisory lock: the integration's own commit or rollback
    releases it, and PostgreSQL does when the process holding it dies. A lock in the store
    outlived a SIGKILLed worker by up to a minute (every integration, `flask ledger integrate`
    too, did nothing meanwhile) and vanished when Redis restarted. Elsewhere (SQLite, one
    writer at a time anyway) the lock is in the store.
    """
    if db.engine.dialect.name == "postgresql":
        taken = db.session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:id)"), {"id": _INTEGRATE_LOCK_ID}
        )
        return (lambda: None) if taken else None
    lock = store.key("ledger-integrate")
    if not store.redis.set(lock, 1, nx=True, ex=_INTEGRATE_LOCK_SECONDS):
        return None
    return lambda: store.redis.delete(lock)


def integrate_all() -> LedgerCheckpoint | None:
    """Integrate what is pending, one checkpoint per batch of INTEGRATE_BATCH, until a batch
    is not full (or another integrator holds the lock). Entries released meanwhile wait for
    the next run: under a steady trickle of releases a run signs one checkpoint, not one per
    handful of entries (the profile of 2026-12-03 saw 892 a minute under userinfo load)."""
    latest = latest_checkpoint()
    size = latest.tree_size if latest else 0
    last = None
    while signed := integrate():
        last, grown, size = signed, signed.tree_size - size, signed.tree_size
        if grown < INTEGRATE_BATCH:
            break
    return last


def start_integrator(app) -> threading.Event | None:
    """Integrate every LEDGER_INTEGRATE_SECONDS in a daemon thread (one per worker, started by
    serve.py's worker_app, in the worker; the integrator's lock lets one of them work at a
    time). 0 turns it off. Setting the returned event stops the thread."""
    interval = app.config["LEDGER_INTEGRATE_SECONDS"]
    if interval <= 0:
        return None
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(interval):
            # A batch's work grows with the backlog: no statement timeout (idp/core/database.py).
            with app.app_context(), unbounded_statements():
                try:
                    integrate_all()  # first: it needs only the database, not the store
                    partitions.ensure_now_and_then()
                    # Mandates past their end date, into both people's logs (once a minute).
                    mandate_events.record_expiries_now_and_then()
                except Exception:  # a database outage must not end the thread
                    app.logger.exception("ledger integration failed; retrying")
                finally:
                    db.session.remove()

    threading.Thread(target=run, name="ledger-integrator", daemon=True).start()
    return stop


# A scrape counts pending entries up to this many (and reads the oldest among them): a
# backlog that large is an alarm already, and counting further would cost the scrape seconds.
BACKLOG_COUNT_LIMIT = 100_000


def backlog(connection) -> tuple[int, float | None]:
    """The entries without a leaf, up to BACKLOG_COUNT_LIMIT, and the release time of the
    oldest of them (a Unix time; None when none is pending). One statement on
    ix_ledger_entry_leaf_index (a b-tree indexes the NULLs: only the pending entries are
    read, whatever the ledger's size)."""
    waiting = (
        select(LedgerEntry.released_at)
        .where(LedgerEntry.leaf_index.is_(None))
        .limit(BACKLOG_COUNT_LIMIT)
        .subquery()
    )
    pending, oldest = connection.execute(
        select(func.count(), func.min(waiting.c.released_at))
    ).one()
    return pending, oldest.timestamp() if oldest is not None else None


def backlog_reader(config: dict) -> Callable[[], tuple[int, float | None]]:
    """`backlog` on a connection of its own each time, outside any app (serve.py's main
    process, which serves the metrics and never holds a connection across the forks of its
    workers), with the app's timeouts."""
    options = {name: value for name, value in engine_options(config).items()
               if not name.startswith("pool_")}  # fmt: skip
    engine = create_engine(config["SQLALCHEMY_DATABASE_URI"], poolclass=NullPool, **options)

    def read() -> tuple[int, float | None]:
        with engine.connect() as connection:
            return backlog(connection)

    return read
