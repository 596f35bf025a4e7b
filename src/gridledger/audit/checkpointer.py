"""The checkpoint writer: signs what the node's log holds and keeps it in the checkpoint book.

Policy: a checkpoint is written when the evidence log has grown since the book's latest
checkpoint, at most once every ``min_interval_s`` seconds (default 2 s), checked every
``poll_s`` (0.5 s). A busy node thus signs at most one checkpoint per two seconds (about 300
bytes each, some 13 MB a day under constant load), an idle one none at all; a node that starts
with a grown log checkpoints at once. The first checkpoint waits for a non-empty log.

The writer runs in the API process (which reads the store and holds the node's checkpoint key),
on a thread of its own, and reads one committed block at a time through
the store's snapshot, so height, app hash and log always belong to the same block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from gridledger import codec
from gridledger.audit.book import CheckpointBook
from gridledger.audit.checkpoint import Checkpoint, SignedCheckpoint, sign_checkpoint
from gridledger.crypto import Signer
from gridledger.errors import GridledgerError
from gridledger.ledger.state import State
from gridledger.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

DEFAULT_MIN_INTERVAL_S = 2.0
DEFAULT_POLL_S = 0.5


def read_checkpoint(store: SqliteStore) -> Checkpoint | None:
    """The checkpoint of the store's last committed block; None before genesis."""
    with store.snapshot():
        raw_genesis = store.get_meta("genesis")
        if raw_genesis is None:
            return None
        genesis = codec.decode(raw_genesis)
        height = store.last_height
        merkle_log = State(store).log()
        block = store.get_block(height)
        return Checkpoint(
            chain_id=str(genesis["chain_id"]),
            height=height,
            log_size=merkle_log.size,
            log_root=merkle_log.root(),
            app_hash=store.last_app_hash,
            time_ms=block.time_ms if block is not None else int(genesis["genesis_time_ms"]),
        )


class Checkpointer:
    def __init__(
        self,
        store: SqliteStore,
        book: CheckpointBook,
        signer: Signer,
        *,
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
        poll_s: float = DEFAULT_POLL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.book = book
        self.signer = signer
        self.min_interval_s = min_interval_s
        self.poll_s = poll_s
        self._clock = clock
        self._last_written: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def checkpoint_now(self) -> SignedCheckpoint | None:
        """Sign and keep a checkpoint if the log grew since the latest one (ignoring the
        interval); return it, or None when there was nothing new to sign."""
        current = read_checkpoint(self.store)
        if current is None or current.log_size == 0:
            return None
        latest = self.book.latest()
        if latest is not None and current.log_size <= latest.checkpoint.log_size:
            return None  # nothing new, or a store behind its own book (an older backup)
        signed = sign_checkpoint(current, self.signer)
        if not self.book.add(signed):
            return None
        self._last_written = self._clock()
        log.info("checkpoint %s", current.describe())
        return signed

    def is_due(self) -> bool:
        return (
            self._last_written is None or self._clock() - self._last_written >= self.min_interval_s
        )

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="checkpointer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self.is_due():
                    try:
                        self.checkpoint_now()
                    except GridledgerError as exc:  # a store being restored, a full disk: retry
                        log.warning("checkpoint not written: %s", exc.message)
                self._stop.wait(self.poll_s)
        finally:
            self.store.close()  # this thread's connection
