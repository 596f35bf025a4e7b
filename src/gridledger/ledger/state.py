"""Ledger state: an ordered key-value map with a block overlay and a transaction overlay.

Reads fall through transaction writes → block writes → the committed backend. A transaction that
fails is rolled back by dropping its overlay, so it leaves no trace; a block's writes are handed to
the store as one change set and committed atomically.

Keys are ``/``-separated ASCII paths (``notary/record/<digest>``); values are bytes, usually
canonical JSON. Iteration is always in key order, so it is deterministic.

The evidence log (RFC 9162) lives in the same map: ``log/size``, ``log/entry/<index>`` and
``log/node/<level>/<index>`` for the perfect-subtree hashes, so the log and the rest of the state
change together and roll back together.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from gridledger import codec
from gridledger.errors import StoreError
from gridledger.merkle import MerkleLog

Changes = dict[str, bytes | None]


class StateBackend(Protocol):
    """Committed state, as the store (or a dict, in tests) provides it."""

    def get(self, key: str) -> bytes | None: ...

    def iter_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        """(key, value) pairs whose key starts with ``prefix``, in key order."""
        ...


class MemoryBackend:
    """A StateBackend in memory: for tests, determinism runs and offline replays."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._keys: list[str] = []

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def iter_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        start = bisect.bisect_left(self._keys, prefix)
        for key in self._keys[start:]:
            if not key.startswith(prefix):
                break
            yield key, self._data[key]

    def apply_changes(self, changes: Changes) -> None:
        for key, value in changes.items():
            if value is None:
                if key in self._data:
                    del self._data[key]
                    self._keys.pop(bisect.bisect_left(self._keys, key))
            else:
                if key not in self._data:
                    bisect.insort(self._keys, key)
                self._data[key] = value


class State:
    def __init__(
        self, backend: StateBackend, read_cache: dict[str, bytes | None] | None = None
    ) -> None:
        """``read_cache`` memoizes backend reads; several States over the same committed
        state (CheckTx's and FinalizeBlock's) may share one, until the next commit."""
        self._backend = backend
        self._read_cache = {} if read_cache is None else read_cache
        self._decoded: dict[bytes, Any] = {}
        self._block: Changes = {}
        self._tx: Changes | None = None
        self._recorded: dict[str, bytes | None] | None = None

    @contextmanager
    def recording_reads(self) -> Iterator[dict[str, bytes | None]]:
        """Within the block, every key read through ``get`` (and ``get_json``) and the bytes
        it had (None: absent) go into the yielded dict: what a computation depended on, so a
        later State can tell whether the computation would still come out the same
        (``reads_unchanged``). ``iter_prefix`` is refused meanwhile."""
        recorded: dict[str, bytes | None] = {}
        outer, self._recorded = self._recorded, recorded
        try:
            yield recorded
        finally:
            self._recorded = outer

    def reads_unchanged(self, recorded: dict[str, bytes | None]) -> bool:
        """Whether every key in ``recorded`` holds the same bytes here."""
        return all(self.get(key) == value for key, value in recorded.items())

    # -- reads ---------------------------------------------------------------------------------

    def get(self, key: str) -> bytes | None:
        if self._tx is not None and key in self._tx:
            value = self._tx[key]
        elif key in self._block:
            value = self._block[key]
        else:
            try:
                value = self._read_cache[key]
            except KeyError:
                value = self._read_cache[key] = self._backend.get(key)
        if self._recorded is not None:
            self._recorded.setdefault(key, value)
        return value

    def get_json(self, key: str) -> Any:
        """The stored value decoded. Decoded values are shared between calls (the same bytes
        decode once per State), so callers must never mutate them: build a new value and
        ``put_json`` it, as every contract does."""
        raw = self.get(key)
        if raw is None:
            return None
        try:
            return self._decoded[raw]
        except KeyError:
            value = self._decoded[raw] = codec.decode(raw)
            return value

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def iter_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        if self._recorded is not None:  # a range read cannot be replayed as a set of keys
            raise StoreError("iter_prefix inside recording_reads: the reads could not be checked")
        merged: dict[str, bytes | None] = dict(self._backend.iter_prefix(prefix))
        for layer in (self._block, self._tx or {}):
            for key, value in layer.items():
                if key.startswith(prefix):
                    merged[key] = value
        for key in sorted(merged):
            value = merged[key]
            if value is not None:
                yield key, value

    # -- writes --------------------------------------------------------------------------------

    def put(self, key: str, value: bytes) -> None:
        self._writes()[key] = bytes(value)

    def put_json(self, key: str, value: Any) -> None:
        self.put(key, codec.encode(value))

    def delete(self, key: str) -> None:
        self._writes()[key] = None

    def _writes(self) -> Changes:
        return self._tx if self._tx is not None else self._block

    # -- transactions --------------------------------------------------------------------------

    def begin_tx(self) -> None:
        if self._tx is not None:
            raise StoreError("a transaction is already open on this state")
        self._tx = {}

    def commit_tx(self) -> None:
        if self._tx is None:
            raise StoreError("no transaction is open on this state")
        self._block.update(self._tx)
        self._tx = None

    def rollback_tx(self) -> None:
        self._tx = None

    def changes(self) -> Changes:
        """The block's writes so far (None = deleted)."""
        if self._tx is not None:
            raise StoreError("a transaction is still open; commit or roll it back first")
        return dict(self._block)

    # -- the evidence log ----------------------------------------------------------------------

    def log(self) -> MerkleLog:
        raw = self.get(LOG_SIZE_KEY)
        return MerkleLog(_LogNodes(self), int(raw) if raw is not None else 0)

    def append_log_entry(self, entry: bytes) -> int:
        log = self.log()
        index = log.append(entry)
        self.put(log_entry_key(index), entry)
        self.put(LOG_SIZE_KEY, str(log.size).encode("ascii"))
        return index

    def get_log_entry(self, index: int) -> bytes:
        raw = self.get(log_entry_key(index))
        if raw is None:
            raise StoreError(f"log entry {index} is missing from the store")
        return raw


LOG_SIZE_KEY = "log/size"


def log_entry_key(index: int) -> str:
    return f"log/entry/{index:012d}"


def log_node_key(level: int, index: int) -> str:
    return f"log/node/{level:02d}/{index:012d}"


class _LogNodes:
    """The MerkleLog's node store, inside the state map."""

    def __init__(self, state: State) -> None:
        self._state = state

    def get_node(self, level: int, index: int) -> bytes | None:
        return self._state.get(log_node_key(level, index))

    def put_node(self, level: int, index: int, digest: bytes) -> None:
        self._state.put(log_node_key(level, index), digest)
