"""Merkle tree hashes and proofs over entries held in memory (RFC 9162, section 2.1).

The tree is the one Certificate Transparency v2 defines: a leaf hashes as
``SHA-256(0x00 || entry)``, an inner node as ``SHA-256(0x01 || left || right)``, and a tree of n
entries splits at the largest power of two smaller than n (section 2.1.1). The root of no entries
is ``SHA-256("")``.

Nodes are named ``(level, index)``: the node covers leaves ``[index * 2**level,
(index + 1) * 2**level)`` cut off at the tree size. Below the tree size it is a perfect subtree;
the last node of a level may be cut short (an "ephemeral" node on the right edge), and its hash is
then the RFC's MTH of the leaves it does cover. A ``NodeReader`` returns such hashes, so the walk
that orders proof hashes (``compute_inclusion_path``, ``compute_consistency_path``) is shared by
this module (which hashes entries) and ``gridledger.merkle.log`` (which reads a node store).

Proof generation hashes each entry once: every proof hash is the root of a disjoint range of
entries, so one call costs O(n) hashes, not the O(n log n) or worse of the recursive definitions.
Arguments out of range raise ``InvalidProof``, the same error a verifier gives for them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from gridledger.errors import InvalidProof
from gridledger.native import load_native_function

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "NodeReader",
    "compute_consistency_length",
    "compute_consistency_path",
    "compute_inclusion_path",
    "compute_leaf_hashes_and_root",
    "compute_path_length",
    "compute_root_from_hashes",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "root",
    "verify_int",
    "verify_leaf_index",
    "verify_tree_sizes",
]

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeReader = Callable[[int, int], bytes]
"""``read(level, index)``: hash of node (level, index) of the tree being proved."""


# Hashing (RFC 9162 section 2.1.1).


def leaf_hash(entry: bytes) -> bytes:
    """Hash of one leaf: SHA-256(0x00 || entry)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def leaf_hashes(entries: Iterable[bytes]) -> list[bytes]:
    """``leaf_hash`` of each entry, in order (one call for a batch of leaves)."""
    sha256, prefix = hashlib.sha256, LEAF_PREFIX
    return [sha256(prefix + entry).digest() for entry in entries]


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an inner node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def compute_root_from_hashes(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root of the tree over already hashed leaves, folding one level at a time.

    Pairing neighbours and carrying an odd last node up unchanged builds exactly the RFC's
    split-at-the-largest-power-of-two tree.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    sha256, prefix = hashlib.sha256, NODE_PREFIX
    level = list(leaf_hashes)
    while len(level) > 1:
        parents = [
            sha256(prefix + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def compute_leaf_hashes_and_root_python(entries: Sequence[bytes]) -> tuple[bytes, bytes]:
    """``(leaf hashes, root)`` of ``entries``: each leaf's hash, concatenated in order (32 bytes
    each), and the root of the tree over them."""
    hashes = leaf_hashes(entries)
    return b"".join(hashes), compute_root_from_hashes(hashes)


compute_leaf_hashes_and_root_native: Callable[[Sequence[bytes]], tuple[bytes, bytes]] | None = (
    load_native_function("merkle_leaf_hashes_and_root")
)
compute_leaf_hashes_and_root = (
    compute_leaf_hashes_and_root_native or compute_leaf_hashes_and_root_python
)
"""``(leaf hashes, root)`` of ``entries`` (see ``compute_leaf_hashes_and_root_python``), by
``gridledger_native`` where it is built: the same bytes, without a Python object per hash."""


def root(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]): the root hash of a tree over ``entries`` (SHA-256("") when there are none)."""
    return compute_root_from_hashes(leaf_hashes(entries))


# Argument checks shared by generation, verification and the node-store log.


def verify_int(name: str, value: int) -> None:
    """Raise InvalidProof unless ``value`` is a plain int (a bool or a str is a caller's bug)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidProof(f"{name} is {type(value).__name__}, expected int")


def verify_leaf_index(index: int, size: int) -> None:
    """Raise InvalidProof unless ``0 <= index < size``."""
    verify_int("index", index)
    verify_int("tree size", size)
    if size < 0:
        raise InvalidProof(f"tree size {size} is negative")
    if not 0 <= index < size:
        raise InvalidProof(f"index {index} out of range for tree size {size}")


def verify_tree_sizes(old_size: int, new_size: int) -> None:
    """Raise InvalidProof unless ``0 <= old_size <= new_size``."""
    verify_int("old_size", old_size)
    verify_int("new_size", new_size)
    if old_size < 0:
        raise InvalidProof(f"old_size {old_size} is negative")
    if old_size > new_size:
        raise InvalidProof(f"old_size {old_size} is greater than new_size {new_size}")


# Proof shapes: which nodes a proof holds, lowest first (RFC 9162 sections 2.1.3.1, 2.1.4.1).


def compute_inclusion_path(level: int, index: int, size: int, read: NodeReader) -> list[bytes]:
    """Sibling hashes on the way from node (level, index) up to the root of a tree of ``size``.

    From a leaf (level 0) this is PATH(index, D[size]). At each level the sibling is missing only
    when the node is the last one of its level with nothing to its right; the node then moves up
    unchanged, as in the RFC's tree.
    """
    path = []
    last = (size - 1) >> level
    while last > 0:
        sibling = index ^ 1
        if sibling <= last:
            path.append(read(level, sibling))
        index, last, level = index >> 1, last >> 1, level + 1
    return path


def compute_consistency_path(old_size: int, new_size: int, read: NodeReader) -> list[bytes]:
    """PROOF(old_size, D[new_size]) read from the tree of ``new_size``; empty if the sizes are
    equal or ``old_size`` is 0.

    The proof is the largest perfect subtree ending at ``old_size`` (left out when it is the whole
    old tree, whose root the verifier already holds) followed by that node's path to the new root.
    """
    if old_size in (0, new_size):
        return []
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    seed = [read(level, index)] if index else []
    return seed + compute_inclusion_path(level, index, new_size, read)


def compute_path_length(level: int, index: int, size: int) -> int:
    """Number of hashes ``compute_inclusion_path(level, index, size, ...)`` returns.

    Below the level where the paths to this node and to the last node part, every sibling exists;
    above it the two paths coincide and only left siblings (set bits of the index) exist.
    """
    inner = (index ^ ((size - 1) >> level)).bit_length()
    return inner + (index >> inner).bit_count()


def compute_consistency_length(old_size: int, new_size: int) -> int:
    """Number of hashes in the consistency proof from ``old_size`` to ``new_size``."""
    if old_size in (0, new_size):
        return 0
    level = (old_size & -old_size).bit_length() - 1
    index = (old_size - 1) >> level
    return (1 if index else 0) + compute_path_length(level, index, new_size)


# Proof generation over entries in memory.


def inclusion_proof(entries: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]): the audit path for entry ``index``, lowest hash first.

    Raises InvalidProof when ``index`` is not in ``range(len(entries))``.
    """
    verify_leaf_index(index, len(entries))
    return compute_inclusion_path(0, index, len(entries), _subtree_reader(entries))


def inclusion_proof_from_hashes(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]) when only the leaves' hashes are kept (``leaf_hash`` of each entry)."""
    verify_leaf_index(index, len(leaf_hashes))

    def read(level: int, node: int) -> bytes:
        begin = node << level
        return compute_root_from_hashes(leaf_hashes[begin : begin + (1 << level)])

    return compute_inclusion_path(0, index, len(leaf_hashes), read)


def consistency_proof(entries: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]): proof that the first ``old_size`` entries are a prefix of all.

    Empty when ``old_size`` is 0 or ``len(entries)``. Raises InvalidProof when ``old_size`` is
    negative or above ``len(entries)``.
    """
    verify_tree_sizes(old_size, len(entries))
    return compute_consistency_path(old_size, len(entries), _subtree_reader(entries))


def _subtree_reader(entries: Sequence[bytes]) -> NodeReader:
    """A NodeReader that hashes the entries a node covers; each proof hash covers fresh entries."""

    def read(level: int, index: int) -> bytes:
        begin = index << level
        return root(entries[begin : begin + (1 << level)])

    return read
