"""Evidence certificates built by a solo node, verified offline; every change to one is caught."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from gridledger import codec, merkle
from gridledger.contracts import notary
from gridledger.errors import InvalidProof, NotFound
from gridledger.evidence.certificate import build_certificate
from gridledger.evidence.verify import TOP_FIELDS, verify_certificate
from gridledger.ledger.block import compute_header_sign_bytes, decode_header
from gridledger.ledger.tx import TxBody, sign_transaction
from gridledger.node.abci_app import Application
from gridledger.node.solo import SoloNode
from gridledger.store.sqlite import SqliteStore
from tests.chain import (
    CHAIN_ID,
    CUSTOMER,
    GRIDCO_ADMIN,
    JUDICIAL_ENDORSER,
    NODE_KEY,
    NOTARY_ENDORSER,
    genesis_document,
    key_for,
    nested_object,
    record_args,
)

DOCUMENT = "供电合同 / supply contract, 2026 edition\n".encode()
DIGEST = hashlib.sha256(DOCUMENT).digest()
BATCH_FILES = [f"meter export {i:03d}\n".encode() for i in range(50)]
BATCH_DIGESTS = [hashlib.sha256(f).hexdigest() for f in BATCH_FILES]
BATCH_ROOT = merkle.root([bytes.fromhex(d) for d in BATCH_DIGESTS]).hex()


@dataclass(frozen=True)
class Issued:
    store: SqliteStore
    document: dict[str, Any]
    batch_member: dict[str, Any]

    def certificate(self, digest: str) -> dict[str, Any]:
        return build_certificate(self.store, digest)


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issued]:
    store = SqliteStore(tmp_path_factory.mktemp("node") / "ledger.sqlite")
    app = Application(store)
    app.init_chain(genesis_document())
    node = SoloNode(app, NODE_KEY)
    node.start()
    nonce = iter(range(1_000))

    def commit(method: str, args: dict[str, Any], signers: list[Any]) -> None:
        body = TxBody(
            chain_id=CHAIN_ID,
            expiry_height=50,
            nonce=f"n{next(nonce)}",
            contract="notary",
            method=method,
            args=args,
        )
        check, committed = node.wait_for_commit(sign_transaction(body, signers).raw)
        assert check.ok, check.log
        assert committed is not None and committed.code == 0, committed

    try:
        args = record_args(
            DIGEST.hex(),
            [GRIDCO_ADMIN.address, CUSTOMER.address],
            ["notary", "judicial"],
            metadata={
                "annex": nested_object(notary.MAX_METADATA_DEPTH - 1),
                "contract_no": "GC-2026-0042",
                "pages": 12,
                "signed": True,
            },
        )
        commit("record", args, [GRIDCO_ADMIN, CUSTOMER])
        commit(
            "endorse", {"digest": DIGEST.hex(), "org": "notary", "note": "ok"}, [NOTARY_ENDORSER]
        )
        commit("endorse", {"digest": DIGEST.hex(), "org": "judicial"}, [JUDICIAL_ENDORSER])
        batch_args = {
            "root": BATCH_ROOT,
            "count": len(BATCH_DIGESTS),
            "title": "Meter exports, May",
            "record_type": "meter_data",
            "parties": [GRIDCO_ADMIN.address],
            "endorsers": ["notary"],
        }
        commit("record_batch", batch_args, [GRIDCO_ADMIN])
        commit("endorse", {"digest": BATCH_ROOT, "org": "notary"}, [NOTARY_ENDORSER])
        store.put_batch_manifest(BATCH_ROOT, BATCH_DIGESTS)
    finally:
        node.stop()
    yield Issued(
        store=store,
        document=build_certificate(store, DIGEST.hex()),
        batch_member=build_certificate(store, BATCH_DIGESTS[17]),
    )
    store.close()


@pytest.fixture(params=["document", "batch_member"])
def certificate(request: pytest.FixtureRequest, issued: Issued) -> dict[str, Any]:
    cert: dict[str, Any] = copy.deepcopy(getattr(issued, request.param))
    return cert


def assert_invalid(cert: Any, reason: str = "", **kwargs: Any) -> InvalidProof:
    with pytest.raises(InvalidProof) as info:
        verify_certificate(cert, **kwargs)
    assert info.value.message
    assert reason in info.value.message
    return info.value


# -- valid certificates ------------------------------------------------------------------------


def test_document_certificate_verifies_with_the_files_digest(issued: Issued) -> None:
    evidence = verify_certificate(issued.document, DIGEST)

    assert evidence.digest == DIGEST.hex()
    assert evidence.status == "endorsed"
    assert evidence.endorsed_by == ("notary", "judicial")
    assert evidence.required_endorsers == ("notary", "judicial")
    assert evidence.parties == (GRIDCO_ADMIN.address, CUSTOMER.address)
    assert (evidence.record_height, evidence.block_height) == (1, 5)
    assert evidence.node_public_key == NODE_KEY.public_key.hex()
    assert evidence.batch_root is None
    assert evidence.summary().startswith("VALID: sha256 ")


def test_certificate_verifies_with_the_node_key_pinned(issued: Issued) -> None:
    verify_certificate(issued.document, DIGEST, trusted_node_keys={NODE_KEY.public_key})


def test_certificate_survives_a_canonical_json_round_trip(issued: Issued) -> None:
    cert = codec.decode(codec.encode(issued.document))  # metadata nested to the limit included

    assert verify_certificate(cert, DIGEST).digest == DIGEST.hex()


def test_every_batch_member_verifies_against_its_file(issued: Issued) -> None:
    for index, (content, digest) in enumerate(zip(BATCH_FILES, BATCH_DIGESTS, strict=True)):
        cert = issued.certificate(digest)

        evidence = verify_certificate(cert, hashlib.sha256(content).digest())

        assert (cert["batch"]["index"], cert["batch"]["count"]) == (index, len(BATCH_DIGESTS))
        assert evidence.batch_root == BATCH_ROOT
        assert (evidence.digest, evidence.status) == (digest, "endorsed")


# -- the file ----------------------------------------------------------------------------------


def test_document_with_one_byte_changed_fails(issued: Issued) -> None:
    altered = bytearray(DOCUMENT)
    altered[3] ^= 0x01

    assert_invalid(issued.document, "does not match", file_digest=hashlib.sha256(altered).digest())


def test_batch_certificate_fails_for_another_members_file(issued: Issued) -> None:
    assert_invalid(
        issued.batch_member, "does not match", file_digest=hashlib.sha256(BATCH_FILES[18]).digest()
    )


def test_batch_certificate_fails_for_a_non_member_digest(issued: Issued) -> None:
    stranger = hashlib.sha256(b"not in the batch").hexdigest()
    cert = copy.deepcopy(issued.batch_member)
    cert["document"]["digest"] = stranger

    assert_invalid(cert, "not in the batch")
    with pytest.raises(NotFound):
        issued.certificate(stranger)


def test_batch_certificate_fails_when_claiming_another_members_index(issued: Issued) -> None:
    cert = copy.deepcopy(issued.batch_member)
    cert["document"]["digest"] = BATCH_DIGESTS[18]

    assert_invalid(cert, "not in the batch")


# -- every field -------------------------------------------------------------------------------


def changed_text(text: str) -> str:
    if not text:
        return "x"
    last = text[-1]
    hex_digits = "0123456789abcdef"
    if last in hex_digits:  # stay valid hex: the change is in meaning, not in syntax
        return text[:-1] + hex_digits[(hex_digits.index(last) + 1) % 16]
    return text[:-1] + chr(ord(last) ^ 0x01)


def changed_leaf(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return changed_text(value)
    if value is None:
        return {}
    raise AssertionError(f"not JSON: {value!r}")


def leaf_mutations(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, replacement) for every leaf, every list and every empty object of the JSON tree."""
    if isinstance(node, dict):
        if not node:
            yield path, {"added": 1}
        for key, value in node.items():
            yield from leaf_mutations(value, (*path, key))
    elif isinstance(node, list):
        if not node:
            yield path, ["added"]
        else:
            yield path, node[:-1]
        if len(node) > 1:
            yield path, node[1:]
        for index, value in enumerate(node):
            yield from leaf_mutations(value, (*path, index))
    else:
        yield path, changed_leaf(node)


def shape_mutations(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, replacement) adding a field to, and removing each field from, every object."""
    if isinstance(node, dict):
        yield path, {**node, "extra": None}
        for key in node:
            yield path, {k: v for k, v in node.items() if k != key}
        for key, value in node.items():
            yield from shape_mutations(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from shape_mutations(value, (*path, index))


def spelling_mutations(
    node: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """(path, replacement) writing the same bytes differently: an upper-case hex digit, a space."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from spelling_mutations(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from spelling_mutations(value, (*path, index))
    elif isinstance(node, str) and len(node) % 2 == 0 and set(node) <= set("0123456789abcdef"):
        letters = [i for i, c in enumerate(node) if c in "abcdef"]
        if letters:
            i = letters[-1]
            yield path, node[:i] + node[i].upper() + node[i + 1 :]
        if node:
            yield path, node[:2] + " " + node[2:]


def replaced(cert: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(cert)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


def undetected(cert: dict[str, Any], mutations: list[tuple[tuple[Any, ...], Any]]) -> list[str]:
    missed = []
    for path, value in mutations:
        mutated = replaced(cert, path, value) if path else value
        try:
            verify_certificate(mutated)
        except InvalidProof as exc:
            assert exc.message, path
            continue
        missed.append("/".join(map(str, path)) + f" -> {value!r:.60}")
    return missed


def test_walk_covers_every_part_of_the_certificate(certificate: dict[str, Any]) -> None:
    paths = {path[:1] for path, _ in leaf_mutations(certificate)}

    assert paths == {(field,) for field in TOP_FIELDS}
    assert len(list(leaf_mutations(certificate))) > 100


def test_changing_any_leaf_of_the_certificate_fails(certificate: dict[str, Any]) -> None:
    verify_certificate(certificate)

    assert undetected(certificate, list(leaf_mutations(certificate))) == []


def test_adding_or_removing_any_field_of_the_certificate_fails(
    certificate: dict[str, Any],
) -> None:
    assert undetected(certificate, list(shape_mutations(certificate))) == []


def test_respelling_any_hex_value_of_the_certificate_fails(certificate: dict[str, Any]) -> None:
    mutations = list(spelling_mutations(certificate))
    assert len(mutations) > 50

    assert undetected(certificate, mutations) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(("record", "count"), True, id="count-true-for-1"),
        pytest.param(("record", "height"), 1.0, id="height-float"),
        pytest.param(("record", "metadata", "signed"), 1, id="metadata-1-for-true"),
        pytest.param(("record", "metadata", "pages"), 12.0, id="metadata-float"),
    ],
)
def test_a_value_of_another_json_type_fails_even_when_python_calls_it_equal(
    issued: Issued, path: tuple[str, ...], value: Any
) -> None:
    assert_invalid(replaced(issued.document, path, value))


def test_missing_top_level_field_fails(certificate: dict[str, Any]) -> None:
    for field in sorted(TOP_FIELDS):
        cert = {k: v for k, v in certificate.items() if k != field}

        assert_invalid(cert, "exactly the fields")


def test_extra_top_level_field_fails(certificate: dict[str, Any]) -> None:
    assert_invalid({**certificate, "comment": "trust me"}, "exactly the fields")


@pytest.mark.parametrize("cert", [None, [], "certificate", 7])
def test_a_certificate_that_is_not_an_object_fails(cert: Any) -> None:
    assert_invalid(cert)


def test_block_signature_with_a_flipped_bit_fails(certificate: dict[str, Any]) -> None:
    signature = bytearray(bytes.fromhex(certificate["block"]["signature"]))
    signature[7] ^= 0x10
    certificate["block"]["signature"] = signature.hex()

    assert_invalid(certificate, "signature")


def test_untrusted_node_key_fails_when_keys_are_pinned(certificate: dict[str, Any]) -> None:
    assert_invalid(
        certificate, "not trusted", trusted_node_keys={key_for("another node").public_key}
    )


def test_certificate_re_signed_by_another_node_fails_once_the_node_key_is_pinned(
    certificate: dict[str, Any],
) -> None:
    impostor = key_for("impostor node")
    certificate["block"]["header"]["proposer"] = impostor.public_key.hex()
    certificate["trust_anchor"]["node_public_key"] = impostor.public_key.hex()
    header = decode_header(certificate["block"]["header"])
    certificate["block"]["signature"] = impostor.sign(compute_header_sign_bytes(header)).hex()
    verify_certificate(certificate)  # consistent in itself: only a pinned key can tell

    assert_invalid(certificate, "not trusted", trusted_node_keys={NODE_KEY.public_key})
