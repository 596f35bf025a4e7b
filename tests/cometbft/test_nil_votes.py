"""Precommits for nil, on a commit signed here with known keys.

A real run rarely puts a vote for nil into a commit, so these commits are made in the test: the
header is a captured one with this test's validator set, and the votes are signed over sign
bytes whose nil form is pinned by CometBFT's own Go code (test_known_answers.py).
"""

from __future__ import annotations

import base64
import hashlib

import nacl.signing
import pytest

from gridledger.cometbft import (
    header_hash,
    validator_set_hash,
    verify_signed_header,
    vote_sign_bytes,
)
from gridledger.errors import InvalidProof
from tests.cometbft.capture import COMMIT, NIL, Capture, Json

CHAIN_ID = "gridledger-nil-votes"
TIMESTAMP = "2026-11-23T21:03:04.5Z"


def signing_keys() -> list[nacl.signing.SigningKey]:
    keys = [nacl.signing.SigningKey(bytes([seed]) * 32) for seed in range(40, 44)]
    return sorted(keys, key=lambda key: hashlib.sha256(bytes(key.verify_key)).digest()[:20])


def validator(key: nacl.signing.SigningKey) -> Json:
    public_key = bytes(key.verify_key)
    return {
        "address": hashlib.sha256(public_key).digest()[:20].hex().upper(),
        "pub_key": {
            "type": "tendermint/PubKeyEd25519",
            "value": base64.b64encode(public_key).decode(),
        },
        "voting_power": "1",
        "proposer_priority": "0",
    }


def signed_block(flags: list[int], *, nil_signed_as_block: bool = False) -> tuple[Json, list[Json]]:
    """A header signed by four validators of power 1, each voting as ``flags`` says."""
    keys = signing_keys()
    validators = [validator(key) for key in keys]
    header = Capture.load().all_signed_equal_power()["signed_header"]["header"]
    set_hash = validator_set_hash(validators).hex().upper()
    header.update(chain_id=CHAIN_ID, validators_hash=set_hash, next_validators_hash=set_hash)
    block_hash = header_hash(header)
    parts_hash = b"\x07" * 32
    signatures = []
    for key, flag, entry in zip(keys, flags, validators, strict=True):
        for_block = flag == COMMIT or nil_signed_as_block
        message = vote_sign_bytes(
            CHAIN_ID,
            int(header["height"]),
            0,
            block_hash if for_block else b"",
            1 if for_block else 0,
            parts_hash if for_block else b"",
            TIMESTAMP,
        )
        signature = key.sign(message).signature
        signatures.append(
            {
                "block_id_flag": flag,
                "validator_address": entry["address"],
                "timestamp": TIMESTAMP,
                "signature": base64.b64encode(signature).decode(),
            }
        )
    commit = {
        "height": header["height"],
        "round": 0,
        "block_id": {
            "hash": block_hash.hex().upper(),
            "parts": {"total": 1, "hash": parts_hash.hex().upper()},
        },
        "signatures": signatures,
    }
    return {"header": header, "commit": commit}, validators


def test_votes_for_nil_are_checked_but_do_not_count() -> None:
    signed, validators = signed_block([COMMIT, COMMIT, NIL, COMMIT])
    verified = verify_signed_header(CHAIN_ID, signed, validators)
    assert (verified.signed_power, verified.total_power) == (3, 4)
    assert validators[2]["address"] not in verified.signers
    assert len(verified.signers) == 3


def test_two_for_the_block_and_two_for_nil_is_not_enough() -> None:
    signed, validators = signed_block([COMMIT, NIL, NIL, COMMIT])
    with pytest.raises(InvalidProof, match="only 2 of 4 voting power signed the block"):
        verify_signed_header(CHAIN_ID, signed, validators)


def test_a_block_signature_relabelled_as_nil_does_not_verify() -> None:
    signed, validators = signed_block([COMMIT, COMMIT, NIL, COMMIT], nil_signed_as_block=True)
    with pytest.raises(InvalidProof, match=r"commit\.signatures\[2\]\) does not verify"):
        verify_signed_header(CHAIN_ID, signed, validators)


def test_a_nil_signature_relabelled_as_commit_does_not_verify() -> None:
    signed, validators = signed_block([COMMIT, COMMIT, NIL, COMMIT])
    signed["commit"]["signatures"][2]["block_id_flag"] = COMMIT
    with pytest.raises(InvalidProof, match=r"commit\.signatures\[2\]\) does not verify"):
        verify_signed_header(CHAIN_ID, signed, validators)
