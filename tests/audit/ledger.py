"""Real stores for audit tests: the embedded node's producer (SoloNode) commits real blocks into a
real SQLite store, and tampering is done the way an insider would, with sqlite3 on the file.

``build_store`` makes one notary record per block and, every third block, an endorsement of the
previous record, so the store holds records, pending indexes, log entries and log nodes of
several levels.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from gridledger.audit.book import CheckpointBook, compute_book_path
from gridledger.audit.checkpointer import Checkpointer
from gridledger.crypto import PrivateKey
from gridledger.ledger.state import log_node_key
from gridledger.ledger.tx import TxBody, sign_transaction
from gridledger.merkle import MemoryNodeStore, MerkleLog
from gridledger.node.abci_app import Application
from gridledger.node.solo import SoloNode
from gridledger.store.sqlite import SqliteStore
from tests.chain import (
    CHAIN_ID,
    GRIDCO_ADMIN,
    NODE_KEY,
    NOTARY_ENDORSER,
    digest_of,
    genesis_document,
    record_args,
)


class LedgerBuilder:
    """A store plus the embedded producer, adding blocks on demand."""

    def __init__(self, db: Path, node_key: PrivateKey = NODE_KEY) -> None:
        self.db = db
        self.store = SqliteStore(db)
        self.app = Application(self.store)
        self.app.init_chain(genesis_document())
        self.solo = SoloNode(self.app, node_key, block_time_ms=0)
        self.solo.start()
        self.node_key = node_key
        self.records = 0

    def add_blocks(self, count: int, *, tag: str = "") -> None:
        for _ in range(count):
            height = self.store.last_height + 1
            if self.records and height % 3 == 0:
                args: dict[str, object] = {
                    "digest": self._digest(self.records - 1, tag),
                    "org": "notary",
                }
                self._commit("endorse", args, NOTARY_ENDORSER, height)
            else:
                args = record_args(
                    self._digest(self.records, tag), [GRIDCO_ADMIN.address], ["notary"]
                )
                self._commit("record", args, GRIDCO_ADMIN, height)
                self.records += 1

    def checkpoint(self) -> None:
        """Sign a checkpoint of the log now, as the node's API process would."""
        book = CheckpointBook(compute_book_path(self.db))
        Checkpointer(self.store, book, self.node_key).checkpoint_now()

    def close(self) -> None:
        self.solo.stop()
        self.store.close()

    def _digest(self, n: int, tag: str) -> str:
        return digest_of(f"audit test document {tag}{n}")

    def _commit(self, method: str, args: dict[str, object], key: PrivateKey, height: int) -> None:
        body = TxBody(
            chain_id=CHAIN_ID,
            expiry_height=height + 50,
            nonce=f"{method}-{height}",
            contract="notary",
            method=method,
            args=args,
        )
        result, committed = self.solo.wait_for_commit(sign_transaction(body, [key]).raw)
        if committed is None or committed.code != 0:
            raise RuntimeError(f"block {height} failed: {result} {committed}")


def build_store(directory: Path, blocks: int, *, checkpoint_every: int = 0, tag: str = "") -> Path:
    """A store of ``blocks`` blocks in ``directory``; a checkpoint every ``checkpoint_every``."""
    directory.mkdir(parents=True, exist_ok=True)
    builder = LedgerBuilder(directory / "ledger.sqlite")
    try:
        done = 0
        while done < blocks:
            step = min(checkpoint_every or blocks, blocks - done)
            builder.add_blocks(step, tag=tag)
            done += step
            if checkpoint_every:
                builder.checkpoint()
    finally:
        builder.close()
    return directory / "ledger.sqlite"


def copy_node(db: Path, directory: Path) -> Path:
    """Another node holding the same data: the store and its checkpoint book, copied."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in (db, compute_book_path(db)):
        if source.exists():
            _backup(source, directory / source.name)
    return directory / db.name


def _backup(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


# -- tampering ---------------------------------------------------------------------------------


def execute(db: Path, sql: str, *params: object) -> int:
    """One statement on the file, as a person with sqlite3 would run it; rows changed."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            return conn.execute(sql, params).rowcount
    finally:
        conn.close()


def read_state(db: Path, key: str) -> bytes:
    conn = sqlite3.connect(db)
    try:
        (value,) = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return bytes(value)
    finally:
        conn.close()


def rewrite_log_entry(db: Path, index: int) -> None:
    """Change log entry ``index`` and recompute every log node, so the stored log is internally
    consistent again but no longer the log the node once held (and signed checkpoints of)."""
    conn = sqlite3.connect(db)
    try:
        with conn:
            rows = conn.execute(
                "SELECT key, value FROM state WHERE key >= 'log/entry/' AND key < 'log/entry0' "
                "ORDER BY key"
            ).fetchall()
            entries = [bytes(v) for _, v in rows]
            entries[index] = entries[index].replace(b"Supply contract", b"Supply contrXct", 1)
            if entries[index] == bytes(rows[index][1]):
                entries[index] = entries[index].replace(b'"notary"', b'"judicial"', 1)
            nodes = MemoryNodeStore()
            log = MerkleLog(nodes, 0)
            for entry in entries:
                log.append(entry)
            conn.execute(
                "UPDATE state SET value = ? WHERE key = ?", (entries[index], rows[index][0])
            )
            conn.execute("DELETE FROM state WHERE key >= 'log/node/' AND key < 'log/node0'")
            conn.executemany(
                "INSERT INTO state (key, value) VALUES (?, ?)",
                [
                    (log_node_key(level, i), nodes.get_node(level, i))
                    for level in range(len(entries).bit_length())
                    for i in range(len(entries) >> level)
                ],
            )
    finally:
        conn.close()


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
