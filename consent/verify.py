"""Check a ledger entry's proof without trusting Tillid: `python -m consent.verify`.

    python -m consent.verify PROOF.json VERIFIER_KEY

PROOF.json is what `GET /api/me/access-log/{id}/proof` returned to the citizen; VERIFIER_KEY
is the note verifier key published at `/ledger/key` (`name+keyid+base64key`). The check
needs only SHA-256 and Ed25519: the entry's content and salt give its leaf; the audit path
gives the root; the signed checkpoint says that root is the one Tillid committed to.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys

from consent import checkpoint, merkle


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    name, key_id, encoded = text.strip().split("+", 2)  # a key name never holds "+"
    raw = base64.b64decode(encoded)
    if raw[:1] != b"\x01" or len(raw) != 33:
        raise ValueError("not an Ed25519 note verifier key")
    if checkpoint.key_id(name, raw[1:]).hex() != key_id:
        raise ValueError("the key id does not match the key")
    return name, raw[1:]


def check(document: dict, name: str, public_key: bytes) -> list[str]:
    """The reasons the proof fails; an empty list when it holds."""
    try:
        signed = checkpoint.open_note(document["checkpoint"], name, public_key)
    except checkpoint.BadNote as exc:
        return [f"the checkpoint is not signed by {name}: {exc}"]
    return check_against(document, signed)


def check_against(document: dict, signed: checkpoint.Checkpoint) -> list[str]:
    """The same, against a checkpoint whose signature the caller has already checked."""
    problems = []
    leaf = base64.b64decode(document["leaf"])
    if document.get("content") is not None:
        content = document["content"].encode()
        if hashlib.sha256(base64.b64decode(document["salt"]) + content).digest() != leaf:
            problems.append("the entry's content does not match its leaf")
    proof = [base64.b64decode(p) for p in document["inclusion_proof"]]
    if document["tree_size"] != signed.tree_size:
        problems.append("the proof is for another tree size than the checkpoint")
    elif not merkle.verify_inclusion(leaf, document["leaf_index"], signed.tree_size, proof,
                                     signed.root_hash):  # fmt: skip
        problems.append("the entry is not in the tree the checkpoint signs")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as file:
        document = json.load(file)
    name, public_key = parse_verifier_key(argv[1])
    problems = check(document, name, public_key)
    print(json.dumps({"ok": not problems, "problems": problems}, indent=2))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
