"""What the REST API needs from a node, and the embedded (solo) node's answer to it.

The API is the same whether the node is the in-process solo driver or one organization's member
of the CometBFT consortium (``gridledger.api.network``): both read committed data from the
organization's SQLite store and differ only in how a transaction reaches consensus, how its commit
is awaited, what the status reports and how a certificate proves its block.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from gridledger import __version__
from gridledger.errors import error_from_code
from gridledger.evidence.certificate import build_certificate
from gridledger.ledger.genesis import Genesis
from gridledger.ledger.state import State
from gridledger.node.service import EmbeddedNode
from gridledger.node.solo import Committed
from gridledger.store.sqlite import SqliteStore


class Backend(Protocol):
    """A node as the API sees it."""

    @property
    def store(self) -> SqliteStore: ...

    @property
    def genesis(self) -> Genesis: ...

    async def submit(self, raw: bytes, wait: bool, timeout_s: int) -> dict[str, Any]:
        """CheckTx, then optionally wait for the commit (``status`` committed / failed /
        pending). A transaction refused by CheckTx raises its GridledgerError."""
        ...

    def status(self) -> dict[str, Any]: ...

    def certificate(self, digest: str) -> dict[str, Any]: ...


def committed_json(
    tx_id: str, *, height: int, index: int, code: int, error: str, log: str
) -> dict[str, Any]:
    return {
        "tx_id": tx_id,
        "status": "committed" if code == 0 else "failed",
        "height": height,
        "index": index,
        "code": code,
        "error": error,
        "log": log,
    }


class EmbeddedBackend:
    """The solo driver in this process: CheckTx directly, commit callbacks instead of events."""

    def __init__(self, node: EmbeddedNode) -> None:
        self.node = node

    @property
    def store(self) -> SqliteStore:
        return self.node.store

    @property
    def genesis(self) -> Genesis:
        return self.node.genesis

    async def submit(self, raw: bytes, wait: bool, timeout_s: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Committed] = loop.create_future()

        def resolve(c: Committed) -> None:
            if not future.done():
                future.set_result(c)

        def on_commit(c: Committed) -> None:
            loop.call_soon_threadsafe(resolve, c)

        result = self.node.solo.submit(raw, on_commit if wait else None)
        if not result.ok:
            raise error_from_code(result.error, result.log)
        tx_id = result.tx_id.hex() if result.tx_id else ""
        if not wait:
            return {"tx_id": tx_id, "status": "accepted"}
        try:
            c = await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return {"tx_id": tx_id, "status": "pending"}
        return committed_json(
            c.tx_id.hex(), height=c.height, index=c.index, code=c.code, error=c.error, log=c.log
        )

    def status(self) -> dict[str, Any]:
        node = self.node
        with node.store.snapshot():
            info = node.app.info()
            log_ = State(node.store).log()
            return {
                "mode": "embedded",
                "chain_id": info.chain_id,
                "height": info.last_height,
                "app_hash": info.last_app_hash.hex(),
                "last_block_time_ms": info.last_time_ms,
                "log": {"size": log_.size, "root": log_.root().hex()},
                "node_public_key": node.node_key.public_key.hex(),
                "genesis_hash": node.genesis.genesis_hash.hex(),
                "mempool": node.solo.mempool_size,
                "healthy": node.solo.healthy,
                "version": __version__,
            }

    def certificate(self, digest: str) -> dict[str, Any]:
        return build_certificate(self.node.store, digest)
