"""Secrets at rest: AES-GCM under the data key, and keyed hashes for lookups."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from idp.core.config import ConfigurationError

# First byte of every ciphertext, so a later key rotation can tell formats apart.
_FORMAT_V1 = b"\x01"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """A ciphertext was altered, or was sealed under another key or context."""


def b64url_encode(raw: bytes) -> str:
    """base64url without padding, as JOSE writes it (RFC 7515 2)."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def b64url_decode(text: str) -> bytes:
    """base64url with or without its padding, as JOSE writes it (RFC 7515 2); ValueError if
    it is not."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unverified_jwt_part(token: str, index: int):
    """The JSON of a compact JWT's header (0) or payload (1), NOT verified: only for a token
    this process has just issued, or to tell kinds of token apart before verifying one.
    ValueError (or RecursionError, nested past the parser) when it is not base64url JSON."""
    return json.loads(b64url_decode(token.split(".")[index]))


def _decode_data_key(encoded: str) -> bytes:
    try:
        raw = b64url_decode(encoded)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigurationError(
            "TILLID_DATA_KEY must be 32 random bytes, base64url-encoded (python -c "
            "'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
        )
    return raw


def _subkey(purpose: bytes) -> bytes:
    # Derived once per app and purpose: encryption and lookup hashing never share a key.
    cache = current_app.extensions.setdefault("tillid_subkeys", {})
    if purpose not in cache:
        master = _decode_data_key(current_app.config["TILLID_DATA_KEY"])
        cache[purpose] = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"tillid " + purpose
        ).derive(master)
    return cache[purpose]


def check_data_key(encoded: str) -> None:
    _decode_data_key(encoded)


def encrypt(plaintext: bytes, context: str) -> bytes:
    """Seal ``plaintext``; ``context`` (e.g. "citizen.cpr") binds it to its column."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_subkey(b"encrypt")).encrypt(nonce, plaintext, context.encode())
    return _FORMAT_V1 + nonce + sealed


def decrypt(blob: bytes, context: str) -> bytes:
    if blob[:1] != _FORMAT_V1:
        raise DecryptionError("unknown ciphertext format")
    nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return AESGCM(_subkey(b"encrypt")).decrypt(nonce, sealed, context.encode())
    except Exception as exc:  # cryptography raises InvalidTag
        raise DecryptionError("ciphertext does not verify") from exc


def keyed_hash(value: str, purpose: str) -> str:
    """HMAC-SHA256 of ``value`` for equality lookups without storing the value."""
    key = _subkey(b"lookup " + purpose.encode())
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
