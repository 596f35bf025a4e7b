"""The load generator the network benchmarks share, and the four-validator network they run on.

A benchmark network is ``net init`` on free loopback ports (four validators, one per
organization), brought up and down by ``gridledger.net.control`` like any other.

The load generator takes transactions made beforehand and sends them with ``broadcast_tx_sync``
over WebSocket JSON-RPC, spread over the nodes, a fixed number of requests in flight and at most
``window`` transactions sent but not yet committed: a closed loop, so the figure is a sustained
rate and latency is commit latency, not the wait in an ever longer mempool queue. Commit times
come from a WebSocket subscription to ``NewBlock`` events on one node: a transaction's latency is
from just before it was sent until the block holding it was announced. Throughput is committed
transactions over the time from the first send to the last commit.

A transaction counts as committed once a block holds it; whether it succeeded is the caller's
to check in the state (a block also holds transactions that fail in FinalizeBlock).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson
import websockets

from gridledger.errors import NodeError
from gridledger.net import control
from gridledger.net.init import init_network
from gridledger.net.join import is_synced, read_height
from gridledger.net.layout import DEFAULT_ORGS, PROCESSES, Network, Node, pick_free_ports

T = TypeVar("T")
IN_FLIGHT = 16
WINDOW = 1_000
BROADCAST = "broadcast_tx_sync"
COMMIT_WAIT_S = 120.0
MAX_REASONS = 5
REASON_CHARS = 200


@dataclass(frozen=True, slots=True)
class LoadResult:
    sent: int
    committed: int
    refused: int
    seconds: float
    p50_s: float
    p99_s: float
    blocks: int
    send_s: float
    refusals: tuple[tuple[str, int], ...] = ()  # CheckTx's reasons, most frequent first

    @property
    def tps(self) -> float:
        return self.committed / self.seconds if self.seconds > 0 else 0.0

    def line(self, name: str) -> str:
        return (
            f"{name:<11} {self.tps:8,.0f} tx/s   p50 {self.p50_s:5.2f} s   p99 {self.p99_s:5.2f} s"
            f"   ({self.committed:,} of {self.sent:,} committed in {self.seconds:.1f} s, "
            f"{self.blocks} blocks, {self.refused} refused; sending took {self.send_s:.1f} s)"
            + self.format_refusals()
        )

    def format_refusals(self) -> str:
        """The reasons CheckTx gave for refusals, if any, for the line after the figures."""
        return "".join(f"\n  refused {n} x: {reason}" for reason, n in self.refusals)


# -- the network -------------------------------------------------------------------------------


def init_bench_network(directory: Path, chain_id: str) -> Network:
    """``net init`` of the default four organizations on ports free right now."""
    return init_network(directory, chain_id=chain_id, ports=pick_free_ports(DEFAULT_ORGS))


@contextlib.contextmanager
def network_running(network: Network) -> Iterator[Network]:
    """``net up`` (returns once every node committed a block), then ``net down`` whatever
    happened inside."""
    try:
        control.up(network.dir)
        yield network
    finally:
        control.down(network.dir)


def read_cpu_seconds(network: Network) -> dict[tuple[str, str], float]:
    """CPU time (user + system) used so far by each running process of the network, by
    (org, process), from /proc and the supervisor's state file; empty where unreadable."""
    state = control.read_state(network) or {}
    ticks = os.sysconf("SC_CLK_TCK")
    seconds: dict[tuple[str, str], float] = {}
    for org in network.orgs:
        for name in PROCESSES:
            pid = state.get("processes", {}).get(org, {}).get(name, {}).get("pid")
            if not isinstance(pid, int):
                continue
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            seconds[(org, name)] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


def wait_nodes_caught_up(nodes: Sequence[Node], *, timeout_s: float = 30.0) -> int:
    """Wait until every node has committed the height the first one is at now, and return it.

    The load generator follows one node's blocks; the others may commit the same block a moment
    later. Transactions that depend on it (readings of meters registered there) must not reach
    a node that has not committed it yet, or its CheckTx refuses them."""
    target = read_height(nodes[0])
    wait_nodes_at(nodes, target, timeout_s=timeout_s)
    return target


def wait_nodes_at(nodes: Sequence[Node], height: int, *, timeout_s: float) -> None:
    """Wait until every node answers, is not catching up, and has committed ``height``."""
    deadline = time.monotonic() + timeout_s
    while not all(is_synced(node, height) for node in nodes):
        if time.monotonic() > deadline:
            heights = [read_height(node) for node in nodes]
            raise NodeError(f"nodes did not reach height {height} in {timeout_s:.0f} s: {heights}")
        time.sleep(0.05)


# -- the load generator ------------------------------------------------------------------------


def run_load(
    rpcs: Sequence[str], raws: Sequence[bytes], *, in_flight: int = IN_FLIGHT, window: int = WINDOW
) -> LoadResult:
    """Send ``raws`` to the nodes whose RPC URLs are ``rpcs`` and wait until blocks hold them
    all (or COMMIT_WAIT_S passes after the last send)."""
    return asyncio.run(_load(list(rpcs), list(raws), in_flight, window))


async def _load(  # noqa: PLR0915 - one measurement, read top to bottom
    rpcs: list[str], raws: list[bytes], in_flight: int, window: int
) -> LoadResult:
    sent_at: dict[bytes, float] = {}
    committed_at: dict[bytes, float] = {}
    blocks = 0
    all_seen = asyncio.Event()
    subscribed = asyncio.Event()
    # Each transaction by its base64 text, as /block lists it: a block's transactions are looked
    # up as they come, without decoding and hashing each one.
    encoded = [base64.b64encode(raw).decode() for raw in raws]
    digest_of = {
        text: hashlib.sha256(raw).digest() for text, raw in zip(encoded, raws, strict=True)
    }
    wanted = set(digest_of.values())

    async def follow() -> None:
        # NewBlockHeader, not NewBlock: a NewBlock event carries every transaction's result,
        # and encoding those as JSON costs the subscribed node a fifth of its CPU under this
        # load. A header's arrival is the commit time; the block's transactions are then read
        # with /block, which encodes only their bytes.
        nonlocal blocks
        ws_url = rpcs[0].replace("http://", "ws://", 1) + "/websocket"
        async with (
            websockets.connect(ws_url, max_size=16 * 1024 * 1024) as ws,
            httpx.AsyncClient(base_url=rpcs[0], timeout=30) as http,
        ):
            query = {"query": "tm.event='NewBlockHeader'"}
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": 0, "method": "subscribe", "params": query})
            )
            subscribed.set()
            async for message in ws:
                now = time.perf_counter()
                height = _header_height(message)
                if height is None:
                    continue
                response = await http.get("/block", params={"height": height})
                txs = _block_txs(response.content)
                if txs is None:
                    raise NodeError(f"/block?height={height} gave no block: {response.text[:200]}")
                blocks += 1 if txs else 0
                for tx in txs:
                    digest = digest_of.get(tx)
                    if digest in wanted:
                        committed_at.setdefault(digest, now)
                room.set()
                if len(committed_at) >= len(wanted):
                    all_seen.set()
                    return

    room = asyncio.Event()  # set on every block: senders recheck the uncommitted window

    follower = asyncio.create_task(follow())
    await asyncio.wait_for(subscribed.wait(), 30)
    refused = 0
    reasons: Counter[str] = Counter()
    # JSON-RPC requests made beforehand; each sender is one WebSocket to one node, one request
    # at a time (CometBFT answers a connection's requests in order), senders spread over nodes.
    requests = [
        (
            digest_of[text],
            json.dumps({"jsonrpc": "2.0", "id": i, "method": BROADCAST, "params": {"tx": text}}),
        )
        for i, text in enumerate(encoded)
    ]
    pending = iter(requests)

    async def sender(rpc: str) -> None:
        nonlocal refused
        url = rpc.replace("http://", "ws://", 1) + "/websocket"
        async with websockets.connect(url, max_size=16 * 1024 * 1024) as ws:
            for digest, request in pending:
                while len(sent_at) - len(committed_at) - refused >= window:
                    room.clear()
                    await room.wait()
                sent_at[digest] = time.perf_counter()
                await ws.send(request)
                answer = orjson.loads(await ws.recv())
                result: dict[str, Any] = answer.get("result") or {}
                if result.get("code", 1) != 0:
                    refused += 1
                    wanted.discard(digest)
                    reasons[_refusal_reason(answer)] += 1

    start = time.perf_counter()
    await _watched(
        asyncio.gather(*(sender(rpcs[k % len(rpcs)]) for k in range(in_flight))), follower
    )
    sending = time.perf_counter() - start
    if len(committed_at) >= len(wanted):
        all_seen.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_watched(all_seen.wait(), follower), COMMIT_WAIT_S)
    follower.cancel()
    latencies = sorted(committed_at[d] - sent_at[d] for d in committed_at if d in sent_at)
    end = max(committed_at.values()) if committed_at else time.perf_counter()
    return LoadResult(
        sent=len(raws),
        committed=len(committed_at),
        refused=refused,
        seconds=end - start,
        p50_s=compute_percentile(latencies, 50),
        p99_s=compute_percentile(latencies, 99),
        blocks=blocks,
        send_s=sending,
        refusals=tuple(reasons.most_common(MAX_REASONS)),
    )


async def _watched(work: Awaitable[T], follower: asyncio.Task[None]) -> T:
    """``work``'s result, unless the block follower fails first: then the work is cancelled and
    the follower's error raised (senders waiting for room in the window would wait for ever)."""
    task = asyncio.ensure_future(work)
    await asyncio.wait({task, follower}, return_when=asyncio.FIRST_COMPLETED)
    error = follower.exception() if follower.done() and not follower.cancelled() else None
    if error is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise NodeError(f"following the chain's blocks failed: {error}") from error
    return await task


def _refusal_reason(answer: dict[str, Any]) -> str:
    """CheckTx's log for a refused broadcast, or the JSON-RPC error, shortened; a reason shared
    by many transactions reads the same for each (digits of ids and numbers are not kept)."""
    result = answer.get("result") or {}
    text = str(result.get("log") or answer.get("error") or "no reason given")
    return re.sub(r"[0-9a-f]{16,}|\d+", "#", text)[:REASON_CHARS]


def _header_height(message: str | bytes) -> int | None:
    """The height of a NewBlockHeader event (None for the subscription's own answer)."""
    try:
        return int(orjson.loads(message)["result"]["data"]["value"]["header"]["height"])
    except (ValueError, KeyError, TypeError):
        return None


def _block_txs(body: str | bytes) -> list[str] | None:
    """The base64 transactions of a /block answer."""
    try:
        txs: list[str] = orjson.loads(body)["result"]["block"]["data"]["txs"] or []
        return txs
    except (ValueError, KeyError, TypeError):
        return None


def compute_percentile(sorted_values: Sequence[float], p: int) -> float:
    """The nearest-rank ``p``-th percentile of an ascending list (NaN when empty)."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, (len(sorted_values) * p) // 100)
    return sorted_values[index]


# -- the state -----------------------------------------------------------------------------


class RpcStore:
    """A read-only StateBackend over one node's CometBFT ``abci_query`` (path /store), so the
    contracts' own readers (``metering.get_batch``...) read what that node committed."""

    def __init__(self, rpc_url: str, *, timeout_s: float = 10.0) -> None:
        self._client = httpx.Client(base_url=rpc_url, timeout=timeout_s)

    def get(self, key: str) -> bytes | None:
        params = {"path": '"/store"', "data": "0x" + key.encode("utf-8").hex()}
        try:
            response = self._client.get("/abci_query", params=params)
            response.raise_for_status()
            value = response.json()["result"]["response"].get("value")
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise NodeError(f"abci_query of {key!r} failed: {exc}") from exc
        return base64.b64decode(value) if value else None

    def iter_prefix(self, prefix: str) -> Iterator[tuple[str, bytes]]:
        raise NodeError(f"abci_query /store reads single keys; it cannot scan {prefix!r}")

    def close(self) -> None:
        self._client.close()
