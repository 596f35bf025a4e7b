"""kill -9 under load: everything reported committed survives, and the chains continue."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

import httpx
import pytest

from gridledger import codec
from gridledger.client import Client
from gridledger.errors import GridledgerError
from gridledger.keys import read_key_file
from gridledger.ledger.transition import compute_app_hash
from gridledger.store.sqlite import SqliteStore
from tests.e2e.nodeproc import NodeProcess

pytestmark = pytest.mark.e2e


class Load:
    """Submits chunks of records and remembers each one the node reported committed."""

    def __init__(self, node: NodeProcess) -> None:
        self.node = node
        self.committed: dict[str, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        admin = read_key_file(self.node.key("gridco"))
        with Client(self.node.url, timeout_s=10) as client:
            height = int(client.status()["height"])
            while not self.stop.is_set():
                txs = [
                    client.build_tx(
                        "notary",
                        "record",
                        {
                            "digest": hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                            "title": "load",
                            "record_type": "contract",
                            "parties": [admin.address],
                        },
                        [admin],
                        height=height,
                    )
                    for _ in range(40)
                ]
                try:
                    results = client.submit_many(txs, wait=True, timeout_s=10)
                except GridledgerError:
                    return  # the node is gone
                for r in results:
                    if r.get("status") == "committed":
                        self.committed[r["tx_id"]] = r["height"]


def test_kill_9_under_load_loses_nothing_committed_and_chains_continue(
    fresh_node: NodeProcess,
) -> None:
    load = Load(fresh_node)
    load.thread.start()
    deadline = time.monotonic() + 30
    while len(load.committed) < 400 and time.monotonic() < deadline:
        time.sleep(0.05)
    fresh_node.kill9()  # mid-load: requests are in flight
    load.stop.set()
    load.thread.join(30)
    acknowledged = dict(load.committed)
    assert len(acknowledged) >= 400

    fresh_node.start()
    with httpx.Client(base_url=fresh_node.url, timeout=30) as http:
        for tx_id, height in acknowledged.items():
            found = http.get(f"/v1/txs/{tx_id}")
            assert found.status_code == 200, tx_id
            assert (found.json()["code"], found.json()["height"]) == (0, height)
        height_after_restart = http.get("/v1/status").json()["height"]

    with Client(fresh_node.url) as client:  # the chain goes on from where it stopped
        admin = read_key_file(fresh_node.key("gridco"))
        tx = client.build_tx(
            "notary",
            "record",
            {
                "digest": hashlib.sha256(b"after the crash").hexdigest(),
                "title": "after",
                "record_type": "contract",
                "parties": [admin.address],
            },
            [admin],
        )
        assert client.submit(tx)["height"] == height_after_restart + 1
    fresh_node.stop()

    store = SqliteStore(fresh_node.home / "data" / "ledger.sqlite")
    previous_hash: bytes | None = None
    previous_app_hash: bytes | None = None
    for height in range(1, store.last_height + 1):
        block = store.get_block(height)
        assert block is not None, f"block {height} missing"
        header = codec.decode(block.header)
        if previous_hash is not None:
            assert bytes.fromhex(header["prev_block_hash"]) == previous_hash, height
            assert block.prev_app_hash == previous_app_hash, height
        assert block.app_hash == compute_app_hash(
            block.prev_app_hash,
            block.changes_hash,
            header["log_size"],
            bytes.fromhex(header["log_root"]),
        ), height
        previous_hash, previous_app_hash = block.hash, block.app_hash
    assert store.last_app_hash == previous_app_hash
