"""The Merkle tree of RFC 9162 (Certificate Transparency 2.0), section 2.1, over SHA-256.

Pure functions over leaves (bytes) or over a ``subtree(start, size)`` lookup for aligned,
complete subtrees, so a stored tree answers proofs without rehashing every leaf. The
verifiers are what an auditor runs: they need nothing but the proof and the root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Subtree = Callable[[int, int], bytes]  # (start, size) -> hash, size a power of two


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(start: int, size: int, subtree: Subtree) -> bytes:
    """MTH of the leaves [start, start + size); complete aligned blocks come from ``subtree``."""
    if size == 0:
        return hashlib.sha256(b"").digest()
    if size & (size - 1) == 0:
        return subtree(start, size)
    k = _split(size)
    return node_hash(subtree(start, k), root(start + k, size - k, subtree))


def subtree_of(leaf_hashes: Sequence[bytes]) -> Subtree:
    """A ``subtree`` lookup computed from leaf hashes (for verifying from scratch): every
    complete aligned subtree is hashed once, so any number of roots and proofs over the same
    leaves cost O(n) in all."""
    levels = [list(leaf_hashes)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])

    def subtree(start: int, size: int) -> bytes:
        level = size.bit_length() - 1
        return levels[level][start >> level]

    return subtree


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 2.1.3.1: the audit path of leaf ``index`` in a tree of
    ``size`` leaves."""
    if not 0 <= index < size:
        raise ValueError("index outside the tree")

    def path(m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, start, k), root(start + k, n - k, subtree)]
        return [*path(m - k, start + k, n - k), root(start, k, subtree)]

    return path(index, 0, size)


def consistency_proof(first: int, second: int, subtree: Subtree) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 2.1.4.1, between tree sizes ``first`` <= ``second``."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")

    def subproof(m: int, start: int, n: int, complete: bool) -> list[bytes]:
        if m == n:
            return [] if complete else [root(start, n, subtree)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, start, k, complete), root(start + k, n - k, subtree)]
        return [*subproof(m - k, start + k, n - k, False), root(start, k, subtree)]

    return subproof(first, 0, second, True)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 2.1.3.2: does ``leaf`` (its hash input) sit at ``index`` under ``root_hash``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:  # fmt: skip
    """RFC 9162 2.1.4.2: is the tree of ``second`` leaves an append-only extension of the
    tree of ``first`` leaves?"""
    if first == second:
        return not proof and first_root == second_root
    if not 0 < first < second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root starts the path
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0
