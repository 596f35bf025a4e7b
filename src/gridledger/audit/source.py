"""Where an audit reads a node's log and checkpoints: over the node's REST API, or straight from
its SQLite store and checkpoint book.

Both answer the same questions (``LogSource``): the node's checkpoint key, its signed checkpoints,
the size and root of its log now, the root at any smaller size, and RFC 9162 consistency proofs.
Nothing a source returns is trusted: the audit verifies signatures and proofs itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import httpx

from gridledger.audit.book import MAX_PAGE, CheckpointBook, compute_book_path
from gridledger.audit.checkpoint import (
    SignedCheckpoint,
    decode_hash,
    decode_public_key,
    decode_signed_checkpoint,
)
from gridledger.errors import DecodeError, NodeError, NotFound, error_from_code
from gridledger.ledger.state import State
from gridledger.merkle import MerkleLog
from gridledger.store.sqlite import SqliteStore

MAX_CHECKPOINTS = 100_000  # refuse to page through more from one node


class LogSource(Protocol):
    """One node's log and checkpoints, as an auditor can ask for them."""

    label: str

    def get_checkpoint_key(self) -> bytes | None:
        """The key the node says it signs checkpoints with; None if it names none."""
        ...

    def list_checkpoints(self) -> list[SignedCheckpoint]:
        """Every checkpoint the node keeps, oldest first (not yet verified)."""
        ...

    def get_head(self) -> tuple[int, bytes]:
        """The log's size and root now."""
        ...

    def get_root(self, size: int) -> bytes:
        """The root of the log's first ``size`` entries."""
        ...

    def get_consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...


class HttpLogSource:
    """A node's REST API (``/v1/checkpoints``, ``/v1/log/proof``)."""

    def __init__(self, url: str, label: str, *, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.label = label
        self._client = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, **params: int) -> Any:
        try:
            response = self._client.get(self.url + path, params=params)
        except httpx.HTTPError as exc:
            raise NodeError(f"{self.label} at {self.url} is unreachable: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise NodeError(
                f"{self.label}: GET {path} answered {response.status_code} with no JSON"
            ) from exc
        if response.status_code != 200:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            message = f"{self.label}: GET {path}: {error.get('message', response.status_code)}"
            raise error_from_code(str(error.get("code", "node_error")), message)
        return body

    def get_checkpoint_key(self) -> bytes | None:
        try:
            body = self._get("/v1/checkpoints/key")
        except NotFound:
            return None
        return decode_public_key(body.get("public_key") if isinstance(body, dict) else None)

    def list_checkpoints(self) -> list[SignedCheckpoint]:
        found: list[SignedCheckpoint] = []
        from_height = 0
        while len(found) < MAX_CHECKPOINTS:
            body = self._get("/v1/checkpoints", from_height=from_height, limit=MAX_PAGE)
            page = body.get("checkpoints") if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise DecodeError(f"{self.label}: /v1/checkpoints has no list of checkpoints")
            found.extend(decode_signed_checkpoint(item) for item in page)
            if not body.get("more") or not page:
                return found
            from_height = found[-1].checkpoint.height + 1
        raise NodeError(f"{self.label} lists more than {MAX_CHECKPOINTS} checkpoints")

    def _proof(self, old_size: int, new_size: int) -> dict[str, Any]:
        body = self._get("/v1/log/proof", old_size=old_size, new_size=new_size)
        if not isinstance(body, dict) or not isinstance(body.get("proof"), list):
            raise DecodeError(f"{self.label}: /v1/log/proof answered no proof")
        return body

    def get_head(self) -> tuple[int, bytes]:
        body = self._get("/v1/log/proof", old_size=0)
        size = body.get("new_size") if isinstance(body, dict) else None
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise DecodeError(f"{self.label}: /v1/log/proof answered no log size")
        return size, decode_hash(body.get("new_root"), f"{self.label}'s log root")

    def get_root(self, size: int) -> bytes:
        return decode_hash(self._proof(size, size).get("old_root"), f"{self.label}'s log root")

    def get_consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        proof = self._proof(old_size, new_size)["proof"]
        return [decode_hash(h, f"{self.label}'s proof hash") for h in proof]


class StoreLogSource:
    """A node's own SQLite store and the checkpoint book beside it (the node may be stopped)."""

    def __init__(self, db: Path, label: str) -> None:
        if not Path(db).is_file():
            raise NotFound(f"no store at {db}")
        self.label = label
        self.store = SqliteStore(Path(db))
        self.book = CheckpointBook(compute_book_path(Path(db)))

    def close(self) -> None:
        self.store.close()

    def _log(self) -> MerkleLog:
        return State(self.store).log()

    def get_checkpoint_key(self) -> bytes | None:
        latest = self.book.latest()
        return latest.public_key if latest is not None else None

    def list_checkpoints(self) -> list[SignedCheckpoint]:
        return self.book.list_all()

    def get_head(self) -> tuple[int, bytes]:
        with self.store.snapshot():
            merkle_log = self._log()
            return merkle_log.size, merkle_log.root()

    def get_root(self, size: int) -> bytes:
        return self._log().root_at(size)

    def get_consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self._log().consistency_proof(old_size, new_size)
