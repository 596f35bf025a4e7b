"""``gridledger bench net``: the four-validator consortium under load, against CometBFT's kvstore.

Two networks with the same layout, written by ``net init`` (four validators, one per
organization, on loopback, with the same consensus settings):

1. gridledger: each organization's CometBFT node drives our ABCI app process;
2. baseline: the same four CometBFT nodes running CometBFT's built-in ``kvstore`` application
   (in-process Go, no ABCI socket): the ceiling consensus alone allows on this machine.

The same load generator (``gridledger.bench.load``) drives both: transactions are made
beforehand (signed notary records, as clients would send them; for kvstore, bytes of the same
length in its ``key=value`` form). Figures are printed; none is asserted.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gridledger.bench.load import (
    IN_FLIGHT,
    WINDOW,
    LoadResult,
    init_bench_network,
    network_running,
    run_load,
    wait_nodes_at,
)
from gridledger.keys import read_key_file
from gridledger.ledger.tx import TxBody, sign_transaction
from gridledger.net.init import set_toml_values
from gridledger.net.layout import Network, find_cometbft

CHAIN_ID = "gridledger-bench-net"


def run(*, txs: int, in_flight: int = IN_FLIGHT, window: int = WINDOW, keep: bool = False) -> None:
    print(
        f"gridledger bench net — 4 validators on loopback, {os.cpu_count()} CPU(s), "
        f"Python {sys.version.split()[0]}, {txs:,} transactions, {in_flight} requests in flight, "
        f"at most {window:,} transactions uncommitted"
    )
    root = Path(tempfile.mkdtemp(prefix="gridledger-bench-net-"))
    try:
        ours = _bench_gridledger(root / "gridledger", txs, in_flight, window)
        print(ours.line("gridledger"), flush=True)
        base = _bench_kvstore(root / "kvstore", txs, in_flight, window)
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


def _bench_gridledger(directory: Path, txs: int, in_flight: int, window: int) -> LoadResult:
    network = init_bench_network(directory, CHAIN_ID)
    with network_running(network):
        raws = _signed_records(network, txs)
        return run_load(
            [n.rpc_url for n in network.nodes], raws, in_flight=in_flight, window=window
        )


def _bench_kvstore(directory: Path, txs: int, in_flight: int, window: int) -> LoadResult:
    network = init_bench_network(directory, CHAIN_ID)
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
        wait_nodes_at(network.nodes, 1, timeout_s=60.0)  # the kvstore network's first block
        template = _signed_records(network, txs)
        raws = [_as_kvstore_tx(i, raw) for i, raw in enumerate(template)]
        return run_load(
            [n.rpc_url for n in network.nodes], raws, in_flight=in_flight, window=window
        )
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
