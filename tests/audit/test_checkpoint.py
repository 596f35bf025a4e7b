"""Signed checkpoints: format, signature, pinned keys, and the book that keeps them."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gridledger import codec
from gridledger.audit.book import CheckpointBook
from gridledger.audit.checkpoint import (
    CHECKPOINT_DOMAIN,
    Checkpoint,
    SignedCheckpoint,
    compute_checkpoint_sign_bytes,
    decode_signed_checkpoint,
    sign_checkpoint,
    verify_checkpoint,
)
from gridledger.crypto import ED25519, verify_signature
from gridledger.errors import DecodeError, InvalidProof, StoreError
from tests.chain import NODE_KEY, key_for

OTHER_KEY = key_for("another node")


def checkpoint(height: int = 7, log_size: int = 5) -> Checkpoint:
    return Checkpoint(
        chain_id="gridledger-test",
        height=height,
        log_size=log_size,
        log_root=bytes(range(32)),
        app_hash=bytes(range(32, 64)),
        time_ms=1_795_000_007_000,
    )


def test_sign_bytes_are_the_domain_and_canonical_json_of_the_six_fields() -> None:
    cp = checkpoint()
    assert compute_checkpoint_sign_bytes(cp) == CHECKPOINT_DOMAIN + (
        b'{"app_hash":"' + bytes(range(32, 64)).hex().encode() + b'","chain_id":"gridledger-test",'
        b'"height":7,"log_root":"' + bytes(range(32)).hex().encode() + b'","log_size":5,'
        b'"time_ms":1795000007000}'
    )


def test_signed_checkpoint_round_trips_and_verifies_with_its_key() -> None:
    signed = sign_checkpoint(checkpoint(), NODE_KEY)
    verify_signature(
        ED25519, NODE_KEY.public_key, compute_checkpoint_sign_bytes(checkpoint()), signed.signature
    )
    wire = signed.to_json()
    assert set(wire) == {"alg", "checkpoint", "public_key", "signature"}
    decoded = decode_signed_checkpoint(codec.decode(codec.encode(wire)))
    assert decoded == signed
    verify_checkpoint(decoded)
    verify_checkpoint(decoded, NODE_KEY.public_key)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("height", 8),
        ("log_size", 6),
        ("log_root", bytes(32).hex()),
        ("app_hash", bytes(32).hex()),
        ("time_ms", 1),
        ("chain_id", "gridledger-other"),
    ],
)
def test_any_changed_field_breaks_the_signature(field: str, value: Any) -> None:
    wire = sign_checkpoint(checkpoint(), NODE_KEY).to_json()
    wire["checkpoint"][field] = value
    with pytest.raises(InvalidProof, match="invalid signature"):
        verify_checkpoint(decode_signed_checkpoint(wire))


def test_flipped_signature_bit_is_refused() -> None:
    signed = sign_checkpoint(checkpoint(), NODE_KEY)
    bad = bytearray(signed.signature)
    bad[10] ^= 1
    with pytest.raises(InvalidProof, match="checkpoint at height 7 has an invalid signature"):
        verify_checkpoint(
            SignedCheckpoint(
                checkpoint=signed.checkpoint, public_key=signed.public_key, signature=bytes(bad)
            )
        )


def test_signature_by_another_key_presented_as_ours_is_refused() -> None:
    by_other = sign_checkpoint(checkpoint(), OTHER_KEY)
    forged = SignedCheckpoint(
        checkpoint=by_other.checkpoint, public_key=NODE_KEY.public_key, signature=by_other.signature
    )
    with pytest.raises(InvalidProof, match="invalid signature"):
        verify_checkpoint(forged)


def test_pinned_key_mismatch_is_refused_even_with_a_valid_signature() -> None:
    signed = sign_checkpoint(checkpoint(), OTHER_KEY)
    verify_checkpoint(signed)  # valid for the key it names
    with pytest.raises(InvalidProof, match="not by the pinned key"):
        verify_checkpoint(signed, NODE_KEY.public_key)


def _wire() -> dict[str, Any]:
    return sign_checkpoint(checkpoint(), NODE_KEY).to_json()


def _mutate(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    wire = copy.deepcopy(_wire())
    target = wire
    for name in path[:-1]:
        target = target[name]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return wire


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("alg",), "secp256k1", "alg must be 'ed25519'"),
        (("extra",), 1, "exactly the fields"),
        (("signature",), _DELETE, "exactly the fields"),
        (("signature",), "ab" * 63, "signature must be 128 lowercase hex"),
        (("public_key",), "AB" * 32, "public_key must be 64 lowercase hex"),
        (("checkpoint", "height"), -1, "height must be a non-negative integer"),
        (("checkpoint", "log_size"), True, "log_size must be a non-negative integer"),
        (("checkpoint", "time_ms"), "1", "time_ms must be a non-negative integer"),
        (("checkpoint", "log_root"), "00" * 31, "log_root must be 64 lowercase hex"),
        (("checkpoint", "chain_id"), "bad chain", "chain_id must be"),
        (("checkpoint", "app_hash"), _DELETE, "exactly the fields"),
    ],
)
def test_malformed_signed_checkpoints_are_refused(
    path: tuple[str, ...], value: Any, message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_signed_checkpoint(_mutate(path, value))


def test_non_object_is_refused() -> None:
    with pytest.raises(DecodeError):
        decode_signed_checkpoint([1, 2])


# -- the book ----------------------------------------------------------------------------------


def test_book_keeps_one_checkpoint_per_height_in_order(tmp_path: Path) -> None:
    book = CheckpointBook(tmp_path / "checkpoints.sqlite")
    assert book.latest() is None and book.list_all() == [] and book.count() == 0
    first = sign_checkpoint(checkpoint(height=3, log_size=2), NODE_KEY)
    second = sign_checkpoint(checkpoint(height=9, log_size=6), NODE_KEY)
    assert book.add(second) and book.add(first)
    rival = sign_checkpoint(checkpoint(height=3, log_size=4), NODE_KEY)
    assert not book.add(rival)  # a signed checkpoint is never replaced
    assert book.list_all() == [first, second]
    assert book.latest() == second
    assert book.get(3) == first and book.get(4) is None
    assert book.list_from(from_height=4) == [second]
    assert book.list_from(limit=1) == [first]
    assert book.count() == 2


def test_book_row_edited_by_hand_no_longer_verifies(tmp_path: Path) -> None:
    book = CheckpointBook(tmp_path / "checkpoints.sqlite")
    book.add(sign_checkpoint(checkpoint(), NODE_KEY))
    body = codec.encode({**checkpoint().to_json(), "log_size": 99})
    with sqlite3.connect(book.path) as conn:
        conn.execute("UPDATE checkpoints SET body = ?", (body,))
    conn.close()
    edited = book.latest()
    assert edited is not None and edited.checkpoint.log_size == 99
    with pytest.raises(InvalidProof, match="invalid signature"):
        verify_checkpoint(edited, NODE_KEY.public_key)


def test_book_row_that_does_not_decode_is_a_store_error(tmp_path: Path) -> None:
    book = CheckpointBook(tmp_path / "checkpoints.sqlite")
    book.add(sign_checkpoint(checkpoint(), NODE_KEY))
    with sqlite3.connect(book.path) as conn:
        conn.execute("UPDATE checkpoints SET body = ?", (b"not json",))
    conn.close()
    with pytest.raises(StoreError, match="row 7 is malformed"):
        book.latest()
