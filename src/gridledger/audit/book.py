"""The checkpoint book: a node's own signed checkpoints, in a SQLite file of their own.

The book lives beside the ledger store (``<dir of ledger.sqlite>/checkpoints.sqlite``) but is not
consensus state: only this node writes it, and nothing in the ledger depends on it. One row per
height, never replaced: a checkpoint once signed stays as it was signed, so a node whose log is
later rewritten still serves the checkpoints that contradict it.

Each row keeps the exact canonical bytes that were signed, so an edit of the file by hand breaks
the signature and an auditor notices. Every call opens its own short-lived connection, so the
book can be shared by the checkpoint writer thread and API request threads.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from gridledger import codec
from gridledger.audit.checkpoint import (
    SignedCheckpoint,
    decode_checkpoint,
    decode_public_key,
)
from gridledger.errors import DecodeError, StoreError

BOOK_FILE = "checkpoints.sqlite"
MAX_PAGE = 1_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    height INTEGER PRIMARY KEY, log_size INTEGER NOT NULL, body BLOB NOT NULL,
    public_key BLOB NOT NULL, signature BLOB NOT NULL);
"""
_COLUMNS = "SELECT height, body, public_key, signature FROM checkpoints"
_LATEST = f"{_COLUMNS} ORDER BY height DESC LIMIT 1"
_AT_HEIGHT = f"{_COLUMNS} WHERE height = ?"
_FROM_HEIGHT = f"{_COLUMNS} WHERE height >= ? ORDER BY height LIMIT ?"


def compute_book_path(ledger_db: Path) -> Path:
    """Where the checkpoint book of the node whose store is ``ledger_db`` lives."""
    return Path(ledger_db).parent / BOOK_FILE


class CheckpointBook:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    @contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        if not write and not self.path.exists():
            raise StoreError(f"checkpoint book {self.path} does not exist")
        try:
            with closing(sqlite3.connect(self.path, isolation_level=None, timeout=30)) as conn:
                if write:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=FULL")
                    conn.executescript(SCHEMA)
                yield conn
        except sqlite3.Error as exc:
            raise StoreError(f"checkpoint book {self.path}: {exc}") from exc

    # -- writes --------------------------------------------------------------------------------

    def add(self, signed: SignedCheckpoint) -> bool:
        """Keep ``signed`` unless the book holds a checkpoint at its height; True if kept."""
        cp = signed.checkpoint
        with self._connect(write=True) as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO checkpoints VALUES (?, ?, ?, ?, ?)",
                (
                    cp.height,
                    cp.log_size,
                    codec.encode(cp.to_json()),
                    signed.public_key,
                    signed.signature,
                ),
            )
            return cursor.rowcount == 1

    # -- reads ---------------------------------------------------------------------------------

    def latest(self) -> SignedCheckpoint | None:
        rows = self._select(_LATEST, ())
        return rows[0] if rows else None

    def get(self, height: int) -> SignedCheckpoint | None:
        rows = self._select(_AT_HEIGHT, (height,))
        return rows[0] if rows else None

    def list_from(self, *, from_height: int = 0, limit: int = MAX_PAGE) -> list[SignedCheckpoint]:
        """Checkpoints at ``from_height`` and above, oldest first, at most ``limit``."""
        return self._select(_FROM_HEIGHT, (from_height, min(limit, MAX_PAGE)))

    def list_all(self) -> list[SignedCheckpoint]:
        """Every checkpoint, oldest first."""
        found: list[SignedCheckpoint] = []
        while True:
            page = self.list_from(from_height=found[-1].checkpoint.height + 1 if found else 0)
            found.extend(page)
            if len(page) < MAX_PAGE:
                return found

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self._connect(write=False) as conn:
            if not _has_table(conn):
                return 0
            (n,) = conn.execute("SELECT count(*) FROM checkpoints").fetchone()
            return int(n)

    def _select(self, query: str, params: tuple[int, ...]) -> list[SignedCheckpoint]:
        if not self.path.exists():
            return []
        with self._connect(write=False) as conn:
            if not _has_table(conn):
                return []
            rows = conn.execute(query, params).fetchall()
        return [self._decode_row(*row) for row in rows]

    def _decode_row(
        self, height: int, body: bytes, public_key: bytes, signature: bytes
    ) -> SignedCheckpoint:
        try:
            checkpoint = decode_checkpoint(codec.decode(bytes(body)))
            key = decode_public_key(bytes(public_key).hex())
        except DecodeError as exc:
            raise StoreError(
                f"checkpoint book {self.path}: row {height} is malformed: {exc.message}"
            ) from exc
        if checkpoint.height != height:
            raise StoreError(
                f"checkpoint book {self.path}: row {height} holds a checkpoint of height "
                f"{checkpoint.height}"
            )
        return SignedCheckpoint(checkpoint=checkpoint, public_key=key, signature=bytes(signature))


def _has_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'checkpoints'"
    ).fetchone()
    return row is not None
