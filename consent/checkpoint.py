"""Checkpoints as C2SP signed notes (c2sp.org/tlog-checkpoint, c2sp.org/signed-note), Ed25519.

    <origin>
    <tree size>
    <root hash, base64>

    — <key name> <base64(key id (4 bytes) || signature (64 bytes))>

The key id is the first four bytes of SHA-256(key name || "\\n" || 0x01 || public key).
Anyone with the public key (published beside the checkpoint) can check a note offline.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

_ED25519 = b"\x01"
_DASH = "\u2014"


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    """The note verifier key string: <name>+<hex key id>+<base64(0x01 || public key)>."""
    encoded = base64.b64encode(_ED25519 + public_key).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.tree_size}\n{base64.b64encode(self.root_hash).decode()}\n"


def sign(checkpoint: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    body = checkpoint.body()
    public = private_key.public_key().public_bytes_raw()
    signature = private_key.sign(body.encode())
    stamp = base64.b64encode(key_id(name, public) + signature).decode()
    return f"{body}\n{_DASH} {name} {stamp}\n"


class BadNote(ValueError):
    pass


def open_note(note: str, name: str, public_key: bytes) -> Checkpoint:
    """Check the note's signature by ``name``'s key and return its checkpoint, or raise."""
    body, separator, signatures = note.partition("\n\n")
    if not separator:
        raise BadNote("no signature block")
    body += "\n"
    wanted = key_id(name, public_key)
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or parts[1] != name:
            continue
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if raw[:4] != wanted:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(raw[4:], body.encode())
        except InvalidSignature:
            raise BadNote("the signature does not match") from None
        return _checkpoint_of(body)
    raise BadNote(f"no signature by {name}")


_TREE_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")  # ASCII decimal, no leading zeros


def _checkpoint_of(body: str) -> Checkpoint:
    """The checkpoint a signed body states: origin, tree size, root hash (extension lines may
    follow). Read strictly, so that what opens is exactly what was signed."""
    lines = body.rstrip("\n").split("\n")
    if len(lines) < 3 or not lines[0] or not _TREE_SIZE.fullmatch(lines[1]):
        raise BadNote("not a checkpoint")
    try:
        root_hash = base64.b64decode(lines[2], validate=True)
    except ValueError:
        root_hash = b""
    if len(root_hash) != 32 or base64.b64encode(root_hash).decode() != lines[2]:
        raise BadNote("not a checkpoint: the root hash is not a base64 SHA-256 hash")
    return Checkpoint(lines[0], int(lines[1]), root_hash)
