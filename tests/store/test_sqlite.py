"""The SQLite store: atomic block commits, resuming after reopen, snapshot reads, key order."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from gridledger import codec
from gridledger.errors import StoreError
from gridledger.ledger.state import Changes
from gridledger.store.sqlite import (
    PAGE_SIZE,
    SCHEMA,
    WAL_AUTOCHECKPOINT_PAGES,
    BlockRow,
    SqliteStore,
    TxRow,
)

GENESIS_APP_HASH = hashlib.sha256(b"genesis").digest()


def app_hash_at(height: int) -> bytes:
    return hashlib.sha256(f"app-{height}".encode()).digest()


def block_row(height: int, num_txs: int = 0) -> BlockRow:
    return BlockRow(
        height=height,
        hash=hashlib.sha256(f"block-{height}".encode()).digest(),
        header=codec.encode({"height": height}),
        signature=bytes(64),
        app_hash=app_hash_at(height),
        prev_app_hash=app_hash_at(height - 1) if height > 1 else GENESIS_APP_HASH,
        changes_hash=bytes(32),
        time_ms=1_000 * height,
        num_txs=num_txs,
    )


def tx_id_for(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def tx_row(height: int, idx: int, name: str = "", code: int = 0) -> TxRow:
    return TxRow(
        height=height,
        idx=idx,
        tx_id=tx_id_for(name or f"tx-{height}-{idx}"),
        raw=b"{}",
        code=code,
        error="" if code == 0 else "replayed",
        log="",
        events=b"[]",
    )


def commit(
    store: SqliteStore, height: int, changes: Changes, txs: list[TxRow] | None = None
) -> None:
    txs = [] if txs is None else txs
    store.commit_block(changes, block=block_row(height, len(txs)), txs=txs)


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    store = SqliteStore(tmp_path / "data" / "ledger.sqlite")
    store.commit_genesis({"chain/params": b"{}"}, GENESIS_APP_HASH, b'{"chain_id":"t"}')
    return store


def everything(store: SqliteStore) -> dict[str, bytes]:
    return dict(store.iter_prefix(""))


# -- commits -----------------------------------------------------------------------------------


def test_new_store_is_at_height_zero_without_app_hash(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "new.sqlite")

    assert (store.last_height, store.last_app_hash) == (0, b"")
    assert store.get_meta("genesis") is None
    assert store.get_block(0) is None


def test_commit_genesis_writes_state_and_meta(store: SqliteStore) -> None:
    assert (store.last_height, store.last_app_hash) == (0, GENESIS_APP_HASH)
    assert store.get_meta("genesis") == b'{"chain_id":"t"}'
    assert store.get("chain/params") == b"{}"


def test_commit_block_writes_state_block_txs_and_meta(store: SqliteStore) -> None:
    commit(store, 1, {"a": b"1", "chain/params": None}, [tx_row(1, 0), tx_row(1, 1)])

    assert everything(store) == {"a": b"1"}
    assert (store.last_height, store.last_app_hash) == (1, app_hash_at(1))
    assert store.get_block(1) == block_row(1, 2)
    assert store.get_block_txs(1) == [tx_row(1, 0), tx_row(1, 1)]
    assert store.get_tx(tx_id_for("tx-1-1")) == tx_row(1, 1)
    assert store.get_tx(bytes(32)) is None


def test_commit_applies_writes_and_deletes_whatever_order_the_block_made_them(
    store: SqliteStore,
) -> None:
    commit(store, 1, {f"k/{i:03d}": str(i).encode() for i in range(200)})
    changes: Changes = {f"k/{i:03d}": (None if i % 3 else b"new") for i in range(199, -1, -1)}
    changes.update({"z": b"z", "a": b"a"})

    commit(store, 2, changes)

    assert everything(store) == {
        "a": b"a",
        "chain/params": b"{}",
        **{f"k/{i:03d}": b"new" for i in range(0, 200, 3)},
        "z": b"z",
    }


def test_new_store_uses_the_large_page_size(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "new.sqlite")

    assert store._conn().execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)


def test_a_long_wal_is_read_by_other_connections_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    store = SqliteStore(path)
    assert store._conn().execute("PRAGMA wal_autocheckpoint").fetchone() == (
        WAL_AUTOCHECKPOINT_PAGES,
    )
    store.commit_genesis({"chain/params": b"{}"}, GENESIS_APP_HASH, b'{"chain_id":"t"}')
    for height in range(1, 5):  # ~3,000 pages: past SQLite's default checkpoint, short of ours
        changes: Changes = {f"k/{height}/{i:04d}": bytes([height]) * 6000 for i in range(750)}
        commit(store, height, changes, [tx_row(height, 0)])
    wal_pages = (tmp_path / "ledger.sqlite-wal").stat().st_size // PAGE_SIZE
    assert 2_500 < wal_pages < WAL_AUTOCHECKPOINT_PAGES  # nothing copied back yet

    reader = SqliteStore(path)  # another connection, as an API process has
    assert reader.get("k/4/0749") == bytes([4]) * 6000
    assert reader.last_height == 4
    reader.close()
    store.close()

    reopened = SqliteStore(path)
    assert reopened.get("k/1/0000") == bytes([1]) * 6000
    assert reopened.get("k/4/0749") == bytes([4]) * 6000
    assert reopened.last_height == 4


def test_the_wal_is_copied_back_in_the_background_not_in_commit(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    store = SqliteStore(path, checkpoint_pages=1_000)
    assert store._conn().execute("PRAGMA wal_autocheckpoint").fetchone() == (
        WAL_AUTOCHECKPOINT_PAGES,  # SQLite's own checkpoint only as a backstop
    )
    store.commit_genesis({"chain/params": b"{}"}, GENESIS_APP_HASH, b'{"chain_id":"t"}')
    size_before = path.stat().st_size
    for height in range(1, 4):  # ~1,300 pages each: every commit asks for a checkpoint
        changes: Changes = {f"k/{height}/{i:04d}": bytes([height]) * 6000 for i in range(750)}
        commit(store, height, changes, [tx_row(height, 0)])
    for _ in range(600):  # the thread copies what the WAL holds; give it up to a minute
        if store._checkpointer.completed >= 1 and path.stat().st_size > 3 * 750 * 6000:
            break
        threading.Event().wait(0.1)
    assert store._checkpointer.completed >= 1
    assert path.stat().st_size > max(size_before, 3 * 750 * 6000)  # the rows are in the file
    assert store.get("k/3/0749") == bytes([3]) * 6000
    thread = store._checkpointer._thread
    assert thread is not None and thread.is_alive()
    store.close()
    assert not thread.is_alive()

    reopened = SqliteStore(path)
    assert reopened.get("k/1/0000") == bytes([1]) * 6000
    assert reopened.last_height == 3
    reopened.close()


def test_a_small_store_starts_no_checkpoint_thread(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "small.sqlite")
    store.commit_genesis({"chain/params": b"{}"}, GENESIS_APP_HASH, b'{"chain_id":"t"}')
    commit(store, 1, {"k": b"v"}, [tx_row(1, 0)])
    assert store._checkpointer._thread is None
    store.close()


def test_store_made_with_small_pages_keeps_them_and_works(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # as stores were made before the page size was set
        conn.execute("PRAGMA page_size=4096")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
    store = SqliteStore(path)
    store.commit_genesis({"chain/params": b"{}"}, GENESIS_APP_HASH, b'{"chain_id":"t"}')
    commit(store, 1, {"a": b"1" * 3000, "chain/params": None}, [tx_row(1, 0)])
    store.close()

    reopened = SqliteStore(path)
    assert reopened._conn().execute("PRAGMA page_size").fetchone() == (4096,)
    assert everything(reopened) == {"a": b"1" * 3000}
    assert reopened.get_block_txs(1) == [tx_row(1, 0)]


def test_commit_block_is_all_or_nothing(store: SqliteStore) -> None:
    commit(store, 1, {"a": b"1", "b": b"1"}, [tx_row(1, 0)])
    before = everything(store)
    clash = [tx_row(2, 0, "first"), tx_row(2, 0, "same primary key")]

    with pytest.raises(StoreError, match="commit of block 2 failed"):
        commit(store, 2, {"a": b"2", "b": None, "c": b"2"}, clash)

    assert everything(store) == before
    assert (store.last_height, store.last_app_hash) == (1, app_hash_at(1))
    assert store.get_block(2) is None
    assert store.get_block_txs(2) == []
    assert store.get_tx(tx_id_for("first")) is None


def test_store_is_usable_after_a_failed_commit(store: SqliteStore) -> None:
    commit(store, 1, {"a": b"1"})
    with pytest.raises(StoreError):
        commit(store, 1, {"a": b"again"})  # block 1 exists: primary key of blocks

    commit(store, 2, {"a": b"2"})

    assert (store.get("a"), store.last_height) == (b"2", 2)


def test_reopened_store_resumes_at_the_last_block(store: SqliteStore, tmp_path: Path) -> None:
    commit(store, 1, {"a": b"1"}, [tx_row(1, 0)])
    commit(store, 2, {"b": b"2"})
    store.close()

    reopened = SqliteStore(store.path)

    assert (reopened.last_height, reopened.last_app_hash) == (2, app_hash_at(2))
    assert everything(reopened) == {"a": b"1", "b": b"2", "chain/params": b"{}"}
    assert reopened.get_block(2) == block_row(2)
    assert reopened.get_block_txs(1) == [tx_row(1, 0)]
    assert reopened.get_meta("genesis") == b'{"chain_id":"t"}'


def test_get_tx_prefers_the_successful_execution(store: SqliteStore) -> None:
    ok = tx_row(1, 0, "the tx")
    replayed = tx_row(2, 0, "the tx", code=6)
    commit(store, 1, {}, [ok])
    commit(store, 2, {}, [replayed])

    assert store.get_tx(tx_id_for("the tx")) == ok


def test_opening_a_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=str(tmp_path)):
        SqliteStore(tmp_path)


# -- reads -------------------------------------------------------------------------------------


def test_iter_prefix_returns_exactly_the_prefix_in_key_order(store: SqliteStore) -> None:
    keys = ["p/b", "p", "p/a/2", "p0", "p/a/10", "o/z", "p/\x7f", "p/", "q", "p.x", "p/a"]
    commit(store, 1, {key: key.encode() for key in keys})

    assert [k for k, _ in store.iter_prefix("p/")] == [
        "p/",
        "p/a",
        "p/a/10",
        "p/a/2",
        "p/b",
        "p/\x7f",
    ]
    assert [k for k, _ in store.iter_prefix("p/a/")] == ["p/a/10", "p/a/2"]
    assert [k for k, _ in store.iter_prefix("p")] == sorted(k for k in keys if k.startswith("p"))
    assert list(store.iter_prefix("zz/")) == []
    assert [k for k, _ in store.iter_prefix("")] == sorted([*keys, "chain/params"])
    assert dict(store.iter_prefix("p/a")) == {
        "p/a": b"p/a",
        "p/a/10": b"p/a/10",
        "p/a/2": b"p/a/2",
    }


def test_snapshot_does_not_see_a_block_committed_meanwhile(store: SqliteStore) -> None:
    commit(store, 1, {"k": b"v1"})
    errors: list[BaseException] = []

    def commit_block_2() -> None:
        try:
            commit(store, 2, {"k": b"v2", "new": b"2"})
        except BaseException as exc:  # reported below
            errors.append(exc)

    with store.snapshot():
        assert store.get("k") == b"v1"
        writer = threading.Thread(target=commit_block_2)
        writer.start()
        writer.join(timeout=30)
        assert not writer.is_alive() and errors == []

        inside = (store.get("k"), store.get("new"), store.last_height, store.get_block(2))

    assert inside == (b"v1", None, 1, None)
    assert (store.get("k"), store.get("new"), store.last_height) == (b"v2", b"2", 2)


def test_nested_snapshot_keeps_the_outer_one(store: SqliteStore) -> None:
    with store.snapshot():
        with store.snapshot():
            assert store.last_height == 0
        assert store.get("chain/params") == b"{}"

    commit(store, 1, {"a": b"1"})
    assert store.get("a") == b"1"


# -- batch manifests ---------------------------------------------------------------------------


def test_batch_manifest_round_trips(store: SqliteStore) -> None:
    digests = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(5)]
    root = hashlib.sha256(b"root").hexdigest()

    store.put_batch_manifest(root, digests)

    assert store.get_batch_manifest(root) == digests
    assert [store.find_batch_member(d) for d in digests] == [(root, i) for i in range(5)]
    assert store.find_batch_member(hashlib.sha256(b"stranger").hexdigest()) is None
    assert store.get_batch_manifest(hashlib.sha256(b"other").hexdigest()) is None


def test_batch_manifest_survives_reopen(store: SqliteStore) -> None:
    root = "ab" * 32
    store.put_batch_manifest(root, ["cd" * 32])
    store.close()

    reopened = SqliteStore(store.path)

    assert reopened.get_batch_manifest(root) == ["cd" * 32]
    assert reopened.find_batch_member("cd" * 32) == (root, 0)
