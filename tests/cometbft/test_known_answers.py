"""Known answers: hashes and sign bytes computed by CometBFT's own Go code, and real signatures.

fixtures/known_answers.json was written by fixtures/known_answers_go/main.go, which calls
CometBFT v0.38.25's ``types.VoteSignBytes``, ``Header.Hash`` and ``ValidatorSet.Hash``. The cases
are chosen for the encoding edge cases: empty fields, votes for nil, times before 1970 and at the
epoch, multi-byte varints, non-ASCII chain ids, the largest int64/int32/uint32 values.
"""

from __future__ import annotations

import base64
from typing import Any

import nacl.signing
import pytest

from gridledger.cometbft import header_hash, validator_set_hash, vote_sign_bytes
from gridledger.errors import InvalidProof
from tests.cometbft.capture import COMMIT, NIL, Capture, known_answers

ANSWERS = known_answers()


@pytest.mark.parametrize("case", ANSWERS["votes"], ids=lambda case: f"vote-{case['timestamp']}")
def test_vote_sign_bytes_match_cometbft(case: dict[str, Any]) -> None:
    got = vote_sign_bytes(
        case["chain_id"],
        case["height"],
        case["round"],
        bytes.fromhex(case["block_id_hash"]),
        case["parts_total"],
        bytes.fromhex(case["parts_hash"]),
        case["timestamp"],
    )
    assert got.hex() == case["sign_bytes"]


@pytest.mark.parametrize("case", ANSWERS["headers"], ids=lambda case: case["hash"][:12])
def test_header_hash_matches_cometbft(case: dict[str, Any]) -> None:
    assert header_hash(case["header"]).hex().upper() == case["hash"]


@pytest.mark.parametrize("case", ANSWERS["validator_sets"], ids=lambda case: case["hash"][:12])
def test_validator_set_hash_matches_cometbft(case: dict[str, Any]) -> None:
    assert validator_set_hash(case["validators"]).hex().upper() == case["hash"]


def test_known_answers_cover_the_edge_cases() -> None:
    votes = ANSWERS["votes"]
    assert any(vote["block_id_hash"] == "" for vote in votes)  # a vote for nil
    assert any(vote["timestamp"].startswith("1969") for vote in votes)
    assert any(vote["round"] > 0 for vote in votes)
    assert any(header["header"]["last_block_id"]["hash"] == "" for header in ANSWERS["headers"])
    assert any(header["header"]["app_hash"] == "" for header in ANSWERS["headers"])


def test_vote_sign_bytes_derived_by_hand_from_the_go_code() -> None:
    """A precommit, byte by byte, read off canonical.pb.go's MarshalToSizedBuffer.

    2026-11-23T21:03:04Z is 1,795,467,784 s since 1970 (varint 88 d4 92 d8 06); 123,456,789 ns
    is varint 95 9a ef 3a. Round 0 is left out, as proto3 leaves out every zero scalar.
    """
    expected = "".join(
        [
            "72",  # length of the CanonicalVote that follows: 114 bytes
            "0802",  # type = 1 (varint): PRECOMMIT = 2
            "11" + "0500000000000000",  # height = 2 (sfixed64, little-endian): 5
            "2248",  # block_id = 3 (message, 72 bytes): CanonicalBlockID
            "0a20" + "aa" * 32,  # . hash = 1 (32 bytes)
            "1224",  # . part_set_header = 2 (36 bytes), always written
            "0801",  # . . total = 1: 1
            "1220" + "bb" * 32,  # . . hash = 2 (32 bytes)
            "2a0b",  # timestamp = 5 (11 bytes), always written
            "0888d492d806",  # . seconds = 1
            "10959aef3a",  # . nanos = 2
            "320e" + b"gridledger-kat".hex(),  # chain_id = 6 (14 bytes)
        ]
    )
    got = vote_sign_bytes(
        "gridledger-kat", 5, 0, b"\xaa" * 32, 1, b"\xbb" * 32, "2026-11-23T21:03:04.123456789Z"
    )
    assert got.hex() == expected
    assert expected == ANSWERS["votes"][0]["sign_bytes"]


def test_nil_vote_sign_bytes_leave_out_the_block_id() -> None:
    got = vote_sign_bytes("gridledger-kat", 5, 0, b"", 0, b"", "2026-11-23T21:03:04.123456789Z")
    assert got.hex() == "28" + "0802" + "110500000000000000" + "2a0b0888d492d80610959aef3a" + (
        "320e" + b"gridledger-kat".hex()
    )


def test_vote_sign_bytes_match_real_signatures() -> None:
    """Every signature in the captured run verifies over our sign bytes, rounds 0 and 1."""
    capture = Capture.load()
    checked = 0
    for block in capture.blocks:
        commit = block["signed_header"]["commit"]
        for sig, validator in zip(commit["signatures"], block["validators"], strict=True):
            if sig["block_id_flag"] not in (COMMIT, NIL):
                continue
            message = vote_sign_bytes(
                capture.chain_id,
                int(commit["height"]),
                commit["round"],
                bytes.fromhex(commit["block_id"]["hash"]),
                commit["block_id"]["parts"]["total"],
                bytes.fromhex(commit["block_id"]["parts"]["hash"]),
                sig["timestamp"],
            )
            key = nacl.signing.VerifyKey(base64.b64decode(validator["pub_key"]["value"]))
            key.verify(message, base64.b64decode(sig["signature"]))
            checked += 1
    assert checked >= 3 * len(capture.blocks)


BAD_VOTE_ARGUMENTS: list[tuple[str, tuple[Any, ...], str]] = [
    ("chain_id_bytes", (b"c", 1, 0, b"", 0, b"", "2026-01-01T00:00:00Z"), "chain_id must be"),
    ("height_string", ("c", "1", 0, b"", 0, b"", "2026-01-01T00:00:00Z"), "height must be"),
    ("height_bool", ("c", True, 0, b"", 0, b"", "2026-01-01T00:00:00Z"), "height must be"),
    ("negative_round", ("c", 1, -1, b"", 0, b"", "2026-01-01T00:00:00Z"), "round must be between"),
    ("round_above_int32", ("c", 1, 2**31, b"", 0, b"", "2026-01-01T00:00:00Z"), "round must be"),
    ("short_hash", ("c", 1, 0, b"\x01" * 31, 1, b"", "2026-01-01T00:00:00Z"), "block_id_hash"),
    ("hex_hash", ("c", 1, 0, "ab" * 32, 1, b"", "2026-01-01T00:00:00Z"), "block_id_hash"),
    ("parts_total_negative", ("c", 1, 0, b"", -1, b"", "2026-01-01T00:00:00Z"), "parts_total"),
    ("parts_hash_long", ("c", 1, 0, b"", 0, b"\x01" * 33, "2026-01-01T00:00:00Z"), "parts_hash"),
    ("time_without_zone", ("c", 1, 0, b"", 0, b"", "2026-01-01T00:00:00"), "timestamp must be"),
]


@pytest.mark.parametrize(
    ("name", "arguments", "reason"), BAD_VOTE_ARGUMENTS, ids=[c[0] for c in BAD_VOTE_ARGUMENTS]
)
def test_vote_sign_bytes_refuses_bad_arguments(
    name: str, arguments: tuple[Any, ...], reason: str
) -> None:
    with pytest.raises(InvalidProof, match=reason):
        vote_sign_bytes(*arguments)
