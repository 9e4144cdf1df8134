"""The access ledger: one entry per release of a citizen's attributes, in an RFC 9162 Merkle
log whose checkpoints Tillid signs (Ed25519, C2SP signed notes).

Appending is a plain insert in the release's own transaction. Each entry commits to its
content with a salted hash (the leaf), so the content can later be erased (GDPR Art. 17)
while the leaf and every proof stay valid. The integrator gives new entries their place in
the tree, stores the complete subtrees' hashes (fast proofs), and signs a checkpoint.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app, g
from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from clients.models import Client
from consent import checkpoint, merkle, partitions
from consent import verify as proofs
from idp.core import crypto
from idp.core.database import unbounded_statements
from idp.core.dbtypes import UTCDateTime, string_enum, utcnow
from idp.core.extensions import db, store

KEY_NAME_SUFFIX = "/ledger"
_INTEGRATE_LOCK_SECONDS = 60
# The integrator's PostgreSQL advisory lock (advisory locks are per database): RFC 9162's number.
_INTEGRATE_LOCK_ID = 9162
# Entries per checkpoint: a batch integrates in a few seconds, well inside the lock.
INTEGRATE_BATCH = 50_000


class Channel(enum.StrEnum):
    LOGIN = "login"  # in an ID token
    USERINFO = "userinfo"
    ATTRIBUTE_API = "attribute_api"
    REPORTED_LOOKUP = "reported_lookup"  # an authority's own lookup, reported to Tillid


# 64 bits on PostgreSQL: a nation's releases outgrow 2**31; SQLite's rowid is 64-bit anyway.
LedgerId = BigInteger().with_variant(Integer, "sqlite")


class LedgerEntry(db.Model):
    """On PostgreSQL the table is partitioned by month of ``released_at`` (migration 0013,
    consent/partitions.py), so its primary key there is (id, released_at) and no constraint
    can span partitions: a leaf index is unique by the Merkle node stored with it, and a
    report's reference by its row in ``ledger_reference``."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        # The citizen's log, newest first, one index range per page.
        Index("ix_ledger_entry_citizen_newest", "citizen_id", "released_at", "id"),
    )

    id: Mapped[int] = mapped_column(LedgerId, primary_key=True)
    citizen_id: Mapped[str] = mapped_column(String(36), ForeignKey("citizen.id"))
    client_id: Mapped[str] = mapped_column(String(64), ForeignKey("client.client_id"))
    client_name: Mapped[str] = mapped_column(String(200))
    client_kind: Mapped[str] = mapped_column(String(32))
    channel: Mapped[Channel] = mapped_column(string_enum(Channel, "ledger_channel", length=32))
    # The content (None once erased): what was released, why, on which basis.
    attributes: Mapped[list | None] = mapped_column(db.JSON)
    purpose: Mapped[str | None] = mapped_column(Text)
    legal_basis: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(100))
    released_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    salt: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # SHA-256(salt || content): the Merkle leaf; it outlives an erasure.
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf_index: Mapped[int | None] = mapped_column(LedgerId, index=True)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def content(self) -> bytes:
        """The canonical bytes the commitment covers."""
        body = {
            "citizen_id": self.citizen_id,
            "client_id": self.client_id,
            "client_name": self.client_name,
            "client_kind": self.client_kind,
            "channel": str(self.channel),
            "attributes": self.attributes,
            "purpose": self.purpose,
            "legal_basis": self.legal_basis,
            "request_id": self.request_id,
            "released_at": self.released_at.astimezone(dt.UTC).isoformat(),
        }
        if self.reference is not None:  # only reports have one (older entries stay as signed)
            body["reference"] = self.reference
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def committed(self) -> bytes:
        return hashlib.sha256(self.salt + self.content()).digest()


class LedgerReference(db.Model):
    """An authority's reference for a reported lookup: a retried report is the same entry.
    Its own table, as a unique constraint on the partitioned ledger could not span months."""

    __tablename__ = "ledger_reference"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), primary_key=True)
    entry_id: Mapped[int] = mapped_column(LedgerId)


class MerkleNode(db.Model):
    """The hash of a complete, aligned subtree: 2**level leaves from index * 2**level."""

    __tablename__ = "merkle_node"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(LedgerId, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerCheckpoint(db.Model):
    __tablename__ = "ledger_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(LedgerId, unique=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerKey(db.Model):
    """The Ed25519 key that signs checkpoints; the private half encrypted at rest."""

    __tablename__ = "ledger_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- appending ---------------------------------------------------------------------------


def append(
    *,
    citizen_id: str,
    client: Client,
    channel: Channel,
    attributes: list[str],
    purpose: str,
    legal_basis: str,
    released_at: dt.datetime | None = None,
    reference: str | None = None,
) -> LedgerEntry:
    """Add an entry to the caller's transaction: it commits with the release, or not at all."""
    entry = LedgerEntry(
        citizen_id=citizen_id,
        client_id=client.client_id,
        client_name=client.name,
        client_kind=str(client.kind),
        channel=channel,
        attributes=list(attributes),
        purpose=purpose,
        legal_basis=str(legal_basis),
        request_id=g.get("request_id"),
        released_at=released_at or utcnow(),
        reference=reference,
        salt=secrets.token_bytes(32),
    )
    entry.commitment = entry.committed()
    db.session.add(entry)
    if reference is not None:
        db.session.flush()  # the entry's id, for its reference
        db.session.add(
            LedgerReference(client_id=client.client_id, reference=reference, entry_id=entry.id)
        )
    return entry


def referenced(client_id: str, reference: str) -> LedgerEntry | None:
    """The entry an authority reported under ``reference``, if any."""
    entry_id = db.session.scalar(
        select(LedgerReference.entry_id).where(
            LedgerReference.client_id == client_id, LedgerReference.reference == reference
        )
    )
    return db.session.get(LedgerEntry, entry_id) if entry_id is not None else None


# --- the tree ----------------------------------------------------------------------------


def _stored_subtree(cache: dict[tuple[int, int], bytes]) -> merkle.Subtree:
    def subtree(start: int, size: int) -> bytes:
        level = size.bit_length() - 1
        key = (level, start >> level)
        if key not in cache:
            node = db.session.get(MerkleNode, key)
            if node is None:
                raise LookupError(f"no stored node {key}")
            cache[key] = node.hash
        return cache[key]

    return subtree


def signing_key() -> tuple[str, Ed25519PrivateKey]:
    key = db.session.scalar(select(LedgerKey).order_by(LedgerKey.id.desc()))
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


def public_key() -> LedgerKey | None:
    return db.session.scalar(select(LedgerKey).order_by(LedgerKey.id.desc()))


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
        cache: dict[tuple[int, int], bytes] = {
            (0, old + offset): merkle.leaf_hash(commitment)
            for offset, commitment in enumerate(commitments)
        }
        subtree = _stored_subtree(cache)
        level = 1
        while new >> level:
            for index in range(old >> level, new >> level):
                half = 1 << (level - 1)
                left = subtree(index << level, half)
                right = subtree((index << level) + half, half)
                cache[(level, index)] = merkle.node_hash(left, right)
            level += 1
        db.session.execute(
            insert(MerkleNode),
            [
                {"level": level, "index": index, "hash": digest}
                for (level, index), digest in cache.items()
                if index >= old >> level
            ],
        )
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
    """Integrate until nothing is pending (or another integrator holds the lock)."""
    last = None
    while signed := integrate():
        last = signed
    return last


def latest_checkpoint() -> LedgerCheckpoint | None:
    return db.session.scalar(select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()))


def _nodes_for_proofs(leaf_indices: list[int], size: int) -> dict[tuple[int, int], bytes]:
    """Every stored node the inclusion proofs of these leaves read, in one query (a proof
    reads about log2(size) nodes; fetched one by one, a page of them was hundreds of trips)."""
    wanted: set[tuple[int, int]] = set()

    def note(start: int, size: int) -> bytes:
        level = size.bit_length() - 1
        wanted.add((level, start >> level))
        return b""

    for index in leaf_indices:
        merkle.inclusion_proof(index, size, note)
    if not wanted:
        return {}
    if db.engine.dialect.name == "postgresql":
        # Two arrays joined on the primary key: one short plan, where a row-value IN list of
        # a page's few hundred nodes took PostgreSQL longer to plan than to answer.
        levels, indices = zip(*sorted(wanted), strict=True)
        rows = db.session.execute(
            text(
                "SELECT n.level, n.index, n.hash FROM merkle_node n "
                "JOIN unnest(CAST(:levels AS integer[]), CAST(:indices AS bigint[])) "
                "AS wanted(level, index) ON n.level = wanted.level AND n.index = wanted.index"
            ),
            {"levels": list(levels), "indices": list(indices)},
        ).all()
    else:
        rows = db.session.execute(
            select(MerkleNode.level, MerkleNode.index, MerkleNode.hash).where(
                tuple_(MerkleNode.level, MerkleNode.index).in_(sorted(wanted))
            )
        ).all()
    return {(level, index): digest for level, index, digest in rows}


def inclusion_proof(entry: LedgerEntry, size: int, nodes: dict | None = None) -> list[bytes]:
    cache = dict(nodes) if nodes is not None else _nodes_for_proofs([entry.leaf_index], size)
    return merkle.inclusion_proof(entry.leaf_index, size, _stored_subtree(cache))


def consistency_proof(first: int, second: int) -> list[bytes]:
    return merkle.consistency_proof(first, second, _stored_subtree({}))


# --- verification ------------------------------------------------------------------------


def verify() -> dict:
    """Recompute the tree from the entries and check it against every signed checkpoint."""
    if db.engine.dialect.name == "postgresql":
        # One snapshot for all the reads below: an integration committed between two of them
        # (a live server integrates every few seconds) looked like missing entries.
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    problems: list[dict] = []
    entries = db.session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.leaf_index.is_not(None))
        .order_by(LedgerEntry.leaf_index)
    ).all()
    by_index = {entry.leaf_index: entry for entry in entries}
    stored = dict(
        db.session.execute(
            select(MerkleNode.index, MerkleNode.hash).where(MerkleNode.level == 0)
        ).all()
    )
    latest = latest_checkpoint()
    size = max([*by_index, (latest.tree_size if latest else 0) - 1]) + 1
    # Months archived by `flask ledger archive` took their entries out; their leaves stay.
    archived = partitions.ArchivedLeaves()
    leaf_hashes: list[bytes | None] = []
    for index in range(size):
        entry = by_index.get(index)
        if entry is None and index in stored and archived.take(index):
            leaf_hashes.append(stored[index])
            continue
        if entry is None:
            problems.append({"leaf_index": index, "problem": "the entry at this leaf is missing"})
            leaf_hashes.append(None)
            continue
        if entry.erased_at is None and entry.committed() != entry.commitment:
            problems.append(
                {
                    "entry": entry.id,
                    "leaf_index": index,
                    "problem": "its content no longer matches its commitment",
                }
            )
        leaf_hashes.append(merkle.leaf_hash(entry.commitment))
    for index, leaf in enumerate(leaf_hashes):
        if leaf is not None and index in by_index and stored.get(index) != leaf:
            entry = by_index[index]
            problems.append(
                {
                    "entry": entry.id,
                    "leaf_index": index,
                    "problem": "it is not the entry that was logged at this leaf",
                }
            )
    key = public_key()
    checkpoints = db.session.scalars(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size)
    ).all()
    complete = None not in leaf_hashes
    subtree = merkle.subtree_of(leaf_hashes) if complete else None
    previous = None
    for signed in checkpoints:
        try:
            note = checkpoint.open_note(signed.note, key.name, key.public_key)
        except (checkpoint.BadNote, AttributeError) as exc:
            problems.append({"checkpoint": signed.tree_size, "problem": f"bad signature: {exc}"})
            continue
        if (note.tree_size, note.root_hash) != (signed.tree_size, signed.root_hash):
            problems.append(
                {"checkpoint": signed.tree_size, "problem": "differs from its signed note"}
            )
        if note.tree_size > size:
            problems.append(
                {"checkpoint": note.tree_size, "problem": "more leaves signed than stored"}
            )
            continue
        if subtree is not None and merkle.root(0, note.tree_size, subtree) != note.root_hash:
            problems.append(
                {
                    "checkpoint": note.tree_size,
                    "problem": "the entries no longer give the signed root",
                }
            )
        if previous is not None and subtree is not None:
            proof = merkle.consistency_proof(previous.tree_size, note.tree_size, subtree)
            if not merkle.verify_consistency(
                previous.tree_size, note.tree_size, previous.root_hash, note.root_hash, proof
            ):
                problems.append(
                    {
                        "checkpoint": note.tree_size,
                        "problem": f"not consistent with checkpoint {previous.tree_size}",
                    }
                )
        previous = note
    root = merkle.root(0, size, subtree) if subtree is not None else None
    return {
        "ok": not problems,
        "tree_size": size,
        "root": base64.b64encode(root).decode() if root is not None else None,
        "checkpoints": len(checkpoints),
        "archived": archived.counted,
        "pending": db.session.scalar(select(func.count()).where(LedgerEntry.leaf_index.is_(None))),
        "problems": problems,
    }


# --- the citizen's view --------------------------------------------------------------------

_NEWEST_FIRST = (LedgerEntry.released_at.desc(), LedgerEntry.id.desc())


def every_entry_of(citizen_id: str):
    """All of the citizen's entries, newest first, streamed (the export)."""
    query = (
        select(LedgerEntry)
        .where(LedgerEntry.citizen_id == citizen_id)
        .order_by(*_NEWEST_FIRST)
        .execution_options(yield_per=500)
    )
    yield from db.session.scalars(query)


def entries_for(citizen_id: str, *, client_id: str | None = None, attribute: str | None = None,
                channel: str | None = None, since: dt.datetime | None = None,
                until: dt.datetime | None = None, page: int = 1,
                per_page: int = 20) -> tuple[list[LedgerEntry], int]:  # fmt: skip
    """One page of the citizen's entries, newest first, and how many match in all."""
    query = select(LedgerEntry).where(LedgerEntry.citizen_id == citizen_id)
    if client_id:
        query = query.where(LedgerEntry.client_id == client_id)
    if attribute:
        # JSON text on both databases: the quoted name is an exact element match.
        query = query.where(LedgerEntry.attributes.cast(Text).contains(json.dumps(attribute)))
    if channel:
        query = query.where(LedgerEntry.channel == channel)
    if since:
        query = query.where(LedgerEntry.released_at >= since)
    if until:
        query = query.where(LedgerEntry.released_at < until)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    items = db.session.scalars(
        query.order_by(*_NEWEST_FIRST).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(items), total


def clients_in_log(citizen_id: str) -> list[tuple[str, str]]:
    """(client id, name) of every service in the citizen's log, for the filter."""
    rows = db.session.execute(
        select(LedgerEntry.client_id, LedgerEntry.client_name)
        .where(LedgerEntry.citizen_id == citizen_id)
        .distinct()
        .order_by(LedgerEntry.client_name)
    ).all()
    return [tuple(row) for row in rows]


def _proof_document(entry: LedgerEntry, signed: LedgerCheckpoint, nodes: dict | None = None
                    ) -> dict:  # fmt: skip
    erased = entry.erased_at is not None
    return {
        "entry_id": entry.id,
        "leaf_index": entry.leaf_index,
        "tree_size": signed.tree_size,
        "leaf": base64.b64encode(entry.commitment).decode(),
        "salt": None if erased else base64.b64encode(entry.salt).decode(),
        "content": None if erased else entry.content().decode(),
        "inclusion_proof": [
            base64.b64encode(p).decode() for p in inclusion_proof(entry, signed.tree_size, nodes)
        ],
        "checkpoint": signed.note,
    }


def _signed(entries: list[LedgerEntry]) -> LedgerCheckpoint | None:
    """The latest checkpoint, integrating first when one of ``entries`` has no leaf yet."""
    if any(entry.leaf_index is None for entry in entries):
        integrate()
        for entry in entries:
            db.session.refresh(entry)
    return latest_checkpoint()


def _under(entry: LedgerEntry, signed: LedgerCheckpoint | None) -> bool:
    return (
        signed is not None and entry.leaf_index is not None and entry.leaf_index < signed.tree_size
    )


def proof_for(entry: LedgerEntry) -> dict | None:
    """The entry's inclusion proof against the latest checkpoint, with what the citizen needs
    to check it offline (consent/verify.py); None while nothing is signed."""
    signed = _signed([entry])
    return _proof_document(entry, signed) if _under(entry, signed) else None


def verified(entries: list[LedgerEntry]) -> dict[int, bool]:
    """For each entry, does its proof hold against Tillid's own latest signed checkpoint?
    The checkpoint's signature is checked once for them all."""
    signed = _signed(entries)
    key = public_key()
    try:
        opened = checkpoint.open_note(signed.note, key.name, key.public_key) if signed else None
    except checkpoint.BadNote:
        opened = None
    under = [entry for entry in entries if _under(entry, signed)]
    nodes = (
        _nodes_for_proofs([entry.leaf_index for entry in under], signed.tree_size)
        if opened is not None
        else {}
    )
    return {
        entry.id: opened is not None
        and entry in under
        and not proofs.check_against(_proof_document(entry, signed, nodes), opened)
        for entry in entries
    }


# --- erasure (GDPR Art. 17) ------------------------------------------------------------------


def erase(citizen_id: str, retention: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Drop the content and salt of the citizen's entries older than ``retention``. The
    commitments (the leaves) stay, so the tree, every checkpoint and every other citizen's
    proof still verify; the erased entry's own content can no longer be shown or checked."""
    cutoff = (now or utcnow()) - retention
    entries = db.session.scalars(
        select(LedgerEntry).where(
            LedgerEntry.citizen_id == citizen_id,
            LedgerEntry.released_at < cutoff,
            LedgerEntry.erased_at.is_(None),
        )
    ).all()
    for entry in entries:
        entry.attributes = entry.purpose = entry.legal_basis = entry.request_id = None
        entry.reference = None
        entry.salt = None
        entry.erased_at = utcnow()
    if entries:
        db.session.execute(
            delete(LedgerReference).where(LedgerReference.entry_id.in_([e.id for e in entries]))
        )
    db.session.commit()
    return len(entries)


def start_integrator(app) -> threading.Event | None:
    """Integrate every LEDGER_INTEGRATE_SECONDS in a daemon thread (one per worker; the lock
    in the store lets one of them work at a time). 0 turns it off. Setting the returned
    event stops the thread."""
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
                except Exception:  # a database outage must not end the thread
                    app.logger.exception("ledger integration failed; retrying")
                finally:
                    db.session.remove()

    threading.Thread(target=run, name="ledger-integrator", daemon=True).start()
    return stop
