"""Checkpoints as C2SP signed notes (consent/checkpoint.py) and the offline proof check
(consent/verify.py): what is signed opens to the same checkpoint, nothing else opens at all,
and hostile text is refused with BadNote (or ValueError for a key), never a crash."""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consent import checkpoint, merkle, verify
from tests.fuzz.conftest import budget
from tests.fuzz.test_merkle_properties import flip, leaves_of, tree

PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC_KEY = PRIVATE_KEY.public_key().public_bytes_raw()
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))

# C2SP: an origin is one line; a key name has no whitespace and no "+".
origins = st.text(st.characters(blacklist_characters="\n"), min_size=1, max_size=60)
key_names = st.text(
    st.characters(blacklist_categories=("Z", "C"), blacklist_characters="+"),
    min_size=1,
    max_size=30,
)
checkpoints = st.builds(
    checkpoint.Checkpoint,
    origin=origins,
    tree_size=st.integers(min_value=0, max_value=2**63 - 1),
    root_hash=st.binary(min_size=32, max_size=32),
)


def sign_body(body: str, name: str, key: Ed25519PrivateKey = PRIVATE_KEY) -> str:
    """A note over any body text, signed as checkpoint.sign signs a checkpoint's body."""
    public = key.public_key().public_bytes_raw()
    stamp = base64.b64encode(checkpoint.key_id(name, public) + key.sign(body.encode())).decode()
    return f"{body}\n\u2014 {name} {stamp}\n"


@settings(max_examples=budget(60))
@given(checkpoints, key_names)
@example(checkpoint.Checkpoint("tillid.example/ledger", 0, bytes(32)), "tillid")
def test_a_signed_checkpoint_opens_to_itself(signed, name):
    note = checkpoint.sign(signed, name, PRIVATE_KEY)
    assert checkpoint.open_note(note, name, PUBLIC_KEY) == signed


@settings(max_examples=budget(60))
@given(checkpoints, key_names, st.data())
def test_a_changed_body_is_refused(signed, name, data):
    note = checkpoint.sign(signed, name, PRIVATE_KEY)
    body_length = len(signed.body()) - 1  # the body's own characters, its last newline aside
    position = data.draw(st.integers(0, body_length - 1), label="position")
    replacement = data.draw(st.characters(), label="replacement")
    if replacement == note[position]:
        return
    changed = note[:position] + replacement + note[position + 1 :]
    try:
        checkpoint.open_note(changed, name, PUBLIC_KEY)
    except checkpoint.BadNote:
        return
    raise AssertionError(f"a changed body opened: {changed!r}")


@settings(max_examples=budget(60))
@given(checkpoints, key_names, st.data())
def test_no_single_change_anywhere_opens_to_another_checkpoint(signed, name, data):
    """Base64 leaves a few bits unused, so a change in the signature's last character may
    decode to the same signature; it must then open to the very same checkpoint."""
    note = checkpoint.sign(signed, name, PRIVATE_KEY)
    position = data.draw(st.integers(0, len(note) - 1), label="position")
    change = data.draw(
        st.one_of(st.characters(), st.just(""), st.text(min_size=2, max_size=3)), label="change"
    )
    changed = note[:position] + change + note[position + 1 :]
    try:
        opened = checkpoint.open_note(changed, name, PUBLIC_KEY)
    except checkpoint.BadNote:
        return
    assert opened == signed


@settings(max_examples=budget(40))
@given(checkpoints, key_names, key_names)
def test_a_note_by_another_key_or_name_is_refused(signed, name, other_name):
    forgeries = [checkpoint.sign(signed, name, OTHER_KEY)]
    if other_name != name:
        forgeries.append(checkpoint.sign(signed, other_name, PRIVATE_KEY))
    for note in forgeries:
        try:
            checkpoint.open_note(note, name, PUBLIC_KEY)
        except checkpoint.BadNote:
            continue
        raise AssertionError(f"opened without {name}'s signature: {note!r}")


# Lines a checkpoint body might hold: the right forms and near misses.
size_lines = st.one_of(
    st.integers(min_value=0, max_value=2**64).map(str),
    st.sampled_from(["", "-1", "+5", "007", " 5", "5 ", "²", "١٢", "0x10", "1e3", "1_000"]),
    st.text(max_size=8),
)
root_lines = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode()),
    st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=32, max_size=32).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode().rstrip("=")),
    st.text(max_size=50),
)


@settings(max_examples=budget(80))
@given(
    origin=st.text(max_size=20),
    size_line=size_lines,
    root_line=root_lines,
    extensions=st.lists(st.text(min_size=1, max_size=10), max_size=2),
    name=key_names,
)
@example("o", "²", base64.b64encode(bytes(32)).decode(), [], "k")
@example("o", "007", base64.b64encode(bytes(32)).decode(), [], "k")
@example("o", "7", "AAAA", [], "k")
@example("o", "7", "A", [], "k")
def test_a_signed_body_that_is_no_checkpoint_is_refused_with_bad_note(
    origin, size_line, root_line, extensions, name
):
    """Even under a good signature, only a well-formed checkpoint opens: one the parser
    reads back exactly (tree size in plain decimal, root a 32-byte hash in standard
    base64), extension lines allowed after it."""
    lines = [origin, size_line, root_line, *extensions]
    if any("\n" in line for line in lines):
        lines = [line.replace("\n", " ") for line in lines]
    body = "\n".join(lines) + "\n"
    try:
        opened = checkpoint.open_note(sign_body(body, name), name, PUBLIC_KEY)
    except checkpoint.BadNote:
        return
    assert opened.body() == "\n".join(lines[:3]) + "\n"
    assert len(opened.root_hash) == 32


@settings(max_examples=budget(80))
@given(st.text(max_size=300), key_names)
@example("o\n1\nAAAA\n\n\u2014 k AAAA\n", "k")
@example("o\n1\nAAAA\n\n\u2014 k " + base64.b64encode(b"1234").decode() + "\n", "k")
def test_any_text_is_refused_with_bad_note(text, name):
    try:
        checkpoint.open_note(text, name, PUBLIC_KEY)
    except checkpoint.BadNote:
        return
    raise AssertionError("unsigned text opened")


@settings(max_examples=budget(40))
@given(key_names)
def test_a_verifier_key_reads_back(name):
    assert verify.parse_verifier_key(checkpoint.verifier_key(name, PUBLIC_KEY)) == (
        name,
        PUBLIC_KEY,
    )


@settings(max_examples=budget(60))
@given(st.text(max_size=120))
@example("a+b+" + base64.b64encode(b"\x01" + bytes(32)).decode())
@example("a+b+!!!")
def test_a_malformed_verifier_key_is_a_value_error(text):
    try:
        verify.parse_verifier_key(text)
    except ValueError:
        return
    # Whatever it accepts is an Ed25519 key whose key id it checked.
    assert len(verify.parse_verifier_key(text)[1]) == 32


@st.composite
def proof_documents(draw):
    """What GET /api/me/access-log/{id}/proof returns, for an entry in a tree of any size."""
    size = draw(st.integers(1, 300))
    index = draw(st.integers(0, size - 1))
    salt, content = draw(st.binary(min_size=16, max_size=16)), draw(st.text(max_size=40))
    leaves = leaves_of(size, b"")
    leaves[index] = hashlib.sha256(salt + content.encode()).digest()
    subtree = tree(leaves)
    root = merkle.root(0, size, subtree)
    note = checkpoint.sign(checkpoint.Checkpoint("tillid", size, root), "tillid", PRIVATE_KEY)
    return {
        "entry_id": 1,
        "leaf_index": index,
        "tree_size": size,
        "leaf": base64.b64encode(leaves[index]).decode(),
        "salt": base64.b64encode(salt).decode(),
        "content": content,
        "inclusion_proof": [
            base64.b64encode(p).decode() for p in merkle.inclusion_proof(index, size, subtree)
        ],
        "checkpoint": note,
    }


def _flip_b64(text: str, bit: int) -> str:
    return base64.b64encode(flip(base64.b64decode(text), bit)).decode()


@settings(max_examples=budget(50))
@given(proof_documents(), st.integers(min_value=0), st.data())
def test_the_offline_check_holds_and_any_single_change_fails_it(document, bit, data):
    assert verify.check(document, "tillid", PUBLIC_KEY) == []
    field = data.draw(
        st.sampled_from(
            ["leaf_index", "tree_size", "leaf", "salt", "content", "inclusion_proof", "checkpoint"]
        ),
        label="field",
    )
    changed = dict(document)
    if field in ("leaf_index", "tree_size"):
        changed[field] = document[field] ^ (1 << (bit % 12))
    elif field in ("leaf", "salt"):
        changed[field] = _flip_b64(document[field], bit)
    elif field == "content":
        changed[field] = document[field] + data.draw(st.text(min_size=1, max_size=3))
    elif field == "inclusion_proof":
        if not document[field]:
            changed[field] = [document["leaf"]]
        else:
            position = bit % len(document[field])
            proof = list(document[field])
            proof[position] = _flip_b64(proof[position], bit // 7)
            changed[field] = proof
    else:
        size = document["tree_size"] ^ (1 << (bit % 12))
        changed[field] = document["checkpoint"].replace(
            f"\n{document['tree_size']}\n", f"\n{size}\n", 1
        )
    assert verify.check(changed, "tillid", PUBLIC_KEY) != []
