"""The transaction envelope: shape checks on decode, tx_id, signatures."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from gridledger import codec
from gridledger.errors import (
    DecodeError,
    GridledgerError,
    InvalidSignature,
    InvalidTransaction,
    Oversized,
)
from gridledger.ledger.tx import (
    MAX_SIGNATURES,
    MAX_TX_BYTES,
    SIGN_DOMAIN,
    TxBody,
    add_signature,
    compute_tx_id,
    decode_transaction,
    encode_transaction,
    sign_transaction,
    transaction_from_json,
    verify_transaction_signatures,
)
from tests.chain import CUSTOMER, GRIDCO_ADMIN, NOTARY_ENDORSER, key_for

BODY = TxBody(
    chain_id="gridledger-test",
    expiry_height=120,
    nonce="9f2c",
    contract="notary",
    method="record",
    args={"digest": "ab" * 32, "title": "Supply contract"},
)


def signed(body: TxBody = BODY) -> dict[str, Any]:
    return sign_transaction(body, [GRIDCO_ADMIN, CUSTOMER]).to_json()


def decode_mutated(mutate: Callable[[dict[str, Any]], Any]) -> None:
    obj = copy.deepcopy(signed())
    mutate(obj)
    decode_transaction(codec.encode(obj))


# -- a valid transaction -----------------------------------------------------------------------


def test_signed_transaction_decodes_to_the_same_body_and_signers() -> None:
    tx = sign_transaction(BODY, [GRIDCO_ADMIN, CUSTOMER])

    decoded = decode_transaction(tx.raw)

    assert decoded.body == BODY
    assert decoded.signers == (GRIDCO_ADMIN.address, CUSTOMER.address)
    assert decoded.sender == GRIDCO_ADMIN.address
    assert decoded.raw == tx.raw == codec.encode(tx.to_json())
    verify_transaction_signatures(decoded)


def test_tx_id_is_sha256_of_domain_and_canonical_body() -> None:
    tx = sign_transaction(BODY, [GRIDCO_ADMIN])

    expected = hashlib.sha256(SIGN_DOMAIN + codec.encode(BODY.to_json())).digest()
    assert tx.tx_id == compute_tx_id(BODY) == expected


def test_tx_id_does_not_depend_on_the_signatures() -> None:
    one = sign_transaction(BODY, [GRIDCO_ADMIN])
    two = add_signature(one, CUSTOMER)

    assert two.tx_id == one.tx_id
    assert two.raw != one.raw
    assert two.signers == (GRIDCO_ADMIN.address, CUSTOMER.address)
    verify_transaction_signatures(two)


def test_tx_id_changes_with_the_nonce() -> None:
    other = TxBody(**{**_fields(BODY), "nonce": "9f2d"})

    assert compute_tx_id(other) != compute_tx_id(BODY)


def test_transaction_from_json_equals_decode() -> None:
    tx = sign_transaction(BODY, [GRIDCO_ADMIN, CUSTOMER])

    assert transaction_from_json(tx.to_json()) == decode_transaction(tx.raw)


def _fields(body: TxBody) -> dict[str, Any]:
    return {
        "chain_id": body.chain_id,
        "expiry_height": body.expiry_height,
        "nonce": body.nonce,
        "contract": body.contract,
        "method": body.method,
        "args": dict(body.args),
    }


# -- shape errors, each with its class ---------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        target = obj
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value

    return mutate


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        target = obj
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]

    return mutate


def _duplicate_signer(obj: dict[str, Any]) -> None:
    obj["signatures"].append(dict(obj["signatures"][0]))


def _uppercase(field: str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        obj["signatures"][0][field] = obj["signatures"][0][field].upper()

    return mutate


def _spaced(field: str) -> Callable[[dict[str, Any]], None]:
    def mutate(obj: dict[str, Any]) -> None:
        value = obj["signatures"][0][field]
        obj["signatures"][0][field] = " ".join(value[i : i + 2] for i in range(0, len(value), 2))

    return mutate


SHAPE_ERRORS: list[Any] = [
    pytest.param(_set(("extra",), 1), InvalidTransaction, "exactly", id="extra-top-field"),
    pytest.param(_delete(("signatures",)), InvalidTransaction, "exactly", id="no-signatures-key"),
    pytest.param(_set(("body",), []), InvalidTransaction, "object", id="body-not-object"),
    *[
        pytest.param(_delete(("body", f)), InvalidTransaction, "missing", id=f"missing-{f}")
        for f in ("args", "chain_id", "contract", "expiry_height", "method", "nonce")
    ],
    pytest.param(_set(("body", "memo"), "x"), InvalidTransaction, "unknown field", id="extra-body"),
    pytest.param(_set(("body", "nonce"), ""), InvalidTransaction, "nonce", id="empty-nonce"),
    pytest.param(_set(("body", "nonce"), "n" * 65), InvalidTransaction, "nonce", id="long-nonce"),
    pytest.param(_set(("body", "nonce"), 7), InvalidTransaction, "nonce", id="int-nonce"),
    pytest.param(_set(("body", "expiry_height"), 0), InvalidTransaction, "expiry", id="expiry-0"),
    pytest.param(
        _set(("body", "expiry_height"), -5), InvalidTransaction, "expiry", id="expiry-negative"
    ),
    pytest.param(
        _set(("body", "expiry_height"), True), InvalidTransaction, "expiry", id="expiry-bool"
    ),
    pytest.param(
        _set(("body", "expiry_height"), "9"), InvalidTransaction, "expiry", id="expiry-str"
    ),
    pytest.param(_set(("body", "args"), []), InvalidTransaction, "args", id="args-not-object"),
    pytest.param(_set(("body", "contract"), ""), InvalidTransaction, "contract", id="empty-name"),
    pytest.param(_set(("body", "method"), "m" * 65), InvalidTransaction, "method", id="long-name"),
    pytest.param(
        _set(("body", "contract"), "no/tary"), InvalidTransaction, "contract", id="slash-in-name"
    ),
    pytest.param(
        _set(("body", "chain_id"), "gridledger-tést"),
        InvalidTransaction,
        "chain_id",
        id="non-ascii-name",
    ),
    pytest.param(_set(("signatures",), []), InvalidSignature, "no signatures", id="no-signatures"),
    pytest.param(_set(("signatures",), {}), InvalidSignature, "no signatures", id="sigs-not-list"),
    pytest.param(_duplicate_signer, InvalidSignature, "more than once", id="duplicate-signer"),
    pytest.param(
        _set(("signatures", 0, "alg"), "sm2"), InvalidSignature, "unsupported", id="alg-sm2"
    ),
    pytest.param(
        _set(("signatures", 0, "alg"), "ED25519"), InvalidSignature, "unsupported", id="alg-case"
    ),
    pytest.param(
        _set(("signatures", 0, "extra"), ""), InvalidSignature, "must be an object", id="sig-extra"
    ),
    pytest.param(
        _delete(("signatures", 0, "alg")), InvalidSignature, "must be an object", id="sig-no-alg"
    ),
    pytest.param(
        _set(("signatures", 0), "ab"), InvalidSignature, "must be an object", id="sig-not-object"
    ),
    pytest.param(_uppercase("public_key"), InvalidSignature, "lowercase", id="upper-public-key"),
    pytest.param(_uppercase("signature"), InvalidSignature, "lowercase", id="upper-signature"),
    pytest.param(_spaced("public_key"), InvalidSignature, "lowercase", id="spaced-public-key"),
    pytest.param(_spaced("signature"), InvalidSignature, "lowercase", id="spaced-signature"),
    pytest.param(
        _set(("signatures", 0, "signature"), "abc"), InvalidSignature, "signature 0", id="odd-hex"
    ),
    pytest.param(
        _set(("signatures", 1, "public_key"), 12), InvalidSignature, "signature 1", id="int-key"
    ),
]


@pytest.mark.parametrize(("mutate", "error", "reason"), SHAPE_ERRORS)
def test_decode_refuses_malformed_shape(
    mutate: Callable[[dict[str, Any]], Any], error: type[GridledgerError], reason: str
) -> None:
    with pytest.raises(error, match=reason) as info:
        decode_mutated(mutate)

    assert type(info.value) is error


def test_decode_refuses_more_signatures_than_the_limit_as_oversized() -> None:
    signers = [key_for(f"signer-{i}") for i in range(MAX_SIGNATURES + 1)]
    obj = sign_transaction(BODY, signers[:MAX_SIGNATURES]).to_json()
    assert len(decode_transaction(codec.encode(obj)).signatures) == MAX_SIGNATURES
    extra = sign_transaction(BODY, signers[MAX_SIGNATURES:]).to_json()["signatures"]
    obj["signatures"].extend(extra)

    with pytest.raises(Oversized, match=str(MAX_SIGNATURES)):
        decode_transaction(codec.encode(obj))


def test_decode_refuses_a_transaction_above_the_byte_limit_as_oversized() -> None:
    base = len(sign_transaction(BODY, [GRIDCO_ADMIN]).raw)
    args = dict(BODY.args)

    args["note"] = "x" * (MAX_TX_BYTES - base - len(',"note":""'))
    at_limit = sign_transaction(TxBody(**{**_fields(BODY), "args": args}), [GRIDCO_ADMIN])
    assert len(at_limit.raw) == MAX_TX_BYTES
    assert decode_transaction(at_limit.raw).tx_id == at_limit.tx_id

    raw = at_limit.raw.replace(b'"note":"', b'"note":"x', 1)
    assert len(raw) == MAX_TX_BYTES + 1
    with pytest.raises(Oversized, match=str(MAX_TX_BYTES)):
        decode_transaction(raw)


def test_transaction_from_json_also_refuses_oversized() -> None:
    obj = signed()
    obj["body"]["args"]["note"] = "x" * MAX_TX_BYTES

    with pytest.raises(Oversized):
        transaction_from_json(obj)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"not json", id="not-json"),
        pytest.param(b'{"body":{},"signatures":[1.5]}', id="float"),
        pytest.param(b'{"body":{},"body":{},"signatures":[]}', id="duplicate-key"),
        pytest.param(b'{"signatures":[],"body":{}}', id="unsorted"),
    ],
)
def test_decode_refuses_bytes_that_are_not_canonical_json(raw: bytes) -> None:
    with pytest.raises(DecodeError, match="transaction"):
        decode_transaction(raw)


# -- signatures --------------------------------------------------------------------------------


def test_signature_over_a_different_body_is_caught() -> None:
    other_body = TxBody(**{**_fields(BODY), "expiry_height": BODY.expiry_height + 1})
    stolen = sign_transaction(other_body, [GRIDCO_ADMIN]).signatures

    tx = encode_transaction(BODY, stolen)

    with pytest.raises(InvalidSignature, match=f"signature 0 \\(signer {GRIDCO_ADMIN.address}"):
        verify_transaction_signatures(tx)


def test_bad_co_signature_is_caught_and_named_by_position() -> None:
    good = sign_transaction(BODY, [GRIDCO_ADMIN]).signatures
    other_body = TxBody(**{**_fields(BODY), "nonce": "other"})
    bad = sign_transaction(other_body, [NOTARY_ENDORSER]).signatures

    tx = encode_transaction(BODY, (*good, *bad))

    with pytest.raises(InvalidSignature, match="signature 1"):
        verify_transaction_signatures(tx)


def test_signature_with_a_flipped_bit_is_caught() -> None:
    obj = signed()
    sig = bytearray(bytes.fromhex(obj["signatures"][1]["signature"]))
    sig[10] ^= 0x01
    obj["signatures"][1]["signature"] = sig.hex()

    tx = decode_transaction(codec.encode(obj))

    with pytest.raises(InvalidSignature, match="signature 1"):
        verify_transaction_signatures(tx)


def test_public_key_of_wrong_length_decodes_but_does_not_verify() -> None:
    obj = signed()
    obj["signatures"][0]["public_key"] = obj["signatures"][0]["public_key"][:-2]

    tx = decode_transaction(codec.encode(obj))

    with pytest.raises(InvalidSignature, match="32 bytes"):
        verify_transaction_signatures(tx)
