"""The node's store: one SQLite file in WAL mode with ``synchronous=FULL``.

Tables: ``state`` (the ordered key-value map of the ledger, which implements the core's
StateBackend), ``blocks`` (headers and their signatures), ``txs`` (every transaction with its
result), ``meta`` (last committed height and app hash, genesis) and ``batch_members`` (off-chain
manifests of batch records, checked against their on-chain root before they are kept).

A block is committed in one SQLite transaction, so after a crash the last block is either wholly
present or wholly absent; the node resumes from ``last_height``. The writer is the single block
producer; readers (API threads) use their own connections and see only committed blocks.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.errors import StoreError
from gridledger.ledger.state import Changes

log = logging.getLogger(__name__)

# A new store uses 8 KiB pages (an existing one keeps the page size it was made with): in a
# WITHOUT ROWID table a row larger than about a quarter of a page spills into overflow pages,
# and notary records and log entries (about 1 KiB) would do that with 4 KiB pages. Measured on
# notary blocks: commits take about a fifth less CPU, point reads and key-order scans less too.
PAGE_SIZE = 8192
# The WAL is copied back into the database file (a checkpoint) once about this many pages were
# written to it (SQLite's default is 1,000). A block of notary records dirties pages all over the
# B-tree; with a longer WAL a page written by several blocks is copied back once. Measured on
# 500-transaction notary blocks: a fifth less time in Commit, for a WAL file of up to ~80 MiB.
#
# The copy runs in a background thread (``_Checkpointer``), not in the COMMIT that crosses the
# mark as SQLite's automatic checkpoint does: copying ~80 MiB and syncing the file took that
# Commit 0.5-0.9 s, on every validator at about the same height, and consensus waits for Commit.
# SQLite's own checkpoint stays as a backstop at four times the mark, should the thread lag.
WAL_CHECKPOINT_PAGES = 10_000
WAL_AUTOCHECKPOINT_PAGES = 4 * WAL_CHECKPOINT_PAGES
# Page cache of each connection, at most (it fills as pages are read). SQLite's default of 2 MiB
# holds little more than the B-trees' inner pages, so under load most point reads and the
# leaves a commit updates were read from the file again: notarizing 20,000 transactions made
# 133,000 pread calls with the default and 31,000 with 64 MiB (strace -c).
CACHE_KIB = 64 * 1024
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocks (
    height INTEGER PRIMARY KEY, hash BLOB NOT NULL, header BLOB NOT NULL, signature BLOB NOT NULL,
    app_hash BLOB NOT NULL, prev_app_hash BLOB NOT NULL, changes_hash BLOB NOT NULL,
    time_ms INTEGER NOT NULL, num_txs INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS txs (
    height INTEGER NOT NULL, idx INTEGER NOT NULL, tx_id BLOB, raw BLOB NOT NULL,
    code INTEGER NOT NULL, error TEXT NOT NULL, log TEXT NOT NULL, events BLOB NOT NULL,
    PRIMARY KEY (height, idx)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS txs_by_id ON txs (tx_id);
CREATE TABLE IF NOT EXISTS batch_manifests (
    id INTEGER PRIMARY KEY, root BLOB NOT NULL UNIQUE, digests BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS batch_members (
    prefix INTEGER NOT NULL, batch INTEGER NOT NULL, idx INTEGER NOT NULL,
    PRIMARY KEY (prefix, batch, idx)) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockRow:
    height: int
    hash: bytes
    header: bytes  # canonical JSON of the header
    signature: bytes
    app_hash: bytes
    prev_app_hash: bytes
    changes_hash: bytes
    time_ms: int
    num_txs: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TxRow:
    height: int
    idx: int
    tx_id: bytes | None
    raw: bytes
    code: int
    error: str
    log: str
    events: bytes  # canonical JSON list


class _Checkpointer:
    """Copies the WAL back into the database file in a thread of its own, when asked.

    A PASSIVE checkpoint: it copies what it can without waiting for readers or the writer, so
    neither waits for it; what a reader still needs is copied by a later one. The thread starts
    on the first request and ends with ``close``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.completed = 0  # checkpoints run, for tests and diagnostics

    def request(self) -> None:
        with self._lock:
            if self._closing:
                return
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"checkpoint {self._path.name}", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def close(self) -> None:
        with self._lock:
            self._closing = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=60)

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=30)
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._closing:
                    return
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.completed += 1
                except sqlite3.Error as exc:  # the next request tries again
                    log.warning("store %s: background checkpoint failed: %s", self._path, exc)
        finally:
            conn.close()


class SqliteStore:
    def __init__(self, path: Path, *, checkpoint_pages: int = WAL_CHECKPOINT_PAGES) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._checkpointer = _Checkpointer(self.path)
        self._checkpoint_pages = checkpoint_pages
        self._pages_since_checkpoint = 0  # an estimate: each row written dirties about a page
        with self._wrap("open"):
            self._conn().executescript(SCHEMA)

    # -- connections ---------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # before the file exists, else no-op
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._local.conn = conn
        return conn

    @contextmanager
    def _wrap(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: {what} failed: {exc}") from exc

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads inside see one committed block, even while the producer commits the next."""
        conn = self._conn()
        if conn.in_transaction:
            yield
            return
        with self._wrap("begin read"):
            conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        self._checkpointer.close()
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- StateBackend --------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        try:  # the hot path: no context manager
            row = self._conn().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: read of {key!r} failed: {exc}") from exc
        return None if row is None else bytes(row[0])

    def iter_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"
        with self._wrap("scan"):
            rows = (
                self._conn()
                .execute(
                    "SELECT key, value FROM state WHERE key >= ? AND key < ? ORDER BY key",
                    (prefix, upper),
                )
                .fetchall()
            )
        for key, value in rows:
            yield key, bytes(value)

    # -- meta ----------------------------------------------------------------------------------

    def get_meta(self, key: str) -> bytes | None:
        with self._wrap("read meta"):
            row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    @property
    def last_height(self) -> int:
        raw = self.get_meta("last_height")
        return 0 if raw is None else int(raw)

    @property
    def last_app_hash(self) -> bytes:
        return self.get_meta("last_app_hash") or b""

    # -- commits -------------------------------------------------------------------------------

    def commit_genesis(self, changes: Changes, app_hash: bytes, genesis: bytes) -> None:
        self._commit(
            changes,
            height=0,
            app_hash=app_hash,
            block=None,
            txs=(),
            extra_meta={"genesis": genesis},
        )

    def commit_block(self, changes: Changes, *, block: BlockRow, txs: Sequence[TxRow]) -> None:
        self._commit(changes, height=block.height, app_hash=block.app_hash, block=block, txs=txs)

    def _commit(
        self,
        changes: Changes,
        *,
        height: int,
        app_hash: bytes,
        block: BlockRow | None,
        txs: Sequence[TxRow],
        extra_meta: dict[str, bytes] | None = None,
    ) -> None:
        # In key order, each write lands next to the previous one in the B-tree: fewer pages
        # are searched and dirtied than in the order the block happened to write them.
        upserts = sorted((k, v) for k, v in changes.items() if v is not None)
        deletes = sorted((k,) for k, v in changes.items() if v is None)
        meta = {
            "last_height": str(height).encode(),
            "last_app_hash": app_hash,
            **(extra_meta or {}),
        }
        with self._write_lock, self._wrap(f"commit of block {height}"):
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", upserts)
                conn.executemany("DELETE FROM state WHERE key = ?", deletes)
                if block is not None:
                    conn.execute(
                        "INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            block.height,
                            block.hash,
                            block.header,
                            block.signature,
                            block.app_hash,
                            block.prev_app_hash,
                            block.changes_hash,
                            block.time_ms,
                            block.num_txs,
                        ),
                    )
                conn.executemany(
                    "INSERT INTO txs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (t.height, t.idx, t.tx_id, t.raw, t.code, t.error, t.log, t.events)
                        for t in txs
                    ],
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items())
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            written = len(upserts) + len(deletes) + len(txs) + 2
            written += sum(len(value) for _, value in upserts) // PAGE_SIZE
            self._pages_since_checkpoint += written
            if self._pages_since_checkpoint >= self._checkpoint_pages:
                self._pages_since_checkpoint = 0
                self._checkpointer.request()

    # -- blocks and transactions ---------------------------------------------------------------

    def get_block(self, height: int) -> BlockRow | None:
        with self._wrap("read block"):
            row = (
                self._conn()
                .execute(
                    "SELECT height, hash, header, signature, app_hash, prev_app_hash, "
                    "changes_hash, time_ms, num_txs FROM blocks WHERE height = ?",
                    (height,),
                )
                .fetchone()
            )
        if row is None:
            return None
        return BlockRow(
            height=row[0],
            hash=bytes(row[1]),
            header=bytes(row[2]),
            signature=bytes(row[3]),
            app_hash=bytes(row[4]),
            prev_app_hash=bytes(row[5]),
            changes_hash=bytes(row[6]),
            time_ms=row[7],
            num_txs=row[8],
        )

    def get_tx(self, tx_id: bytes) -> TxRow | None:
        """The committed result of ``tx_id``: the successful execution if there is one."""
        with self._wrap("read tx"):
            row = (
                self._conn()
                .execute(
                    "SELECT height, idx, tx_id, raw, code, error, log, events FROM txs "
                    "WHERE tx_id = ? ORDER BY code = 0 DESC, height DESC LIMIT 1",
                    (tx_id,),
                )
                .fetchone()
            )
        return None if row is None else _tx_row(row)

    def get_block_txs(self, height: int) -> list[TxRow]:
        with self._wrap("read txs"):
            rows = (
                self._conn()
                .execute(
                    "SELECT height, idx, tx_id, raw, code, error, log, events FROM txs "
                    "WHERE height = ? ORDER BY idx",
                    (height,),
                )
                .fetchall()
            )
        return [_tx_row(r) for r in rows]

    # -- batch manifests (off-chain, checked against the on-chain root by the caller) ----------

    def put_batch_manifest(self, root: str, digests: Sequence[str]) -> None:
        """Keep a batch's digests (hex, in leaf order); the caller checked them against the root."""
        packed = b"".join(bytes.fromhex(d) for d in digests)
        with self._write_lock, self._wrap("store batch manifest"):
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT INTO batch_manifests (root, digests) VALUES (?, ?) "
                    "ON CONFLICT (root) DO UPDATE SET digests = excluded.digests",
                    (bytes.fromhex(root), packed),
                )
                (batch_id,) = conn.execute(
                    "SELECT id FROM batch_manifests WHERE root = ?", (bytes.fromhex(root),)
                ).fetchone()
                rows = sorted(
                    (_prefix(packed[i * 32 : i * 32 + 8]), batch_id, i) for i in range(len(digests))
                )  # sorted rows append to the B-tree instead of landing at random pages
                conn.executemany("INSERT OR REPLACE INTO batch_members VALUES (?, ?, ?)", rows)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def find_batch_member(self, digest: str) -> tuple[str, int] | None:
        """(root, index) of the first batch holding ``digest``."""
        wanted = bytes.fromhex(digest)
        with self._wrap("read batch member"):
            rows = (
                self._conn()
                .execute(
                    "SELECT m.root, b.idx, substr(m.digests, b.idx * 32 + 1, 32) "
                    "FROM batch_members b JOIN batch_manifests m ON m.id = b.batch "
                    "WHERE b.prefix = ? ORDER BY b.batch, b.idx",
                    (_prefix(wanted[:8]),),
                )
                .fetchall()
            )
        for root, index, member in rows:
            if bytes(member) == wanted:  # the prefix narrows; the stored digest decides
                return bytes(root).hex(), int(index)
        return None

    def get_batch_manifest(self, root: str) -> list[str] | None:
        with self._wrap("read batch manifest"):
            row = (
                self._conn()
                .execute(
                    "SELECT digests FROM batch_manifests WHERE root = ?", (bytes.fromhex(root),)
                )
                .fetchone()
            )
        if row is None:
            return None
        packed = bytes(row[0])
        return [packed[i : i + 32].hex() for i in range(0, len(packed), 32)]


def _prefix(first_8_bytes: bytes) -> int:
    """The first 8 bytes of a digest as a signed 64-bit SQLite integer."""
    return int.from_bytes(first_8_bytes, "big", signed=True)


def _tx_row(row: Any) -> TxRow:
    return TxRow(
        height=row[0],
        idx=row[1],
        tx_id=None if row[2] is None else bytes(row[2]),
        raw=bytes(row[3]),
        code=row[4],
        error=row[5],
        log=row[6],
        events=bytes(row[7]),
    )
