"""verify_signed_header on commits captured from a real four-validator CometBFT run.

Pre-state: the captured block as the RPC returned it. Operation: one mutation. Post-state: the
InvalidProof reason a reader would need.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
from collections.abc import Callable
from typing import Any

import nacl.signing
import pytest

from gridledger.cometbft import header_hash, verify_signed_header
from gridledger.errors import InvalidProof
from tests.cometbft.capture import ABSENT, COMMIT, NIL, Capture, Json

HASH_MISMATCH = "header hash does not match the commit's block id"
BAD_SIGNATURE = r"signature of validator [0-9A-F]{40} \(commit\.signatures\[\d\]\) does not verify"


def flip_hex(text: str) -> str:
    """The same hex string with its first digit changed."""
    return ("1" if text[0] != "1" else "2") + text[1:]


def absent() -> Json:
    return {
        "block_id_flag": ABSENT,
        "validator_address": "",
        "timestamp": "0001-01-01T00:00:00Z",
        "signature": None,
    }


def test_every_captured_block_verifies() -> None:
    capture = Capture.load()
    assert len(capture.blocks) >= 8
    for block in capture.blocks:
        verified = verify_signed_header(
            capture.chain_id, block["signed_header"], block["validators"]
        )
        assert verified.height == block["height"]
        assert len(verified.signers) == capture.flags(block).count(COMMIT)


def test_verified_header_reports_what_the_block_says() -> None:
    capture = Capture.load()
    block = capture.with_absent()
    header = block["signed_header"]["header"]
    verified = verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])
    assert verified.chain_id == capture.chain_id
    assert verified.time == header["time"]
    whole, _, fraction = header["time"].rstrip("Z").partition(".")
    seconds = calendar.timegm((*map(int, whole.replace("T", "-").replace(":", "-").split("-")),))
    assert verified.time_ms == seconds * 1000 + int(fraction.ljust(9, "0")[:3])
    assert (
        verified.header_hash.hex().upper() == block["signed_header"]["commit"]["block_id"]["hash"]
    )
    for name in ("app_hash", "data_hash", "last_results_hash", "validators_hash"):
        assert getattr(verified, name).hex().upper() == header[name]
    assert verified.next_validators_hash.hex().upper() == header["next_validators_hash"]
    assert (verified.signed_power, verified.total_power) == (5, 6)
    signatures = block["signed_header"]["commit"]["signatures"]
    assert verified.signers == tuple(
        sig["validator_address"] for sig in signatures if sig["block_id_flag"] == COMMIT
    )


def test_a_round_one_commit_verifies() -> None:
    capture = Capture.load()
    block = capture.later_round()
    verified = verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])
    assert verified.height == block["height"]


def test_header_hash_equals_the_commits_block_id() -> None:
    for block in Capture.load().blocks:
        signed = block["signed_header"]
        assert header_hash(signed["header"]).hex().upper() == signed["commit"]["block_id"]["hash"]


# The 14 header fields, one at a time.

HEADER_MUTATIONS: list[tuple[str, Callable[[Json], None], str]] = [
    ("version", lambda h: h["version"].update(app="2"), HASH_MISMATCH),
    ("chain_id", lambda h: h.update(chain_id="chain-other"), "the header is from chain"),
    ("height", lambda h: h.update(height=str(int(h["height"]) + 1)), "the commit is for height"),
    ("time", lambda h: h.update(time="2026-01-01T00:00:00.000000001Z"), HASH_MISMATCH),
    (
        "last_block_id",
        lambda h: h["last_block_id"]["parts"].update(total=2),
        HASH_MISMATCH,
    ),
    *[
        (name, lambda h, name=name: h.update({name: flip_hex(h[name])}), HASH_MISMATCH)
        for name in (
            "last_commit_hash",
            "data_hash",
            "validators_hash",
            "next_validators_hash",
            "consensus_hash",
            "app_hash",
            "last_results_hash",
            "evidence_hash",
            "proposer_address",
        )
    ],
]


def test_mutations_cover_all_fourteen_header_fields() -> None:
    header = Capture.load().blocks[0]["signed_header"]["header"]
    assert sorted(name for name, _, _ in HEADER_MUTATIONS) == sorted(header)


@pytest.mark.parametrize(
    ("field", "mutate", "reason"), HEADER_MUTATIONS, ids=[m[0] for m in HEADER_MUTATIONS]
)
def test_a_changed_header_field_is_refused(
    field: str, mutate: Callable[[Json], None], reason: str
) -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    mutate(block["signed_header"]["header"])
    with pytest.raises(InvalidProof, match=reason):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


@pytest.mark.parametrize(
    ("field", "mutate"),
    [(m[0], m[1]) for m in HEADER_MUTATIONS if m[2] == HASH_MISMATCH],
    ids=[m[0] for m in HEADER_MUTATIONS if m[2] == HASH_MISMATCH],
)
def test_a_changed_header_with_a_matching_block_id_fails_on_signatures(
    field: str, mutate: Callable[[Json], None]
) -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    signed = block["signed_header"]
    mutate(signed["header"])
    signed["commit"]["block_id"]["hash"] = header_hash(signed["header"]).hex().upper()
    expected = BAD_SIGNATURE if field != "validators_hash" else "the validator set given hashes to"
    with pytest.raises(InvalidProof, match=expected):
        verify_signed_header(capture.chain_id, signed, block["validators"])


# The commit.


def flip_signature_byte(sig: Json) -> None:
    raw = bytearray(base64.b64decode(sig["signature"]))
    raw[10] ^= 0x01
    sig["signature"] = base64.b64encode(bytes(raw)).decode()


def shift_timestamp(sig: Json) -> None:
    sig["timestamp"] = "2030-01-01T00:00:00.5Z"


COMMIT_MUTATIONS: list[tuple[str, Callable[[Json], None], str]] = [
    ("signature_byte", lambda c: flip_signature_byte(c["signatures"][1]), BAD_SIGNATURE),
    ("vote_timestamp", lambda c: shift_timestamp(c["signatures"][2]), BAD_SIGNATURE),
    ("flag_commit_to_nil", lambda c: c["signatures"][0].update(block_id_flag=NIL), BAD_SIGNATURE),
    ("round", lambda c: c.update(round=c["round"] + 1), BAD_SIGNATURE),
    ("parts_total", lambda c: c["block_id"]["parts"].update(total=7), BAD_SIGNATURE),
    ("parts_hash", lambda c: c["block_id"]["parts"].update(hash="AB" * 32), BAD_SIGNATURE),
    ("block_hash", lambda c: c["block_id"].update(hash="AB" * 32), HASH_MISMATCH),
    ("height", lambda c: c.update(height="1000"), "the commit is for height 1000"),
    (
        "swapped_signatures",
        lambda c: c.update(
            signatures=[c["signatures"][1], c["signatures"][0], *c["signatures"][2:]]
        ),
        r"commit.signatures\[0\] names validator [0-9A-F]{40}, but validator 0 of the set is",
    ),
    (
        "missing_slot",
        lambda c: c.update(signatures=c["signatures"][:3]),
        "the commit has 3 signature slots but the validator set has 4 validators",
    ),
    (
        "signature_from_another_validator",
        lambda c: c["signatures"][0].update(signature=c["signatures"][1]["signature"]),
        BAD_SIGNATURE,
    ),
]


@pytest.mark.parametrize(
    ("name", "mutate", "reason"), COMMIT_MUTATIONS, ids=[m[0] for m in COMMIT_MUTATIONS]
)
def test_a_changed_commit_is_refused(
    name: str, mutate: Callable[[Json], None], reason: str
) -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    mutate(block["signed_header"]["commit"])
    with pytest.raises(InvalidProof, match=reason):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


def test_exactly_half_the_voting_power_is_not_enough() -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    signatures = block["signed_header"]["commit"]["signatures"]
    signatures[2] = absent()
    signatures[3] = absent()
    with pytest.raises(
        InvalidProof,
        match="only 2 of 4 voting power signed the block; more than 2/3 is required",
    ):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


def test_three_of_four_is_enough_but_two_of_four_is_not() -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    signatures = block["signed_header"]["commit"]["signatures"]
    signatures[0] = absent()
    verified = verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])
    assert (verified.signed_power, verified.total_power) == (3, 4)
    signatures[1] = absent()
    with pytest.raises(InvalidProof, match="only 2 of 4"):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


def test_the_heavy_validator_alone_absent_leaves_exactly_half() -> None:
    capture = Capture.load()
    block = capture.with_absent()
    assert capture.powers(block)[0] == 3
    block["signed_header"]["commit"]["signatures"][0] = absent()
    with pytest.raises(InvalidProof, match="only 2 of 6"):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


def test_exactly_two_thirds_is_not_enough() -> None:
    capture = Capture.load()
    block = capture.with_absent()
    signatures = block["signed_header"]["commit"]["signatures"]
    present = [index for index, flag in enumerate(capture.flags(block)) if flag == COMMIT]
    assert capture.powers(block) == [3, 1, 1, 1] and present[0] == 0
    signatures[present[-1]] = absent()  # 3 + 1 of 6 signed: 4 is exactly 2/3 of 6
    with pytest.raises(InvalidProof, match="only 4 of 6 voting power signed the block"):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


def test_wrong_chain_id_is_refused() -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    with pytest.raises(
        InvalidProof, match=r"the header is from chain 'chain-\w+', not 'gridledger'"
    ):
        verify_signed_header("gridledger", block["signed_header"], block["validators"])


# The validator set.


def fresh_validator(seed: int, power: int) -> Json:
    public_key = bytes(nacl.signing.SigningKey(bytes([seed]) * 32).verify_key)
    return {
        "address": hashlib.sha256(public_key).digest()[:20].hex().upper(),
        "pub_key": {
            "type": "tendermint/PubKeyEd25519",
            "value": base64.b64encode(public_key).decode(),
        },
        "voting_power": str(power),
        "proposer_priority": "0",
    }


def replace_key_keeping_order(validators: list[Json]) -> None:
    validators[1] = fresh_validator(99, 1)
    validators.sort(key=lambda v: (-int(v["voting_power"]), v["address"]))


VALIDATOR_MUTATIONS: list[tuple[str, Callable[[list[Json]], object], str]] = [
    (
        "power_raised_in_order",
        lambda vs: vs[0].update(voting_power="2"),
        "the validator set given hashes to [0-9A-F]{64}, but the header says",
    ),
    (
        "power_raised_out_of_order",
        lambda vs: vs[3].update(voting_power="2"),
        r"validators is not in CometBFT's order .* validators\[3\]",
    ),
    (
        "key_changed",
        lambda vs: vs[1]["pub_key"].update(value=vs[2]["pub_key"]["value"]),
        r"validators\[1\]\.address [0-9A-F]{40} is not the address of the validator's public key",
    ),
    ("key_and_address_changed", replace_key_keeping_order, "the validator set given hashes to"),
    ("swapped", lambda vs: vs.insert(0, vs.pop(1)), "not in CometBFT's order"),
    ("duplicate", lambda vs: vs.__setitem__(1, dict(vs[0])), "lists validator [0-9A-F]{40} twice"),
    ("one_missing", lambda vs: vs.pop(), "must include every page"),
    ("empty", lambda vs: vs.clear(), r"^validators is empty$"),
]


@pytest.mark.parametrize(
    ("name", "mutate", "reason"), VALIDATOR_MUTATIONS, ids=[m[0] for m in VALIDATOR_MUTATIONS]
)
def test_a_changed_validator_set_is_refused(
    name: str, mutate: Callable[[list[Json]], object], reason: str
) -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    mutate(block["validators"])
    with pytest.raises(InvalidProof, match=reason):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


def test_the_validator_set_of_another_height_is_refused() -> None:
    capture = Capture.load()
    early, late = capture.all_signed_equal_power(), capture.with_absent()
    with pytest.raises(InvalidProof, match="the validator set given hashes to"):
        verify_signed_header(capture.chain_id, early["signed_header"], late["validators"])


def test_proposer_priority_is_not_hashed_but_must_be_well_formed() -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    block["validators"][0]["proposer_priority"] = "-12345"
    verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])
    block["validators"][0]["proposer_priority"] = "high"
    with pytest.raises(InvalidProof, match=r"validators\[0\]\.proposer_priority must be"):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


def test_arguments_of_the_wrong_shape_are_refused() -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    signed: Any = block["signed_header"]
    cases: list[tuple[Any, Any, Any, str]] = [
        (None, signed, block["validators"], "chain_id must be a string"),
        (capture.chain_id, [signed], block["validators"], "signed_header must be a JSON object"),
        (
            capture.chain_id,
            {"header": signed["header"]},
            block["validators"],
            "signed_header.commit is missing",
        ),
        (
            capture.chain_id,
            signed,
            {"validators": block["validators"]},
            "validators must be a JSON array",
        ),
        (capture.chain_id, {**signed, "extra": 1}, block["validators"], "unexpected field 'extra'"),
    ]
    for chain_id, signed_header, validators, reason in cases:
        with pytest.raises(InvalidProof, match=reason):
            verify_signed_header(chain_id, signed_header, validators)
