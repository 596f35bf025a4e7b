"""The solo driver: an in-process block producer for the embedded node.

It plays CometBFT's part for a single node: a mempool fed through ``submit`` (CheckTx), and a
producer thread that, whenever transactions wait, runs PrepareProposal → ProcessProposal →
FinalizeBlock, builds and signs the block header with the node key, and Commits. Blocks are made
only when there is something to put in them. Callers can wait for a transaction's commit.

The producer is the only place that reads the clock; the time it picks goes into the block and is
all the ledger ever sees of time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gridledger import codec
from gridledger.crypto import PrivateKey
from gridledger.errors import NodeError
from gridledger.ledger.block import (
    BlockHeader,
    compute_block_hash,
    compute_header_sign_bytes,
    compute_results_hash,
    compute_txs_hash,
)
from gridledger.ledger.transition import TxResult
from gridledger.node.abci_app import Application, CheckResult

log = logging.getLogger(__name__)

MAX_BLOCK_TXS = 5_000
DEFAULT_BLOCK_TIME_MS = 100
MAX_BLOCK_BYTES = 16 * 1024 * 1024
MAX_MEMPOOL_TXS = 100_000
NO_TX_ID = bytes(32)  # stands in for the id of bytes that did not decode


@dataclass(frozen=True, slots=True, kw_only=True)
class Committed:
    """What a waiter learns when its transaction is in a committed block."""

    tx_id: bytes
    height: int
    index: int
    code: int
    log: str
    error: str


CommitCallback = Callable[[Committed], None]


class SoloNode:
    def __init__(
        self, app: Application, node_key: PrivateKey, *, block_time_ms: int = DEFAULT_BLOCK_TIME_MS
    ) -> None:
        self.app = app
        self.node_key = node_key
        self._block_time_s = block_time_ms / 1000
        self._last_block_start = 0.0
        self._mempool: deque[tuple[bytes, bytes]] = deque()  # (tx_id, raw)
        self._cond = threading.Condition()
        self._callbacks: dict[bytes, list[CommitCallback]] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._failure: BaseException | None = None
        last = app.store.get_block(app.store.last_height)
        self._prev_block_hash = last.hash if last else app.genesis.genesis_hash

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="solo-producer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    @property
    def healthy(self) -> bool:
        return self._failure is None

    # -- submission ----------------------------------------------------------------------------

    def submit(self, raw: bytes, on_commit: CommitCallback | None = None) -> CheckResult:
        """CheckTx and, if it passes, queue for the next block."""
        if self._failure is not None:
            raise NodeError(f"the block producer has stopped: {self._failure}")
        with self._cond:
            if len(self._mempool) >= MAX_MEMPOOL_TXS:
                raise NodeError(f"mempool is full ({MAX_MEMPOOL_TXS} transactions); retry shortly")
        result = self.app.check_tx(raw)
        if not result.ok or result.tx_id is None:
            return result
        with self._cond:
            if on_commit is not None:
                self._callbacks.setdefault(result.tx_id, []).append(on_commit)
            self._mempool.append((result.tx_id, raw))
            if len(self._mempool) in (1, MAX_BLOCK_TXS):  # the producer waits for these two
                self._cond.notify_all()
        return result

    def wait_for_commit(
        self, raw: bytes, timeout_s: float = 30.0
    ) -> tuple[CheckResult, Committed | None]:
        """Submit and block until committed (or timeout: then Committed is None)."""
        done = threading.Event()
        box: list[Committed] = []

        def on_commit(c: Committed) -> None:
            box.append(c)
            done.set()

        result = self.submit(raw, on_commit)
        if not result.ok:
            return result, None
        done.wait(timeout_s)
        return result, box[0] if box else None

    @property
    def mempool_size(self) -> int:
        with self._cond:
            return len(self._mempool)

    # -- production ----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    self._wait_for_block_content()
                    if self._stopping:
                        return
                    batch = self._take_batch()
                self._last_block_start = time.monotonic()
                self._produce(batch)
        except BaseException as exc:  # the producer must never die silently
            self._failure = exc
            log.exception("block producer stopped")
            raise

    def _wait_for_block_content(self) -> None:
        """Until there is something to commit and either a full block's worth of transactions
        or ``block_time`` since the previous block started (so a busy node makes fewer, larger
        blocks and an idle one answers at once)."""
        while not self._stopping:
            if self._mempool:
                due = self._last_block_start + self._block_time_s - time.monotonic()
                if due <= 0 or len(self._mempool) >= MAX_BLOCK_TXS:
                    return
                self._cond.wait(due)
            else:
                self._cond.wait()

    def _take_batch(self) -> list[tuple[bytes, bytes]]:
        batch: list[tuple[bytes, bytes]] = []
        size = 0
        while self._mempool and len(batch) < MAX_BLOCK_TXS:
            tx_id, raw = self._mempool[0]
            if size + len(raw) > MAX_BLOCK_BYTES and batch:
                break
            self._mempool.popleft()
            batch.append((tx_id, raw))
            size += len(raw)
        return batch

    def _produce(self, batch: list[tuple[bytes, bytes]]) -> None:
        app = self.app
        info = app.info()
        height = info.last_height + 1
        time_ms = max(time.time_ns() // 1_000_000, info.last_time_ms + 1)
        raws = app.prepare_proposal([raw for _, raw in batch], MAX_BLOCK_BYTES)
        if not app.process_proposal(raws):
            raise NodeError(f"own proposal for height {height} rejected")
        result = app.finalize_block(height=height, time_ms=time_ms, raw_txs=raws)
        header = BlockHeader(
            chain_id=app.genesis.chain_id,
            height=height,
            time_ms=time_ms,
            prev_block_hash=self._prev_block_hash,
            txs_hash=compute_txs_hash(raws),
            results_hash=compute_results_hash(
                [(r.tx_id or NO_TX_ID, r.code) for r in result.tx_results]
            ),
            app_hash=result.app_hash,
            log_size=result.log_size,
            log_root=result.log_root,
            proposer=self.node_key.public_key,
        )
        block_hash = compute_block_hash(header)
        signature = self.node_key.sign(compute_header_sign_bytes(header))
        app.commit(
            block_hash=block_hash, header=codec.encode(header.to_json()), signature=signature
        )
        self._prev_block_hash = block_hash
        self._notify(height, result.tx_results)

    def _notify(self, height: int, results: tuple[TxResult, ...]) -> None:
        with self._cond:
            due = []
            for index, r in enumerate(results):
                if r.tx_id is None:
                    continue
                for cb in self._callbacks.pop(r.tx_id, []):
                    due.append(
                        (
                            cb,
                            Committed(
                                tx_id=r.tx_id,
                                height=height,
                                index=index,
                                code=r.code,
                                log=r.log,
                                error=r.error,
                            ),
                        )
                    )
        for cb, committed in due:
            try:
                cb(committed)
            except Exception:  # a waiter's failure must not stop the producer
                log.exception("commit callback failed")
