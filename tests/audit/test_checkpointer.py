"""The checkpoint writer over a real store: it signs what the store holds, only when the log grew,
at most once per interval, and its thread keeps doing so until stopped."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from gridledger.audit.book import CheckpointBook, compute_book_path
from gridledger.audit.checkpoint import verify_checkpoint
from gridledger.audit.checkpointer import Checkpointer, read_checkpoint
from gridledger.ledger.state import State
from gridledger.store.sqlite import SqliteStore
from tests.audit.ledger import LedgerBuilder
from tests.chain import CHAIN_ID, GENESIS_TIME_MS, NODE_KEY


@pytest.fixture
def builder(tmp_path: Path) -> Iterator[LedgerBuilder]:
    b = LedgerBuilder(tmp_path / "ledger.sqlite")
    try:
        yield b
    finally:
        b.close()


class FakeClock:
    """Seconds that move only when the test says so (the writer's interval, not consensus)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_checkpoint_is_what_the_store_holds(builder: LedgerBuilder) -> None:
    assert read_checkpoint(builder.store) is not None
    builder.add_blocks(5)
    cp = read_checkpoint(builder.store)
    assert cp is not None
    log = State(builder.store).log()
    block = builder.store.get_block(5)
    assert block is not None
    assert (cp.chain_id, cp.height, cp.log_size) == (CHAIN_ID, 5, log.size)
    assert cp.log_root == log.root() and cp.app_hash == builder.store.last_app_hash
    assert cp.time_ms == block.time_ms > GENESIS_TIME_MS


def test_no_checkpoint_before_genesis_or_of_an_empty_log(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "empty.sqlite")
    assert read_checkpoint(store) is None
    book = CheckpointBook(compute_book_path(store.path))
    assert Checkpointer(store, book, NODE_KEY).checkpoint_now() is None
    assert not book.exists()


def test_writes_only_when_the_log_grew(builder: LedgerBuilder) -> None:
    book = CheckpointBook(compute_book_path(builder.db))
    writer = Checkpointer(builder.store, book, NODE_KEY)
    assert writer.checkpoint_now() is None  # genesis only: the log is empty
    builder.add_blocks(2)
    first = writer.checkpoint_now()
    assert first is not None and first.checkpoint.height == 2
    verify_checkpoint(first, NODE_KEY.public_key)
    assert writer.checkpoint_now() is None  # nothing new
    builder.add_blocks(1)
    second = writer.checkpoint_now()
    assert second is not None and second.checkpoint.log_size > first.checkpoint.log_size
    assert book.list_all() == [first, second]


def test_interval_limits_how_often_it_is_due(builder: LedgerBuilder) -> None:
    clock = FakeClock()
    book = CheckpointBook(compute_book_path(builder.db))
    writer = Checkpointer(builder.store, book, NODE_KEY, min_interval_s=2.0, clock=clock)
    assert writer.is_due()
    builder.add_blocks(1)
    assert writer.checkpoint_now() is not None
    assert not writer.is_due()
    clock.now += 1.9
    assert not writer.is_due()
    clock.now += 0.2
    assert writer.is_due()


def test_store_behind_its_book_signs_nothing(builder: LedgerBuilder, tmp_path: Path) -> None:
    builder.add_blocks(3)
    book = CheckpointBook(compute_book_path(builder.db))
    assert Checkpointer(builder.store, book, NODE_KEY).checkpoint_now() is not None
    restored = LedgerBuilder(tmp_path / "restored" / "ledger.sqlite")  # an older copy
    try:
        restored.add_blocks(2)
        assert Checkpointer(restored.store, book, NODE_KEY).checkpoint_now() is None
        assert book.count() == 1
    finally:
        restored.close()


def test_thread_checkpoints_new_blocks_until_stopped(builder: LedgerBuilder) -> None:
    book = CheckpointBook(compute_book_path(builder.db))
    writer = Checkpointer(builder.store, book, NODE_KEY, min_interval_s=0.0, poll_s=0.02)
    writer.start()
    try:
        builder.add_blocks(2)
        _wait(lambda: book.count() >= 1)
        builder.add_blocks(2)
        _wait(lambda: (book.latest() or _never()).checkpoint.height == 4)
    finally:
        writer.stop()
    count = book.count()
    builder.add_blocks(1)
    time.sleep(0.2)
    assert book.count() == count  # stopped: nothing more is written
    for signed in book.list_all():
        verify_checkpoint(signed, NODE_KEY.public_key)


def _never() -> NoReturn:
    raise AssertionError("no checkpoint yet")


def _wait(condition: object, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if callable(condition) and condition():
                return
        except AssertionError:
            pass
        time.sleep(0.02)
    raise AssertionError("condition not met in time")
