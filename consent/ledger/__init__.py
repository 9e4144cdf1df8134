"""The access ledger: one entry per release of a citizen's attributes, in an RFC 9162 Merkle
log whose checkpoints Tillid signs (Ed25519, C2SP signed notes).

One narrow write path and readers, as a transparency log is built:
- appending (an entry per release; each entry commits to its content with a salted hash,
  the leaf, so the content can later be erased while the leaf and every proof stay valid),
  made durable by ``commit()`` after the release's own transaction, in one INSERT and one
  commit with the entries of concurrent releases (group_commit.py);
- the sequencer, the only writer of tree nodes and checkpoints: it gives pending entries
  their leaves, stores the complete subtrees' hashes and signs a checkpoint, under a lock;
- readers, which only ever serve what the sequencer has signed: proofs, the citizen's
  queries, the operator's audit; and erasure (GDPR Art. 17).

What a release or a report needs to write to the log is importable from here; the
sequencer, the readers and erasure are imported from their modules by their few callers.
"""

from consent.ledger.appending import append, referenced
from consent.ledger.group_commit import LedgerNotRecorded, commit
from consent.ledger.models import Channel, LedgerEntry

__all__ = ["Channel", "LedgerEntry", "LedgerNotRecorded", "append", "commit", "referenced"]
