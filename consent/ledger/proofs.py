"""Proofs against the latest signed checkpoint: an entry's inclusion proof (with what the
citizen needs to check it offline, consent/verify.py) and consistency between two tree sizes.
A reader: it serves what the sequencer has signed and never integrates, so an entry without
a leaf yet has no proof until the next checkpoint."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable

from flask import current_app
from sqlalchemy import select, true

from consent import checkpoint, merkle, verify
from consent.ledger.models import (
    LedgerCheckpoint,
    LedgerEntry,
    LedgerKey,
    MerkleNode,
    head_aliases,
    latest_checkpoint,
    signed_head,
    stored_nodes,
    stored_subtree,
)
from idp.core.extensions import db

# How many of the tree's top levels each process keeps in memory: fewer than 2**(n+1)
# nodes whatever the size of the tree (2,047 for 10, a few hundred KB), read in a few ms at
# first use. At 10M leaves a proof then reads its lowest 14 nodes from the database instead
# of all 24. (14 levels, ~19,500 nodes at 10M, cost a worker's first proofs ~40 ms of CPU
# to read and saved little more: bench/results/profiles/2026-12-03-pm/ledger-read/.)
UPPER_LEVELS = 10


class NotYetIntegrated(LookupError):
    """The entry is in no signed checkpoint yet: its proof comes with the next one."""


class _UpperLevels:
    """The stored nodes of the tree's top UPPER_LEVELS levels, kept by this process (each
    worker its own: an app's, in its extensions). A stored node is the hash of a complete
    subtree, and a complete subtree never changes: the tree only grows at its right edge,
    and erasure drops an entry's content but keeps its leaf (erasure.py). So a node, once
    read, is true for as long as the ledger stands; what a proof computes from them for the
    incomplete right edge (merkle.root) is computed per proof and kept nowhere."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.lowest: int | None = None  # the lowest level kept; None before the first read
        self.lock = threading.Lock()

    def for_size(self, size: int) -> dict[tuple[int, int], bytes]:
        """The kept nodes, the whole top of a tree of ``size`` leaves read at first use (one
        range of the primary key) and each time the tree has doubled since."""
        lowest = max(0, size.bit_length() - UPPER_LEVELS)
        if self.lowest is None or lowest > self.lowest:
            with self.lock:
                if self.lowest is None or lowest > self.lowest:
                    rows = db.session.execute(
                        select(MerkleNode.level, MerkleNode.index, MerkleNode.hash).where(
                            MerkleNode.level >= lowest
                        )
                    ).all()
                    self.nodes = {(level, index): digest for level, index, digest in rows}
                    self.lowest = lowest
        return self.nodes

    def keep(self, nodes: dict[tuple[int, int], bytes]) -> None:
        """Keep the nodes of the top levels among ``nodes`` (stored ones, read since)."""
        lowest = self.lowest
        if lowest is not None:
            self.nodes.update((key, digest) for key, digest in nodes.items() if key[0] >= lowest)


def _upper_levels() -> _UpperLevels:
    return current_app.extensions.setdefault("tillid_ledger_upper_levels", _UpperLevels())


def _nodes_read_by(proofs: Callable[[merkle.Subtree], object], size: int
                   ) -> dict[tuple[int, int], bytes]:  # fmt: skip
    """Every stored node that ``proofs`` (run with a subtree lookup, in a tree of ``size``
    leaves) reads: the top levels from this process's memory, the rest in one query (a proof
    reads about log2(size) nodes; fetched one by one, a page of them was hundreds of
    trips)."""
    wanted: set[tuple[int, int]] = set()

    def note(start: int, size: int) -> bytes:
        level = size.bit_length() - 1
        wanted.add((level, start >> level))
        return b""

    proofs(note)
    upper = _upper_levels()
    kept = upper.for_size(size)
    found = {key: kept[key] for key in wanted if key in kept}
    read = stored_nodes(wanted - found.keys())
    upper.keep(read)
    return found | read


def _nodes_for_proofs(leaf_indices: list[int], size: int) -> dict[tuple[int, int], bytes]:
    """Every stored node the inclusion proofs of these leaves read."""

    def proofs(subtree: merkle.Subtree) -> None:
        for index in leaf_indices:
            merkle.inclusion_proof(index, size, subtree)

    return _nodes_read_by(proofs, size)


def inclusion_proof(entry: LedgerEntry, size: int, nodes: dict | None = None) -> list[bytes]:
    cache = dict(nodes) if nodes is not None else _nodes_for_proofs([entry.leaf_index], size)
    return merkle.inclusion_proof(entry.leaf_index, size, stored_subtree(cache))


def consistency_proof(first: int, second: int) -> list[bytes]:
    nodes = _nodes_read_by(lambda subtree: merkle.consistency_proof(first, second, subtree),
                           second)  # fmt: skip
    return merkle.consistency_proof(first, second, stored_subtree(nodes))


def entry_with_head(
    entry_id: int, citizen_id: str
) -> tuple[LedgerEntry | None, LedgerCheckpoint | None, LedgerKey | None]:
    """The citizen's entry ``entry_id`` (None if it is no entry of theirs), with the newest
    checkpoint and the key that signs them (as models.signed_head): what a proof request
    reads, in one query."""
    signed, signer = head_aliases()
    row = db.session.execute(
        select(LedgerEntry, signed, signer)
        .select_from(LedgerEntry)
        .outerjoin(signed, true())
        .outerjoin(signer, true())
        .where(LedgerEntry.id == entry_id, LedgerEntry.citizen_id == citizen_id)
    ).first()
    return (row[0], row[1], row[2]) if row is not None else (None, None, None)


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


def _under(entry: LedgerEntry, signed: LedgerCheckpoint | None) -> bool:
    return (
        signed is not None and entry.leaf_index is not None and entry.leaf_index < signed.tree_size
    )


def proof_for(entry: LedgerEntry, signed: LedgerCheckpoint | None = None) -> dict:
    """The entry's inclusion proof against ``signed`` (by default the latest checkpoint),
    with what the citizen needs to check it offline (consent/verify.py). NotYetIntegrated
    while no checkpoint holds it."""
    signed = signed or latest_checkpoint()
    if not _under(entry, signed):
        raise NotYetIntegrated(entry.id)
    return _proof_document(entry, signed)


def verified(entries: list[LedgerEntry]) -> dict[int, bool | None]:
    """For each entry, does its proof hold against Tillid's own latest signed checkpoint?
    None for a pending entry (no proof yet). The checkpoint's signature is checked once for
    them all. The entries are read before the checkpoint, so it holds every leaf they have."""
    signed, key = signed_head()
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

    def holds(entry: LedgerEntry) -> bool | None:
        if entry.pending:
            return None  # no proof before the next checkpoint
        return (
            opened is not None
            and entry in under
            and not verify.check_against(_proof_document(entry, signed, nodes), opened)
        )

    return {entry.id: holds(entry) for entry in entries}
