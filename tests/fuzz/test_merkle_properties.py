"""RFC 9162 Merkle proofs (consent/merkle.py) for any tree size and any index: honest proofs
verify, and any single change to what the verifier is given makes it refuse. The verifiers
are what a citizen or an auditor runs on what Tillid sends, so they must also answer
hostile input with False, never with an exception."""

from __future__ import annotations

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from consent import merkle
from tests.consent.test_merkle import naive_root
from tests.fuzz.conftest import budget

# Up to 1200 leaves: every shape of tree (complete, ragged, one past a power of two, 1024
# and 1025 included) appears below that, and hypothesis favours the boundaries.
sizes = st.integers(min_value=1, max_value=1200)
salts = st.binary(min_size=0, max_size=8)
hashes = st.binary(min_size=32, max_size=32)


def leaves_of(size: int, salt: bytes) -> list[bytes]:
    """``size`` distinct leaves (distinct, so that a moved index is a different leaf)."""
    return [salt + index.to_bytes(4, "big") for index in range(size)]


def tree(leaves: list[bytes]) -> merkle.Subtree:
    return merkle.subtree_of([merkle.leaf_hash(leaf) for leaf in leaves])


def flip(data: bytes, bit: int) -> bytes:
    """``data`` with one bit flipped (``bit`` taken modulo its length in bits)."""
    bit %= len(data) * 8
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


@st.composite
def tree_and_index(draw):
    size = draw(sizes)
    return size, draw(st.integers(0, size - 1)), draw(salts)


@settings(max_examples=budget(50))
@given(tree_and_index(), st.integers(min_value=0))
@example((1, 0, b""), 0)
@example((1024, 1023, b""), 5)
@example((1025, 1024, b""), 7)
def test_an_inclusion_proof_verifies_and_any_single_change_is_refused(case, bit):
    size, index, salt = case
    leaves = leaves_of(size, salt)
    subtree = tree(leaves)
    root = merkle.root(0, size, subtree)
    proof = merkle.inclusion_proof(index, size, subtree)
    leaf = leaves[index]

    assert merkle.verify_inclusion(leaf, index, size, proof, root)
    # A flipped bit in the leaf, in the root, or in any one node of the path.
    assert not merkle.verify_inclusion(flip(leaf, bit), index, size, proof, root)
    assert not merkle.verify_inclusion(leaf + b"\x00", index, size, proof, root)
    assert not merkle.verify_inclusion(leaf, index, size, proof, flip(root, bit))
    for position in range(len(proof)):
        forged = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
        assert not merkle.verify_inclusion(leaf, index, size, forged, root)
    # A node left out, one too many, or the path reordered.
    if proof:
        assert not merkle.verify_inclusion(leaf, index, size, proof[:-1], root)
        assert not merkle.verify_inclusion(leaf, index, size, proof[1:], root)
        if len(set(proof)) > 1:
            assert not merkle.verify_inclusion(leaf, index, size, proof[::-1], root)
    assert not merkle.verify_inclusion(leaf, index, size, [*proof, root], root)
    # The same leaf claimed at another index (a flipped bit of the index).
    moved = index ^ (1 << (bit % max(size.bit_length(), 1)))
    if moved != index:
        assert not merkle.verify_inclusion(leaf, moved, size, proof, root)


@settings(max_examples=budget(50))
@given(tree_and_index(), st.integers(min_value=0, max_value=12))
def test_an_inclusion_proof_binds_the_tree_size_as_far_as_its_path_reaches(case, bit):
    """The size is not hashed into the root: RFC 9162 leaves it to the signed checkpoint
    (consent/verify.py takes the size from the checkpoint, never from the proof). What the
    proof itself binds is its path: for another size whose audit path of this index has a
    different length, the proof is refused."""
    size, index, salt = case
    other = size ^ (1 << bit)
    leaves = leaves_of(max(size, other), salt)
    subtree = tree(leaves)
    proof = merkle.inclusion_proof(index, size, subtree)
    root = merkle.root(0, size, subtree)
    if other <= index or len(merkle.inclusion_proof(index, other, subtree)) != len(proof):
        assert not merkle.verify_inclusion(leaves[index], index, other, proof, root)


@settings(max_examples=budget(50))
@given(sizes, salts)
def test_the_root_is_the_definition_of_rfc_9162(size, salt):
    leaves = leaves_of(size, salt)
    assert merkle.root(0, size, tree(leaves)) == naive_root(leaves)


@st.composite
def two_sizes(draw):
    second = draw(sizes)
    return draw(st.integers(1, second)), second, draw(salts)


@settings(max_examples=budget(50))
@given(two_sizes(), st.integers(min_value=0))
@example((1, 1, b""), 0)
@example((1, 2, b""), 0)
@example((512, 1024, b""), 3)
@example((1023, 1025, b""), 9)
def test_a_consistency_proof_verifies_and_any_single_change_is_refused(case, bit):
    first, second, salt = case
    leaves = leaves_of(second, salt)
    subtree = tree(leaves)
    first_root, second_root = merkle.root(0, first, subtree), merkle.root(0, second, subtree)
    proof = merkle.consistency_proof(first, second, subtree)

    assert merkle.verify_consistency(first, second, first_root, second_root, proof)
    assert not merkle.verify_consistency(first, second, flip(first_root, bit), second_root, proof)
    assert not merkle.verify_consistency(first, second, first_root, flip(second_root, bit), proof)
    for position in range(len(proof)):
        forged = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
        assert not merkle.verify_consistency(first, second, first_root, second_root, forged)
    if proof:
        assert not merkle.verify_consistency(first, second, first_root, second_root, proof[:-1])
    assert not merkle.verify_consistency(
        first, second, first_root, second_root, [*proof, second_root]
    )
    # A rewritten history: the old tree with one leaf changed is not a prefix of the new.
    rewritten = list(leaves)
    rewritten[bit % first] = flip(rewritten[bit % first], bit)
    old_root = merkle.root(0, first, tree(rewritten[:first]))
    assert not merkle.verify_consistency(first, second, old_root, second_root, proof)


@settings(max_examples=budget(40))
@given(two_sizes(), st.integers(min_value=0, max_value=12), st.booleans())
def test_a_consistency_proof_is_for_its_two_sizes_only(case, bit, change_first):
    first, second, salt = case
    leaves = leaves_of(second + (1 << bit), salt)
    subtree = tree(leaves)
    proof = merkle.consistency_proof(first, second, subtree)
    if change_first:
        other_first, other_second = first ^ (1 << bit), second
    else:
        other_first, other_second = first, second ^ (1 << bit)
    assume(0 < other_first <= other_second)
    # The roots of the sizes now claimed: an honest log's roots for those sizes.
    first_root = merkle.root(0, other_first, subtree)
    second_root = merkle.root(0, other_second, subtree)
    honest = merkle.consistency_proof(other_first, other_second, subtree)
    verified = merkle.verify_consistency(other_first, other_second, first_root, second_root, proof)
    assert verified == (proof == honest)


@settings(max_examples=budget(80))
@given(
    leaf=st.binary(max_size=40),
    index=st.integers(min_value=-(2**70), max_value=2**70),
    size=st.integers(min_value=-(2**70), max_value=2**70),
    proof=st.lists(st.binary(max_size=40), max_size=70),
    root_hash=st.binary(max_size=40),
)
def test_the_inclusion_verifier_answers_any_input_with_a_bool(leaf, index, size, proof, root_hash):
    assert merkle.verify_inclusion(leaf, index, size, proof, root_hash) in (True, False)


@settings(max_examples=budget(80))
@given(
    first=st.integers(min_value=-(2**70), max_value=2**70),
    second=st.integers(min_value=-(2**70), max_value=2**70),
    first_root=st.binary(max_size=40),
    second_root=st.binary(max_size=40),
    proof=st.lists(st.binary(max_size=40), max_size=70),
)
def test_the_consistency_verifier_answers_any_input_with_a_bool(
    first, second, first_root, second_root, proof
):
    verified = merkle.verify_consistency(first, second, first_root, second_root, proof)
    assert verified in (True, False)
    if verified and first != second:
        assert 0 < first < second


@settings(max_examples=budget(40))
@given(st.integers(min_value=-5, max_value=40), st.integers(min_value=-5, max_value=40))
def test_proofs_outside_the_tree_are_refused_with_value_error(a, b):
    subtree = tree(leaves_of(40, b""))
    if not 0 <= a < b:
        try:
            merkle.inclusion_proof(a, b, subtree)
        except ValueError:
            pass
        else:
            raise AssertionError(f"inclusion_proof({a}, {b}) did not refuse")
    if not 0 < a <= b:
        try:
            merkle.consistency_proof(a, b, subtree)
        except ValueError:
            pass
        else:
            raise AssertionError(f"consistency_proof({a}, {b}) did not refuse")
