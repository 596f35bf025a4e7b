"""Genesis documents: a good one decodes; each malformed one is refused with its reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gridledger.errors import DecodeError
from gridledger.ledger.genesis import apply_genesis, decode_genesis
from gridledger.ledger.state import MemoryBackend, State
from gridledger.node.home import init_home
from tests.chain import NODE_KEY, genesis_document


def test_the_test_genesis_decodes() -> None:
    genesis = decode_genesis(genesis_document())
    assert [o["id"] for o in genesis.organizations] == ["gridco", "notary", "judicial", "exchange"]
    assert genesis.params["max_expiry_window"] > 0


Edit = Callable[[dict[str, Any]], None]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda g: g.__setitem__("chain_id", "bad chain/id"), "chain_id must be"),
        (lambda g: g.__setitem__("chain_id", ""), "chain_id must be"),
        (lambda g: g.pop("accounts"), "missing accounts"),
        (lambda g: g.__setitem__("params", []), "params must be an object"),
        (lambda g: g.__setitem__("params", {"max_expiry_window": "10"}), "positive integer"),
        (lambda g: g.__setitem__("params", {"max_expiry_window": 0}), "positive integer"),
        (lambda g: g.__setitem__("params", {"block_reward": 5}), "unknown genesis param"),
        (lambda g: g["organizations"][0].__setitem__("id", "grid/co"), "organization id"),
        (lambda g: g["organizations"][0].__setitem__("id", "x" * 65), "organization id"),
        (lambda g: g["organizations"][1].__setitem__("roles", ["pope"]), "unknown role"),
        (lambda g: g["organizations"].append(dict(g["organizations"][0])), "organization twice"),
        (lambda g: g["accounts"][0].__setitem__("org", "nobody"), "unknown organization"),
        (lambda g: g["accounts"][0].__setitem__("public_key", "zz"), "hex public_key"),
        (lambda g: g["accounts"][0].__setitem__("address", "gl" + "0" * 40), "does not match"),
        (lambda g: g.__setitem__("genesis_time_ms", 1.5), "integer"),
        (lambda g: g.__setitem__("validators", {}), "validators must be a list"),
        (lambda g: g["validators"].append("gridco"), "validator 1 must be an object"),
        (lambda g: g["validators"][0].pop("power"), "validator 0 is missing power"),
        (lambda g: g["validators"][0].update(name="n1"), "unknown field\\(s\\) name"),
        (lambda g: g["validators"][0].update(public_key="AB" * 32), "64 lowercase hex"),
        (lambda g: g["validators"][0].update(public_key="ab" * 31), "64 lowercase hex"),
        (lambda g: g["validators"][0].update(public_key=7), "64 lowercase hex"),
        (lambda g: g["validators"][0].update(org="nobody"), "unknown organization 'nobody'"),
        (lambda g: g["validators"][0].update(org=["gridco"]), "unknown organization"),
        (lambda g: g["validators"][0].update(power=0), "power must be an integer from 1"),
        (lambda g: g["validators"][0].update(power=-3), "power must be an integer from 1"),
        (lambda g: g["validators"][0].update(power=True), "power must be an integer from 1"),
        (lambda g: g["validators"][0].update(power="10"), "power must be an integer from 1"),
        (lambda g: g["validators"][0].update(power=10**6 + 1), "power must be an integer from 1"),
        (lambda g: g["validators"].append(dict(g["validators"][0])), "validator .* twice"),
        (lambda g: g.__setitem__("params", {"voting_period": 0}), "positive integer"),
    ],
)
def test_malformed_genesis_is_refused_with_its_reason(edit: Edit, reason: str) -> None:
    doc = copy.deepcopy(genesis_document())
    edit(doc)
    with pytest.raises(DecodeError, match=reason):
        decode_genesis(doc)


def test_validators_decode_to_org_power_and_key() -> None:
    doc = genesis_document()
    doc["validators"].append({"power": 3, "public_key": "ab" * 32, "org": "notary"})

    genesis = decode_genesis(doc)

    assert genesis.validators == (
        {"org": "gridco", "power": 10, "public_key": NODE_KEY.public_key.hex()},
        {"org": "notary", "power": 3, "public_key": "ab" * 32},
    )
    assert genesis.params["voting_period"] == 10_000  # the default


def test_apply_genesis_writes_members_and_validators() -> None:
    state = State(MemoryBackend())

    apply_genesis(state, decode_genesis(genesis_document()))

    members = [key for key, _ in state.iter_prefix("gov/member/")]
    assert members == [f"gov/member/{o}" for o in ("exchange", "gridco", "judicial", "notary")]
    assert state.get_json("gov/member/notary") == {"org": "notary", "since_height": 0}
    assert state.get_json(f"gov/validator/{NODE_KEY.public_key.hex()}") == {
        "org": "gridco",
        "power": 10,
        "public_key": NODE_KEY.public_key.hex(),
    }


def test_an_empty_validator_list_is_allowed() -> None:
    doc = genesis_document()
    doc["validators"] = []
    state = State(MemoryBackend())

    apply_genesis(state, decode_genesis(doc))

    assert list(state.iter_prefix("gov/validator/")) == []
    assert len(list(state.iter_prefix("gov/member/"))) == 4


def test_the_genesis_init_home_writes_decodes(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")

    genesis = decode_genesis(home.read_genesis())

    (validator,) = genesis.validators
    assert validator["public_key"] == home.read_node_key().public_key.hex()
    assert validator["power"] == 10
