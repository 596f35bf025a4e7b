"""The REST API of one organization's member of the CometBFT consortium.

Run beside the organization's CometBFT validator and ABCI app process::

    python -m gridledger.api.network --db ORG/app/ledger.sqlite --rpc http://127.0.0.1:26657 \\
        --host 127.0.0.1 --port 8080

Reads come from the organization's own SQLite store (the app process writes it; WAL lets this
process read committed blocks beside it). Transactions go to CometBFT's RPC ``broadcast_tx_sync``,
which answers with the app's CheckTx verdict. Waiting for a commit uses one WebSocket subscription
to ``NewBlockHeader`` events: CometBFT fires them after the app's Commit, so on each event the
block's transactions are already in the store and every waiter for one of them is answered. After
a reconnect, waiters are checked against the store, so a missed event loses nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets
from fastapi import FastAPI

from gridledger import __version__, codec
from gridledger.api.app import create_app
from gridledger.api.audit import enable_checkpoints
from gridledger.api.backend import committed_json
from gridledger.errors import (
    GridledgerError,
    NodeError,
    Oversized,
    Replayed,
)
from gridledger.evidence.cometbft_certificate import RpcSource, build_cometbft_certificate
from gridledger.keys import read_key_file
from gridledger.ledger.genesis import Genesis, decode_genesis
from gridledger.ledger.state import State
from gridledger.ledger.transition import ERROR_CODES, INTERNAL_ERROR
from gridledger.ledger.tx import decode_transaction
from gridledger.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

ERROR_BY_CODE: dict[int, type[GridledgerError]] = {code: cls for cls, code in ERROR_CODES}
RECONNECT_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class CometRpc:
    """JSON-RPC over HTTP to one CometBFT node (async for the request path, sync for threads)."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._async = httpx.AsyncClient(timeout=30)
        self._sync = httpx.Client(timeout=30)

    async def call(self, method: str, **params: Any) -> Any:
        try:
            response = await self._async.post(self.url, json=_request(method, params))
        except httpx.HTTPError as exc:
            raise NodeError(f"consensus node at {self.url} is unreachable: {exc}") from exc
        return _result(method, response)

    def call_sync(self, method: str, **params: Any) -> Any:
        try:
            response = self._sync.post(self.url, json=_request(method, params))
        except httpx.HTTPError as exc:
            raise NodeError(f"consensus node at {self.url} is unreachable: {exc}") from exc
        return _result(method, response)

    async def aclose(self) -> None:
        await self._async.aclose()
        self._sync.close()


def _request(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def _result(method: str, response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError as exc:
        raise NodeError(
            f"CometBFT {method}: not a JSON-RPC answer ({response.status_code})"
        ) from exc
    if "error" in body:
        error = body["error"]
        detail = str(error.get("data") or error.get("message") or error)
        if "already exists in cache" in detail:
            raise Replayed("the transaction is already in the mempool (sent twice)")
        if "too large" in detail:
            raise Oversized(f"CometBFT refused the transaction: {detail}")
        raise NodeError(f"CometBFT {method} failed: {detail}")
    return body["result"]


class NetworkBackend:
    """Backend over a CometBFT node and the organization's store."""

    def __init__(self, store: SqliteStore, rpc_url: str) -> None:
        self._store = store
        self.rpc = CometRpc(rpc_url)
        self._genesis: Genesis | None = None
        self._waiters: dict[bytes, list[asyncio.Future[dict[str, Any]]]] = {}
        self._follower: asyncio.Task[None] | None = None
        self.events_seen = 0

    @property
    def store(self) -> SqliteStore:
        return self._store

    @property
    def genesis(self) -> Genesis:
        if self._genesis is None:
            raw = self._store.get_meta("genesis")
            if raw is None:
                raise NodeError("the chain has not started yet (no genesis in the store)")
            self._genesis = decode_genesis(codec.decode(raw))
        return self._genesis

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._follower = asyncio.get_running_loop().create_task(self._follow_blocks())

    async def stop(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
        await self.rpc.aclose()

    # -- submission ----------------------------------------------------------------------------

    async def submit(self, raw: bytes, wait: bool, timeout_s: int) -> dict[str, Any]:
        tx_id = decode_transaction(raw).tx_id  # the app would refuse undecodable bytes alike
        future: asyncio.Future[dict[str, Any]] | None = None
        if wait:  # registered before broadcasting, so a fast commit cannot slip past
            future = asyncio.get_running_loop().create_future()
            self._waiters.setdefault(tx_id, []).append(future)
        try:
            result = await self.rpc.call(
                "broadcast_tx_sync", tx=base64.b64encode(raw).decode("ascii")
            )
            code = int(result.get("code", 0))
            if code != 0:
                cls = ERROR_BY_CODE.get(code)
                message = str(result.get("log", ""))
                if cls is None or code == INTERNAL_ERROR:
                    raise NodeError(f"CheckTx failed with code {code}: {message}")
                raise cls(message)
        except BaseException:
            if future is not None:
                self._forget(tx_id, future)
            raise
        if future is None:
            return {"tx_id": tx_id.hex(), "status": "accepted"}
        self._resolve_from_store(tx_id)  # committed between broadcast and now
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            return {"tx_id": tx_id.hex(), "status": "pending"}
        finally:
            self._forget(tx_id, future)

    def _forget(self, tx_id: bytes, future: asyncio.Future[dict[str, Any]]) -> None:
        futures = self._waiters.get(tx_id)
        if futures is not None and future in futures:
            futures.remove(future)
            if not futures:
                del self._waiters[tx_id]

    def _resolve_from_store(self, tx_id: bytes) -> None:
        row = self._store.get_tx(tx_id)
        if row is None:
            return
        answer = committed_json(
            tx_id.hex(),
            height=row.height,
            index=row.idx,
            code=row.code,
            error=row.error,
            log=row.log,
        )
        for future in self._waiters.get(tx_id, []):
            if not future.done():
                future.set_result(answer)

    def _on_block(self, height: int) -> None:
        if not self._waiters:
            return
        for row in self._store.get_block_txs(height):
            if row.tx_id is not None and row.tx_id in self._waiters:
                self._resolve_from_store(row.tx_id)

    async def _follow_blocks(self) -> None:
        """One WebSocket subscription to NewBlockHeader, reconnecting with backoff for ever."""
        ws_url = self.rpc.url.replace("http://", "ws://", 1) + "/websocket"
        attempt = 0
        while True:
            try:
                async with websockets.connect(ws_url, max_size=16 * 1024 * 1024) as ws:
                    await ws.send(
                        json.dumps(
                            {
                                "jsonrpc": "2.0",
                                "id": 0,
                                "method": "subscribe",
                                "params": {"query": "tm.event='NewBlockHeader'"},
                            }
                        )
                    )
                    attempt = 0
                    for tx_id in list(self._waiters):  # whatever committed while we were away
                        self._resolve_from_store(tx_id)
                    async for message in ws:
                        height = _event_height(message)
                        if height is not None:
                            self.events_seen += 1
                            self._on_block(height)
            except asyncio.CancelledError:
                raise
            except (OSError, websockets.WebSocketException, GridledgerError) as exc:
                delay = RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)]
                attempt += 1
                log.info(
                    "block events from %s unavailable (%s); retry in %.1f s", ws_url, exc, delay
                )
                await asyncio.sleep(delay)

    # -- reads ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self._store.snapshot():
            log_ = State(self._store).log()
            height = self._store.last_height
            app_hash = self._store.last_app_hash
            block = self._store.get_block(height)
        consensus: dict[str, Any]
        try:
            comet = self.rpc.call_sync("status")
            validators = self.rpc.call_sync("validators", per_page="100")
            sync = comet["sync_info"]
            consensus = {
                "reachable": True,
                "node_id": comet["node_info"]["id"],
                "moniker": comet["node_info"]["moniker"],
                "latest_block_height": int(sync["latest_block_height"]),
                "latest_app_hash": str(sync["latest_app_hash"]).lower(),
                "catching_up": bool(sync["catching_up"]),
                "validators": [
                    {
                        "address": str(v["address"]).lower(),
                        "public_key": base64.b64decode(v["pub_key"]["value"]).hex(),
                        "power": int(v["voting_power"]),
                    }
                    for v in validators["validators"]
                ],
            }
        except (GridledgerError, KeyError, TypeError, ValueError) as exc:
            consensus = {"reachable": False, "error": str(exc)}
        return {
            "mode": "cometbft",
            "chain_id": self.genesis.chain_id,
            "height": height,
            "app_hash": app_hash.hex(),
            "last_block_time_ms": block.time_ms if block is not None else None,
            "log": {"size": log_.size, "root": log_.root().hex()},
            "genesis_hash": self.genesis.genesis_hash.hex(),
            "consensus": consensus,
            "healthy": bool(consensus.get("reachable")) and not consensus.get("catching_up"),
            "version": __version__,
        }

    def certificate(self, digest: str) -> dict[str, Any]:
        return build_cometbft_certificate(self._store, digest, RpcSource(self.rpc.call_sync))


def _event_height(message: str | bytes) -> int | None:
    try:
        body = json.loads(message)
        header = body["result"]["data"]["value"]["header"]
        return int(header["height"])
    except (ValueError, KeyError, TypeError):
        return None  # the subscription's confirmation, or an event we do not use


def create_network_app(db: Path, rpc_url: str) -> FastAPI:
    backend = NetworkBackend(SqliteStore(db), rpc_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend.start()
        try:
            yield
        finally:
            await backend.stop()

    return create_app(backend, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description="gridledger API of a consortium member")
    parser.add_argument("--db", type=Path, required=True, help="the org's app SQLite store")
    parser.add_argument("--rpc", required=True, help="CometBFT RPC URL, http://127.0.0.1:26657")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--checkpoint-key", type=Path, help="key file to sign log checkpoints with (docs/audit.md)"
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if not args.db.parent.exists():
        raise SystemExit(f"{args.db.parent} does not exist: is this an org's app directory?")
    app = create_network_app(args.db, args.rpc)
    if args.checkpoint_key is not None:
        enable_checkpoints(app, read_key_file(args.checkpoint_key))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
