"""A real CometBFT v0.38 node driving the gridledger application over our ABCI socket server."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.keys import generate_key, read_key_file
from gridledger.ledger.tx import TxBody, add_signature, decode_transaction, sign_transaction
from gridledger.node.home import init_home
from gridledger.store.sqlite import SqliteStore
from tests.e2e.nodeproc import free_port

pytestmark = pytest.mark.e2e

COMETBFT = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "cometbft"
CHAIN_ID = "gridledger-comet-e2e"


class CometNode:
    def __init__(self, tmp: Path) -> None:
        if not COMETBFT.exists():
            raise RuntimeError(f"{COMETBFT} is missing: `make setup` installs CometBFT")
        self.app_home = init_home(tmp / "app", chain_id=CHAIN_ID).path
        self.home = tmp / "cometbft"
        self.abci_port, self.rpc_port, self.p2p_port = free_port(), free_port(), free_port()
        self.rpc = f"http://127.0.0.1:{self.rpc_port}"
        subprocess.run(
            [str(COMETBFT), "init", "--home", str(self.home)], check=True, capture_output=True
        )
        genesis_file = self.home / "config" / "genesis.json"
        genesis = json.loads(genesis_file.read_text())
        genesis["chain_id"] = CHAIN_ID
        app_state = json.loads((self.app_home / "genesis.json").read_text())
        # InitChain refuses validators that differ from the app genesis: use CometBFT's key.
        app_state["validators"] = [
            {
                "org": app_state["organizations"][0]["id"],
                "public_key": base64.b64decode(v["pub_key"]["value"]).hex(),
                "power": int(v["power"]),
            }
            for v in genesis["validators"]
        ]
        genesis["app_state"] = app_state
        genesis_file.write_text(json.dumps(genesis, indent=2))
        config = self.home / "config" / "config.toml"
        text = config.read_text()
        for pattern, value in [
            (r"^proxy_app = .*$", f'proxy_app = "tcp://127.0.0.1:{self.abci_port}"'),
            (r'^laddr = "tcp://127.0.0.1:26657"$', f'laddr = "tcp://127.0.0.1:{self.rpc_port}"'),
            (r'^laddr = "tcp://0.0.0.0:26656"$', f'laddr = "tcp://127.0.0.1:{self.p2p_port}"'),
            (r"^timeout_commit = .*$", 'timeout_commit = "300ms"'),
            (r"^create_empty_blocks = .*$", "create_empty_blocks = false"),
        ]:
            text, count = re.subn(pattern, value, text, flags=re.MULTILINE)
            assert count == 1, pattern
        config.write_text(text)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        log = (self.home / "processes.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gridledger.node.abci_server",
                    "--db",
                    str(self.app_home / "data" / "ledger.sqlite"),
                    "--port",
                    str(self.abci_port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        time.sleep(1.0)
        self.procs.append(
            subprocess.Popen(
                [str(COMETBFT), "start", "--home", str(self.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.rpc}/status", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError((self.home / "processes.log").read_text()[-3000:])

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(20)
        self.procs.clear()

    def broadcast_commit(self, raw: bytes) -> dict[str, Any]:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "broadcast_tx_commit",
            "params": {"tx": base64.b64encode(raw).decode()},
        }
        result: dict[str, Any] = httpx.post(self.rpc, json=body, timeout=30).json()["result"]
        return result


@pytest.fixture
def comet(tmp_path: Path) -> Iterator[CometNode]:
    node = CometNode(tmp_path)
    node.start()
    yield node
    node.stop()


def _record(comet: CometNode, n: int, height: int = 1) -> bytes:
    admin = read_key_file(comet.app_home / "keys" / "gridco-admin.json")
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=height + 100,
        nonce=f"n{n}",
        contract="notary",
        method="record",
        args={
            "digest": f"{n:064x}",
            "title": "contract",
            "record_type": "contract",
            "parties": [admin.address],
        },
    )
    return sign_transaction(body, [admin]).raw


def test_cometbft_commits_our_transactions_and_headers_carry_our_app_hash(comet: CometNode) -> None:
    result = comet.broadcast_commit(_record(comet, 1))
    assert result["check_tx"]["code"] == 0
    assert result["tx_result"]["code"] == 0, result
    height = int(result["height"])

    # identical bytes are stopped by CometBFT's own mempool cache; the same transaction with one
    # more signature is other bytes with the same tx id, which our replay protection refuses
    same = add_signature(decode_transaction(_record(comet, 1)), generate_key())
    replay = comet.broadcast_commit(same.raw)
    assert replay["check_tx"]["code"] == 6 and "already committed" in replay["check_tx"]["log"]

    for n in range(2, 6):
        assert comet.broadcast_commit(_record(comet, n))["tx_result"]["code"] == 0

    # CometBFT places app_hash(H) in header H+1: with create_empty_blocks=false it makes that
    # proof block by itself.
    deadline = time.monotonic() + 15
    header: dict[str, Any] = {}
    while time.monotonic() < deadline:
        block = httpx.get(f"{comet.rpc}/block", params={"height": height + 1}, timeout=5).json()
        if "result" in block:
            header = block["result"]["block"]["header"]
            break
        time.sleep(0.3)
    assert header, "no block after the first transaction's block"
    comet.stop()
    store = SqliteStore(comet.app_home / "data" / "ledger.sqlite")
    row = store.get_block(height)
    assert row is not None
    assert row.app_hash.hex().upper() == header["app_hash"]
