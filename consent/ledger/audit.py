"""The operator's full audit (`flask ledger verify`): recompute the tree from the stored
entries and check it against every signed checkpoint, naming each entry, leaf or checkpoint
that is wrong."""

from __future__ import annotations

import base64

from sqlalchemy import func, select

from consent import checkpoint, merkle, partitions
from consent.ledger.models import (
    LedgerCheckpoint,
    LedgerEntry,
    MerkleNode,
    latest_checkpoint,
    public_key,
)
from idp.core.extensions import db


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
