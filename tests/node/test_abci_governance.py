"""Validator changes through the ABCI server: InitChain must agree with the app genesis on the
validators, and FinalizeBlock hands governance's updates to CometBFT."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gridledger import codec
from gridledger.crypto import PrivateKey
from gridledger.errors import NodeError
from gridledger.ledger.tx import Transaction, TxBody, sign_transaction
from gridledger.node.abci_app import Application
from gridledger.node.abci_server import AbciServer, abci
from gridledger.store.sqlite import SqliteStore
from tests.chain import (
    CHAIN_ID,
    EXCHANGE_ADMIN,
    GENESIS_TIME_MS,
    GRIDCO_ADMIN,
    NOTARY_ADMIN,
    genesis_document,
    key_for,
)

VALIDATORS = [key_for(f"abci-validator-{n}") for n in range(4)]
NEW_VALIDATOR = key_for("abci-validator-new")
VOTERS = (GRIDCO_ADMIN, NOTARY_ADMIN, EXCHANGE_ADMIN)  # 3 of 4 members


def genesis() -> dict[str, Any]:
    doc = genesis_document()
    orgs = ("gridco", "notary", "judicial", "exchange")
    doc["validators"] = [
        {"org": org, "public_key": key.public_key.hex(), "power": 10}
        for org, key in zip(orgs, VALIDATORS, strict=True)
    ]
    return doc


def comet_validator(public_key: bytes, power: int) -> Any:
    update = abci.ValidatorUpdate(power=power)
    update.pub_key.ed25519 = public_key
    return update


def init_request(validators: list[Any]) -> Any:
    return abci.RequestInitChain(
        chain_id=CHAIN_ID,
        app_state_bytes=json.dumps(genesis()).encode(),
        validators=validators,
    )


def genesis_validators() -> list[Any]:
    return [comet_validator(k.public_key, 10) for k in VALIDATORS]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path / "ledger.sqlite")
    yield store
    store.close()


@pytest.fixture
def server(store: SqliteStore) -> AbciServer:
    server = AbciServer(Application(store))
    server.init_chain(init_request(genesis_validators()))
    return server


def signed(method: str, args: dict[str, Any], signer: PrivateKey, nonce: str) -> Transaction:
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=40,
        nonce=nonce,
        contract="governance",
        method=method,
        args=args,
    )
    return sign_transaction(body, [signer])


def decided_block(change: dict[str, Any], tag: str) -> list[bytes]:
    """A proposal and the three yes votes that approve it, in one block."""
    proposal = signed("propose", change, GRIDCO_ADMIN, f"p-{tag}")
    votes = [
        signed("vote", {"proposal": proposal.tx_id.hex(), "vote": "yes"}, voter, f"v-{tag}-{i}")
        for i, voter in enumerate(VOTERS)
    ]
    return [proposal.raw, *(v.raw for v in votes)]


def finalize(server: AbciServer, raws: list[bytes]) -> Any:
    """FinalizeBlock through the server, then Commit in the application."""
    height = server.app.info().last_height + 1
    request = abci.RequestFinalizeBlock(height=height, txs=raws, hash=bytes(32))
    request.time.seconds = GENESIS_TIME_MS // 1000 + height
    response = server.finalize_block(request)
    header = codec.encode({"height": height})
    server.app.commit(block_hash=hashlib.sha256(header).digest(), header=header, signature=b"")
    return response


# -- InitChain ---------------------------------------------------------------------------------


def test_init_chain_accepts_the_genesis_validators_in_any_order(
    store: SqliteStore,
) -> None:
    server = AbciServer(Application(store))

    response = server.init_chain(init_request(genesis_validators()[::-1]))

    assert len(response.app_hash) == 32
    assert list(response.validators) == []  # CometBFT keeps the set it already has
    assert server.app.info().chain_id == CHAIN_ID


Mutation = Callable[[list[Any]], list[Any]]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        pytest.param(
            lambda vs: [*vs[:3], comet_validator(NEW_VALIDATOR.public_key, 10)],
            "CometBFT power 10, app genesis power 0",
            id="other-key",
        ),
        pytest.param(
            lambda vs: [*vs[:3], comet_validator(VALIDATORS[3].public_key, 11)],
            "CometBFT power 11, app genesis power 10",
            id="other-power",
        ),
        pytest.param(lambda vs: vs[:3], "CometBFT power 0, app genesis power 10", id="missing"),
        pytest.param(
            lambda vs: [*vs, comet_validator(NEW_VALIDATOR.public_key, 1)],
            f"{NEW_VALIDATOR.public_key.hex()}: CometBFT power 1",
            id="extra",
        ),
        pytest.param(lambda vs: [], "differ from the app genesis validators", id="none"),
        pytest.param(
            lambda vs: [*vs[:3], abci.ValidatorUpdate(pub_key={"secp256k1": b"\x02" * 33})],
            "has a secp256k1 key; gridledger needs ed25519",
            id="secp256k1",
        ),
    ],
)
def test_init_chain_refuses_validators_that_differ_from_the_genesis(
    store: SqliteStore, mutate: Mutation, message: str
) -> None:
    server = AbciServer(Application(store))

    with pytest.raises(NodeError, match=message):
        server.init_chain(init_request(mutate(genesis_validators())))

    assert store.get_meta("genesis") is None  # nothing was written
    assert server.app.info().chain_id == ""


# -- FinalizeBlock -----------------------------------------------------------------------------


def test_finalize_block_carries_an_approved_validator_addition(server: AbciServer) -> None:
    change = {
        "kind": "add_validator",
        "org": "judicial",
        "public_key": NEW_VALIDATOR.public_key.hex(),
        "power": 5,
    }

    response = finalize(server, decided_block(change, "add"))

    assert [r.code for r in response.tx_results] == [0, 0, 0, 0]
    (update,) = response.validator_updates
    assert update.pub_key.WhichOneof("sum") == "ed25519"
    assert bytes(update.pub_key.ed25519) == NEW_VALIDATOR.public_key
    assert update.power == 5
    # The wire form CometBFT reads.
    wire = abci.Response(finalize_block=response).SerializeToString()
    assert abci.Response.FromString(wire).finalize_block.validator_updates[0].power == 5


def test_finalize_block_carries_a_removal_as_power_zero(server: AbciServer) -> None:
    change = {"kind": "remove_validator", "public_key": VALIDATORS[1].public_key.hex()}

    response = finalize(server, decided_block(change, "remove"))

    assert [(bytes(u.pub_key.ed25519), u.power) for u in response.validator_updates] == [
        (VALIDATORS[1].public_key, 0)
    ]


def test_block_without_approval_has_no_validator_updates(server: AbciServer) -> None:
    change = {"kind": "remove_validator", "public_key": VALIDATORS[1].public_key.hex()}
    undecided = decided_block(change, "undecided")[:3]  # the proposal and two votes

    response = finalize(server, undecided)

    assert [r.code for r in response.tx_results] == [0, 0, 0]
    assert list(response.validator_updates) == []
