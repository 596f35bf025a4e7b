"""Merkle proof verification (RFC 9162, sections 2.1.3.2 and 2.1.4.2).

The chaining loops are the RFC's algorithms step for step (``fn``/``sn`` are the RFC's names).
Before chaining, the proof's length is checked against the exact length a proof for these sizes
has; that check stands in for the RFC's "if sn is 0, fail" and "compare sn to 0" steps, and lets
the error say how many hashes were expected.

Every failure raises ``InvalidProof`` with a message naming the problem: a malformed argument (not
an int, not 32 bytes), an index or size out of range, a proof of the wrong length, or a computed
root that does not match the expected one. Nothing else escapes for bad input.

Edge cases follow transparency-dev/merkle (``proof.VerifyConsistency``): between equal sizes
(0 and 0 included) the proof must be empty and the two roots equal; from ``old_size`` 0 to a larger
size the proof must be empty and verifies whatever the roots are (the empty tree is a prefix of
every tree; RFC 9162 defines no proof for it). The roots must still be 32-byte hashes.
"""

from __future__ import annotations

from collections.abc import Sequence

from gridledger.errors import InvalidProof
from gridledger.merkle.tree import (
    HASH_SIZE,
    compute_consistency_length,
    compute_path_length,
    leaf_hash,
    node_hash,
    verify_leaf_index,
    verify_tree_sizes,
)

__all__ = [
    "compute_root_from_inclusion",
    "verify_consistency",
    "verify_hash",
    "verify_inclusion",
    "verify_inclusion_hash",
    "verify_root_match",
]


# Checks on arguments.


def verify_hash(name: str, value: bytes) -> None:
    """Raise InvalidProof unless ``value`` is a 32-byte ``bytes``."""
    if not isinstance(value, bytes):
        raise InvalidProof(f"{name} is {type(value).__name__}, expected {HASH_SIZE} bytes")
    if len(value) != HASH_SIZE:
        raise InvalidProof(f"{name} is {len(value)} bytes, expected {HASH_SIZE}")


def verify_root_match(computed: bytes, expected: bytes, size: int) -> None:
    """Raise InvalidProof if the root a proof leads to is not the one it should prove."""
    if computed != expected:
        raise InvalidProof(
            f"computed root {computed.hex()} does not match expected root {expected.hex()} "
            f"for tree size {size}"
        )


def _checked_proof(proof: Sequence[bytes], expected_length: int, sizes: str) -> list[bytes]:
    """The proof's hashes as a list, once each is 32 bytes and there are as many as expected."""
    if isinstance(proof, bytes | bytearray | str) or not isinstance(proof, Sequence):
        raise InvalidProof(f"proof is {type(proof).__name__}, expected a sequence of hashes")
    hashes = list(proof)
    if any(type(item) is not bytes or len(item) != HASH_SIZE for item in hashes):
        for position, item in enumerate(hashes):  # name the first bad one
            verify_hash(f"proof hash {position}", item)
    if len(hashes) != expected_length:
        raise InvalidProof(
            f"proof has {len(hashes)} hashes, expected {expected_length} for {sizes}"
        )
    return hashes


# Inclusion (RFC 9162 section 2.1.3.2).


def compute_root_from_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes:
    """The root that ``proof`` leads to from leaf ``index`` (hash ``leaf_hash``) of ``size``.

    Raises InvalidProof for a malformed hash, an index out of range or a proof of wrong length.
    """
    verify_hash("leaf hash", leaf_hash)
    verify_leaf_index(index, size)
    sizes = f"index {index} in tree size {size}"
    path = _checked_proof(proof, compute_path_length(0, index, size), sizes)
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r


def verify_inclusion_hash(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise InvalidProof unless ``proof`` shows leaf ``leaf_hash`` at ``index`` under ``root``."""
    verify_hash("root", root)
    computed = compute_root_from_inclusion(leaf_hash, index, size, proof)
    verify_root_match(computed, root, size)


def verify_inclusion(
    entry: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise InvalidProof unless ``proof`` shows ``entry`` at ``index`` in the tree of ``size``
    leaves whose root is ``root``."""
    if not isinstance(entry, bytes):
        raise InvalidProof(f"entry is {type(entry).__name__}, expected bytes")
    verify_inclusion_hash(leaf_hash(entry), index, size, proof, root)


# Consistency (RFC 9162 section 2.1.4.2).


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise InvalidProof unless ``proof`` shows the tree of ``old_size`` leaves with root
    ``old_root`` is a prefix of the tree of ``new_size`` leaves with root ``new_root``.

    Equal sizes need an empty proof and equal roots; from ``old_size`` 0 to a larger size an
    empty proof verifies whatever the roots.
    """
    verify_hash("old root", old_root)
    verify_hash("new root", new_root)
    verify_tree_sizes(old_size, new_size)
    sizes = f"old_size {old_size} and new_size {new_size}"
    path = _checked_proof(proof, compute_consistency_length(old_size, new_size), sizes)
    if old_size == new_size:
        verify_root_match(old_root, new_root, new_size)
        return
    if old_size == 0:
        return
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    computed_old, computed_new = _chain_consistency(old_size - 1, new_size - 1, path)
    verify_root_match(computed_old, old_root, old_size)
    verify_root_match(computed_new, new_root, new_size)


def _chain_consistency(fn: int, sn: int, path: list[bytes]) -> tuple[bytes, bytes]:
    """Steps 4 to 6 of RFC 9162 section 2.1.4.2: the old and new roots ``path`` leads to."""
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr, sr


def _shift_until_odd_or_zero(fn: int, sn: int) -> tuple[int, int]:
    """RFC wording: right-shift both fn and sn equally until either LSB(fn) is set or fn is 0."""
    while fn and not fn & 1:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn
