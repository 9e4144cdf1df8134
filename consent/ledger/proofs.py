"""Proofs against the latest signed checkpoint: an entry's inclusion proof (with what the
citizen needs to check it offline, consent/verify.py) and consistency between two tree sizes.
A reader: it serves what the sequencer has signed and never integrates, so an entry without
a leaf yet has no proof until the next checkpoint."""

from __future__ import annotations

import base64

from consent import checkpoint, merkle, verify
from consent.ledger.models import (
    LedgerCheckpoint,
    LedgerEntry,
    latest_checkpoint,
    signed_head,
    stored_nodes,
    stored_subtree,
)


class NotYetIntegrated(LookupError):
    """The entry is in no signed checkpoint yet: its proof comes with the next one."""


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
    return stored_nodes(wanted)


def inclusion_proof(entry: LedgerEntry, size: int, nodes: dict | None = None) -> list[bytes]:
    cache = dict(nodes) if nodes is not None else _nodes_for_proofs([entry.leaf_index], size)
    return merkle.inclusion_proof(entry.leaf_index, size, stored_subtree(cache))


def consistency_proof(first: int, second: int) -> list[bytes]:
    return merkle.consistency_proof(first, second, stored_subtree({}))


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
