"""Strict decoding of the RPC JSON: each malformed field is refused, and the message names it."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridledger.cometbft import verify_signed_header
from gridledger.cometbft.lightclient import decode_timestamp
from gridledger.errors import InvalidProof
from tests.cometbft.capture import ABSENT, Capture, Json

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


# Times: exact integers, never floats.


@given(
    st.datetimes(
        min_value=datetime.datetime(1, 1, 1),
        max_value=datetime.datetime(9999, 12, 31, 23, 59, 59),
    ),
    st.integers(min_value=0, max_value=999_999_999),
    st.integers(min_value=1, max_value=9),
)
def test_times_decode_to_exact_seconds_and_nanos(
    moment: datetime.datetime, nanos: int, digits: int
) -> None:
    moment = moment.replace(microsecond=0, tzinfo=datetime.UTC)
    fraction = f"{nanos:09d}"[:digits]
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{fraction}Z"
    )
    decoded = decode_timestamp(text)
    # Reference: timedelta floor division is exact integer arithmetic.
    assert decoded.seconds == (moment - EPOCH) // datetime.timedelta(seconds=1)
    assert decoded.nanos == int(fraction.ljust(9, "0"))
    assert decoded.text == text


def test_time_without_fraction_and_before_1970() -> None:
    assert (
        decode_timestamp("1970-01-01T00:00:00Z").seconds,
        decode_timestamp("1970-01-01T00:00:00Z").nanos,
    ) == (0, 0)
    early = decode_timestamp("1969-12-31T23:59:59.999999999Z")
    assert (early.seconds, early.nanos, early.unix_ms) == (-1, 999_999_999, -1)
    zero = decode_timestamp("0001-01-01T00:00:00Z")
    assert zero.seconds == -62_135_596_800


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-23T21:03:04.1234567891Z",  # ten fraction digits
        "2026-11-23T21:03:04.Z",
        "2026-11-23 21:03:04Z",
        "2026-11-23t21:03:04z",
        "2026-11-23T21:03:04+00:00",
        "2026-11-23T21:03:04.5+08:00",
        "2026-02-30T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "2026-11-23T21:03:04.\u0661\u0662\u0663Z",  # Arabic-Indic digits, not ASCII
        "2026-11-23T21:03:04",
        "",
    ],
)
def test_bad_times_are_refused(text: str) -> None:
    with pytest.raises(InvalidProof, match=r"^header\.time "):
        decode_timestamp(text, "header.time")


# Every field type, malformed once. ``target`` picks the object to change in a fresh block.

Target = Callable[[Json], Json]
HEADER: Target = lambda block: block["signed_header"]["header"]  # noqa: E731
COMMIT_: Target = lambda block: block["signed_header"]["commit"]  # noqa: E731
SIG1: Target = lambda block: block["signed_header"]["commit"]["signatures"][1]  # noqa: E731
VAL2: Target = lambda block: block["validators"][2]  # noqa: E731

MALFORMED: list[tuple[str, Target, str, Any, str]] = [
    ("height_number", HEADER, "height", 5, r"header\.height must be a string, got a number"),
    ("height_leading_zero", HEADER, "height", "05", r"header\.height must be a decimal integer"),
    ("height_zero", HEADER, "height", "0", r"header\.height must be between 1 and"),
    ("height_float_text", HEADER, "height", "5.0", r"header\.height must be a decimal integer"),
    ("height_too_big", HEADER, "height", str(2**63), r"header\.height must be between"),
    ("version_missing", HEADER, "version", {"block": "11"}, r"header\.version\.app is missing"),
    ("chain_id_empty", HEADER, "chain_id", "", r"header\.chain_id must be 1 to 50 bytes"),
    ("chain_id_long", HEADER, "chain_id", "c" * 51, r"header\.chain_id must be 1 to 50 bytes"),
    ("app_hash_not_hex", HEADER, "app_hash", "XYZW", r"header\.app_hash is not hexadecimal"),
    ("app_hash_odd", HEADER, "app_hash", "ABC", r"header\.app_hash is not hexadecimal"),
    ("app_hash_spaces", HEADER, "app_hash", "AB CD", r"header\.app_hash is not hexadecimal"),
    ("app_hash_null", HEADER, "app_hash", None, r"header\.app_hash must be a string, got null"),
    ("data_hash_short", HEADER, "data_hash", "AB" * 31, r"data_hash must be 0 or 32 bytes long"),
    ("validators_hash_empty", HEADER, "validators_hash", "", r"validators_hash must be 32 bytes"),
    ("proposer_short", HEADER, "proposer_address", "AB" * 19, r"proposer_address must be 20"),
    ("time_offset", HEADER, "time", "2026-11-23T21:03:04+01:00", r"header\.time must be an RFC"),
    ("last_block_id_list", HEADER, "last_block_id", [], r"last_block_id must be a JSON object"),
    ("extra_header_field", HEADER, "app_version", "1", r"header has an unexpected field"),
    ("round_string", COMMIT_, "round", "0", r"commit\.round must be a JSON integer, got a string"),
    ("round_negative", COMMIT_, "round", -1, r"commit\.round must be between 0 and"),
    ("round_float", COMMIT_, "round", 0.0, r"commit\.round must be a JSON integer, got a number"),
    (
        "block_id_empty",
        COMMIT_,
        "block_id",
        {"hash": "", "parts": {"total": 0, "hash": ""}},
        "a commit for no block",
    ),
    ("signatures_empty", COMMIT_, "signatures", [], r"commit\.signatures is empty"),
    ("signatures_object", COMMIT_, "signatures", {}, r"commit\.signatures must be a JSON array"),
    ("flag_four", SIG1, "block_id_flag", 4, r"signatures\[1\]\.block_id_flag must be 1 \(absent\)"),
    (
        "flag_bool",
        SIG1,
        "block_id_flag",
        True,
        r"block_id_flag must be a JSON integer, got a boolean",
    ),
    (
        "sig_not_base64",
        SIG1,
        "signature",
        "not base64!",
        r"signatures\[1\]\.signature is not base64",
    ),
    ("sig_no_padding", SIG1, "signature", "AAAA" * 21 + "AA", r"signature is not base64"),
    ("sig_short", SIG1, "signature", base64.b64encode(b"\x01" * 63).decode(), r"must be 64 bytes"),
    ("sig_null", SIG1, "signature", None, r"signatures\[1\]\.signature must be a string, got null"),
    ("address_short", SIG1, "validator_address", "AB", r"validator_address must be 20 bytes"),
    ("sig_time_bad", SIG1, "timestamp", "yesterday", r"signatures\[1\]\.timestamp must be an RFC"),
    ("power_number", VAL2, "voting_power", 1, r"validators\[2\]\.voting_power must be a string"),
    ("power_zero", VAL2, "voting_power", "0", r"validators\[2\]\.voting_power must be between 1"),
    ("power_huge", VAL2, "voting_power", str(2**62), r"voting_power must be between 1 and"),
    (
        "key_type",
        VAL2,
        "pub_key",
        {"type": "tendermint/PubKeySecp256k1", "value": "AA=="},
        "is not supported",
    ),
    (
        "key_short",
        VAL2,
        "pub_key",
        {"type": "tendermint/PubKeyEd25519", "value": "AAAA"},
        r"pub_key\.value must be 32",
    ),
    (
        "key_missing_type",
        VAL2,
        "pub_key",
        {"value": "AAAA"},
        r"validators\[2\]\.pub_key\.type is missing",
    ),
    ("address_lower_wrong", VAL2, "address", "ab" * 20, r"validators\[2\]\.address ABAB"),
]


@pytest.mark.parametrize(
    ("name", "target", "field", "value", "reason"), MALFORMED, ids=[m[0] for m in MALFORMED]
)
def test_a_malformed_field_is_refused_by_name(
    name: str, target: Target, field: str, value: Any, reason: str
) -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    target(block)[field] = value
    with pytest.raises(InvalidProof, match=reason):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


def test_non_canonical_base64_is_refused() -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    sig = block["signed_header"]["commit"]["signatures"][0]
    # The last character before "==" carries 4 unused bits; setting one keeps the bytes the same.
    text = sig["signature"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    sig["signature"] = text[:-3] + alphabet[alphabet.index(text[-3]) | 1] + "=="
    assert base64.b64decode(sig["signature"]) == base64.b64decode(text)
    with pytest.raises(InvalidProof, match="is not canonical base64"):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


def test_lower_case_hex_is_read_like_upper_case() -> None:
    capture = Capture.load()
    block = capture.all_signed_equal_power()
    header = block["signed_header"]["header"]
    header["app_hash"] = header["app_hash"].lower()
    block["validators"][0]["address"] = block["validators"][0]["address"].lower()
    verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])


ABSENT_MISTAKES: list[tuple[str, str, Any, str]] = [
    ("address", "validator_address", "AB" * 20, "must be empty for an absent validator"),
    ("time", "timestamp", "2026-01-01T00:00:00Z", "must be 0001-01-01T00:00:00Z when absent"),
    ("signature", "signature", "AAAA", "must be null for an absent validator"),
]


@pytest.mark.parametrize(
    ("name", "field", "value", "reason"), ABSENT_MISTAKES, ids=[m[0] for m in ABSENT_MISTAKES]
)
def test_an_absent_signature_must_carry_nothing(
    name: str, field: str, value: Any, reason: str
) -> None:
    capture = Capture.load()
    block = capture.with_absent()
    index = capture.flags(block).index(ABSENT)
    block["signed_header"]["commit"]["signatures"][index][field] = value
    with pytest.raises(InvalidProof, match=rf"commit\.signatures\[{index}\]\.\w+ {reason}"):
        verify_signed_header(capture.chain_id, block["signed_header"], block["validators"])
