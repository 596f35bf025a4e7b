"""An append-only RFC 9162 Merkle log kept in a key-value node store.

The store holds only perfect subtrees: node ``(level, index)`` is the hash of leaves
``[index * 2**level, (index + 1) * 2**level)``, written once when its last leaf is appended and
never changed. Appending writes the leaf at level 0 and then each parent the new node completes
(about two writes per append on average). The log never loads all leaves: a root or a proof at
any past size reads O(log n) stored nodes, and hashes the cut-off nodes on the right edge
(section 2.1.1's MTH of fewer than 2**level leaves) from the perfect nodes that cover them.

The caller persists ``size`` next to the store; nodes a crashed append left past ``size`` are
ignored and overwritten. Proofs equal those ``gridledger.merkle.tree`` computes from the entries.
Out-of-range indices and sizes raise ``InvalidProof``; a node the log needs that the store does not
hold (or holds malformed) raises ``StoreError``.
"""

from __future__ import annotations

from typing import Protocol

from gridledger.errors import InvalidProof, StoreError
from gridledger.merkle.tree import (
    EMPTY_ROOT,
    HASH_SIZE,
    NodeReader,
    compute_consistency_path,
    compute_inclusion_path,
    leaf_hash,
    node_hash,
    verify_int,
    verify_leaf_index,
    verify_tree_sizes,
)

__all__ = ["MemoryNodeStore", "MerkleLog", "NodeStore"]


class NodeStore(Protocol):
    """Where a MerkleLog keeps the hashes of perfect subtrees, keyed by (level, index)."""

    def get_node(self, level: int, index: int) -> bytes | None:
        """The stored hash, or None if there is none."""
        ...

    def put_node(self, level: int, index: int, digest: bytes) -> None:
        """Store (or overwrite) the hash of node (level, index)."""
        ...


class MemoryNodeStore:
    """A dict-backed NodeStore, for tests and for logs that live in memory."""

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], bytes] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def get_node(self, level: int, index: int) -> bytes | None:
        return self._nodes.get((level, index))

    def put_node(self, level: int, index: int, digest: bytes) -> None:
        self._nodes[(level, index)] = digest


class MerkleLog:
    """An append-only Merkle tree of ``size`` leaves whose nodes live in ``store``."""

    def __init__(self, store: NodeStore, size: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise StoreError(f"log size {size!r} is not a non-negative int")
        self._store = store
        self._size = size

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    # Mutators.

    def append_hash(self, leaf_hash: bytes) -> int:
        """Append a leaf by its hash; return the new leaf's index."""
        if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
            raise StoreError(f"leaf hash must be {HASH_SIZE} bytes, got {leaf_hash!r}")
        index = self._size
        self._store.put_node(0, index, leaf_hash)
        digest, level, position = leaf_hash, 0, index
        while position & 1:
            digest = node_hash(self._get_node(level, position - 1), digest)
            level, position = level + 1, position >> 1
            self._store.put_node(level, position, digest)
        self._size = index + 1
        return index

    def append(self, entry: bytes) -> int:
        """Append an entry (stored as its leaf hash); return its index."""
        return self.append_hash(leaf_hash(entry))

    # Readers.

    def root(self) -> bytes:
        """Root hash at the current size."""
        return self.root_at(self._size)

    def root_at(self, size: int) -> bytes:
        """Root hash of the first ``size`` leaves; raises InvalidProof above the log's size."""
        self._verify_size(size)
        return self._range_hash(0, size) if size else EMPTY_ROOT

    def leaf_hash_at(self, index: int) -> bytes:
        """Stored hash of leaf ``index``."""
        verify_leaf_index(index, self._size)
        return self._get_node(0, index)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[size]) for the tree of the first ``size`` leaves (default: all)."""
        tree_size = self._size if size is None else size
        self._verify_size(tree_size)
        verify_leaf_index(index, tree_size)
        return compute_inclusion_path(0, index, tree_size, self._reader(tree_size))

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """PROOF(old_size, D[new_size]) (default new_size: all leaves)."""
        tree_size = self._size if new_size is None else new_size
        self._verify_size(tree_size)
        verify_tree_sizes(old_size, tree_size)
        return compute_consistency_path(old_size, tree_size, self._reader(tree_size))

    # Internals.

    def _verify_size(self, size: int) -> None:
        verify_int("tree size", size)
        if not 0 <= size <= self._size:
            raise InvalidProof(f"tree size {size} out of range for log size {self._size}")

    def _reader(self, size: int) -> NodeReader:
        """A NodeReader over the tree of the first ``size`` leaves."""

        def read(level: int, index: int) -> bytes:
            begin = index << level
            return self._range_hash(begin, min(begin + (1 << level), size))

        return read

    def _range_hash(self, begin: int, end: int) -> bytes:
        """MTH of leaves [begin, end), where ``begin`` is a multiple of a power of two that is at
        least ``end - begin`` (true of every node): fold the perfect subtrees that tile the range,
        largest first, from the right."""
        pieces = []
        for level in reversed(range((end - begin).bit_length())):
            if (end - begin) >> level & 1:
                pieces.append(self._get_node(level, begin >> level))
                begin += 1 << level
        digest = pieces.pop()
        while pieces:
            digest = node_hash(pieces.pop(), digest)
        return digest

    def _get_node(self, level: int, index: int) -> bytes:
        """The stored hash of a perfect subtree; StoreError if missing or malformed."""
        digest = self._store.get_node(level, index)
        if digest is None:
            raise StoreError(f"node at level {level}, index {index} is missing from the store")
        if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
            raise StoreError(f"node at level {level}, index {index} is not a {HASH_SIZE}-byte hash")
        return digest
