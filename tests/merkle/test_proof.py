"""Proof verification (RFC 9162 sections 2.1.3.2 and 2.1.4.2): published proofs, the edge cases of
transparency-dev/merkle, error messages, malformed input, and hypothesis against the reference."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.errors import InvalidProof
from gridledger.merkle import (
    EMPTY_ROOT,
    compute_root_from_inclusion,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_hash,
)
from tests.merkle import reference
from tests.merkle.test_tree import CT_CONSISTENCY_PROOFS, CT_INCLUSION_PROOFS, CT_LEAVES, CT_ROOTS

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
OTHER_HASH = hashlib.sha256(b"other").digest()


def ct_root(size: int) -> bytes:
    return bytes.fromhex(CT_ROOTS[size])


def flip_bit(value: bytes, bit: int) -> bytes:
    changed = bytearray(value)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


# Published proofs (transparency-dev/merkle proof/verify_test.go) verify.


@pytest.mark.parametrize(("index", "size", "proof"), CT_INCLUSION_PROOFS)
def test_published_inclusion_proof_verifies(index: int, size: int, proof: list[str]) -> None:
    hashes = [bytes.fromhex(h) for h in proof]
    verify_inclusion(CT_LEAVES[index], index, size, hashes, ct_root(size))
    assert compute_root_from_inclusion(leaf_hash(CT_LEAVES[index]), index, size, hashes) == ct_root(
        size
    )


@pytest.mark.parametrize(("old_size", "new_size", "proof"), CT_CONSISTENCY_PROOFS)
def test_published_consistency_proof_verifies(
    old_size: int, new_size: int, proof: list[str]
) -> None:
    hashes = [bytes.fromhex(h) for h in proof]
    verify_consistency(old_size, new_size, ct_root(old_size), ct_root(new_size), hashes)


def test_single_entry_tree_root_is_its_leaf_hash() -> None:
    verify_inclusion_hash(leaf_hash(b"data"), 0, 1, [], leaf_hash(b"data"))
    with pytest.raises(InvalidProof, match="does not match"):
        verify_inclusion(b"data", 0, 1, [], SOME_HASH)


# Edge cases, as in transparency-dev/merkle's TestVerifyConsistency.


def test_consistency_from_empty_tree_with_empty_proof_verifies() -> None:
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 8, EMPTY_ROOT, ct_root(8), [])
    verify_consistency(0, 1, SOME_HASH, OTHER_HASH, [])  # the roots are not consulted


def test_consistency_between_equal_sizes_with_empty_proof_and_equal_roots_verifies() -> None:
    verify_consistency(1, 1, ct_root(1), ct_root(1), [])
    verify_consistency(8, 8, ct_root(8), ct_root(8), [])


CONSISTENCY_EDGE_CASES = [
    (0, 0, SOME_HASH, SOME_HASH, [EMPTY_ROOT], "proof has 1 hashes, expected 0 for old_size 0"),
    (0, 1, SOME_HASH, SOME_HASH, [EMPTY_ROOT], "proof has 1 hashes, expected 0 for old_size 0"),
    (1, 1, SOME_HASH, SOME_HASH, [EMPTY_ROOT], "proof has 1 hashes, expected 0"),
    (1, 1, SOME_HASH, OTHER_HASH, [], "does not match expected root"),
    (
        0,
        0,
        EMPTY_ROOT,
        OTHER_HASH,
        [],
        "does not match expected root [0-9a-f]{64} for tree size 0$",
    ),
    (1, 0, SOME_HASH, OTHER_HASH, [], "old_size 1 is greater than new_size 0"),
    (2, 1, SOME_HASH, OTHER_HASH, [], "old_size 2 is greater than new_size 1"),
    (1, 2, SOME_HASH, OTHER_HASH, [], "proof has 0 hashes, expected 1"),
    (-1, 2, SOME_HASH, OTHER_HASH, [], "old_size -1 is negative"),
]


@pytest.mark.parametrize(
    ("old_size", "new_size", "old_root", "new_root", "proof", "message"),
    CONSISTENCY_EDGE_CASES,
    ids=[f"{case[0]}-to-{case[1]}: {case[-1]}" for case in CONSISTENCY_EDGE_CASES],
)
def test_consistency_edge_case_is_rejected(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: list[bytes],
    message: str,
) -> None:
    with pytest.raises(InvalidProof, match=message):
        verify_consistency(old_size, new_size, old_root, new_root, proof)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, -1), (1, 0), (2, 1), (-1, 1)])
def test_inclusion_with_index_out_of_range_is_rejected(index: int, size: int) -> None:
    with pytest.raises(InvalidProof, match=r"out of range|is negative"):
        verify_inclusion_hash(SOME_HASH, index, size, [], EMPTY_ROOT)


# Messages name the problem.


def test_inclusion_messages_name_the_problem() -> None:
    proof = inclusion_proof(CT_LEAVES[:7], 3)
    with pytest.raises(InvalidProof, match=r"^index 7 out of range for tree size 7$"):
        verify_inclusion(CT_LEAVES[3], 7, 7, proof, ct_root(7))
    with pytest.raises(InvalidProof, match=r"^proof has 2 hashes, expected 3 for index 3 in tree"):
        verify_inclusion(CT_LEAVES[3], 3, 7, proof[:2], ct_root(7))
    computed, expected = ct_root(7).hex(), ct_root(8).hex()
    with pytest.raises(
        InvalidProof,
        match=f"^computed root {computed} does not match expected root {expected} for tree size 7$",
    ):
        verify_inclusion(CT_LEAVES[3], 3, 7, proof, ct_root(8))


def test_consistency_messages_name_the_tree_size_whose_root_mismatches() -> None:
    proof = consistency_proof(CT_LEAVES, 6)
    with pytest.raises(InvalidProof, match=r"for tree size 6$"):
        verify_consistency(6, 8, ct_root(5), ct_root(8), proof)
    with pytest.raises(InvalidProof, match=r"for tree size 8$"):
        verify_consistency(6, 8, ct_root(6), ct_root(7), proof)


# Malformed input raises InvalidProof and nothing else.

GOOD_INCLUSION: dict[str, Any] = {
    "entry": CT_LEAVES[5],
    "index": 5,
    "size": 8,
    "proof": inclusion_proof(CT_LEAVES, 5),
    "root": ct_root(8),
}


MALFORMED_INCLUSION = [
    ("entry", "text", "entry is str, expected bytes"),
    ("entry", None, "entry is NoneType, expected bytes"),
    ("index", "5", "index is str, expected int"),
    ("index", 5.0, "index is float, expected int"),
    ("size", True, "tree size is bool, expected int"),
    ("proof", None, "proof is NoneType, expected a sequence of hashes"),
    ("proof", b"\x00" * 96, "proof is bytes, expected a sequence of hashes"),
    ("proof", "abc", "proof is str, expected a sequence of hashes"),
    ("proof", [1, 2, 3], "proof hash 0 is int, expected 32 bytes"),
    ("proof", [SOME_HASH, SOME_HASH[:31], SOME_HASH], "proof hash 1 is 31 bytes, expected 32"),
    ("proof", [SOME_HASH, bytearray(32), SOME_HASH], "proof hash 1 is bytearray"),
    ("proof", [SOME_HASH, SOME_HASH.hex(), SOME_HASH], "proof hash 1 is str"),
    ("root", b"", "root is 0 bytes, expected 32"),
    ("root", SOME_HASH.hex(), "root is str, expected 32 bytes"),
]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    MALFORMED_INCLUSION,
    ids=[case[-1] for case in MALFORMED_INCLUSION],
)
def test_malformed_inclusion_argument_is_rejected(field: str, value: Any, message: str) -> None:
    arguments = {**GOOD_INCLUSION, field: value}
    with pytest.raises(InvalidProof, match=message):
        verify_inclusion(**arguments)


def test_malformed_leaf_hash_is_rejected() -> None:
    with pytest.raises(InvalidProof, match="leaf hash is 9 bytes, expected 32"):
        verify_inclusion_hash(b"WrongLeaf", 0, 1, [], SOME_HASH)


MALFORMED_CONSISTENCY = [
    ((1, 2, b"WrongRoot", SOME_HASH, [SOME_HASH]), "old root is 9 bytes, expected 32"),
    ((1, 2, SOME_HASH, None, [SOME_HASH]), "new root is NoneType, expected 32 bytes"),
    ((1.0, 2, SOME_HASH, SOME_HASH, [SOME_HASH]), "old_size is float, expected int"),
    ((1, "2", SOME_HASH, SOME_HASH, [SOME_HASH]), "new_size is str, expected int"),
    ((1, 2, SOME_HASH, SOME_HASH, [b""]), "proof hash 0 is 0 bytes, expected 32"),
    ((1, 2, SOME_HASH, SOME_HASH, 7), "proof is int, expected a sequence of hashes"),
]


@pytest.mark.parametrize(
    ("arguments", "message"),
    MALFORMED_CONSISTENCY,
    ids=[case[-1] for case in MALFORMED_CONSISTENCY],
)
def test_malformed_consistency_argument_is_rejected(
    arguments: tuple[Any, ...], message: str
) -> None:
    with pytest.raises(InvalidProof, match=message):
        verify_consistency(*arguments)


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70),
    st.text(max_size=3),
    st.binary(max_size=40),
    st.lists(st.one_of(st.binary(min_size=30, max_size=33), st.integers()), max_size=8),
)


@settings(max_examples=300)
@given(anything, anything, anything, anything, anything)
def test_garbage_raises_only_invalid_proof(a: Any, b: Any, c: Any, d: Any, e: Any) -> None:
    calls: tuple[Callable[[], object], ...] = (
        lambda: verify_inclusion(a, b, c, d, e),
        lambda: verify_inclusion_hash(a, b, c, d, e),
        lambda: verify_consistency(a, b, c, d, e),
    )
    for call in calls:
        with contextlib.suppress(InvalidProof):
            call()


# The RFC binds the tree size only through the proof's shape (see generate.py's SIZE_MUTATIONS).


def test_inclusion_proof_binds_tree_size_only_through_its_shape() -> None:
    proof = inclusion_proof(CT_LEAVES, 5)  # same shape in the trees of 7 and 8 leaves
    verify_inclusion(CT_LEAVES[5], 5, 7, proof, ct_root(8))
    with pytest.raises(InvalidProof, match="proof has 3 hashes, expected 4"):
        verify_inclusion(CT_LEAVES[5], 5, 16, proof, ct_root(8))


# Hypothesis: valid proofs verify, single-bit changes do not.

entry_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=70)


@settings(max_examples=200, deadline=None)
@given(entry_lists, st.data())
def test_every_valid_inclusion_proof_verifies(entries: list[bytes], data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(entries)), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    proof = inclusion_proof(entries[:size], index)
    tree_root = root(entries[:size])
    verify_inclusion(entries[index], index, size, proof, tree_root)
    assert compute_root_from_inclusion(leaf_hash(entries[index]), index, size, proof) == tree_root


@settings(max_examples=200, deadline=None)
@given(entry_lists, st.data())
def test_every_valid_consistency_proof_verifies(entries: list[bytes], data: st.DataObject) -> None:
    new_size = data.draw(st.integers(0, len(entries)), label="new_size")
    old_size = data.draw(st.integers(0, new_size), label="old_size")
    proof = consistency_proof(entries[:new_size], old_size)
    verify_consistency(
        old_size, new_size, root(entries[:old_size]), root(entries[:new_size]), proof
    )


@settings(max_examples=200, deadline=None)
@given(entry_lists, st.data())
def test_inclusion_with_one_bit_flipped_is_rejected(
    entries: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(entries) - 1), label="index")
    proof, tree_root = inclusion_proof(entries, index), root(entries)
    target = data.draw(st.integers(0, len(proof)), label="hash to flip (len = root)")
    bit = data.draw(st.integers(0, 255), label="bit")
    if target == len(proof):
        tree_root = flip_bit(tree_root, bit)
    else:
        proof[target] = flip_bit(proof[target], bit)
    with pytest.raises(InvalidProof, match="does not match expected root"):
        verify_inclusion(entries[index], index, len(entries), proof, tree_root)


@settings(max_examples=200, deadline=None)
@given(entry_lists.filter(lambda e: len(e) > 1), st.data())
def test_consistency_with_one_bit_flipped_is_rejected(
    entries: list[bytes], data: st.DataObject
) -> None:
    old_size = data.draw(st.integers(1, len(entries) - 1), label="old_size")
    roots = [root(entries[:old_size]), root(entries)]
    proof = consistency_proof(entries, old_size)
    target = data.draw(st.integers(0, len(proof) + 1), label="hash to flip (len, len+1 = roots)")
    bit = data.draw(st.integers(0, 255), label="bit")
    if target < len(proof):
        proof[target] = flip_bit(proof[target], bit)
    else:
        roots[target - len(proof)] = flip_bit(roots[target - len(proof)], bit)
    with pytest.raises(InvalidProof, match="does not match expected root"):
        verify_consistency(old_size, len(entries), roots[0], roots[1], proof)


proof_hashes = st.lists(st.sampled_from([SOME_HASH, OTHER_HASH, EMPTY_ROOT]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=4), max_size=20), st.data())
def test_verifiers_agree_with_reference_on_arbitrary_proofs(
    entries: list[bytes], data: st.DataObject
) -> None:
    """Any proof (mostly wrong ones, sometimes a real one spliced with junk) gets the reference's
    verdict, and a rejection's message carries the reference's reason."""
    size = len(entries)
    index = data.draw(st.integers(-1, size), label="index")
    old_size = data.draw(st.integers(-1, size), label="old_size")
    real = inclusion_proof(entries, index) if 0 <= index < size else []
    proof = data.draw(st.sampled_from([real, real[:-1], real[1:]]) | proof_hashes, label="proof")
    entry = entries[index] if 0 <= index < size else b""
    tree_root, old_root = root(entries), root(entries[: max(old_size, 0)])
    _assert_same_verdict(
        reference.check_inclusion(entry, index, size, proof, tree_root),
        lambda: verify_inclusion(entry, index, size, proof, tree_root),
    )
    real = consistency_proof(entries, old_size) if 0 <= old_size <= size else []
    proof = data.draw(st.sampled_from([real, real[:-1], real[1:]]) | proof_hashes, label="c-proof")
    _assert_same_verdict(
        reference.check_consistency(old_size, size, old_root, tree_root, proof),
        lambda: verify_consistency(old_size, size, old_root, tree_root, proof),
    )


def _assert_same_verdict(expected: reference.Rejection | None, verify: Any) -> None:
    if expected is None:
        verify()
    else:
        with pytest.raises(InvalidProof, match=expected.value):
            verify()
