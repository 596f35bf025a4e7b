"""Delivery keys and sealed boxes; delivery keys in the genesis document."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from gridledger.errors import DecodeError
from gridledger.keys import KeyFileError
from gridledger.ledger.genesis import decode_genesis
from gridledger.node.home import init_home
from gridledger.privstore.sealed import (
    SEAL_OVERHEAD_BYTES,
    SealError,
    generate_delivery_key,
    read_delivery_key_file,
    read_delivery_public_key,
    seal,
    write_delivery_key_file,
)
from tests.chain import genesis_document

DOCUMENT = "电力购销合同 — power purchase agreement\n".encode() * 10


def test_a_sealed_document_opens_with_its_key_only() -> None:
    key, other = generate_delivery_key(), generate_delivery_key()

    sealed = seal(DOCUMENT, key.public_key)

    assert len(sealed) == len(DOCUMENT) + SEAL_OVERHEAD_BYTES
    assert key.open(sealed) == DOCUMENT
    with pytest.raises(SealError, match="sealed to another key or altered"):
        other.open(sealed)


def test_sealing_twice_gives_different_ciphertexts() -> None:
    key = generate_delivery_key()

    assert seal(DOCUMENT, key.public_key) != seal(DOCUMENT, key.public_key)


@pytest.mark.parametrize("where", [0, 31, 40, -1])
def test_an_altered_ciphertext_does_not_open(where: int) -> None:
    key = generate_delivery_key()
    sealed = bytearray(seal(DOCUMENT, key.public_key))
    sealed[where] ^= 0x01

    with pytest.raises(SealError):
        key.open(bytes(sealed))


def test_a_truncated_ciphertext_does_not_open() -> None:
    key = generate_delivery_key()

    with pytest.raises(SealError):
        key.open(seal(DOCUMENT, key.public_key)[: SEAL_OVERHEAD_BYTES - 1])


def test_seal_refuses_a_key_of_the_wrong_length() -> None:
    with pytest.raises(SealError, match="32 bytes"):
        seal(DOCUMENT, b"\x01" * 31)


def test_key_file_is_owner_only_round_trips_and_hides_the_secret(tmp_path: Path) -> None:
    key = generate_delivery_key()
    path = tmp_path / "keys" / "notary-delivery.json"

    write_delivery_key_file(path, key)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_delivery_key_file(path).public_key == key.public_key
    assert read_delivery_public_key(path) == key.public_key
    assert key.secret_bytes().hex() not in repr(key) + str(key)
    with pytest.raises(KeyFileError, match="already exists"):
        write_delivery_key_file(path, generate_delivery_key())


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param("not json", "not readable JSON", id="not-json"),
        pytest.param({"type": "ed25519", "secret_key": "00" * 32}, "not an x25519", id="ed25519"),
        pytest.param({"type": "x25519", "secret_key": "zz"}, "no valid secret_key", id="bad-hex"),
        pytest.param({"type": "x25519", "secret_key": "00" * 31}, "32 bytes", id="short"),
        pytest.param(
            {"type": "x25519", "secret_key": "11" * 32, "public_key": "22" * 32},
            "does not match",
            id="mismatched-public",
        ),
    ],
)
def test_bad_key_files_are_refused(tmp_path: Path, content: Any, reason: str) -> None:
    path = tmp_path / "k.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))

    with pytest.raises(KeyFileError, match=reason):
        read_delivery_key_file(path)


def test_missing_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="not found"):
        read_delivery_public_key(tmp_path / "nowhere.json")


# -- published in genesis ----------------------------------------------------------------------


def test_genesis_organization_may_publish_a_delivery_key() -> None:
    doc = genesis_document()
    key = generate_delivery_key().public_key.hex()
    doc["organizations"][1]["delivery_public_key"] = key

    genesis = decode_genesis(doc)

    assert genesis.organizations[1]["delivery_public_key"] == key
    assert "delivery_public_key" not in genesis.organizations[0]


@pytest.mark.parametrize("bad", ["AB" * 32, "ab" * 31, 7, None, "xy" * 32])
def test_genesis_refuses_a_malformed_delivery_key(bad: Any) -> None:
    doc = genesis_document()
    doc["organizations"][1]["delivery_public_key"] = bad

    with pytest.raises(DecodeError, match="delivery_public_key must be 64 lowercase hex"):
        decode_genesis(doc)


def test_init_home_writes_a_delivery_key_per_org_and_publishes_it(tmp_path: Path) -> None:
    home = init_home(tmp_path / "home")

    genesis = decode_genesis(home.read_genesis())

    for org in genesis.organizations:
        path = home.delivery_key_file(org["id"])
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert read_delivery_public_key(path).hex() == org["delivery_public_key"]
