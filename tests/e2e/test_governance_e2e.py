"""Governance over a real CometBFT node: an approved validator change reaches CometBFT's validator
set two heights after the deciding block, and a removal takes it out again."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.crypto import PrivateKey
from gridledger.keys import generate_key, read_key_file
from gridledger.ledger.tx import TxBody, sign_transaction
from tests.e2e.test_cometbft_single import CHAIN_ID, CometNode

pytestmark = pytest.mark.e2e


@pytest.fixture
def comet(tmp_path: Path) -> Iterator[CometNode]:
    node = CometNode(tmp_path)
    node.start()
    yield node
    node.stop()


class Consortium:
    def __init__(self, comet: CometNode) -> None:
        self.comet = comet
        self.admins = {
            org: read_key_file(comet.app_home / "keys" / f"{org}-admin.json")
            for org in ("gridco", "notary", "judicial", "exchange")
        }
        self.nonce = 0

    def send(self, method: str, args: dict[str, Any], signer: PrivateKey) -> dict[str, Any]:
        self.nonce += 1
        body = TxBody(
            chain_id=CHAIN_ID,
            expiry_height=10_000,
            nonce=f"g{self.nonce}",
            contract="governance",
            method=method,
            args=args,
        )
        tx = sign_transaction(body, [signer])
        result = self.comet.broadcast_commit(tx.raw)
        assert result["check_tx"]["code"] == 0, result
        assert result["tx_result"]["code"] == 0, result
        result["proposal_id"] = tx.tx_id.hex()
        return result

    def decide(self, change: dict[str, Any]) -> int:
        """Propose and approve with three of the four members; the deciding block's height."""
        proposal = self.send("propose", change, self.admins["gridco"])["proposal_id"]
        last: dict[str, Any] = {}
        for org in ("gridco", "notary", "judicial"):
            last = self.send("vote", {"proposal": proposal, "vote": "yes"}, self.admins[org])
        types = [e["type"] for e in last["tx_result"]["events"]]
        assert "governance.approved" in types, types
        return int(last["height"])

    def validators(self, height: int) -> dict[str, int]:
        """CometBFT's validator set at ``height``: base64 public key -> power."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            reply = httpx.get(
                f"{self.comet.rpc}/validators", params={"height": height}, timeout=5
            ).json()
            if "result" in reply:
                return {
                    v["pub_key"]["value"]: int(v["voting_power"])
                    for v in reply["result"]["validators"]
                }
            # The height is not there yet: make a block (CometBFT makes no empty ones here).
            self.send(
                "propose", {"kind": "remove_member", "org": "exchange"}, self.admins["notary"]
            )
        raise AssertionError(f"CometBFT has no validator set for height {height}")


def test_approved_validator_changes_reach_cometbft_at_h_plus_2(comet: CometNode) -> None:
    gov = Consortium(comet)
    new = generate_key()
    new_b64 = base64.b64encode(new.public_key).decode()
    genesis_set = gov.validators(1)
    assert len(genesis_set) == 1

    # Power 1 beside the genesis validator's 10: the running node alone still has > 2/3.
    height = gov.decide(
        {"kind": "add_validator", "org": "judicial", "public_key": new.public_key.hex(), "power": 1}
    )

    assert gov.validators(height + 1) == genesis_set
    assert gov.validators(height + 2) == {**genesis_set, new_b64: 1}

    height = gov.decide({"kind": "remove_validator", "public_key": new.public_key.hex()})

    assert gov.validators(height + 1) == {**genesis_set, new_b64: 1}
    assert gov.validators(height + 2) == genesis_set
