"""The access ledger's tables: entries (one per release), report references, the stored
Merkle nodes, the signed checkpoints and the key that signs them; and the few lookups that
the sequencer and the readers both make (the latest checkpoint, the key, a stored subtree).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column

from consent import merkle
from idp.core.dbtypes import UTCDateTime, string_enum, utcnow
from idp.core.extensions import db


class Channel(enum.StrEnum):
    LOGIN = "login"  # in an ID token
    USERINFO = "userinfo"
    ATTRIBUTE_API = "attribute_api"
    REPORTED_LOOKUP = "reported_lookup"  # an authority's own lookup, reported to Tillid
    WALLET_ISSUANCE = "wallet_issuance"  # a credential (the PID) issued to the citizen's wallet
    WALLET_REVOCATION = "wallet_revocation"  # one of those credentials revoked
    MANDATE = "mandate"  # a mandate given, accepted, appointed or ended (in both people's logs)


# 64 bits on PostgreSQL: a nation's releases outgrow 2**31; SQLite's rowid is 64-bit anyway.
LedgerId = BigInteger().with_variant(Integer, "sqlite")


# What the citizen's log page, its filters and its summary read of each entry: carried in the
# log's indexes (INCLUDE, on PostgreSQL), so those reads never visit the table.
_READ_FROM_THE_LOG_INDEX = ("client_id", "client_name", "client_kind", "channel", "erased_at",
                            "attributes")  # fmt: skip


class LedgerEntry(db.Model):
    """On PostgreSQL the table is partitioned by month of ``released_at`` (migration 0013,
    consent/partitions.py), so its primary key there is (id, released_at) and no constraint
    can span partitions: a leaf index is unique by the Merkle node stored with it, and a
    report's reference by its row in ``ledger_reference``."""

    __tablename__ = "ledger_entry"
    __table_args__ = (
        # The citizen's log, newest first, one index range per page; on PostgreSQL it also
        # carries what the page's count, filters, summary and services read, so those are
        # index-only scans (migration 0017).
        Index(
            "ix_ledger_entry_citizen_log",
            "citizen_id",
            "released_at",
            "id",
            postgresql_include=list(_READ_FROM_THE_LOG_INDEX),
        ),
        # The entries made while an agent acted (few): the summary counts them apart
        # (idp/account/access_summary.py), index-only on PostgreSQL (migration 0022).
        Index(
            "ix_ledger_entry_citizen_acting",
            "citizen_id",
            "released_at",
            postgresql_include=[*_READ_FROM_THE_LOG_INDEX, "representation"],
            postgresql_where=text("representation IS NOT NULL"),
            sqlite_where=text("representation IS NOT NULL"),
        ),
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
    # A release at userinfo: until when the access token it was made with was valid. The
    # holder's repeats of the same release with that token add no entry (consent/release.py);
    # this one stands for them. None for every other release, and before migration 0016.
    token_valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # A release while an agent acted for a principal (docs/representation.md): in the
    # principal's entry {"role": "principal", "agent": name, ...}, in the agent's own entry
    # for the same release {"role": "agent", "principal": name, ...}, with the mandate's id
    # and origin. None for every other release, and before migration 0021.
    # SQL NULL, not JSON null, when no agent acted: the summary's partial index holds only
    # the entries that have one (migration 0022).
    representation: Mapped[dict | None] = mapped_column(db.JSON(none_as_null=True))
    salt: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    # SHA-256(salt || content): the Merkle leaf; it outlives an erasure.
    commitment: Mapped[bytes] = mapped_column(LargeBinary(32))
    leaf_index: Mapped[int | None] = mapped_column(LedgerId, index=True)
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    def content(self) -> bytes:
        """The canonical bytes the commitment covers (`entry_content`)."""
        return entry_content(**{name: getattr(self, name) for name in CONTENT_FIELDS})

    def committed(self) -> bytes:
        return commitment(self.salt, self.content())

    @property
    def pending(self) -> bool:
        """Not yet in a signed checkpoint. The sequencer gives leaves and signs the checkpoint
        over them in one transaction, so an entry with a leaf is under a checkpoint."""
        return self.leaf_index is None


# What an entry's commitment covers: `entry_content`'s arguments, LedgerEntry's columns.
CONTENT_FIELDS = (
    "citizen_id", "client_id", "client_name", "client_kind", "channel", "attributes",
    "purpose", "legal_basis", "request_id", "released_at", "reference", "token_valid_until",
    "representation",
)  # fmt: skip
# Sorted keys, no spaces, UTF-8 as is: one encoder, made once.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_content(
    *,
    citizen_id: str,
    client_id: str,
    client_name: str,
    client_kind: str,
    channel: str,
    attributes: list | None,
    purpose: str | None,
    legal_basis: str | None,
    request_id: str | None,
    released_at: dt.datetime,
    reference: str | None = None,
    token_valid_until: dt.datetime | None = None,
    representation: dict | None = None,
) -> bytes:
    """The canonical bytes an entry's commitment covers: the one definition, for an entry
    built as a row (``appending.append``: a release's, written by the group committer) and
    for one read back (`LedgerEntry.content`: proofs, `flask ledger verify`), so both give
    the same bytes and the standalone verifier (consent/verify.py) checks either."""
    body = {
        "citizen_id": citizen_id,
        "client_id": client_id,
        "client_name": client_name,
        "client_kind": client_kind,
        "channel": str(channel),
        "attributes": attributes,
        "purpose": purpose,
        "legal_basis": legal_basis,
        "request_id": request_id,
        "released_at": released_at.astimezone(dt.UTC).isoformat(),
    }
    if reference is not None:  # only reports have one (older entries stay as signed)
        body["reference"] = reference
    if token_valid_until is not None:  # likewise: only userinfo's, from 0016 on
        body["token_valid_until"] = token_valid_until.astimezone(dt.UTC).isoformat()
    if representation is not None:  # likewise: only releases while an agent acts, from 0021
        body["representation"] = representation
    return _CANONICAL.encode(body).encode()


def commitment(salt: bytes, content: bytes) -> bytes:
    """SHA-256(salt || content): the entry's Merkle leaf."""
    return hashlib.sha256(salt + content).digest()


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


def latest_checkpoint() -> LedgerCheckpoint | None:
    """The newest signed checkpoint: what every reader serves and proves against."""
    # LIMIT 1: without it the driver fetches every checkpoint to hand over the first.
    newest_first = select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc())
    return db.session.scalar(newest_first.limit(1))


def head_aliases():
    """The newest checkpoint and the key that signs checkpoints, as one-row subqueries to
    join in a reader's query (`signed_head`, or a proof's entry with its head)."""
    newest = select(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size.desc()).limit(1)
    key = select(LedgerKey).order_by(LedgerKey.id.desc()).limit(1)
    return aliased(LedgerCheckpoint, newest.subquery()), aliased(LedgerKey, key.subquery())


def signed_head() -> tuple[LedgerCheckpoint | None, LedgerKey | None]:
    """The newest checkpoint and the key that signs checkpoints, in one query (a reader
    needs both: the proof's tree size and what checks the note)."""
    signed, signer = head_aliases()
    # The key is made with the first checkpoint, in its transaction: no key, no checkpoint.
    row = db.session.execute(select(signer, signed).outerjoin(signed, true())).first()
    return (row[1], row[0]) if row is not None else (None, None)


def public_key() -> LedgerKey | None:
    """The key that signs checkpoints (None until the first checkpoint)."""
    return db.session.scalar(select(LedgerKey).order_by(LedgerKey.id.desc()).limit(1))


def stored_nodes(wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored nodes of ``wanted`` (level, index) that exist, in one query."""
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


def stored_subtree(cache: dict[tuple[int, int], bytes]) -> merkle.Subtree:
    """The hash of a complete, aligned subtree: from ``cache``, else its stored node."""

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
