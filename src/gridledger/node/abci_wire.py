"""ABCI socket framing: each protobuf message is preceded by its length as an unsigned varint.

CometBFT v0.37+ uses *unsigned* varints (Tendermint ≤ 0.34 used zig-zag signed ones, which is
what older Python ABCI servers still speak). A TCP read may hold part of a frame, or several
frames; ``FrameDecoder`` buffers until a whole frame is there.
"""

from __future__ import annotations

from gridledger.errors import DecodeError

MAX_VARINT_BYTES = 10
MAX_FRAME_BYTES = 64 * 1024 * 1024  # far above CometBFT's block size limits


def encode_uvarint(value: int) -> bytes:
    if value < 0:
        raise DecodeError(f"cannot encode negative length {value} as an unsigned varint")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_uvarint(buf: bytes | bytearray, pos: int = 0) -> tuple[int, int] | None:
    """(value, position after it), or None when the varint is not complete yet."""
    value = shift = 0
    for i in range(pos, min(len(buf), pos + MAX_VARINT_BYTES)):
        byte = buf[i]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i + 1
        shift += 7
    if len(buf) - pos >= MAX_VARINT_BYTES:
        raise DecodeError(f"length prefix is longer than {MAX_VARINT_BYTES} bytes")
    return None


def encode_frame(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


class FrameDecoder:
    """Feed it bytes as they arrive; it returns every complete frame's payload, in order."""

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES) -> None:
        self._buf = bytearray()
        self._max = max_frame_bytes

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        frames: list[bytes] = []
        pos = 0
        while True:
            header = decode_uvarint(self._buf, pos)
            if header is None:
                break
            length, start = header
            if length > self._max:
                raise DecodeError(f"frame of {length} bytes is above the limit of {self._max}")
            if len(self._buf) - start < length:
                break
            frames.append(bytes(self._buf[start : start + length]))
            pos = start + length
        del self._buf[:pos]
        return frames

    @property
    def pending_bytes(self) -> int:
        return len(self._buf)
