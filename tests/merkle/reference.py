"""A slow, obvious Merkle tree written straight from RFC 9162 section 2.1's recursive definitions.

MTH, PATH, PROOF and SUBPROOF below are the RFC's definitions (2.1.1, 2.1.3.1, 2.1.4.1) with
nothing clever added; they hash the same subtrees again and again and are only fit for small
trees. The fast code in ``gridledger.merkle`` is checked against them, and the JSON vectors in
``tests/vectors/merkle`` are generated from them, so neither depends on the code under test.

The reference verifiers undo PATH and SUBPROOF the same recursive way: they peel proof hashes off
the end in the order the definitions appended them. Instead of raising, they return why a proof
must be rejected (a ``Rejection``), or None if it must be accepted.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence


def hash_leaf(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n])."""
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hash_leaf(d[0])
    k = split_point(len(d))
    return hash_children(mth(d[:k]), mth(d[k:]))


def path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), for 0 <= m < n."""
    if len(d) == 1:
        return []
    k = split_point(len(d))
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]), for 0 < m <= n. (m = 0 is outside the RFC; the proof is empty.)"""
    if m == 0:
        return []
    return subproof(m, d, True)


def subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = split_point(n)
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


class Rejection(enum.Enum):
    """Why a verifier must reject; the value is the fragment the error message must contain."""

    INDEX_OUT_OF_RANGE = "out of range"
    NEGATIVE_SIZE = "is negative"
    SIZES_REVERSED = "is greater than new_size"
    MALFORMED_HASH = "expected 32"
    WRONG_LENGTH = "proof has"
    ROOT_MISMATCH = "does not match expected root"


class _WrongLength(Exception):
    pass


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == 32


def root_from_path(seed: bytes, m: int, n: int, hashes: list[bytes]) -> bytes:
    """The root that ``hashes`` leads to if they are PATH(m, D[n]) for a leaf hashing to seed."""
    if n == 1:
        if hashes:
            raise _WrongLength
        return seed
    if not hashes:
        raise _WrongLength
    *rest, last = hashes
    k = split_point(n)
    if m < k:
        return hash_children(root_from_path(seed, m, k, rest), last)
    return hash_children(last, root_from_path(seed, m - k, n - k, rest))


def roots_from_subproof(
    m: int, n: int, b: bool, hashes: list[bytes], old_root: bytes
) -> tuple[bytes, bytes]:
    """(MTH(D[m]), MTH(D[n])) as ``hashes`` shows them, if they are SUBPROOF(m, D[n], b)."""
    if m == n:
        if b:
            if hashes:
                raise _WrongLength
            return old_root, old_root
        if len(hashes) != 1:
            raise _WrongLength
        return hashes[0], hashes[0]
    if not hashes:
        raise _WrongLength
    *rest, last = hashes
    k = split_point(n)
    if m <= k:
        old, new = roots_from_subproof(m, k, b, rest, old_root)
        return old, hash_children(new, last)
    old, new = roots_from_subproof(m - k, n - k, False, rest, old_root)
    return hash_children(last, old), hash_children(last, new)


def check_inclusion(
    entry: bytes, m: int, n: int, hashes: list[bytes], root: bytes
) -> Rejection | None:
    """Why an inclusion proof must be rejected, or None if it proves entry m in D[n]."""
    if not all(map(_is_hash, [*hashes, root])):
        return Rejection.MALFORMED_HASH
    if not 0 <= m < n:
        return Rejection.INDEX_OUT_OF_RANGE
    try:
        computed = root_from_path(hash_leaf(entry), m, n, hashes)
    except _WrongLength:
        return Rejection.WRONG_LENGTH
    return None if computed == root else Rejection.ROOT_MISMATCH


def check_consistency(
    m: int, n: int, old_root: bytes, new_root: bytes, hashes: list[bytes]
) -> Rejection | None:
    """Why a consistency proof must be rejected, or None if it proves D[m] a prefix of D[n].

    As in transparency-dev/merkle, 0 < n verifies from m = 0 with an empty proof whatever the
    roots; equal sizes (0 included) need an empty proof and equal roots.
    """
    if not all(map(_is_hash, [*hashes, old_root, new_root])):
        return Rejection.MALFORMED_HASH
    if m < 0:
        return Rejection.NEGATIVE_SIZE
    if m > n:
        return Rejection.SIZES_REVERSED
    if m == 0 and n > 0:
        return Rejection.WRONG_LENGTH if hashes else None
    try:
        old, new = roots_from_subproof(m, n, True, hashes, old_root)
    except _WrongLength:
        return Rejection.WRONG_LENGTH
    return None if (old, new) == (old_root, new_root) else Rejection.ROOT_MISMATCH
