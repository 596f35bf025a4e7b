"""A small SQLite file beside the ledger that is not consensus state (a node's private document
store, an endorser's review queue): one WAL connection shared by threads under a lock, and
SQLite errors raised as StoreError naming the file and the step."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gridledger.errors import StoreError


class SideStore:
    LABEL = "side store"  # how errors name the file

    def __init__(self, path: Path, schema: str, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with self._wrap("open"):
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            if fsync:
                self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(schema)

    @contextmanager
    def _wrap(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"{self.LABEL} {self.path}: {what} failed: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._conn.close()
