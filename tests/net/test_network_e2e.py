"""Four real validators under ``gridledger net``: a transaction reaches every node and every
store, all nodes agree on every header, the chain survives one validator stopping and an app
being killed, the stopped validator catches up, and ``net down`` leaves no process behind."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.keys import read_key_file
from gridledger.ledger.tx import Transaction, TxBody, sign_transaction
from gridledger.net.init import init_network
from gridledger.net.layout import DEFAULT_ORGS, Network, pick_free_ports
from gridledger.net.status import get_header, get_rpc
from gridledger.store.sqlite import SqliteStore
from tests.e2e.nodeproc import cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

COMETBFT = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "cometbft"
CHAIN_ID = "gridledger-net-e2e"


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    if not COMETBFT.exists():
        pytest.skip("CometBFT is not installed (`make setup` installs it)")
    ports = pick_free_ports(DEFAULT_ORGS)  # held open together: sixteen distinct ports
    net = init_network(tmp_path / "net", chain_id=CHAIN_ID, ports=ports)
    try:
        yield net
    finally:
        cli("net", "down", "--dir", str(net.dir), timeout=120)
        _kill_leftovers(net)


def test_four_validators_commit_agree_survive_faults_and_stop_cleanly(network: Network) -> None:
    up = _ok("up", "--dir", str(network.dir), "--timeout", "120")
    for node in network.nodes:
        assert node.rpc_url in up.stdout and node.api_url in up.stdout
    second = subprocess.run(
        [sys.executable, "-m", "gridledger.net.supervisor", "--dir", str(network.dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == 1 and "another supervisor already runs" in second.stderr
    status = _status(network)
    assert all(
        p["state"] == "running"
        for org in status["orgs"].values()
        for p in org["processes"].values()
    )

    # a transaction sent to one node is committed on all four, in RPC and in every store
    tx = _record(network, 1)
    height = _broadcast_and_find(network, network.node("notary").rpc_url, tx, network.orgs)
    for node in network.nodes:
        row = SqliteStore(node.db_file).get_tx(tx.tx_id)
        assert row is not None and row.code == 0 and row.height == height, node.org
    _wait_all_at(network, network.orgs, height + 1)  # header H+1 carries app_hash(H)
    _assert_same_headers(network, network.orgs)

    # kill -9 one app: the supervisor brings it (and its CometBFT) back
    app_pid = _status(network)["orgs"]["judicial"]["processes"]["app"]["pid"]
    os.kill(app_pid, signal.SIGKILL)
    _wait(lambda: _process(network, "judicial", "app")["pid"] not in (None, app_pid), 30)
    _wait(lambda: _process(network, "judicial", "cometbft")["state"] == "running", 30)
    assert _process(network, "judicial", "app")["restarts"] >= 1

    # stop one validator of four: the other three still commit
    old = _status(network)["orgs"]["exchange"]["processes"]
    _ok("stop", "--dir", str(network.dir), "--org", "exchange")
    stopped = _status(network)["orgs"]["exchange"]["processes"]
    assert {p["state"] for p in stopped.values()} == {"stopped"}
    assert not any(_alive(p["pid"]) for p in old.values())
    time.sleep(1.0)  # the supervisor must not bring it back on its own
    assert _process(network, "exchange", "cometbft")["state"] == "stopped"
    three = tuple(o for o in network.orgs if o != "exchange")
    tx2 = _record(network, 2)
    height2 = _broadcast_and_find(network, network.node("gridco").rpc_url, tx2, three)

    # start it again: it catches up to the same chain
    _ok("start", "--dir", str(network.dir), "--org", "exchange")
    _wait_all_at(network, network.orgs, height2 + 1)
    _wait(lambda: not get_rpc(network.node("exchange"), "status")["sync_info"]["catching_up"], 60)
    _assert_same_headers(network, network.orgs)
    row = SqliteStore(network.node("exchange").db_file).get_tx(tx2.tx_id)
    assert row is not None and row.height == height2
    agreement = _status(network)["agreement"]
    assert agreement["agree"] is True and len(agreement["app_hashes"]) == 4

    # down stops every process, and a second down is harmless
    status = _status(network)
    pids = [status["supervisor"]["pid"]] + [
        p["pid"] for org in status["orgs"].values() for p in org["processes"].values()
    ]
    assert all(isinstance(p, int) and _alive(p) for p in pids)
    assert "stopped" in _ok("down", "--dir", str(network.dir)).stdout
    assert not [p for p in pids if _alive(p)]
    assert not (network.dir / "supervisor.pid").exists()
    assert "was not running" in _ok("down", "--dir", str(network.dir)).stdout


# -- helpers ---------------------------------------------------------------------------------


def _ok(*args: str) -> Any:
    result = cli("net", *args, timeout=180)
    assert result.returncode == 0, f"net {args[0]}: {result.stdout}\n{result.stderr}"
    return result


def _status(network: Network) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(_ok("status", "--dir", str(network.dir), "--json").stdout)
    return doc


def _process(network: Network, org: str, name: str) -> dict[str, Any]:
    state = json.loads((network.dir / "state.json").read_text())
    proc: dict[str, Any] = state["processes"][org][name]
    return proc


def _record(network: Network, n: int) -> Transaction:
    admin = read_key_file(network.node("gridco").key_file("admin"))
    height = int(get_rpc(network.node("gridco"), "status")["sync_info"]["latest_block_height"])
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=height + 100,
        nonce=f"net-e2e-{n}",
        contract="notary",
        method="record",
        args={
            "digest": f"{n:064x}",
            "title": f"network record {n}",
            "record_type": "business_record",
            "parties": [admin.address],
        },
    )
    return sign_transaction(body, [admin])


def _broadcast_and_find(
    network: Network, rpc_url: str, tx: Transaction, orgs: tuple[str, ...]
) -> int:
    """broadcast_tx_sync to one node, then /tx?hash= on each of ``orgs``; the commit height."""
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "broadcast_tx_sync",
        "params": {"tx": base64.b64encode(tx.raw).decode()},
    }
    result = httpx.post(rpc_url, json=request, timeout=30).json()["result"]
    assert result["code"] == 0, result
    heights = set()
    for org in orgs:
        found: dict[str, Any] = {}

        def committed(org: str = org, found: dict[str, Any] = found) -> bool:
            try:
                found.update(get_rpc(network.node(org), "tx", hash="0x" + result["hash"]))
            except httpx.HTTPError:
                return False
            return True

        _wait(committed, 60)
        assert found["tx_result"]["code"] == 0, found
        heights.add(int(found["height"]))
    assert len(heights) == 1
    return heights.pop()


def _height(network: Network, org: str) -> int:
    try:
        sync = get_rpc(network.node(org), "status")["sync_info"]
    except httpx.HTTPError:
        return 0
    return int(sync["latest_block_height"])


def _wait_all_at(network: Network, orgs: tuple[str, ...], height: int) -> None:
    _wait(lambda: all(_height(network, o) >= height for o in orgs), 60)


def _assert_same_headers(network: Network, orgs: tuple[str, ...]) -> None:
    top = min(_height(network, o) for o in orgs)
    assert top >= 2
    for h in range(1, top + 1):
        headers = {o: get_header(network.node(o), h) for o in orgs}
        assert len({hd["app_hash"] for hd in headers.values()}) == 1, (h, headers)
        assert len({hd["hash"] for hd in headers.values()}) == 1, h


def _wait(ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s"
        time.sleep(0.25)


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill_leftovers(network: Network) -> None:
    """After a failed test: SIGKILL any process of this network that is still alive."""
    try:
        state = json.loads((network.dir / "state.json").read_text())
    except (OSError, ValueError):
        return
    pids = [state.get("supervisor_pid")] + [
        p.get("pid") for org in state.get("processes", {}).values() for p in org.values()
    ]
    for pid in pids:
        if isinstance(pid, int) and _alive(pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if str(network.dir).encode() in cmdline:
                os.kill(pid, signal.SIGKILL)


def test_up_names_the_failing_processes_and_logs_when_no_block_comes(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDLEDGER_COMETBFT", "/bin/false")  # a "CometBFT" that always exits
    result = cli("net", "up", "--dir", str(network.dir), "--timeout", "6", timeout=120)
    assert result.returncode == 1
    assert "did not commit a block within 6 s" in result.stderr
    assert "cometbft backoff" in result.stderr or "restarts" in result.stderr
    assert str(network.logs_dir) in result.stderr and "net down" in result.stderr
    state = json.loads((network.dir / "state.json").read_text())
    assert state["processes"]["gridco"]["cometbft"]["restarts"] >= 1
    assert state["processes"]["gridco"]["app"]["state"] == "running"
    assert "stopped" in _ok("down", "--dir", str(network.dir)).stdout


def test_up_refuses_when_a_port_is_taken(network: Network) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", network.node("judicial").ports.rpc))
        s.listen()
        result = cli("net", "up", "--dir", str(network.dir), timeout=60)
    assert result.returncode == 1
    assert f"judicial rpc {network.node('judicial').ports.rpc}" in result.stderr
    assert not (network.dir / "supervisor.pid").exists()
