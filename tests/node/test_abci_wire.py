"""ABCI framing: unsigned varints and frames split or joined across reads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridledger.errors import DecodeError
from gridledger.node.abci_wire import (
    FrameDecoder,
    decode_uvarint,
    encode_frame,
    encode_uvarint,
)


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (2**63 - 1, b"\xff\xff\xff\xff\xff\xff\xff\xff\x7f"),
    ],
)
def test_uvarint_known_answers(value: int, encoded: bytes) -> None:
    # protobuf's base-128 varint (the 300 example is the one in the protobuf encoding guide)
    assert encode_uvarint(value) == encoded
    assert decode_uvarint(encoded) == (value, len(encoded))


def test_uvarint_is_unsigned_not_zigzag() -> None:
    assert encode_uvarint(1) == b"\x01"  # zig-zag (Tendermint <= 0.34) would write b"\x02"


def test_incomplete_varint_asks_for_more_bytes() -> None:
    assert decode_uvarint(b"\x80") is None
    assert decode_uvarint(b"") is None


def test_overlong_varint_is_refused() -> None:
    with pytest.raises(DecodeError, match="longer than 10 bytes"):
        decode_uvarint(b"\x80" * 11)


def test_negative_length_is_refused() -> None:
    with pytest.raises(DecodeError):
        encode_uvarint(-1)


@given(st.lists(st.binary(max_size=300), max_size=8), st.integers(min_value=1, max_value=64))
def test_frames_survive_any_split_of_the_stream(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    received: list[bytes] = []
    for i in range(0, len(stream), chunk):
        received += decoder.feed(stream[i : i + chunk])
    assert received == payloads
    assert decoder.pending_bytes == 0


def test_many_frames_in_one_read_and_a_partial_tail() -> None:
    decoder = FrameDecoder()
    big = b"x" * 2000  # larger than one read of naive servers (py-abci#7)
    stream = encode_frame(b"a") + encode_frame(big) + encode_frame(b"tail")
    assert decoder.feed(stream[:-2]) == [b"a", big]
    assert decoder.feed(stream[-2:]) == [b"tail"]


def test_frame_above_the_limit_is_refused() -> None:
    decoder = FrameDecoder(max_frame_bytes=10)
    with pytest.raises(DecodeError, match="above the limit"):
        decoder.feed(encode_uvarint(11))
