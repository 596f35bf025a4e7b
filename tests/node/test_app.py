"""The ABCI-shaped application over a real SQLite store, and the solo block producer."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from gridledger import codec
from gridledger.contracts import notary
from gridledger.errors import NodeError, StoreError
from gridledger.ledger.block import compute_block_hash, decode_header, verify_header_signature
from gridledger.ledger.state import State
from gridledger.ledger.transition import OK, BlockResult
from gridledger.ledger.tx import Transaction, TxBody, sign_transaction
from gridledger.node.abci_app import Application
from gridledger.node.solo import Committed, SoloNode
from gridledger.store.sqlite import SqliteStore
from tests.chain import (
    CHAIN_ID,
    CUSTOMER,
    GENESIS_TIME_MS,
    GRIDCO_ADMIN,
    NODE_KEY,
    digest_of,
    genesis_document,
    record_args,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "ledger.sqlite")
    yield store
    store.close()


@pytest.fixture
def app(store: SqliteStore) -> Application:
    app = Application(store)
    app.init_chain(genesis_document())
    return app


def record_tx(name: str, *, nonce: str = "n", expiry_height: int = 50) -> Transaction:
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=expiry_height,
        nonce=nonce,
        contract="notary",
        method="record",
        args=record_args(digest_of(name), [GRIDCO_ADMIN.address]),
    )
    return sign_transaction(body, [GRIDCO_ADMIN])


def produce(app: Application, raws: Sequence[bytes]) -> BlockResult:
    """FinalizeBlock and Commit the next block (header bytes are a stand-in here)."""
    height = app.info().last_height + 1
    time_ms = GENESIS_TIME_MS + 1_000 * height
    result = app.finalize_block(height=height, time_ms=time_ms, raw_txs=raws)
    header = codec.encode({"height": height})
    app.commit(block_hash=hashlib.sha256(header).digest(), header=header, signature=bytes(64))
    return result


def state_of(store: SqliteStore) -> dict[str, bytes]:
    return dict(store.iter_prefix(""))


# -- Info / InitChain --------------------------------------------------------------------------


def test_fresh_application_reports_an_uninitialized_chain(store: SqliteStore) -> None:
    app = Application(store)

    info = app.info()

    assert (info.chain_id, info.last_height, info.last_app_hash) == ("", 0, b"")
    with pytest.raises(NodeError, match="not been initialized"):
        _ = app.genesis


def test_init_chain_writes_genesis(store: SqliteStore) -> None:
    app = Application(store)

    app_hash = app.init_chain(genesis_document())

    assert app.info().chain_id == CHAIN_ID
    assert app.info().last_height == 0
    assert app.info().last_app_hash == app_hash == store.last_app_hash
    assert app.info().last_time_ms == GENESIS_TIME_MS
    assert store.get(f"identity/account/{GRIDCO_ADMIN.address}") is not None


def test_init_chain_twice_with_the_same_genesis_changes_nothing(
    app: Application, store: SqliteStore
) -> None:
    before = (state_of(store), app.info())

    again = app.init_chain(genesis_document())
    other_app = Application(store)
    third = other_app.init_chain(genesis_document())

    assert again == third == before[1].last_app_hash
    assert (state_of(store), app.info()) == before
    assert other_app.info() == before[1]


def test_init_chain_refuses_a_different_genesis(app: Application, store: SqliteStore) -> None:
    before = (state_of(store), app.info())
    other = {**genesis_document(), "chain_id": "gridledger-other"}

    with pytest.raises(StoreError, match="different genesis"):
        app.init_chain(other)

    assert (state_of(store), app.info()) == before


# -- CheckTx -----------------------------------------------------------------------------------


def test_check_tx_accepts_a_valid_transaction(app: Application) -> None:
    tx = record_tx("doc")

    result = app.check_tx(tx.raw)

    assert (result.ok, result.code, result.tx_id) == (True, OK, tx.tx_id)


def test_check_tx_refuses_a_duplicate_already_in_the_mempool(app: Application) -> None:
    tx = record_tx("doc")
    assert app.check_tx(tx.raw).ok

    again = app.check_tx(tx.raw)
    cosigned = app.check_tx(sign_transaction(tx.body, [GRIDCO_ADMIN, CUSTOMER]).raw)

    assert (again.code, again.error, again.tx_id) == (6, "replayed", tx.tx_id)
    assert "already waiting in the mempool" in again.log
    assert (cosigned.code, cosigned.error) == (6, "replayed")


def test_check_tx_refuses_a_committed_transaction(app: Application) -> None:
    tx = record_tx("doc")
    app.check_tx(tx.raw)
    produce(app, [tx.raw])

    result = app.check_tx(tx.raw)

    assert (result.code, result.error) == (6, "replayed")
    assert "already committed at height 1" in result.log


def test_check_tx_after_commit_accepts_a_new_transaction(app: Application) -> None:
    app.check_tx(record_tx("first").raw)
    produce(app, [record_tx("first").raw])

    assert app.check_tx(record_tx("second", nonce="other").raw).ok


@pytest.mark.parametrize(
    ("raw", "code", "error"),
    [
        pytest.param(b"garbage", 1, "decode_error", id="not-json"),
        pytest.param(record_tx("doc", expiry_height=10_000).raw, 5, "expired", id="far-expiry"),
    ],
)
def test_check_tx_refuses_bad_transactions_with_their_code(
    app: Application, raw: bytes, code: int, error: str
) -> None:
    result = app.check_tx(raw)

    assert (result.ok, result.code, result.error) == (False, code, error)
    assert result.log


def test_check_tx_refuses_a_bad_signature(app: Application) -> None:
    stolen = record_tx("other", nonce="x").to_json()["signatures"]
    raw = codec.encode({"body": record_tx("doc").body.to_json(), "signatures": stolen})

    result = app.check_tx(raw)

    assert (result.code, result.error) == (3, "invalid_signature")


def test_check_tx_changes_nothing_committed(app: Application, store: SqliteStore) -> None:
    before = (state_of(store), store.last_height)

    app.check_tx(record_tx("doc").raw)

    assert (state_of(store), store.last_height) == before


def test_check_tx_keeps_the_parsed_message_for_finalize_block(app: Application) -> None:
    tx = record_tx("doc")

    assert app.check_tx(tx.raw).ok

    cached = app._verified[hashlib.sha256(tx.raw).digest()]
    assert (cached.tx.tx_id, cached.parsed) == (tx.tx_id, True)
    assert cached.message == notary.parse_record(tx.body.args)
    result = produce(app, [tx.raw])
    assert [r.code for r in result.tx_results] == [OK]
    assert hashlib.sha256(tx.raw).digest() not in app._verified  # forgotten once committed


def test_check_tx_refused_by_the_rules_keeps_the_verified_tx_without_a_message(
    app: Application,
) -> None:
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=50,
        nonce="n",
        contract="notary",
        method="record",
        args=record_args(digest_of("doc"), [CUSTOMER.address]),
    )
    tx = sign_transaction(body, [CUSTOMER])  # a valid signature, but not a registered sender

    assert app.check_tx(tx.raw).error == "unauthorized"

    cached = app._verified[hashlib.sha256(tx.raw).digest()]
    assert (cached.tx.tx_id, cached.parsed, cached.message) == (tx.tx_id, False, None)


# -- FinalizeBlock / Commit --------------------------------------------------------------------


def test_finalize_and_commit_persist_the_block(app: Application, store: SqliteStore) -> None:
    good, bad = record_tx("doc"), b"garbage"
    prev = store.last_app_hash

    result = produce(app, [good.raw, bad])

    assert [r.code for r in result.tx_results] == [OK, 1]
    assert (store.last_height, store.last_app_hash) == (1, result.app_hash)
    assert result.app_hash != prev
    block = store.get_block(1)
    assert block is not None
    assert (block.num_txs, block.prev_app_hash, block.changes_hash) == (
        2,
        prev,
        result.changes_hash,
    )
    row = store.get_tx(good.tx_id)
    assert row is not None
    assert (row.height, row.idx, row.code, row.raw) == (1, 0, OK, good.raw)
    assert codec.decode(row.events)[0]["type"] == "notary.recorded"
    assert [(r.idx, r.code, r.error) for r in store.get_block_txs(1)] == [
        (0, OK, ""),
        (1, 1, "decode_error"),
    ]
    assert notary.get_record(State(store), digest_of("doc")) is not None
    assert app.info().last_height == 1


def test_finalize_without_commit_persists_nothing(app: Application, store: SqliteStore) -> None:
    before = (state_of(store), store.last_height, store.last_app_hash)

    app.finalize_block(height=1, time_ms=GENESIS_TIME_MS + 1, raw_txs=[record_tx("doc").raw])

    assert (state_of(store), store.last_height, store.last_app_hash) == before


def test_finalize_refuses_a_height_out_of_order(app: Application) -> None:
    with pytest.raises(NodeError, match="next height is 1"):
        app.finalize_block(height=2, time_ms=GENESIS_TIME_MS + 1, raw_txs=[])


def test_commit_without_finalize_is_refused(app: Application) -> None:
    with pytest.raises(NodeError, match="without a finalized block"):
        app.commit(block_hash=bytes(32), header=b"{}", signature=bytes(64))


def test_reopened_store_gives_the_same_info(app: Application, store: SqliteStore) -> None:
    produce(app, [record_tx("one").raw])
    produce(app, [record_tx("two").raw, record_tx("three").raw])
    produce(app, [])
    info = app.info()
    store.close()

    reopened_store = SqliteStore(store.path)
    reopened = Application(reopened_store)

    assert reopened.info() == info
    assert info.last_height == 3 and info.last_time_ms == GENESIS_TIME_MS + 3_000
    assert reopened.check_tx(record_tx("one").raw).error == "replayed"
    reopened_store.close()


# -- the solo producer -------------------------------------------------------------------------

THREADS = 4
TXS_PER_THREAD = 50


def test_solo_commits_many_concurrent_transactions_of_one_account(
    app: Application, store: SqliteStore
) -> None:
    node = SoloNode(app, NODE_KEY)
    node.start()
    committed: dict[bytes, Committed] = {}
    submitted: list[list[Transaction]] = [[] for _ in range(THREADS)]
    all_done = threading.Event()
    lock = threading.Lock()
    failures: list[str] = []

    def on_commit(c: Committed) -> None:
        with lock:
            committed[c.tx_id] = c
            if len(committed) == THREADS * TXS_PER_THREAD:
                all_done.set()

    def submitter(t: int) -> None:
        for i in range(TXS_PER_THREAD):
            expiry = app.info().last_height + 50
            tx = record_tx(f"doc-{t}-{i}", nonce=f"thread-{t}-{i}", expiry_height=expiry)
            result = node.submit(tx.raw, on_commit)
            if not result.ok:
                failures.append(f"{t}/{i}: {result.error} {result.log}")
            submitted[t].append(tx)

    try:
        threads = [threading.Thread(target=submitter, args=(t,)) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
        assert all_done.wait(timeout=60), f"only {len(committed)} committed"
    finally:
        node.stop()

    assert node.healthy
    assert all(c.code == OK for c in committed.values())
    for txs in submitted:  # one thread's transactions commit in the order it sent them
        heights = [committed[tx.tx_id].height for tx in txs]
        assert heights == sorted(heights)
    for tx in (tx for txs in submitted for tx in txs):
        row = store.get_tx(tx.tx_id)
        assert row is not None
        assert (row.code, row.height, row.raw) == (OK, committed[tx.tx_id].height, tx.raw)

    last = store.last_height
    blocks = [b for b in (store.get_block(h) for h in range(1, last + 1)) if b is not None]
    assert len(blocks) == last
    assert sum(b.num_txs for b in blocks) == THREADS * TXS_PER_THREAD
    prev_hash, prev_time = app.genesis.genesis_hash, 0
    for height, block in enumerate(blocks, start=1):
        header = decode_header(codec.decode(block.header))
        verify_header_signature(header, NODE_KEY.public_key, block.signature)
        assert (header.height, header.prev_block_hash) == (height, prev_hash)
        assert header.time_ms > prev_time
        assert compute_block_hash(header) == block.hash
        prev_hash, prev_time = block.hash, header.time_ms
    assert app.info().last_app_hash == blocks[-1].app_hash


def test_solo_wait_for_commit_returns_the_result(app: Application) -> None:
    node = SoloNode(app, NODE_KEY)
    node.start()
    try:
        tx = record_tx("waited")
        check, committed = node.wait_for_commit(tx.raw, timeout_s=30)
        replay, never = node.wait_for_commit(tx.raw, timeout_s=1)
    finally:
        node.stop()

    assert check.ok and committed is not None
    assert (committed.tx_id, committed.height, committed.index, committed.code) == (
        tx.tx_id,
        1,
        0,
        OK,
    )
    assert (replay.error, never) == ("replayed", None)


def test_solo_resumes_the_block_hash_chain_after_restart(
    app: Application, store: SqliteStore
) -> None:
    first = SoloNode(app, NODE_KEY)
    first.start()
    first.wait_for_commit(record_tx("before").raw)
    first.stop()

    second = SoloNode(Application(store), NODE_KEY)
    second.start()
    try:
        _, committed = second.wait_for_commit(record_tx("after").raw)
    finally:
        second.stop()

    assert committed is not None and committed.height == 2
    block_1, block_2 = store.get_block(1), store.get_block(2)
    assert block_1 is not None and block_2 is not None
    assert decode_header(codec.decode(block_2.header)).prev_block_hash == block_1.hash
