"""``gridledger bench net``: the four-validator consortium under load, against CometBFT's kvstore.

Two networks with the same layout, written by ``net init`` (four validators, one per
organization, on loopback, with the same consensus settings):

1. gridledger: each organization's CometBFT node drives our ABCI app process;
2. baseline: the same four CometBFT nodes running CometBFT's built-in ``kvstore`` application
   (in-process Go, no ABCI socket): the ceiling consensus alone allows on this machine.

The same load generator drives both: transactions are made beforehand (signed notary records,
as clients would send them; for kvstore, bytes of the same length in its ``key=value`` form),
then sent with ``broadcast_tx_sync`` over WebSocket JSON-RPC, spread over the four nodes, a
fixed number of requests in flight and at most WINDOW transactions sent but not yet committed.
Commit times come from a WebSocket subscription to ``NewBlock`` events on one node: a
transaction's latency is from just before it was sent until the block holding it was announced.
Throughput is committed transactions over the time from the first send to the last commit.
Figures are printed; none is asserted.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from gridledger.keys import read_key_file
from gridledger.ledger.tx import TxBody, sign_transaction
from gridledger.net import control
from gridledger.net.init import init_network, set_toml_values
from gridledger.net.layout import Network, Ports, find_cometbft

CHAIN_ID = "gridledger-bench-net"
IN_FLIGHT = 16
# At most this many transactions sent but not yet committed: a closed loop, so the figure is a
# sustained rate and latency is commit latency, not the wait in an ever longer mempool queue.
WINDOW = 1_000
BROADCAST = "broadcast_tx_sync"
COMMIT_WAIT_S = 120.0


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

    @property
    def tps(self) -> float:
        return self.committed / self.seconds if self.seconds > 0 else 0.0

    def line(self, name: str) -> str:
        return (
            f"{name:<11} {self.tps:8,.0f} tx/s   p50 {self.p50_s:5.2f} s   p99 {self.p99_s:5.2f} s"
            f"   ({self.committed:,} of {self.sent:,} committed in {self.seconds:.1f} s, "
            f"{self.blocks} blocks, {self.refused} refused; sending took {self.send_s:.1f} s)"
        )


def run(*, txs: int, in_flight: int = IN_FLIGHT, keep: bool = False) -> None:
    print(
        f"gridledger bench net — 4 validators on loopback, {os.cpu_count()} CPU(s), "
        f"Python {sys.version.split()[0]}, {txs:,} transactions, {in_flight} in flight"
    )
    root = Path(tempfile.mkdtemp(prefix="gridledger-bench-net-"))
    try:
        ours = _bench_gridledger(root / "gridledger", txs, in_flight)
        print(ours.line("gridledger"), flush=True)
        base = _bench_kvstore(root / "kvstore", txs, in_flight)
        print(base.line("kvstore"), flush=True)
        ratio = ours.tps / base.tps if base.tps else 0.0
        print(
            f"ratio gridledger/kvstore: {ratio:.0%} (targets: >= 1,000 tx/s, p99 <= 3 s, "
            ">= 60 % of kvstore)"
        )
    finally:
        if keep:
            print(f"networks kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


# -- the two networks ------------------------------------------------------------------------


def _free_ports() -> dict[str, Ports]:
    orgs = ("gridco", "notary", "judicial", "exchange")
    ports = iter(_free_port_list(4 * len(orgs)))
    return {
        o: Ports(p2p=next(ports), rpc=next(ports), abci=next(ports), api=next(ports)) for o in orgs
    }


def _free_port_list(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _bench_gridledger(directory: Path, txs: int, in_flight: int) -> LoadResult:
    network = init_network(directory, chain_id=CHAIN_ID, ports=_free_ports())
    control.up(directory)
    try:
        raws = _signed_records(network, txs)
        return asyncio.run(_load([n.rpc_url for n in network.nodes], raws, in_flight))
    finally:
        control.down(directory)


def _bench_kvstore(directory: Path, txs: int, in_flight: int) -> LoadResult:
    network = init_network(directory, chain_id=CHAIN_ID, ports=_free_ports())
    cometbft = find_cometbft()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for node in network.nodes:
            config = node.cometbft_home / "config" / "config.toml"
            text = set_toml_values(config.read_text(), {("", "proxy_app"): "kvstore"})
            config.write_text(text)
            log = network.log_file(node.org, "cometbft").open("ab")
            procs.append(
                subprocess.Popen(  # noqa: S603 - the binary find_cometbft chose
                    [str(cometbft), "start", "--home", str(node.cometbft_home)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        _wait_first_block([n.rpc_url for n in network.nodes])
        template = _signed_records(network, txs)
        raws = [_as_kvstore_tx(i, raw) for i, raw in enumerate(template)]
        return asyncio.run(_load([n.rpc_url for n in network.nodes], raws, in_flight))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _as_kvstore_tx(i: int, raw: bytes) -> bytes:
    """kvstore takes ``key=value`` with one ``=`` and no ``:``; keep the length of our tx."""
    key = f"b{i}=".encode()
    body = raw.replace(b":", b";").replace(b"=", b"~")
    return key + body[len(key) :]


def _wait_first_block(rpcs: list[str], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            heights = [
                int(
                    httpx.get(f"{u}/status", timeout=2).json()["result"]["sync_info"][
                        "latest_block_height"
                    ]
                )
                for u in rpcs
            ]
            if min(heights) >= 1:
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.3)
    raise RuntimeError("the kvstore network did not commit a block within a minute")


def _signed_records(network: Network, n: int) -> list[bytes]:
    """Notary records, each signed by one of the four organizations' admin keys in turn."""
    keys = [read_key_file(node.key_file("admin")) for node in network.nodes]
    raws = []
    for i in range(n):
        key = keys[i % len(keys)]
        body = TxBody(
            chain_id=CHAIN_ID,
            expiry_height=5_000,
            nonce=f"bench-{i}",
            contract="notary",
            method="record",
            args={
                "digest": hashlib.sha256(f"bench document {i}".encode()).hexdigest(),
                "title": f"Metering data export {i}",
                "record_type": "business_record",
                "parties": [key.address],
            },
        )
        raws.append(sign_transaction(body, [key]).raw)
    return raws


# -- the load generator ------------------------------------------------------------------------


async def _load(  # noqa: PLR0915 - one measurement, read top to bottom
    rpcs: list[str], raws: list[bytes], in_flight: int, window: int = WINDOW
) -> LoadResult:
    sent_at: dict[bytes, float] = {}
    committed_at: dict[bytes, float] = {}
    blocks = 0
    all_seen = asyncio.Event()
    subscribed = asyncio.Event()
    wanted = {hashlib.sha256(r).digest() for r in raws}

    async def follow() -> None:
        nonlocal blocks
        ws_url = rpcs[0].replace("http://", "ws://", 1) + "/websocket"
        async with websockets.connect(ws_url, max_size=256 * 1024 * 1024) as ws:
            query = {"query": "tm.event='NewBlock'"}
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": 0, "method": "subscribe", "params": query})
            )
            subscribed.set()
            async for message in ws:
                now = time.perf_counter()
                txs = _block_txs(message)
                if txs is None:
                    continue
                blocks += 1 if txs else 0
                for tx in txs:
                    digest = hashlib.sha256(base64.b64decode(tx)).digest()
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
    # JSON-RPC requests made beforehand; each sender is one WebSocket to one node, one request
    # at a time (CometBFT answers a connection's requests in order), senders spread over nodes.
    requests = [
        (
            hashlib.sha256(raw).digest(),
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": i,
                    "method": BROADCAST,
                    "params": {"tx": base64.b64encode(raw).decode()},
                }
            ),
        )
        for i, raw in enumerate(raws)
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
                answer = json.loads(await ws.recv())
                result: dict[str, Any] = answer.get("result") or {}
                if result.get("code", 1) != 0:
                    refused += 1
                    wanted.discard(digest)

    start = time.perf_counter()
    await asyncio.gather(*(sender(rpcs[k % len(rpcs)]) for k in range(in_flight)))
    sending = time.perf_counter() - start
    if len(committed_at) >= len(wanted):
        all_seen.set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_seen.wait(), COMMIT_WAIT_S)
    follower.cancel()
    latencies = sorted(committed_at[d] - sent_at[d] for d in committed_at if d in sent_at)
    end = max(committed_at.values()) if committed_at else time.perf_counter()
    return LoadResult(
        sent=len(raws),
        committed=len(committed_at),
        refused=refused,
        seconds=end - start,
        p50_s=_percentile(latencies, 50),
        p99_s=_percentile(latencies, 99),
        blocks=blocks,
        send_s=sending,
    )


def _block_txs(message: str | bytes) -> list[str] | None:
    try:
        value = json.loads(message)["result"]["data"]["value"]
        txs: list[str] = value["block"]["data"]["txs"] or []
        return txs
    except (ValueError, KeyError, TypeError):
        return None


def _percentile(sorted_values: list[float], p: int) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, (len(sorted_values) * p) // 100)
    return sorted_values[index]
