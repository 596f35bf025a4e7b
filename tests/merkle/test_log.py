"""MerkleLog over a node store: equal to the in-memory functions, only perfect subtrees stored,
O(log n) reads for a root, and StoreError when the store lacks a node the log needs."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.errors import InvalidProof, StoreError
from gridledger.merkle import (
    EMPTY_ROOT,
    MemoryNodeStore,
    MerkleLog,
    NodeStore,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root,
    verify_consistency,
    verify_inclusion,
)
from tests.merkle.test_tree import CT_LEAVES, CT_ROOTS


class CountingStore(MemoryNodeStore):
    """A MemoryNodeStore that counts reads and writes."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.writes = 0

    def get_node(self, level: int, index: int) -> bytes | None:
        self.reads += 1
        return super().get_node(level, index)

    def put_node(self, level: int, index: int, digest: bytes) -> None:
        self.writes += 1
        super().put_node(level, index, digest)


class ForgetfulStore:
    """A NodeStore over another one that has lost one node (or holds it corrupted)."""

    def __init__(self, inner: NodeStore, lost: tuple[int, int], replacement: bytes | None) -> None:
        self.inner, self.lost, self.replacement = inner, lost, replacement

    def get_node(self, level: int, index: int) -> bytes | None:
        if (level, index) == self.lost:
            return self.replacement
        return self.inner.get_node(level, index)

    def put_node(self, level: int, index: int, digest: bytes) -> None:
        self.inner.put_node(level, index, digest)


def log_of(entries: list[bytes]) -> MerkleLog:
    log = MerkleLog(MemoryNodeStore(), 0)
    for entry in entries:
        log.append(entry)
    return log


def perfect_subtree_count(size: int) -> int:
    """Number of perfect subtrees among the first ``size`` leaves: 2n - popcount(n)."""
    return 2 * size - size.bit_count()


# Basics.


def test_empty_log_has_empty_root() -> None:
    log = MerkleLog(MemoryNodeStore(), 0)
    assert log.size == 0
    assert log.root() == EMPTY_ROOT == log.root_at(0)


def test_append_returns_consecutive_indices() -> None:
    log = MerkleLog(MemoryNodeStore(), 0)
    assert [log.append(entry) for entry in CT_LEAVES] == list(range(8))
    assert log.size == 8


def test_roots_match_published_ct_roots_at_every_size() -> None:
    log = log_of(CT_LEAVES)
    assert [log.root_at(size).hex() for size in range(9)] == CT_ROOTS


def test_append_hash_equals_append_of_entry() -> None:
    by_entry, by_hash = log_of(CT_LEAVES), MerkleLog(MemoryNodeStore(), 0)
    for entry in CT_LEAVES:
        by_hash.append_hash(leaf_hash(entry))
    assert by_hash.root() == by_entry.root()
    assert by_hash.leaf_hash_at(3) == leaf_hash(CT_LEAVES[3])


def test_store_holds_only_perfect_subtrees() -> None:
    store = MemoryNodeStore()
    log = MerkleLog(store, 0)
    for size in range(1, 70):
        log.append(str(size).encode())
        assert len(store) == perfect_subtree_count(size)


def test_reopened_log_continues_where_it_stopped() -> None:
    store = MemoryNodeStore()
    first = MerkleLog(store, 0)
    for entry in CT_LEAVES[:5]:
        first.append(entry)
    reopened = MerkleLog(store, first.size)
    for entry in CT_LEAVES[5:]:
        reopened.append(entry)
    assert reopened.root().hex() == CT_ROOTS[8]


def test_nodes_past_size_from_an_interrupted_append_are_ignored() -> None:
    store = MemoryNodeStore()
    log = MerkleLog(store, 0)
    for entry in CT_LEAVES:
        log.append(entry)
    reopened = MerkleLog(store, 5)  # as if the caller had persisted size 5 only
    assert reopened.root().hex() == CT_ROOTS[5]
    reopened.append(b"another sixth entry")
    assert reopened.root() == root([*CT_LEAVES[:5], b"another sixth entry"])


# Equal to the in-memory functions.


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=8), max_size=70), st.data())
def test_log_equals_in_memory_functions(entries: list[bytes], data: st.DataObject) -> None:
    log = log_of(entries)
    size = data.draw(st.integers(0, len(entries)), label="size")
    prefix = entries[:size]
    assert log.root_at(size) == root(prefix)
    old_size = data.draw(st.integers(0, size), label="old_size")
    assert log.consistency_proof(old_size, size) == consistency_proof(prefix, old_size)
    if size:
        index = data.draw(st.integers(0, size - 1), label="index")
        assert log.inclusion_proof(index, size) == inclusion_proof(prefix, index)
        assert log.leaf_hash_at(index) == leaf_hash(entries[index])


def test_every_proof_of_small_logs_equals_in_memory_functions() -> None:
    entries = [str(i).encode() for i in range(40)]
    log = log_of(entries)
    for size in range(41):
        prefix = entries[:size]
        assert log.root_at(size) == root(prefix)
        for index in range(size):
            assert log.inclusion_proof(index, size) == inclusion_proof(prefix, index)
        for old_size in range(size + 1):
            assert log.consistency_proof(old_size, size) == consistency_proof(prefix, old_size)


def test_proofs_default_to_the_current_size() -> None:
    log = log_of(CT_LEAVES[:7])
    assert log.inclusion_proof(3) == inclusion_proof(CT_LEAVES[:7], 3)
    assert log.consistency_proof(3) == consistency_proof(CT_LEAVES[:7], 3)


def test_hundred_thousand_leaves() -> None:
    entries = [i.to_bytes(32, "big") for i in range(100_000)]
    store = CountingStore()
    log = MerkleLog(store, 0)
    started = time.perf_counter()
    for entry in entries:
        log.append(entry)
    elapsed = time.perf_counter() - started
    assert elapsed < 5, f"appending 100,000 leaves took {elapsed:.1f} s"
    assert store.writes == len(store) == perfect_subtree_count(100_000)

    store.reads = 0
    assert log.root() == root(entries)
    assert store.reads == (100_000).bit_count()

    for index, size in [(0, 100_000), (65_536, 99_999), (99_999, 100_000)]:
        proof = log.inclusion_proof(index, size)
        assert proof == inclusion_proof(entries[:size], index)
        verify_inclusion(entries[index], index, size, proof, log.root_at(size))
    for old_size in [1, 65_537, 99_998]:
        proof = log.consistency_proof(old_size)
        assert proof == consistency_proof(entries, old_size)
        verify_consistency(old_size, 100_000, log.root_at(old_size), log.root(), proof)


def test_proofs_read_at_most_two_nodes_per_level() -> None:
    """Each proof hash is a stored node, except one cut-off right-edge node per proof, which is
    folded from at most one stored node per level."""
    store = CountingStore()
    log = MerkleLog(store, 0)
    for i in range(1_000):
        log.append(i.to_bytes(4, "big"))
    for size in range(1, 1_001, 3):
        levels = size.bit_length()
        for position in (0, size // 3, size - 1):
            store.reads = 0
            log.inclusion_proof(position, size)
            assert store.reads <= 2 * levels
            store.reads = 0
            log.consistency_proof(position, size)
            assert store.reads <= 2 * levels + 1


# Out of range: InvalidProof.


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda log: log.root_at(9), "tree size 9 out of range for log size 8"),
        (lambda log: log.root_at(-1), "tree size -1 out of range for log size 8"),
        (lambda log: log.leaf_hash_at(8), "index 8 out of range for tree size 8"),
        (lambda log: log.inclusion_proof(8), "index 8 out of range for tree size 8"),
        (lambda log: log.inclusion_proof(5, 5), "index 5 out of range for tree size 5"),
        (lambda log: log.inclusion_proof(0, 9), "tree size 9 out of range for log size 8"),
        (lambda log: log.consistency_proof(9), "old_size 9 is greater than new_size 8"),
        (lambda log: log.consistency_proof(6, 5), "old_size 6 is greater than new_size 5"),
        (lambda log: log.consistency_proof(1, 9), "tree size 9 out of range for log size 8"),
        (lambda log: log.consistency_proof(-1), "old_size -1 is negative"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_out_of_range_request_is_rejected(call: object, message: str) -> None:
    log = log_of(CT_LEAVES)
    with pytest.raises(InvalidProof, match=message):
        call(log)  # type: ignore[operator]


# A store that lacks what the log needs: StoreError.


def test_missing_node_raises_store_error() -> None:
    store = MemoryNodeStore()
    log = MerkleLog(store, 0)
    for entry in CT_LEAVES[:7]:
        log.append(entry)
    damaged = MerkleLog(ForgetfulStore(store, (2, 0), None), 7)
    message = "node at level 2, index 0 is missing from the store"
    with pytest.raises(StoreError, match=message):
        damaged.root()
    with pytest.raises(StoreError, match=message):
        damaged.inclusion_proof(6)
    with pytest.raises(StoreError, match=message):
        damaged.consistency_proof(5)
    damaged.root_at(3)  # does not need the lost node


def test_append_needing_a_missing_sibling_raises_store_error() -> None:
    damaged = MerkleLog(ForgetfulStore(MemoryNodeStore(), (0, 0), None), 1)
    with pytest.raises(StoreError, match="node at level 0, index 0 is missing"):
        damaged.append(b"second")


def test_empty_store_with_nonzero_size_raises_store_error() -> None:
    with pytest.raises(StoreError, match="missing from the store"):
        MerkleLog(MemoryNodeStore(), 3).root()


def test_malformed_stored_node_raises_store_error() -> None:
    store = MemoryNodeStore()
    MerkleLog(store, 0).append(b"only")
    damaged = MerkleLog(ForgetfulStore(store, (0, 0), b"short"), 1)
    with pytest.raises(StoreError, match="is not a 32-byte hash"):
        damaged.root()


@pytest.mark.parametrize("size", [-1, True, "3"])
def test_log_size_that_is_not_a_count_raises_store_error(size: object) -> None:
    with pytest.raises(StoreError, match="is not a non-negative int"):
        MerkleLog(MemoryNodeStore(), size)  # type: ignore[arg-type]


@pytest.mark.parametrize("digest", [b"", b"x" * 31, "a" * 32])
def test_append_hash_rejects_what_is_not_a_hash(digest: object) -> None:
    log = MerkleLog(MemoryNodeStore(), 0)
    with pytest.raises(StoreError, match="leaf hash must be 32 bytes"):
        log.append_hash(digest)  # type: ignore[arg-type]
    assert log.size == 0
