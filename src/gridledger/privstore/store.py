"""The private document store: sealed copies delivered to the organizations a node serves.

One SQLite file per node (``DIR/<org>/app/private.sqlite`` on the consortium network,
``HOME/data/private.sqlite`` for the embedded node), written only by the node's API process. It is
not consensus state: no other node has the same content, and nothing in it is hashed into a block.
It holds

- ``document``: per (organization, digest) the latest sealed copy, who delivered it and when;
- ``seen_request``: the (key, nonce) pairs of signed requests inside the replay window.

The file is created with mode 0600. It only ever holds ciphertext; the delivery secret keys live
with the endorser services.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gridledger.store.side import SideStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS document (
    org TEXT NOT NULL,
    digest TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    delivered_by TEXT NOT NULL,
    delivered_ms INTEGER NOT NULL,
    PRIMARY KEY (org, digest)
);
CREATE TABLE IF NOT EXISTS seen_request (
    public_key TEXT NOT NULL,
    nonce TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    PRIMARY KEY (public_key, nonce)
);
CREATE INDEX IF NOT EXISTS seen_request_time ON seen_request (time_ms);
"""
FILE_NAME = "private.sqlite"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredDocument:
    org: str
    digest: str
    ciphertext: bytes
    delivered_by: str
    delivered_ms: int


class PrivateStore(SideStore):
    LABEL = "private store"

    def __init__(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # owner-only from the first byte
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        super().__init__(path, SCHEMA, fsync=True)

    # -- documents -------------------------------------------------------------------------------

    def put_document(self, document: StoredDocument) -> None:
        """Keep ``document``, replacing an earlier copy for the same organization and digest."""
        with self._lock, self._wrap("write document"):
            self._conn.execute(
                "INSERT OR REPLACE INTO document VALUES (?, ?, ?, ?, ?)",
                (
                    document.org,
                    document.digest,
                    document.ciphertext,
                    document.delivered_by,
                    document.delivered_ms,
                ),
            )

    def get_document(self, org: str, digest: str) -> StoredDocument | None:
        with self._lock, self._wrap("read document"):
            row = self._conn.execute(
                "SELECT ciphertext, delivered_by, delivered_ms FROM document "
                "WHERE org = ? AND digest = ?",
                (org, digest),
            ).fetchone()
        if row is None:
            return None
        return StoredDocument(
            org=org,
            digest=digest,
            ciphertext=bytes(row[0]),
            delivered_by=str(row[1]),
            delivered_ms=int(row[2]),
        )

    def count_documents(self, org: str) -> int:
        with self._lock, self._wrap("count documents"):
            row = self._conn.execute("SELECT COUNT(*) FROM document WHERE org = ?", (org,))
            return int(row.fetchone()[0])

    # -- replay protection -----------------------------------------------------------------------

    def remember_request(
        self, public_key: str, nonce: str, time_ms: int, forget_before_ms: int
    ) -> bool:
        """Record a signed request's (key, nonce); False if it was seen before (a replay).
        Pairs older than ``forget_before_ms`` are dropped: requests that old are refused by
        their time anyway."""
        with self._lock, self._wrap("remember request"):
            self._conn.execute("DELETE FROM seen_request WHERE time_ms < ?", (forget_before_ms,))
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO seen_request VALUES (?, ?, ?)", (public_key, nonce, time_ms)
            )
            return cursor.rowcount == 1
