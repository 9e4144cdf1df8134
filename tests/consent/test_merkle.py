"""RFC 9162 Merkle trees: the known test vectors, and proofs checked by the verifiers."""

from __future__ import annotations

import hashlib

import pytest

from consent import merkle

# The leaves and roots of the Certificate Transparency test vectors (RFC 6962 / 9162).
LEAVES = [bytes.fromhex(h) for h in [
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]]  # fmt: skip
ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def naive_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(naive_root(leaves[:k]), naive_root(leaves[k:]))


def tree(leaves):
    return merkle.subtree_of([merkle.leaf_hash(leaf) for leaf in leaves])


@pytest.mark.parametrize("size", sorted(ROOTS))
def test_the_known_roots(size):
    assert merkle.root(0, size, tree(LEAVES[:size])).hex() == ROOTS[size]


LEAVES_40 = [f"entry {i}".encode() for i in range(40)]


@pytest.mark.parametrize("size", range(1, 41))
def test_roots_match_the_definition_and_every_inclusion_proof_verifies(size):
    leaves = LEAVES_40[:size]
    root = merkle.root(0, size, tree(leaves))
    assert root == naive_root(leaves)
    for index in range(size):
        proof = merkle.inclusion_proof(index, size, tree(leaves))
        assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
        assert not merkle.verify_inclusion(b"forged", index, size, proof, root)
        if size > 1:
            assert not merkle.verify_inclusion(leaves[index], (index + 1) % size, size, proof, root)


@pytest.mark.parametrize("second", range(1, 41, 3))
def test_every_consistency_proof_verifies_and_a_rewrite_does_not(second):
    whole = tree(LEAVES_40)
    for first in range(1, second + 1):
        proof = merkle.consistency_proof(first, second, whole)
        first_root, second_root = merkle.root(0, first, whole), merkle.root(0, second, whole)
        assert merkle.verify_consistency(first, second, first_root, second_root, proof)
        rewritten = tree([b"rewritten", *LEAVES_40[1:]])
        if first < second:
            forged_first = merkle.root(0, first, rewritten)
            assert not merkle.verify_consistency(first, second, forged_first, second_root, proof)
