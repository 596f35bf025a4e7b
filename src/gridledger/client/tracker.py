"""Submission without loss: follow a transaction until it is committed or provably expired.

A node can crash after accepting a transaction into its mempool, a connection can drop while the
commit is awaited, a mempool can be full. The tracker settles every transaction it accepted one
way or the other and never leaves one silently undecided:

- it submits and waits for the commit; on a timeout, a lost connection or an unreachable node it
  asks (any of the nodes it knows) whether the transaction is committed, and resubmits the same
  signed bytes if not — safe, because the ledger refuses a second copy of a transaction id
  (``replayed``) and so never applies it twice;
- it stops only when the transaction is committed (or failed in its block, which is also final),
  refused by a rule before reaching a block (final: the same bytes would be refused again), or
  expired: a node reports a committed height at or past the transaction's ``expiry_height`` and
  the transaction is not in the ledger, so no later block can hold it;
- with a journal directory, each transaction's bytes are written there (fsync) before the first
  submission and removed once settled; ``resume()`` picks up what a crashed program left.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.client import Client
from gridledger.errors import (
    Expired,
    GridledgerError,
    NodeError,
    NotFound,
    Replayed,
    StoreError,
)
from gridledger.ledger.tx import Transaction, decode_transaction

RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 3.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settled:
    tx_id: str
    status: str  # "committed" | "failed"
    height: int
    code: int
    error: str
    attempts: int


class TxTracker:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        journal: Path | None = None,
        wait_s: int = 20,
        give_up_s: float = 600.0,
    ) -> None:
        if not urls:
            raise ValueError("the tracker needs at least one node URL")
        self.clients = [Client(u, timeout_s=wait_s + 15) for u in urls]
        self.journal = journal
        self.wait_s = wait_s
        self.give_up_s = give_up_s
        self._current = 0
        if journal is not None:
            journal.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        for c in self.clients:
            c.close()

    def __enter__(self) -> TxTracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public --------------------------------------------------------------------------------

    def submit(self, tx: Transaction) -> Settled:
        """Settle ``tx``: return when committed (or failed in a block); raise Expired when it
        can no longer be committed, or the rule error that refused it. NodeError only after
        ``give_up_s`` without any node answering — then the journal still holds it."""
        self._journal_write(tx)
        settled = self._settle(tx)
        self._journal_remove(tx)
        return settled

    def resume(self) -> list[Settled | GridledgerError]:
        """Settle every transaction a previous run left in the journal."""
        if self.journal is None:
            return []
        outcomes: list[Settled | GridledgerError] = []
        for path in sorted(self.journal.glob("*.tx")):
            tx = decode_transaction(path.read_bytes())
            try:
                outcomes.append(self.submit(tx))
            except GridledgerError as exc:
                if isinstance(exc, NodeError):
                    raise
                outcomes.append(exc)
        return outcomes

    # -- the loop ------------------------------------------------------------------------------

    def _settle(self, tx: Transaction) -> Settled:
        tx_id = tx.tx_id.hex()
        deadline = time.monotonic() + self.give_up_s
        attempts = 0
        while True:
            attempts += 1
            try:
                result = self._client.submit(tx, wait=True, timeout_s=self.wait_s)
                if result.get("status") in ("committed", "failed"):
                    return _settled(tx_id, result, attempts)
            except Replayed:
                pass  # already committed, or in a mempool: the lookup below tells which
            except (NodeError, StoreError):
                self._next_node()
            except GridledgerError as exc:
                if _is_final_refusal(exc):
                    raise
            found = self._lookup(tx)
            if found is not None:
                return _settled(tx_id, found, attempts)
            if time.monotonic() > deadline:
                raise NodeError(
                    f"transaction {tx_id} unsettled after {self.give_up_s:.0f} s: no node "
                    "confirmed it; it stays in the journal"
                )
            time.sleep(RETRY_DELAYS_S[min(attempts - 1, len(RETRY_DELAYS_S) - 1)])

    def _lookup(self, tx: Transaction) -> dict[str, Any] | None:
        """The committed transaction, or None; raises Expired when it can never be committed.

        The height is read before the lookup: if the node had already committed that height
        and still does not hold the transaction, no block up to expiry_height holds it."""
        for _ in range(len(self.clients)):
            client = self._client
            try:
                height = int(client.status()["height"])
                try:
                    row = client.tx(tx.tx_id.hex())
                    return {**row, "status": "committed" if row["code"] == 0 else "failed"}
                except NotFound:
                    pass
                if height >= tx.body.expiry_height:
                    raise Expired(
                        f"transaction {tx.tx_id.hex()} expired uncommitted: the ledger is at "
                        f"height {height} and it was valid up to {tx.body.expiry_height}; sign "
                        "a new one"
                    )
                return None
            except NodeError:
                self._next_node()
        return None

    @property
    def _client(self) -> Client:
        return self.clients[self._current]

    def _next_node(self) -> None:
        self._current = (self._current + 1) % len(self.clients)

    # -- journal -------------------------------------------------------------------------------

    def _journal_path(self, tx: Transaction) -> Path | None:
        return None if self.journal is None else self.journal / f"{tx.tx_id.hex()}.tx"

    def _journal_write(self, tx: Transaction) -> None:
        path = self._journal_path(tx)
        if path is None or path.exists():
            return
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(tx.raw)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)

    def _journal_remove(self, tx: Transaction) -> None:
        path = self._journal_path(tx)
        if path is not None:
            path.unlink(missing_ok=True)


def _settled(tx_id: str, result: dict[str, Any], attempts: int) -> Settled:
    return Settled(
        tx_id=tx_id,
        status=str(result["status"]),
        height=int(result["height"]),
        code=int(result.get("code", 0)),
        error=str(result.get("error", "")),
        attempts=attempts,
    )


def _is_final_refusal(exc: GridledgerError) -> bool:
    """A rule refused the bytes before any block: sending them again would be refused again."""
    return not isinstance(exc, NodeError | StoreError | Replayed)
