"""Faults on the four-validator network, and certificates that need no trusted node.

- ``kill -9`` one CometBFT validator: the chain keeps committing; the supervisor restarts it and
  it catches up to the same app hash.
- Stop two of four validators: no block is made and nothing diverges; start them again and the
  chain resumes with the waiting transaction.
- ``kill -9`` one app process while transactions stream in: its CometBFT handshake replays the
  missing blocks into the restarted app, which rejoins with the same app hashes.
- A certificate fetched from one node verifies offline against the genesis validator set; a
  changed signature, a changed header field or signatures of only half the voting power fail.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.cometbft.lightclient import genesis_validators_hash
from gridledger.errors import InvalidProof
from gridledger.evidence.verify import verify_certificate
from gridledger.keys import read_key_file
from gridledger.ledger.tx import Transaction, TxBody, sign_transaction
from gridledger.net.layout import Network
from gridledger.net.status import get_rpc
from gridledger.store.sqlite import SqliteStore
from tests.e2e.nodeproc import cli
from tests.net.netproc import running_network
from tests.net.test_network_e2e import (
    _assert_same_headers,
    _height,
    _ok,
    _process,
    _status,
    _wait,
    _wait_all_at,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CHAIN_ID = "gridledger-net-e2e"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with running_network(tmp_path_factory.mktemp("faults") / "net", CHAIN_ID) as net:
        yield net


_nonce = iter(range(1, 1_000_000))


def _record(network: Network, *, digest: str | None = None, org: str = "gridco") -> Transaction:
    admin = read_key_file(network.node(org).key_file("admin"))
    n = next(_nonce)
    height = max(_height(network, o) for o in network.orgs)
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=height + 1_000,
        nonce=f"faults-{n}",
        contract="notary",
        method="record",
        args={
            "digest": digest or hashlib.sha256(f"fault record {n}".encode()).hexdigest(),
            "title": f"fault record {n}",
            "record_type": "business_record",
            "parties": [admin.address],
        },
    )
    return sign_transaction(body, [admin])


def _submit(network: Network, org: str, tx: Transaction, *, wait: bool = True) -> dict[str, Any]:
    r = httpx.post(
        f"{network.node(org).api_url}/v1/txs",
        params={"wait": str(wait).lower(), "timeout_s": "45"},
        content=tx.raw,
        timeout=60,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _broadcast(network: Network, org: str, tx: Transaction) -> None:
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "broadcast_tx_sync",
        "params": {"tx": base64.b64encode(tx.raw).decode()},
    }
    result = httpx.post(network.node(org).rpc_url, json=request, timeout=30).json()["result"]
    assert result["code"] == 0, result


def _all_stores_hold(network: Network, txs: list[Transaction]) -> bool:
    for node in network.nodes:
        store = SqliteStore(node.db_file)
        try:
            if any(store.get_tx(tx.tx_id) is None for tx in txs):
                return False
        finally:
            store.close()
    return True


def test_kill_9_one_validator_chain_continues_and_it_catches_up(network: Network) -> None:
    pid = _status(network)["orgs"]["judicial"]["processes"]["cometbft"]["pid"]
    os.kill(pid, signal.SIGKILL)
    # three of four validators (30 of 40 power, more than 2/3) keep committing meanwhile
    committed = [_submit(network, "gridco", _record(network)) for _ in range(3)]
    assert all(c["status"] == "committed" for c in committed), committed
    _wait(lambda: _process(network, "judicial", "cometbft")["pid"] not in (None, pid), 60)
    top = max(c["height"] for c in committed)
    _wait_all_at(network, network.orgs, top + 1)
    _wait(lambda: not get_rpc(network.node("judicial"), "status")["sync_info"]["catching_up"], 60)
    _assert_same_headers(network, network.orgs)
    assert _process(network, "judicial", "cometbft")["restarts"] >= 1


def test_two_of_four_stopped_no_blocks_no_divergence_then_resume(network: Network) -> None:
    for org in ("notary", "exchange"):
        _ok("stop", "--dir", str(network.dir), "--org", org, "--process", "cometbft")
    running = ("gridco", "judicial")
    before = {o: _height(network, o) for o in running}
    waiting = _record(network)
    _broadcast(network, "gridco", waiting)  # accepted into the mempool, but no quorum
    time.sleep(6.0)
    after = {o: _height(network, o) for o in running}
    assert after == before, "blocks were made with only half the voting power"
    for node in network.nodes:
        store = SqliteStore(node.db_file)
        assert store.get_tx(waiting.tx_id) is None
        store.close()
    _assert_same_headers(network, running)  # the two still running agree on every header
    for org in ("notary", "exchange"):
        _ok("start", "--dir", str(network.dir), "--org", org, "--process", "cometbft")
    _wait(lambda: _all_stores_hold(network, [waiting]), 90)
    _wait_all_at(network, network.orgs, max(before.values()) + 2)
    _assert_same_headers(network, network.orgs)


def test_kill_9_app_mid_load_handshake_replays_and_node_rejoins(network: Network) -> None:
    txs = [_record(network, org=org) for org in network.orgs for _ in range(40)]
    errors: list[str] = []

    def load() -> None:
        targets = ("gridco", "notary", "judicial")  # not the node whose app is killed
        for i, tx in enumerate(txs):
            try:
                _broadcast(network, targets[i % len(targets)], tx)
            except (AssertionError, httpx.HTTPError) as exc:
                errors.append(str(exc))
            time.sleep(0.01)

    sender = threading.Thread(target=load)
    sender.start()
    time.sleep(0.5)
    pid = _status(network)["orgs"]["exchange"]["processes"]["app"]["pid"]
    os.kill(pid, signal.SIGKILL)
    sender.join(120)
    assert not errors, errors[:3]
    _wait(lambda: _process(network, "exchange", "app")["pid"] not in (None, pid), 60)
    _wait(lambda: _all_stores_hold(network, txs), 120)
    top = max(_height(network, o) for o in network.orgs)
    _wait_all_at(network, network.orgs, top)
    _assert_same_headers(network, network.orgs)
    # the restarted app's own store agrees with its neighbours block by block
    stores = {n.org: SqliteStore(n.db_file) for n in network.nodes}
    common = min(s.last_height for s in stores.values())
    for h in range(1, common + 1):
        hashes = set()
        for store in stores.values():
            row = store.get_block(h)
            assert row is not None
            hashes.add(row.app_hash)
        assert len(hashes) == 1, h
    assert _process(network, "exchange", "app")["restarts"] >= 1
    log = network.log_file("exchange", "cometbft").read_text(errors="replace")
    assert "ABCI Handshake App Info" in log


def test_certificate_from_one_node_verifies_against_genesis_validators(
    network: Network, tmp_path: Path
) -> None:
    document = tmp_path / "ppa.pdf"
    document.write_bytes(b"%PDF-1.7 power purchase agreement, grid company and customer\n" * 64)
    digest = hashlib.sha256(document.read_bytes()).hexdigest()
    assert _submit(network, "notary", _record(network, digest=digest))["status"] == "committed"
    cert_file = tmp_path / "cert.json"
    fetched = cli(
        "certificate", digest, "--node", network.node("exchange").api_url, "-o", str(cert_file)
    )
    assert fetched.returncode == 0, fetched.stderr
    cert = json.loads(cert_file.read_text())
    genesis_file = network.node("gridco").cometbft_home / "config" / "genesis.json"
    pinned = {genesis_validators_hash(json.loads(genesis_file.read_text()))}
    evidence = verify_certificate(cert, bytes.fromhex(digest), trusted_validators_hashes=pinned)
    assert evidence.digest == digest
    signatures = cert["block"]["signed_header"]["commit"]["signatures"]
    assert sum(1 for s in signatures if s["block_id_flag"] == 2) >= 3

    ok = cli("verify", str(document), str(cert_file), "--genesis", str(genesis_file))
    assert ok.returncode == 0 and ok.stdout.startswith("VALID"), ok.stderr

    def fails(change: Any, reason: str) -> None:
        edited = copy.deepcopy(cert)
        change(edited)
        with pytest.raises(InvalidProof, match=reason):
            verify_certificate(edited, bytes.fromhex(digest), trusted_validators_hashes=pinned)

    signed = [i for i, s in enumerate(signatures) if s["block_id_flag"] == 2]

    def flip_signature(c: dict[str, Any]) -> None:
        sig = c["block"]["signed_header"]["commit"]["signatures"][signed[0]]
        raw = bytearray(base64.b64decode(sig["signature"]))
        raw[10] ^= 0x01
        sig["signature"] = base64.b64encode(bytes(raw)).decode()

    def change_header(c: dict[str, Any]) -> None:
        c["block"]["signed_header"]["header"]["time"] = "2031-01-01T00:00:00Z"

    def half_the_power(c: dict[str, Any]) -> None:
        sigs = c["block"]["signed_header"]["commit"]["signatures"]
        for i, sig in enumerate(sigs):
            if i not in signed[:2]:
                sig.update(
                    block_id_flag=1,
                    validator_address="",
                    timestamp="0001-01-01T00:00:00Z",
                    signature=None,
                )

    fails(flip_signature, "does not verify")
    fails(change_header, "header hash|block id")
    fails(half_the_power, "voting power|2/3")
