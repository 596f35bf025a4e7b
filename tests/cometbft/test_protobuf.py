"""The protobuf writer against hand-written wire bytes and a naive reference decoder."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridledger.cometbft import protobuf as pb


def decode_uvarint(data: bytes) -> tuple[int, int]:
    """Naive reference: (value, bytes used)."""
    value = 0
    for index, byte in enumerate(data):
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, index + 1
    raise ValueError("truncated varint")


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (300, "ac02"),
        (2**32 - 1, "ffffffff0f"),
        (2**64 - 1, "ffffffffffffffffff01"),
    ],
)
def test_uvarint_known_values(value: int, wire: str) -> None:
    assert pb.encode_uvarint(value).hex() == wire


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_uvarint_round_trips_through_the_reference_decoder(value: int) -> None:
    wire = pb.encode_uvarint(value)
    assert decode_uvarint(wire) == (value, len(wire))


@pytest.mark.parametrize("value", [-1, 2**64])
def test_uvarint_refuses_values_outside_uint64(value: int) -> None:
    with pytest.raises(ValueError, match="uint64"):
        pb.encode_uvarint(value)


def test_zero_scalars_and_empty_bytes_are_left_out() -> None:
    assert pb.encode_uint_field(1, 0) == b""
    assert pb.encode_int_field(1, 0) == b""
    assert pb.encode_sfixed64_field(2, 0) == b""
    assert pb.encode_bytes_field(3, b"") == b""
    assert pb.encode_string_value("") == b""
    assert pb.encode_int64_value(0) == b""
    assert pb.encode_bytes_value(b"") == b""


def test_present_messages_are_written_even_when_empty() -> None:
    assert pb.encode_message_field(2, b"").hex() == "1200"
    assert pb.encode_message_field(5, pb.encode_timestamp(0, 0)).hex() == "2a00"


def test_negative_int64_takes_ten_bytes() -> None:
    assert pb.encode_int_field(1, -1).hex() == "08" + "ff" * 9 + "01"
    assert pb.encode_int64_value(-2).hex() == "08" + "fe" + "ff" * 8 + "01"


def test_sfixed64_is_little_endian_twos_complement() -> None:
    assert pb.encode_sfixed64_field(2, 5).hex() == "11" + "0500000000000000"
    assert pb.encode_sfixed64_field(3, -2).hex() == "19" + "feffffffffffffff"
    assert pb.encode_sfixed64_field(2, 2**63 - 1).hex() == "11" + "ffffffffffffff7f"


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_signed_fields_refuse_values_outside_int64(value: int) -> None:
    with pytest.raises(ValueError, match="int64"):
        pb.encode_int_field(1, value)
    with pytest.raises(ValueError, match="int64"):
        pb.encode_sfixed64_field(1, value)


def test_timestamp_before_1970_counts_nanos_forward() -> None:
    # 1969-12-31T23:59:59.5Z is seconds = -1, nanos = 500,000,000.
    assert pb.encode_timestamp(-1, 500_000_000).hex() == "08" + "ff" * 9 + "01" + "1080cab5ee01"


@pytest.mark.parametrize("nanos", [-1, 1_000_000_000])
def test_timestamp_refuses_nanos_out_of_range(nanos: int) -> None:
    with pytest.raises(ValueError, match="nanos"):
        pb.encode_timestamp(0, nanos)


def test_wrappers_and_delimiting() -> None:
    assert pb.encode_string_value("网").hex() == "0a03e7bd91"
    assert pb.encode_int64_value(300).hex() == "08ac02"
    assert pb.encode_bytes_value(b"\x00" * 200).hex() == "0ac801" + "00" * 200
    assert pb.encode_delimited(b"\x01" * 130).hex() == "8201" + "01" * 130


def test_field_numbers_start_at_one() -> None:
    with pytest.raises(ValueError, match="field numbers"):
        pb.encode_key(0, pb.WIRE_VARINT)
    assert pb.encode_key(16, pb.WIRE_LEN).hex() == "8201"
