"""The review queue of an endorser service: records that wait for a person's decision.

One SQLite file in the service's state directory (``DIR/<org>/endorser/review.sqlite`` on the
consortium network). The running service adds records; ``gridledger endorser approve`` and
``reject`` (other processes) mark them decided. Only the service's own bookkeeping lives here:
what counts is the endorsement or refusal on the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.errors import NotFound
from gridledger.store.side import SideStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS review (
    digest TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    record_type TEXT NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL,
    queued_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    decided_ms INTEGER
);
"""
FILE_NAME = "review.sqlite"
WAITING, APPROVED, REJECTED = "waiting", "approved", "rejected"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueuedRecord:
    digest: str
    org: str
    record_type: str
    title: str
    kind: str
    note: str
    queued_ms: int
    state: str
    decided_ms: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "org": self.org,
            "record_type": self.record_type,
            "title": self.title,
            "kind": self.kind,
            "note": self.note,
            "queued_ms": self.queued_ms,
            "state": self.state,
            "decided_ms": self.decided_ms,
        }


class ReviewQueue(SideStore):
    LABEL = "review queue"

    def __init__(self, state_dir: Path) -> None:
        path = Path(state_dir) / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path, SCHEMA)

    def add(self, record: Mapping[str, Any], org: str, note: str, now_ms: int) -> bool:
        """Queue ``record`` for a person; False if it was queued before."""
        with self._lock, self._wrap("queue record"):
            cursor = self._conn.execute(
                "INSERT OR IGNORE INTO review VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    record["digest"],
                    org,
                    record["record_type"],
                    record["title"],
                    record["kind"],
                    note,
                    now_ms,
                    WAITING,
                ),
            )
            return cursor.rowcount == 1

    def get(self, digest: str) -> QueuedRecord | None:
        with self._lock, self._wrap("read queue"):
            row = self._conn.execute("SELECT * FROM review WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else _queued(row)

    def entries(self, state: str | None = WAITING) -> list[QueuedRecord]:
        with self._lock, self._wrap("read queue"):
            if state is None:
                rows = self._conn.execute("SELECT * FROM review ORDER BY queued_ms, digest")
            else:
                rows = self._conn.execute(
                    "SELECT * FROM review WHERE state = ? ORDER BY queued_ms, digest", (state,)
                )
            return [_queued(row) for row in rows.fetchall()]

    def decide(self, digest: str, state: str, now_ms: int) -> None:
        with self._lock, self._wrap("mark decided"):
            cursor = self._conn.execute(
                "UPDATE review SET state = ?, decided_ms = ? WHERE digest = ?",
                (state, now_ms, digest),
            )
            if cursor.rowcount != 1:
                raise NotFound(f"record {digest} is not in the review queue")


def _queued(row: Any) -> QueuedRecord:
    return QueuedRecord(
        digest=row[0],
        org=row[1],
        record_type=row[2],
        title=row[3],
        kind=row[4],
        note=row[5],
        queued_ms=int(row[6]),
        state=row[7],
        decided_ms=None if row[8] is None else int(row[8]),
    )
