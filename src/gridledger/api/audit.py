"""REST routes of a node's signed checkpoints, and the checkpoint writer inside the API process.

::

    GET /v1/checkpoints/key            the key this node signs checkpoints with (pin it)
    GET /v1/checkpoints                the latest checkpoint and a page of all, oldest first
                                       (?from_height=H&limit=N, N <= 1000; "more" says if
                                       another page follows)
    GET /v1/checkpoints/{height}       the checkpoint at that height, or "latest"

The book is ``checkpoints.sqlite`` beside the node's ledger store (``gridledger.audit.book``). The
writer (``gridledger.audit.checkpointer``) runs for the life of the API process when it has a key:
the embedded node signs with its node key; a consortium member's API gets one with
``--checkpoint-key`` (``enable_checkpoints``). An API without a key still serves the checkpoints
its book holds, so an auditor can compare them with the node's log.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import FastAPI, Query

from gridledger.api.backend import Backend, EmbeddedBackend
from gridledger.audit.book import MAX_PAGE, CheckpointBook, compute_book_path
from gridledger.audit.checkpointer import DEFAULT_MIN_INTERVAL_S, Checkpointer
from gridledger.crypto import ED25519, Signer
from gridledger.errors import DecodeError, NotFound

MAX_HEIGHT = 10**18 - 1  # 18 digits, as the height in the path; SQLite integers are 64-bit


def enable_checkpoints(
    app: FastAPI, signer: Signer, *, min_interval_s: float = DEFAULT_MIN_INTERVAL_S
) -> None:
    """Have the API process sign checkpoints with ``signer`` while it runs (call before start)."""
    app.state.checkpoint_signer = signer
    app.state.checkpoint_interval_s = min_interval_s


def add_audit_routes(app: FastAPI, backend: Backend) -> None:
    book = CheckpointBook(compute_book_path(backend.store.path))
    if isinstance(backend, EmbeddedBackend):
        enable_checkpoints(app, backend.node.node_key)
    _run_writer_with_app(app, backend, book)

    def signer() -> Signer | None:
        found: Signer | None = getattr(app.state, "checkpoint_signer", None)
        return found

    def key_hex() -> str | None:
        current = signer()
        if current is not None:
            return current.public_key.hex()
        latest = book.latest()
        return latest.public_key.hex() if latest is not None else None

    @app.get("/v1/checkpoints/key", summary="The key this node signs its checkpoints with")
    def checkpoint_key() -> dict[str, Any]:
        key = key_hex()
        if key is None:
            raise NotFound("this node signs no checkpoints and keeps none")
        return {
            "alg": ED25519,
            "public_key": key,
            "signing": signer() is not None,
            "chain_id": backend.genesis.chain_id,
        }

    @app.get("/v1/checkpoints", summary="Signed checkpoints of the evidence log, oldest first")
    def list_checkpoints(
        from_height: Annotated[int, Query(ge=0, le=MAX_HEIGHT)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        page = book.list_from(from_height=from_height, limit=limit)
        more = bool(page) and bool(
            book.list_from(from_height=page[-1].checkpoint.height + 1, limit=1)
        )
        latest = book.latest()
        return {
            "public_key": key_hex(),
            "latest": latest.to_json() if latest is not None else None,
            "checkpoints": [c.to_json() for c in page],
            "more": more,
        }

    @app.get("/v1/checkpoints/{height}", summary="The signed checkpoint at a height, or latest")
    def get_checkpoint(height: str) -> dict[str, Any]:
        if height == "latest":
            found = book.latest()
        elif height.isdigit() and len(height) <= 18:
            found = book.get(int(height))
        else:
            raise DecodeError(f"height must be a non-negative integer or 'latest', not {height!r}")
        if found is None:
            raise NotFound(f"no checkpoint at height {height}")
        return found.to_json()


def _run_writer_with_app(app: FastAPI, backend: Backend, book: CheckpointBook) -> None:
    """Start the checkpoint writer after the app's own start-up and stop it before its
    shutdown, if a signer is set by then."""
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(running: Any) -> AsyncIterator[Any]:
        async with inner(running) as state:
            signer: Signer | None = getattr(app.state, "checkpoint_signer", None)
            writer = None
            if signer is not None:
                interval = float(getattr(app.state, "checkpoint_interval_s", 0.0))
                writer = Checkpointer(backend.store, book, signer, min_interval_s=interval)
                writer.start()
            try:
                yield state
            finally:
                if writer is not None:
                    writer.stop()

    app.router.lifespan_context = lifespan
