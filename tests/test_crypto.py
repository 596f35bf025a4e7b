"""Ed25519 signatures and addresses."""

from __future__ import annotations

import pytest

from gridledger.crypto import (
    ED25519,
    PrivateKey,
    compute_address,
    is_address,
    verify_signature,
)
from gridledger.errors import InvalidSignature

SEED = bytes(range(32))
KEY = PrivateKey.from_seed(SEED)
MESSAGE = b'gridledger/tx/v1\n{"a":1}'

# RFC 8032 section 7.1, TEST 1: the empty message under the all-zero-knowledge test key.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)


def flip_bit(data: bytes, index: int, bit: int = 0) -> bytes:
    out = bytearray(data)
    out[index] ^= 1 << bit
    return bytes(out)


def test_private_key_matches_rfc8032_test_vector() -> None:
    key = PrivateKey.from_seed(RFC8032_SECRET)

    assert key.public_key == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIGNATURE
    verify_signature(ED25519, RFC8032_PUBLIC, b"", RFC8032_SIGNATURE)


def test_signature_verifies_under_its_key() -> None:
    verify_signature(KEY.alg, KEY.public_key, MESSAGE, KEY.sign(MESSAGE))


def test_signing_is_deterministic() -> None:
    assert KEY.sign(MESSAGE) == PrivateKey.from_seed(SEED).sign(MESSAGE)


def test_signature_fails_under_another_key() -> None:
    other = PrivateKey.from_seed(bytes(32))

    with pytest.raises(InvalidSignature, match="does not verify"):
        verify_signature(ED25519, other.public_key, MESSAGE, KEY.sign(MESSAGE))


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_signature_with_a_flipped_bit_fails(index: int) -> None:
    signature = flip_bit(KEY.sign(MESSAGE), index)

    with pytest.raises(InvalidSignature):
        verify_signature(ED25519, KEY.public_key, MESSAGE, signature)


@pytest.mark.parametrize("index", [0, len(MESSAGE) - 1])
def test_message_with_a_flipped_bit_fails(index: int) -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(ED25519, KEY.public_key, flip_bit(MESSAGE, index), KEY.sign(MESSAGE))


def test_public_key_with_a_flipped_bit_fails() -> None:
    with pytest.raises(InvalidSignature):
        verify_signature(ED25519, flip_bit(KEY.public_key, 5), MESSAGE, KEY.sign(MESSAGE))


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_public_key_of_wrong_length_fails(length: int) -> None:
    public_key = (KEY.public_key * 2)[:length]

    with pytest.raises(InvalidSignature, match=f"got {length}"):
        verify_signature(ED25519, public_key, MESSAGE, KEY.sign(MESSAGE))


@pytest.mark.parametrize("length", [0, 63, 65, 128])
def test_signature_of_wrong_length_fails(length: int) -> None:
    signature = (KEY.sign(MESSAGE) * 2)[:length]

    with pytest.raises(InvalidSignature, match=f"got {length}"):
        verify_signature(ED25519, KEY.public_key, MESSAGE, signature)


def test_unsupported_suite_fails() -> None:
    with pytest.raises(InvalidSignature, match="unsupported signature suite 'sm2'"):
        verify_signature("sm2", KEY.public_key, MESSAGE, KEY.sign(MESSAGE))


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_seed_of_wrong_length_is_refused(length: int) -> None:
    with pytest.raises(InvalidSignature, match=f"got {length}"):
        PrivateKey.from_seed(bytes(length))


# -- addresses ---------------------------------------------------------------------------------


def test_address_is_gl_and_40_lowercase_hex() -> None:
    address = KEY.address

    assert address.startswith("gl")
    assert len(address) == 42
    assert all(c in "0123456789abcdef" for c in address[2:])
    assert is_address(address)


def test_address_is_the_key_address_for_ed25519() -> None:
    assert (
        KEY.address == compute_address(KEY.public_key) == compute_address(KEY.public_key, ED25519)
    )


def test_address_depends_on_key_and_suite() -> None:
    other = PrivateKey.from_seed(bytes(32))

    assert compute_address(other.public_key) != KEY.address
    assert compute_address(KEY.public_key, "sm2") != KEY.address


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("gl" + "0" * 39, id="short"),
        pytest.param("gl" + "0" * 41, id="long"),
        pytest.param("gx" + "0" * 40, id="wrong-prefix"),
        pytest.param("GL" + "0" * 40, id="uppercase-prefix"),
        pytest.param("gl" + "A" * 40, id="uppercase-hex"),
        pytest.param("gl" + "g" * 40, id="not-hex"),
        pytest.param(None, id="none"),
        pytest.param(b"gl" + b"0" * 40, id="bytes"),
    ],
)
def test_is_address_refuses_other_text(text: object) -> None:
    assert not is_address(text)


# -- the secret stays secret -------------------------------------------------------------------


def test_private_key_repr_and_str_never_show_the_secret() -> None:
    secret_hex = SEED.hex()
    shown = [repr(KEY), str(KEY), f"{KEY}", f"{KEY!r}", repr([KEY]), repr({"k": KEY})]

    for text in shown:
        assert secret_hex not in text
        assert secret_hex.upper() not in text
        assert repr(SEED) not in text
        assert KEY.address in text


def test_verified_cache_remembers_only_successes_and_stays_bounded() -> None:
    from gridledger.crypto import ED25519, VerifiedCache

    key = PrivateKey.from_seed(bytes(32))
    cache = VerifiedCache(max_entries=2)
    good = key.sign(b"reading 1")
    cache.verify(ED25519, key.public_key, b"reading 1", good)
    cache.verify(ED25519, key.public_key, b"reading 1", good)  # a hit: same bytes
    for _ in range(2):  # a failure is never remembered: it fails every time
        with pytest.raises(InvalidSignature):
            cache.verify(ED25519, key.public_key, b"reading 2", good)
    other = PrivateKey.from_seed(bytes([1]) * 32)  # the same message under a rotated key misses
    with pytest.raises(InvalidSignature):
        cache.verify(ED25519, other.public_key, b"reading 1", good)
    for n in range(5):
        message = f"m{n}".encode()
        cache.verify(ED25519, key.public_key, message, key.sign(message))
    assert len(cache._seen) == 2
