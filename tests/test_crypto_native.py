"""The native Ed25519 verifier accepts exactly what libsodium accepts.

Validators built with and without Rust must agree on every signature, so the two verifiers are
compared over honest signatures, mutated ones, and signatures crafted with the curve arithmetic
below to hit each rule where Ed25519 libraries are known to differ: small-order keys and R
values, keys with a small-order component (where cofactored and cofactorless checks part), and
non-canonical S.
"""

from __future__ import annotations

import hashlib
import random

import nacl.signing
import pytest

from gridledger.crypto import (
    ED25519_VERIFIER,
    verify_ed25519_libsodium,
    verify_ed25519_native,
    verify_signature,
)
from gridledger.errors import InvalidSignature

pytestmark = pytest.mark.skipif(
    verify_ed25519_native is None, reason="gridledger_native is not built (no Rust)"
)

# -- Edwards25519 in affine coordinates (RFC 8032, section 5.1), slow and plain ---------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
Point = tuple[int, int]
IDENTITY: Point = (0, 1)


def add(p1: Point, p2: Point) -> Point:
    (x1, y1), (x2, y2) = p1, p2
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return x3, y3


def mul(n: int, point: Point) -> Point:
    result = IDENTITY
    while n:
        if n & 1:
            result = add(result, point)
        point = add(point, point)
        n >>= 1
    return result


def recover_x(y: int, sign: int) -> int | None:
    xx = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(xx, (P + 3) // 8, P)
    if (x * x - xx) % P:
        x = x * SQRT_M1 % P
    if (x * x - xx) % P:
        return None
    if x == 0 and sign:
        return None
    return P - x if x & 1 != sign else x


def encode(point: Point) -> bytes:
    x, y = point
    return (y | (x & 1) << 255).to_bytes(32, "little")


BASE: Point = (recover_x(4 * pow(5, P - 2, P) % P, 0) or 0, 4 * pow(5, P - 2, P) % P)


def challenge(r_enc: bytes, a_enc: bytes, message: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r_enc + a_enc + message).digest(), "little") % L


def sign_with_scalar(a: int, a_enc: bytes, r: int, message: bytes) -> bytes:
    """A signature (R = [r]B, S = r + k·a) under the key encoded as ``a_enc``."""
    r_enc = encode(mul(r, BASE))
    s = (r + challenge(r_enc, a_enc, message) * a) % L
    return r_enc + s.to_bytes(32, "little")


def cofactorless_holds(a_point: Point, a_enc: bytes, message: bytes, signature: bytes) -> bool:
    """The bare equation encode([S]B - [k]A) == R, with no check on A, R or S."""
    r_enc, s = signature[:32], int.from_bytes(signature[32:], "little")
    k = challenge(r_enc, a_enc, message)
    minus_ka = mul(k, (P - a_point[0], a_point[1]))
    return encode(add(mul(s, BASE), minus_ka)) == r_enc


def torsion_points() -> list[Point]:
    """The eight points of small order, from a point of order 8."""
    y = 2
    while True:
        x = recover_x(y, 0)
        if x is not None:
            t = mul(L, (x, y))  # the point's small-order component
            if mul(4, t) != IDENTITY:
                return [mul(i, t) for i in range(8)]
        y += 1


TORSION = torsion_points()


def both(public_key: bytes, message: bytes, signature: bytes) -> bool:
    assert verify_ed25519_native is not None
    native = verify_ed25519_native(public_key, message, signature)
    sodium = verify_ed25519_libsodium(public_key, message, signature)
    assert native == sodium, (public_key.hex(), message.hex(), signature.hex())
    return native


# -- the comparisons -------------------------------------------------------------------------


def test_this_build_uses_the_native_verifier() -> None:
    assert ED25519_VERIFIER == "native"


def test_honest_signatures_are_accepted_by_both() -> None:
    rng = random.Random(1)
    for _ in range(40):
        key = nacl.signing.SigningKey(rng.randbytes(32))
        message = rng.randbytes(rng.randrange(0, 300))
        assert both(bytes(key.verify_key), message, key.sign(message).signature)


def test_every_single_bit_flip_is_refused_by_both() -> None:
    key = nacl.signing.SigningKey(bytes(range(32)))
    public_key, message = bytes(key.verify_key), b"meter-7 import 1700000100 12345"
    signature = key.sign(message).signature
    for bit in range(64 * 8):
        flipped = bytearray(signature)
        flipped[bit // 8] ^= 1 << bit % 8
        assert not both(public_key, message, bytes(flipped))
    for bit in range(32 * 8):
        flipped = bytearray(public_key)
        flipped[bit // 8] ^= 1 << bit % 8
        assert not both(bytes(flipped), message, signature)
    for bit in range(len(message) * 8):
        flipped = bytearray(message)
        flipped[bit // 8] ^= 1 << bit % 8
        assert not both(public_key, bytes(flipped), signature)


def test_a_non_canonical_s_is_refused_by_both() -> None:
    key = nacl.signing.SigningKey(bytes(32))
    public_key, message = bytes(key.verify_key), b"reading"
    signature = key.sign(message).signature
    s = int.from_bytes(signature[32:], "little")
    assert both(public_key, message, signature)
    assert not both(public_key, message, signature[:32] + (s + L).to_bytes(32, "little"))


def test_small_order_keys_are_refused_by_both_though_the_equation_holds() -> None:
    message = b"small-order key"
    for point in TORSION:
        for a_enc in (encode(point), encode((P - point[0], point[1])) if point[0] else None):
            if a_enc is None:
                continue
            signature = sign_with_scalar(0, a_enc, 12345, message)  # S = r: k·A adds torsion
            if point == IDENTITY:
                assert cofactorless_holds(point, a_enc, message, signature)
            assert not both(a_enc, message, signature)
    # non-canonical encodings of small-order points (y + p fits in 255 bits when y < 19)
    for y in (0, 1):
        assert not both((y + P).to_bytes(32, "little"), message, bytes(64))


def test_a_small_order_r_is_refused_by_both_though_the_equation_holds() -> None:
    a = 987654321
    a_enc = encode(mul(a, BASE))
    for message in (b"r is the identity", b"again"):
        r_enc = encode(IDENTITY)
        s = challenge(r_enc, a_enc, message) * a % L  # [S]B = [k]A, so R = identity fits
        signature = r_enc + s.to_bytes(32, "little")
        assert cofactorless_holds(mul(a, BASE), a_enc, message, signature)
        assert not both(a_enc, message, signature)


def test_keys_with_a_small_order_component_agree_message_by_message() -> None:
    """A = [a]B + T with T of order 8: the cofactorless check (both verifiers) holds only when
    [k]T vanishes, about one message in eight; a cofactored check would accept them all."""
    a = 55555
    t = TORSION[1]
    a_point = add(mul(a, BASE), t)
    a_enc = encode(a_point)
    outcomes = []
    for i in range(48):
        message = f"mixed-order {i}".encode()
        signature = sign_with_scalar(a, a_enc, 1000 + i, message)
        k = challenge(signature[:32], a_enc, message)
        accepted = both(a_enc, message, signature)
        assert accepted == (mul(k, t) == IDENTITY)
        outcomes.append(accepted)
    assert any(outcomes) and not all(outcomes)


def test_wrong_lengths_are_refused_with_the_length_named() -> None:
    assert verify_ed25519_native is not None
    assert not verify_ed25519_native(bytes(31), b"m", bytes(64))
    assert not verify_ed25519_native(bytes(32), b"m", bytes(63))
    with pytest.raises(InvalidSignature, match="64 bytes, got 63"):
        verify_signature("ed25519", bytes(32), b"m", bytes(63))
