"""The chain of trust from genesis.json to a later validator set, on the captured run.

In the capture, a transaction at ``validator_change.tx_height`` raised validator 0's power to 3:
the header one block later names the new set as next, and the block after that is signed by it.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from gridledger.cometbft import (
    genesis_validators_hash,
    header_hash,
    validator_set_hash,
    verify_signed_header,
    verify_validator_transitions,
)
from gridledger.errors import InvalidProof
from tests.cometbft.capture import Capture


def hashes(capture: Capture) -> tuple[bytes, bytes]:
    """(genesis validator set hash, hash of the set after the change)."""
    after = capture.block(capture.transition_height + 1)["validators"]
    return genesis_validators_hash(capture.genesis), validator_set_hash(after)


def test_genesis_hash_is_the_first_blocks_validators_hash() -> None:
    capture = Capture.load()
    first = capture.block(1)["signed_header"]["header"]
    assert genesis_validators_hash(capture.genesis).hex().upper() == first["validators_hash"]


def test_the_transition_happens_where_the_transaction_said() -> None:
    capture = Capture.load()
    assert capture.transition_height == capture.data["validator_change"]["tx_height"] + 1


def test_genesis_to_the_new_set_in_one_transition() -> None:
    capture = Capture.load()
    genesis_hash, new_hash = hashes(capture)
    assert genesis_hash != new_hash
    verify_validator_transitions(
        genesis_hash, [capture.transition(capture.transition_height)], new_hash
    )
    later = capture.blocks[-1]
    verified = verify_signed_header(capture.chain_id, later["signed_header"], later["validators"])
    assert verified.validators_hash == new_hash


def test_transitions_that_keep_the_set_may_be_included() -> None:
    capture = Capture.load()
    genesis_hash, new_hash = hashes(capture)
    height = capture.transition_height
    transitions = [
        capture.transition(1),
        capture.transition(height),
        capture.transition(height + 2),
    ]
    verify_validator_transitions(genesis_hash, transitions, new_hash, chain_id=capture.chain_id)


def test_no_transitions_reach_only_the_trusted_set() -> None:
    capture = Capture.load()
    genesis_hash, new_hash = hashes(capture)
    verify_validator_transitions(genesis_hash, [], genesis_hash)
    with pytest.raises(
        InvalidProof, match=r"the chain of trust ends at validator set [0-9A-F]{64}, not at"
    ):
        verify_validator_transitions(genesis_hash, [], new_hash)


def test_skipping_the_transition_breaks_the_chain() -> None:
    capture = Capture.load()
    genesis_hash, new_hash = hashes(capture)
    later = capture.transition(capture.transition_height + 2)
    with pytest.raises(
        InvalidProof,
        match=r"the chain of trust is broken at transitions\[0\] \(height \d+\): it is signed by",
    ):
        verify_validator_transitions(genesis_hash, [later], new_hash)


def test_a_wrong_next_validator_set_is_refused() -> None:
    capture = Capture.load()
    genesis_hash, new_hash = hashes(capture)
    transition = capture.transition(capture.transition_height)
    transition["next_validators"] = transition["validators"]
    with pytest.raises(InvalidProof, match=r"transitions\[0\]\.next_validators hashes to"):
        verify_validator_transitions(genesis_hash, [transition], new_hash)


def test_heights_must_increase() -> None:
    capture = Capture.load()
    genesis_hash, _ = hashes(capture)
    with pytest.raises(
        InvalidProof, match=r"transitions\[1\] is for height 2, not above the previous 3"
    ):
        verify_validator_transitions(
            genesis_hash, [capture.transition(3), capture.transition(2)], genesis_hash
        )


def test_a_tampered_transition_header_is_refused() -> None:
    capture = Capture.load()
    genesis_hash, new_hash = hashes(capture)
    transition = capture.transition(capture.transition_height)
    transition["signed_header"]["header"]["next_validators_hash"] = "AB" * 32
    with pytest.raises(InvalidProof, match=r"^transitions\[0\]: header hash does not match"):
        verify_validator_transitions(genesis_hash, [transition], new_hash)


def test_a_forged_next_set_with_a_recomputed_block_id_fails_on_signatures() -> None:
    capture = Capture.load()
    genesis_hash, _ = hashes(capture)
    transition = capture.transition(capture.transition_height)
    forged_set = [transition["validators"][0]]
    signed = transition["signed_header"]
    signed["header"]["next_validators_hash"] = validator_set_hash(forged_set).hex().upper()
    signed["commit"]["block_id"]["hash"] = header_hash(signed["header"]).hex().upper()
    transition["next_validators"] = forged_set
    with pytest.raises(InvalidProof, match=r"^transitions\[0\]: signature of validator"):
        verify_validator_transitions(genesis_hash, [transition], validator_set_hash(forged_set))


def test_a_transition_from_another_chain_id_is_refused() -> None:
    capture = Capture.load()
    genesis_hash, new_hash = hashes(capture)
    transition = capture.transition(capture.transition_height)
    with pytest.raises(InvalidProof, match=r"^transitions\[0\]: the header is from chain"):
        verify_validator_transitions(genesis_hash, [transition], new_hash, chain_id="gridledger")


def test_transition_arguments_of_the_wrong_shape_are_refused() -> None:
    capture = Capture.load()
    genesis_hash, new_hash = hashes(capture)
    transition = capture.transition(capture.transition_height)
    cases: list[tuple[Any, Any, Any, str]] = [
        (genesis_hash.hex(), [transition], new_hash, "trusted_validators_hash must be a 32-byte"),
        (genesis_hash, [transition], new_hash[:31], "target_validators_hash must be a 32-byte"),
        (genesis_hash, transition, new_hash, "transitions must be a JSON array"),
        (genesis_hash, [[transition]], new_hash, r"transitions\[0\] must be a JSON object"),
        (
            genesis_hash,
            [{k: v for k, v in transition.items() if k != "next_validators"}],
            new_hash,
            r"transitions\[0\]\.next_validators is missing",
        ),
        (
            genesis_hash,
            [{**transition, "validators": {}}],
            new_hash,
            r"transitions\[0\]\.validators must be a JSON array",
        ),
    ]
    for trusted, transitions, target, reason in cases:
        with pytest.raises(InvalidProof, match=reason):
            verify_validator_transitions(trusted, transitions, target)


# genesis.json


def test_genesis_hash_ignores_the_order_of_genesis_validators() -> None:
    capture = Capture.load()
    expected = genesis_validators_hash(capture.genesis)
    shuffled = list(capture.genesis["validators"])
    random.Random(7).shuffle(shuffled)
    shuffled.reverse()
    assert genesis_validators_hash({**capture.genesis, "validators": shuffled}) == expected


def test_genesis_addresses_may_be_left_out() -> None:
    capture = Capture.load()
    expected = genesis_validators_hash(capture.genesis)
    for validator in capture.genesis["validators"]:
        del validator["address"]
    assert genesis_validators_hash(capture.genesis) == expected


GENESIS_MUTATIONS: list[tuple[str, Any, str]] = [
    ("not_an_object", lambda g: [g], "genesis must be a JSON object"),
    ("no_validators", lambda g: {k: v for k, v in g.items() if k != "validators"}, "missing"),
    ("empty", lambda g: {**g, "validators": []}, "comes from the application's InitChain"),
    ("zero_power", lambda g: g["validators"][0].update(power="0") or g, r"power must be between 1"),
    (
        "wrong_address",
        lambda g: g["validators"][0].update(address=g["validators"][1]["address"]) or g,
        r"genesis\.validators\[0\]\.address [0-9A-F]{40} is not the address",
    ),
    (
        "duplicate",
        lambda g: {**g, "validators": [g["validators"][0], g["validators"][0]]},
        "lists validator [0-9A-F]{40} twice",
    ),
    (
        "secp256k1",
        lambda g: g["validators"][0]["pub_key"].update(type="tendermint/PubKeySecp256k1") or g,
        r"pub_key\.type 'tendermint/PubKeySecp256k1' is not supported",
    ),
    (
        "name_not_a_string",
        lambda g: g["validators"][0].update(name=7) or g,
        r"name must be a string",
    ),
    (
        "unknown_field",
        lambda g: g["validators"][0].update(extra=1) or g,
        "unexpected field 'extra'",
    ),
]


@pytest.mark.parametrize(
    ("name", "mutate", "reason"), GENESIS_MUTATIONS, ids=[m[0] for m in GENESIS_MUTATIONS]
)
def test_a_bad_genesis_is_refused(name: str, mutate: Any, reason: str) -> None:
    genesis = Capture.load().genesis
    with pytest.raises(InvalidProof, match=reason):
        genesis_validators_hash(mutate(genesis))
