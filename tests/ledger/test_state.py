"""Ledger state: overlays of transaction writes over block writes over the committed backend."""

from __future__ import annotations

import pytest

from gridledger import merkle
from gridledger.errors import StoreError
from gridledger.ledger.state import LOG_SIZE_KEY, MemoryBackend, State, log_entry_key


def backend_with(**items: bytes) -> MemoryBackend:
    backend = MemoryBackend()
    backend.apply_changes({key.replace("__", "/"): value for key, value in items.items()})
    return backend


# -- MemoryBackend -----------------------------------------------------------------------------


def test_memory_backend_iterates_a_prefix_in_key_order() -> None:
    backend = MemoryBackend()
    backend.apply_changes({"b/2": b"2", "a/9": b"x", "b/10": b"10", "b/1": b"1", "c": b"c"})

    assert list(backend.iter_prefix("b/")) == [("b/1", b"1"), ("b/10", b"10"), ("b/2", b"2")]


def test_memory_backend_deletes_keys_and_ignores_deleting_missing_ones() -> None:
    backend = backend_with(a=b"1", b=b"2")

    backend.apply_changes({"a": None, "zz": None})

    assert backend.get("a") is None
    assert list(backend.iter_prefix("")) == [("b", b"2")]


# -- reads through the overlays ----------------------------------------------------------------


def test_reads_fall_through_tx_then_block_then_backend() -> None:
    state = State(backend_with(a=b"backend", b=b"backend", c=b"backend"))
    state.put("b", b"block")
    state.put("c", b"block")
    state.begin_tx()
    state.put("c", b"tx")

    assert (state.get("a"), state.get("b"), state.get("c")) == (b"backend", b"block", b"tx")
    assert state.get("missing") is None


def test_delete_in_a_transaction_hides_the_committed_value() -> None:
    state = State(backend_with(a=b"backend"))
    state.begin_tx()

    state.delete("a")

    assert state.get("a") is None
    assert not state.has("a")


def test_json_values_round_trip() -> None:
    state = State(MemoryBackend())

    state.put_json("doc", {"b": [1, 2], "a": "x"})

    assert state.get("doc") == b'{"a":"x","b":[1,2]}'
    assert state.get_json("doc") == {"a": "x", "b": [1, 2]}
    assert state.get_json("missing") is None


# -- transactions ------------------------------------------------------------------------------


def test_rollback_leaves_no_trace() -> None:
    state = State(backend_with(a=b"backend"))
    state.put("kept", b"block")
    before = state.changes()

    state.begin_tx()
    state.put("new", b"tx")
    state.put("kept", b"overwritten")
    state.delete("a")
    state.append_log_entry(b"entry")
    state.rollback_tx()

    assert state.changes() == before == {"kept": b"block"}
    assert (state.get("a"), state.get("new"), state.get("kept")) == (b"backend", None, b"block")
    assert state.log().size == 0


def test_commit_tx_merges_writes_and_deletes_into_the_block() -> None:
    state = State(backend_with(a=b"backend"))
    state.put("x", b"block")
    state.begin_tx()
    state.put("x", b"tx")
    state.put("y", b"tx")
    state.delete("a")

    state.commit_tx()

    assert state.changes() == {"x": b"tx", "y": b"tx", "a": None}


def test_changes_refuses_while_a_transaction_is_open() -> None:
    state = State(MemoryBackend())
    state.begin_tx()

    with pytest.raises(StoreError, match="still open"):
        state.changes()


def test_begin_twice_and_commit_without_begin_are_refused() -> None:
    state = State(MemoryBackend())
    with pytest.raises(StoreError, match="no transaction"):
        state.commit_tx()
    state.begin_tx()

    with pytest.raises(StoreError, match="already open"):
        state.begin_tx()


def test_writes_do_not_reach_the_backend() -> None:
    backend = backend_with(a=b"backend")
    state = State(backend)

    state.put("a", b"block")
    state.put("b", b"block")

    assert list(backend.iter_prefix("")) == [("a", b"backend")]


# -- iteration ---------------------------------------------------------------------------------


def test_iter_prefix_merges_all_layers_in_key_order_and_hides_deletes() -> None:
    backend = backend_with(p__1=b"backend", p__3=b"backend", p__5=b"backend", q__1=b"other")
    state = State(backend)
    state.put("p/2", b"block")
    state.put("p/3", b"block")
    state.delete("p/5")
    state.put("p/6", b"block")
    state.begin_tx()
    state.put("p/0", b"tx")
    state.put("p/5", b"tx")  # undeleted in the transaction
    state.delete("p/6")
    state.delete("p/1")
    state.put("pa", b"not under p/")

    assert list(state.iter_prefix("p/")) == [
        ("p/0", b"tx"),
        ("p/2", b"block"),
        ("p/3", b"block"),
        ("p/5", b"tx"),
    ]


def test_iter_prefix_after_rollback_shows_the_block_layer_only() -> None:
    state = State(backend_with(p__1=b"backend"))
    state.begin_tx()
    state.put("p/2", b"tx")
    state.delete("p/1")

    state.rollback_tx()

    assert list(state.iter_prefix("p/")) == [("p/1", b"backend")]


# -- the evidence log --------------------------------------------------------------------------


def test_log_append_returns_indexes_and_grows_the_size() -> None:
    state = State(MemoryBackend())
    entries = [b"first", b"second", b"third"]

    indexes = [state.append_log_entry(e) for e in entries]

    assert indexes == [0, 1, 2]
    assert state.log().size == 3
    assert state.get(LOG_SIZE_KEY) == b"3"
    assert [state.get_log_entry(i) for i in indexes] == entries
    assert state.get(log_entry_key(1)) == b"second"
    assert state.log().root() == merkle.root(entries)


def test_log_continues_from_the_committed_backend() -> None:
    first = State(MemoryBackend())
    first.append_log_entry(b"a")
    first.append_log_entry(b"b")
    backend = MemoryBackend()
    backend.apply_changes(first.changes())

    state = State(backend)
    index = state.append_log_entry(b"c")

    assert index == 2
    assert state.log().root() == merkle.root([b"a", b"b", b"c"])
    assert state.log().inclusion_proof(0, 3) == merkle.inclusion_proof([b"a", b"b", b"c"], 0)


def test_missing_log_entry_is_a_store_error() -> None:
    state = State(MemoryBackend())

    with pytest.raises(StoreError, match="log entry 0"):
        state.get_log_entry(0)
