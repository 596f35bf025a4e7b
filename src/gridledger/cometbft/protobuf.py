"""A minimal Protocol Buffers writer: exactly what CometBFT's hashes and sign bytes need.

Follows the protobuf wire format (https://protobuf.dev/programming-guides/encoding/) the way
gogoproto's generated ``Marshal`` methods write it, which is what CometBFT v0.38 hashes and signs:

- fields in ascending field number;
- proto3 scalars that are zero, and bytes or strings that are empty, are left out;
- an embedded message is written whenever it is present, even when its own encoding is empty.
  Fields declared ``(gogoproto.nullable) = false`` are always present; the caller decides.

Only writing is supported; nothing here parses protobuf. Values out of range for their protobuf
type raise ``ValueError``: the callers (``gridledger.cometbft.lightclient``) check ranges when
they decode JSON, so reaching one is a bug, not bad input.
"""

from __future__ import annotations

WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LEN = 2

UINT64_LIMIT = 1 << 64
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


def encode_uvarint(value: int) -> bytes:
    """Base-128 varint of an unsigned 64-bit integer, least significant group first."""
    if not 0 <= value < UINT64_LIMIT:
        raise ValueError(f"varint out of uint64 range: {value}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_key(field: int, wire_type: int) -> bytes:
    """The key that starts every field: ``field_number << 3 | wire_type``, as a varint."""
    if field < 1:
        raise ValueError(f"field numbers start at 1, got {field}")
    return encode_uvarint(field << 3 | wire_type)


def _check_int64(value: int) -> None:
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"value out of int64 range: {value}")


def encode_uint_field(field: int, value: int) -> bytes:
    """A ``uint32``/``uint64``/enum field; zero is left out."""
    if value == 0:
        return b""
    return encode_key(field, WIRE_VARINT) + encode_uvarint(value)


def encode_int_field(field: int, value: int) -> bytes:
    """An ``int32``/``int64`` field; zero is left out, a negative value takes ten bytes.

    Protobuf writes a negative ``int32`` sign-extended to 64 bits, exactly like an ``int64``.
    """
    _check_int64(value)
    if value == 0:
        return b""
    return encode_key(field, WIRE_VARINT) + encode_uvarint(value % UINT64_LIMIT)


def encode_sfixed64_field(field: int, value: int) -> bytes:
    """An ``sfixed64`` field: eight bytes, little-endian two's complement; zero is left out."""
    _check_int64(value)
    if value == 0:
        return b""
    return encode_key(field, WIRE_FIXED64) + value.to_bytes(8, "little", signed=True)


def encode_bytes_field(field: int, value: bytes) -> bytes:
    """A ``bytes`` or ``string`` (already UTF-8) field; empty is left out."""
    if not value:
        return b""
    return encode_key(field, WIRE_LEN) + encode_uvarint(len(value)) + value


def encode_message_field(field: int, message: bytes) -> bytes:
    """An embedded message that is present: written even when ``message`` is empty."""
    return encode_key(field, WIRE_LEN) + encode_uvarint(len(message)) + message


def encode_delimited(message: bytes) -> bytes:
    """``message`` prefixed by its length as a uvarint (Go's ``protoio.MarshalDelimited``)."""
    return encode_uvarint(len(message)) + message


def encode_timestamp(seconds: int, nanos: int) -> bytes:
    """``google.protobuf.Timestamp{seconds (int64) = 1, nanos (int32) = 2}``.

    ``nanos`` is 0..999,999,999 and counts forward from ``seconds`` even before 1970, which is
    how Go's ``gogotypes.StdTimeMarshal`` splits a ``time.Time``.
    """
    if not 0 <= nanos < 1_000_000_000:
        raise ValueError(f"nanos must be in 0..999999999, got {nanos}")
    return encode_int_field(1, seconds) + encode_int_field(2, nanos)


# gogoproto's well-known wrappers, as CometBFT's ``cdcEncode`` (types/encoding_helper.go) writes
# them: an empty string, a zero int or empty bytes give no bytes at all.


def encode_string_value(text: str) -> bytes:
    """``google.protobuf.StringValue{value = 1}``."""
    return encode_bytes_field(1, text.encode("utf-8"))


def encode_int64_value(value: int) -> bytes:
    """``google.protobuf.Int64Value{value = 1}``."""
    return encode_int_field(1, value)


def encode_bytes_value(value: bytes) -> bytes:
    """``google.protobuf.BytesValue{value = 1}``."""
    return encode_bytes_field(1, value)
