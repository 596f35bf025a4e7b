"""The light client against real CometBFT v0.38 nodes running the built-in kvstore application.

The single-node test checks hashes against what the node itself reports; the four-validator test
also changes a validator's power and stops a validator, so the commits it captures include an
absent signature and a real validator set transition. With GRIDLEDGER_WRITE_FIXTURES=1 it writes
what it captured to tests/cometbft/fixtures/four_validators.json for the unit tests.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gridledger import merkle
from gridledger.cometbft import (
    genesis_validators_hash,
    header_hash,
    validator_set_hash,
    verify_signed_header,
    verify_validator_transitions,
)
from gridledger.errors import InvalidProof
from tests.cometbft.capture import COMMIT
from tests.cometbft.livenet import CometNode, run_cometbft

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

FIXTURE = Path(__file__).parent / "fixtures" / "four_validators.json"


@pytest.fixture
def single_node(tmp_path: Path) -> Iterator[CometNode]:
    node = CometNode(tmp_path / "node")
    run_cometbft("init", "--home", str(node.home))
    node.configure()
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture
def four_nodes(tmp_path: Path) -> Iterator[list[CometNode]]:
    run_cometbft("testnet", "--v", "4", "--o", str(tmp_path / "net"))
    nodes = [CometNode(tmp_path / "net" / f"node{index}") for index in range(4)]
    ids = [node.node_id for node in nodes]
    for index, node in enumerate(nodes):
        node.configure(
            ",".join(
                f"{ids[other]}@127.0.0.1:{nodes[other].p2p_port}"
                for other in range(4)
                if other != index
            )
        )
    try:
        for node in nodes:
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.stop()


def read_genesis(node: CometNode) -> dict[str, Any]:
    genesis: dict[str, Any] = json.loads((node.home / "config" / "genesis.json").read_text())
    return genesis


def test_single_node_headers_and_commits_verify(single_node: CometNode) -> None:
    node = single_node
    node.wait_for_height(1)
    tx_heights = [node.broadcast_commit(f"meter{index}=4{index}".encode()) for index in range(3)]
    last = node.wait_for_height(max(tx_heights) + 2)
    genesis = read_genesis(node)
    genesis_hash = genesis_validators_hash(genesis)

    for height in sorted({1, 2, *tx_heights, last - 1}):
        signed = node.signed_header(height)
        block = node.rpc("block", height=height)
        computed = header_hash(signed["header"]).hex().upper()
        assert computed == signed["commit"]["block_id"]["hash"] == block["block_id"]["hash"]

        verified = verify_signed_header(genesis["chain_id"], signed, node.validators(height))
        assert verified.height == height
        assert verified.header_hash.hex().upper() == computed
        assert verified.validators_hash == genesis_hash
        assert verified.signed_power == verified.total_power == 10
        assert len(verified.signers) == 1
        txs = [base64.b64decode(tx) for tx in block["block"]["data"]["txs"]]
        assert (height in tx_heights) == bool(txs)
        assert verified.data_hash == merkle.root([hashlib.sha256(tx).digest() for tx in txs])

    tampered = copy.deepcopy(signed)
    tampered["header"]["app_hash"] = "00" * 32
    with pytest.raises(InvalidProof, match="header hash does not match"):
        verify_signed_header(genesis["chain_id"], tampered, node.validators(last - 1))


def capture_blocks(node: CometNode, heights: range) -> list[dict[str, Any]]:
    return [
        {
            "height": height,
            "signed_header": node.signed_header(height),
            "validators": node.validators(height),
        }
        for height in heights
    ]


def wait_for_a_later_round(node: CometNode, height: int) -> int:
    """Wait for ``height`` and for a block decided in round 1 or later (a stopped proposer's turn).

    Returns a height whose previous block is final, or gives up on the round after a while.
    """
    deadline = time.monotonic() + 30
    while True:
        last = node.wait_for_height(height)
        if node.signed_header(last - 1)["commit"]["round"] > 0 or time.monotonic() > deadline:
            return last
        height = last + 1


def count_signers(block: dict[str, Any]) -> int:
    """Validators whose precommit in the commit is for the block. A late validator's nil
    precommit can be in a commit too: its signature is checked, but it did not sign the block."""
    return sum(
        sig["block_id_flag"] == COMMIT for sig in block["signed_header"]["commit"]["signatures"]
    )


def test_four_validators_commits_and_a_validator_change_verify(
    four_nodes: list[CometNode], tmp_path: Path
) -> None:
    node0, node1, _, node3 = four_nodes
    node0.wait_for_height(2, timeout_s=40)
    genesis = read_genesis(node0)
    chain_id = genesis["chain_id"]
    genesis_hash = genesis_validators_hash(genesis)
    key = json.loads((node0.home / "config" / "priv_validator_key.json").read_text())
    change_height = node0.broadcast_commit(f"val=ed25519!{key['pub_key']['value']}!3".encode())
    node0.broadcast_commit(b"meter=42")
    node0.wait_for_height(change_height + 4)
    node3.stop()
    stopped_at = node0.height()
    last = wait_for_a_later_round(node0, stopped_at + 4)
    blocks = capture_blocks(node0, range(1, last))

    for block in blocks:
        height = block["height"]
        other = node1.signed_header(height)["commit"]["block_id"]["hash"]
        assert header_hash(block["signed_header"]["header"]).hex().upper() == other
        verified = verify_signed_header(chain_id, block["signed_header"], block["validators"])
        assert len(verified.signers) == count_signers(block) in (3, 4)
        before_change = height <= change_height + 1
        assert (verified.validators_hash == genesis_hash) == before_change
        assert verified.total_power == (4 if before_change else 6)
    assert any(count_signers(block) == 4 for block in blocks)
    assert count_signers(blocks[-1]) == 3
    assert any(block["signed_header"]["commit"]["round"] > 0 for block in blocks)

    transition_block = blocks[change_height]  # height change_height + 1 names the new set
    new_set_hash = validator_set_hash(blocks[change_height + 1]["validators"])
    assert new_set_hash != genesis_hash
    transition = {
        "signed_header": transition_block["signed_header"],
        "validators": transition_block["validators"],
        "next_validators": blocks[change_height + 1]["validators"],
    }
    verify_validator_transitions(genesis_hash, [transition], new_set_hash)
    with pytest.raises(InvalidProof, match="chain of trust ends"):
        verify_validator_transitions(genesis_hash, [], new_set_hash)

    fixture = {
        "about": (
            "Captured from a real 4-validator CometBFT v0.38.25 kvstore testnet by "
            "tests/cometbft/test_live_e2e.py: validator 0's power set to 3 by a transaction, "
            "then validator 3 stopped"
        ),
        "chain_id": chain_id,
        "genesis": genesis,
        "validator_change": {
            "tx_height": change_height,
            "public_key": key["pub_key"]["value"],
            "power": 3,
        },
        "stopped_validator": {
            "address": json.loads((node3.home / "config" / "priv_validator_key.json").read_text())[
                "address"
            ],
            "after_height": stopped_at,
        },
        "blocks": blocks,
    }
    target = FIXTURE if os.environ.get("GRIDLEDGER_WRITE_FIXTURES") == "1" else tmp_path / "f.json"
    target.write_text(json.dumps(fixture, indent=1) + "\n")
