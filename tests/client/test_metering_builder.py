"""The SDK's reading and batch builder, checked against the slow, obvious reference encoding of the
metering tests (``tests.contracts.metering_support``), and its CSV reader."""

from __future__ import annotations

import pytest

from gridledger import merkle
from gridledger.client.metering import (
    build_head_end_batch,
    build_meter_signed_batch,
    iter_batches,
    make_reading,
    parse_readings_csv,
    parse_time_s,
)
from gridledger.crypto import ED25519, verify_signature
from gridledger.errors import DecodeError, InvalidSignature, InvalidTransaction
from tests.contracts.metering_support import (
    BATCH_DOMAIN,
    HEAD_END_KEY,
    METER_2_KEY,
    METER_KEY,
    READING_DOMAIN,
    hhmm,
    reference_leaf,
)

READINGS = [
    make_reading("m1", "import", hhmm("10:00"), 1_000, page=7),
    make_reading("m2", "export", hhmm("10:00"), 50, error_flags="tE"),
    make_reading("m1", "import", hhmm("10:15"), 1_200, page=8),
]
KEYS = {"m1": METER_KEY, "m2": METER_2_KEY}


def test_meter_signed_batch_matches_the_reference_encoding() -> None:
    args = build_meter_signed_batch(READINGS, KEYS)
    leaves = [reference_leaf(item) for item in args["readings"]]
    assert args["root"] == merkle.root(leaves).hex()
    assert "head_end" not in args and "signature" not in args
    for item, leaf in zip(args["readings"], leaves, strict=True):
        key = KEYS[item["meter"]]
        verify_signature(
            ED25519, key.public_key, READING_DOMAIN + leaf, bytes.fromhex(item["signature"])
        )
    assert args["readings"][1]["error_flags"] == "Et"
    assert args["readings"][0]["page"] == 7 and "page" not in args["readings"][1]


def test_head_end_batch_signs_the_root_once() -> None:
    args = build_head_end_batch(READINGS, "he1", HEAD_END_KEY)
    root = merkle.root([reference_leaf(item) for item in args["readings"]])
    assert args["root"] == root.hex() and args["head_end"] == "he1"
    assert all("signature" not in item for item in args["readings"])
    message = BATCH_DOMAIN + b"he1\n" + root
    verify_signature(ED25519, HEAD_END_KEY.public_key, message, bytes.fromhex(args["signature"]))
    with pytest.raises(InvalidSignature):
        verify_signature(ED25519, METER_KEY.public_key, message, bytes.fromhex(args["signature"]))


def test_a_meter_without_a_key_is_refused() -> None:
    with pytest.raises(InvalidTransaction, match="no key given for meter m2"):
        build_meter_signed_batch(READINGS, {"m1": METER_KEY})


def test_the_contract_parser_refuses_a_bad_reading_before_sending() -> None:
    bad = [make_reading("m1", "sideways", hhmm("10:00"), 1)]
    with pytest.raises(InvalidTransaction, match="channel must be import or export"):
        build_head_end_batch(bad, "he1", HEAD_END_KEY)
    with pytest.raises(InvalidTransaction, match="1 to 1000"):
        build_head_end_batch([], "he1", HEAD_END_KEY)


def test_batches_hold_at_most_a_thousand_readings() -> None:
    many = [make_reading("m1", "import", hhmm("00:00") + 900 * i, i) for i in range(2_500)]
    assert [len(b) for b in iter_batches(many)] == [1000, 1000, 500]
    with pytest.raises(ValueError, match="1 to 1000"):
        list(iter_batches(many, 1001))


def test_csv_with_a_header_is_sorted_into_interval_order() -> None:
    text = (
        "meter,channel,interval_start,register_wh,page,error_flags\n"
        f"m1,import,{hhmm('10:15')},1200,8,\n"
        f"m1,import,{hhmm('10:00')},1000,7,E\n"
        "\n"
    )
    readings = parse_readings_csv(text)
    assert [(r.interval_start, r.register_wh, r.page, r.error_flags) for r in readings] == [
        (hhmm("10:00"), 1000, 7, "E"),
        (hhmm("10:15"), 1200, 8, ""),
    ]


def test_csv_without_a_header_takes_iso_times() -> None:
    (reading,) = parse_readings_csv("m-b, import, 2026-11-18T10:15:00Z, 42\n")
    assert (reading.meter, reading.channel, reading.register_wh) == ("m-b", "import", 42)
    assert reading.interval_start == parse_time_s("2026-11-18T10:15") == hhmm("10:15")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no readings"),
        ("m1,import,1795000500\n", "CSV row 1: 3 fields, expected 4"),
        ("m1,import,1795000501,5\n", "CSV row 1: interval_start 1795000501 is not aligned"),
        ("m1,import,1795000500,5\nm1,import,1795001400,-5\n", "CSV row 2: register_wh"),
        ("m1,import,yesterday,5\n", "neither Unix seconds nor an ISO 8601 time"),
        ("meter,channel,interval_start,kwh\n", "unknown: kwh; missing: register_wh"),
        ("meter,channel,interval_start,register_wh,page\nm1,import,1795000500,5,x\n", "page"),
    ],
)
def test_bad_csv_names_the_row_and_the_problem(text: str, problem: str) -> None:
    with pytest.raises(DecodeError, match=problem):
        parse_readings_csv(text)
