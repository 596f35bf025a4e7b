"""A quiet network keeps making blocks (``create_empty_blocks_interval``), so block time, which
decides gate closure and market clearing, never falls behind by more than the interval.

Runs a chain with a fast grid clock, whose idle interval is 1 s (a real-time chain waits 10 s;
``tests/net/test_init.py`` checks that setting)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.net.init import GridClockPlan
from gridledger.net.layout import Node
from tests.net.netproc import running_network

pytestmark = pytest.mark.e2e

QUIET_S = 8.0


def _status(node: Node) -> dict[str, Any]:
    response = httpx.get(f"{node.rpc_url}/status", timeout=5)
    response.raise_for_status()
    info: dict[str, Any] = response.json()["result"]["sync_info"]
    return info


def _block_time_s(info: dict[str, Any]) -> float:
    # CometBFT writes nanoseconds ("2026-11-24T04:30:01.123456789Z"); microseconds suffice here
    text = info["latest_block_time"]
    head, _, fraction = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(fraction + '000000')[:6]}+00:00").timestamp()


def _app_hash_at(node: Node, height: int) -> str:
    response = httpx.get(f"{node.rpc_url}/block", params={"height": height}, timeout=5)
    response.raise_for_status()
    app_hash: str = response.json()["result"]["block"]["header"]["app_hash"]
    return app_hash


def test_a_quiet_network_keeps_block_time_fresh(tmp_path: Path) -> None:
    plan = GridClockPlan(speedup=300, day_after_s=600)
    with running_network(tmp_path / "net", "gridledger-idle-blocks", plan) as net:
        nodes = net.nodes
        before = _status(nodes[0])
        time.sleep(QUIET_S)  # nobody sends anything
        after = _status(nodes[0])
        grown = int(after["latest_block_height"]) - int(before["latest_block_height"])
        lag_s = time.time() - _block_time_s(after)
        # about one block a second; generous bounds for a shared 2-core machine. A block's time
        # is its predecessor's commit time, so it is one idle interval plus a round old when
        # committed, and up to a round more when read; without idle blocks, QUIET_S or more.
        assert grown >= 3, f"only {grown} blocks in {QUIET_S} s of quiet"
        assert lag_s < 5.0, f"the last block's time is {lag_s:.1f} s old"
        height = int(after["latest_block_height"])
        hashes = {node.org: _app_hash_at(node, height) for node in nodes}
        earlier = _app_hash_at(nodes[0], height - 2)

    # empty blocks change no state: every node has the same app hash, unchanged meanwhile
    assert len(set(hashes.values())) == 1, hashes
    assert earlier == hashes[nodes[0].org]
