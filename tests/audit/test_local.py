"""``audit --local`` on real stores built by the embedded producer, then edited with sqlite3 the way
an insider would: each edit is found, at the right height or key, with the right message."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import pytest

from gridledger import codec
from gridledger.audit.book import CheckpointBook, compute_book_path
from gridledger.audit.checkpoint import sign_checkpoint
from gridledger.audit.local import LocalAudit, audit_local
from gridledger.errors import NotFound, StoreError
from gridledger.ledger.state import log_entry_key, log_node_key
from tests.audit.ledger import build_store, copy_node, execute, read_state, rewrite_log_entry
from tests.chain import NODE_KEY, digest_of
from tests.e2e.nodeproc import cli

BLOCKS = 30


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("base"), BLOCKS, checkpoint_every=10)


@pytest.fixture
def db(base: Path, tmp_path: Path) -> Path:
    return copy_node(base, tmp_path / "node")


def messages(report: LocalAudit) -> list[str]:
    return [f.message for f in report.findings]


def test_untouched_store_is_clean(db: Path) -> None:
    report = audit_local(db)
    assert report.clean, messages(report)
    assert report.height == BLOCKS and report.txs == BLOCKS
    assert report.log_size == BLOCKS and report.checkpoints == 3
    assert report.state_rows > 3 * BLOCKS
    assert report.summary().startswith("clean: ")


def test_edited_state_row_is_named(db: Path) -> None:
    key = f"notary/record/{digest_of('audit test document 4')}"
    record = codec.decode(read_state(db, key))
    execute(
        db,
        "UPDATE state SET value = ? WHERE key = ?",
        codec.encode({**record, "title": "Forged"}),
        key,
    )
    report = audit_local(db)
    assert messages(report) == [
        f"row state[{key!r}] was edited: stored value differs from the replayed ledger"
    ]
    assert report.findings[0].area == "state"


def test_deleted_and_added_state_rows_are_named(db: Path) -> None:
    (raw_key,) = _one(db, "SELECT CAST(key AS BLOB) FROM state WHERE key LIKE 'notary/pending/%'")
    pending = raw_key.decode()
    assert execute(db, "DELETE FROM state WHERE key = ?", pending) == 1
    execute(db, "INSERT INTO state VALUES ('identity/org/mallory', ?)", b"{}")
    assert messages(audit_local(db)) == [
        "row state['identity/org/mallory'] was added: no block wrote it",
        f"row state[{pending!r}] was deleted: the replayed ledger holds it",
    ]


def test_edited_transaction_bytes_are_found_at_their_block(db: Path) -> None:
    (raw,) = _one(db, "SELECT raw FROM txs WHERE height = 5")
    forged = bytes(raw).replace(b"Supply contract", b"Supply contrXct")
    assert forged != bytes(raw)
    execute(db, "UPDATE txs SET raw = ? WHERE height = 5", forged)
    report = audit_local(db)
    first = report.findings[0]
    assert (first.area, first.height) == ("block", 5)
    found = messages(report)
    assert "block 5 header txs_hash does not match the stored transactions" in found[0]
    assert any(
        m.startswith("block 5 transaction 0: its stored bytes replay to code 3 invalid_signature")
        for m in found
    )
    assert any(m.startswith("block 5 change set differs") for m in found)
    assert any("later blocks also differ from the replay" in m for m in found)
    assert not report.clean


def test_text_written_over_a_blob_column_is_reported_not_fatal(db: Path) -> None:
    execute(db, "UPDATE txs SET raw = replace(raw, 'Supply', 'Suppl!') WHERE height = 8")
    (kind,) = _one(db, "SELECT CAST(typeof(raw) AS BLOB) FROM txs WHERE height = 8")
    assert kind == b"text"
    execute(db, "UPDATE blocks SET time_ms = 'noon' WHERE height = 9")
    found = messages(audit_local(db))
    assert found[0] == (
        "block 8 header txs_hash does not match the stored transactions (a transaction's raw "
        "bytes were edited)"
    )
    assert "block 9 header time_ms does not match the block's stored time" in found


def test_edited_block_app_hash_is_found(db: Path) -> None:
    execute(db, "UPDATE blocks SET app_hash = ? WHERE height = 17", bytes(32))
    found = messages(audit_local(db))
    assert found[0] == "block 17 header app_hash does not match the block's stored app hash"
    assert found[1].startswith("block 17 app hash does not match its recomputed change set")
    assert any(m.startswith("block 18 prev_app_hash") for m in found)
    assert "block 17: the app hash replayed from genesis differs from the stored one" in found
    assert not any("later blocks" in m for m in found)  # block 18 on agrees with the replay


def test_edited_log_node_is_found_in_the_log_and_the_state(db: Path) -> None:
    key = log_node_key(0, 3)
    execute(db, "UPDATE state SET value = ? WHERE key = ?", bytes(32), key)
    found = messages(audit_local(db))
    assert (
        "log node (level 0, index 3) is not the hash of log entry 3: the entry or its node was "
        "edited"
    ) in found
    assert (
        "log node (level 1, index 1) is not the hash of its two children: a log node was edited"
        in found
    )
    assert f"row state[{key!r}] was edited: stored value differs from the replayed ledger" in found


def test_log_rewritten_with_consistent_nodes_is_found_by_the_replay(db: Path) -> None:
    rewrite_log_entry(db, 6)
    report = audit_local(db)
    areas = {f.area for f in report.findings}
    assert areas == {"state"}  # the log is consistent with itself, not with the ledger
    assert (
        f"row state[{log_entry_key(6)!r}] was edited: stored value differs from the replayed ledger"
    ) in messages(report)


def test_missing_block_stops_the_replay(db: Path) -> None:
    execute(db, "DELETE FROM blocks WHERE height = 12")
    report = audit_local(db)
    assert messages(report)[0] == "block 12 is missing"
    assert not any(f.area == "state" for f in report.findings)  # not compared: replay stopped


def test_meta_last_app_hash_edit_is_found(db: Path) -> None:
    execute(db, "UPDATE meta SET value = ? WHERE key = 'last_app_hash'", bytes(32))
    assert messages(audit_local(db)) == [
        "meta last_app_hash does not match the last block's app hash"
    ]


def test_checkpoint_the_replay_contradicts_is_found(db: Path) -> None:
    book = CheckpointBook(compute_book_path(db))
    honest = book.get(20)
    assert honest is not None
    lie = sign_checkpoint(dataclasses.replace(honest.checkpoint, height=25), NODE_KEY)
    book.add(lie)  # signed by the node key, but the log at 25 is not the log at 20
    found = messages(audit_local(db))
    assert found == [
        f"signed checkpoint at {lie.checkpoint.describe()} disagrees with the replayed ledger "
        f"on {name}"
        for name in ("log_size", "log_root", "app_hash", "time_ms")
    ]


def test_checkpoint_edited_in_the_book_or_beyond_the_store_is_found(db: Path) -> None:
    path = compute_book_path(db)
    body = codec.decode(_one(path, "SELECT body FROM checkpoints WHERE height = 10")[0])
    execute(
        path,
        "UPDATE checkpoints SET body = ? WHERE height = 10",
        codec.encode({**body, "log_size": 3}),
    )
    execute(db, "DELETE FROM txs WHERE height = 30")
    execute(db, "DELETE FROM blocks WHERE height = 30")
    found = messages(audit_local(db))
    assert "checkpoint at height 10 has an invalid signature" in found[-2]
    assert found[-1].startswith("checkpoint at height 30 (log size 30")
    assert found[-1].endswith("is above the store's last block 29: the store lost blocks it had")


def test_pinned_key_that_did_not_sign_the_checkpoints(db: Path) -> None:
    report = audit_local(db, checkpoint_key=bytes(32))
    assert len(report.findings) == 3
    assert all("not by the pinned key" in m for m in messages(report))


def test_no_store_and_not_a_store_are_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        audit_local(tmp_path / "missing.sqlite")
    sqlite3.connect(tmp_path / "empty.sqlite").close()
    (tmp_path / "empty.sqlite").write_bytes(b"")
    with pytest.raises(StoreError, match="not a gridledger store"):
        audit_local(tmp_path / "empty.sqlite")


def test_command_line_exit_codes(db: Path) -> None:
    clean = cli("audit", "--local", "--db", str(db), timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("clean: ")
    execute(db, "UPDATE state SET value = ? WHERE key = 'chain/params'", b"{}")
    tampered = cli("audit", "--local", "--db", str(db), timeout=120)
    assert tampered.returncode == 1
    lines = tampered.stdout.splitlines()
    assert lines[0].startswith("TAMPERED: ")
    assert lines[1] == (
        "  state: row state['chain/params'] was edited: stored value differs from the replayed "
        "ledger"
    )
    usage = cli("audit", "--local", timeout=60)
    assert usage.returncode == 2 and "needs --db" in usage.stderr
    missing = cli("audit", "--local", "--db", str(db.parent / "nope.sqlite"), timeout=60)
    assert missing.returncode == 1 and missing.stderr.startswith("error: no store at")


def test_a_thousand_blocks_replay_in_seconds(tmp_path: Path) -> None:
    db = build_store(tmp_path / "big", 1_000)
    started = time.monotonic()
    report = audit_local(db)
    elapsed = time.monotonic() - started
    assert report.clean and report.height == 1_000
    assert elapsed < 60, elapsed  # about 0.5 s on the 2-core build machine; generous for noise


def _one(db: Path, sql: str) -> tuple[bytes, ...]:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(sql).fetchone()
        return tuple(bytes(v) for v in row)
    finally:
        conn.close()
