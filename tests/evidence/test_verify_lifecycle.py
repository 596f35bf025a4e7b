"""Certificates of records that were refused, disputed and revoked: the verifier replays every
change of the record's life from its signed log entries, and a summary that leaves one out, or a
sequence the contract would have refused, fails."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from gridledger.errors import InvalidProof
from gridledger.evidence.certificate import build_certificate
from gridledger.evidence.record_view import compute_record_view
from gridledger.evidence.verify import verify_certificate
from gridledger.ledger.tx import Transaction, TxBody, sign_transaction
from gridledger.node.abci_app import Application
from gridledger.node.solo import SoloNode
from gridledger.store.sqlite import SqliteStore
from tests.chain import (
    CHAIN_ID,
    CUSTOMER,
    EXCHANGE_ADMIN,
    GRIDCO_ADMIN,
    JUDICIAL_ENDORSER,
    NODE_KEY,
    NOTARY_ENDORSER,
    genesis_document,
    record_args,
)
from tests.evidence.test_verify import leaf_mutations, shape_mutations, undetected

REFUSED_DOC = b"supply contract, the version the notary never saw\n"
REVOKED_DOC = b"demand response agreement, cancelled\n"
REFUSED = hashlib.sha256(REFUSED_DOC).hexdigest()
REVOKED = hashlib.sha256(REVOKED_DOC).hexdigest()
PARTIES = [GRIDCO_ADMIN.address, CUSTOMER.address]
_nonce = iter(range(10_000))


def signed(method: str, args: dict[str, Any], signers: list[Any]) -> Transaction:
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=50,
        nonce=f"life{next(_nonce)}",
        contract="notary",
        method=method,
        args=args,
    )
    return sign_transaction(body, signers)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteStore]:
    store = SqliteStore(tmp_path_factory.mktemp("life") / "ledger.sqlite")
    app = Application(store)
    app.init_chain(genesis_document())
    node = SoloNode(app, NODE_KEY)
    node.start()

    def commit(method: str, args: dict[str, Any], signers: list[Any]) -> None:
        check, committed = node.wait_for_commit(signed(method, args, signers).raw)
        assert check.ok, check.log
        assert committed is not None and committed.code == 0, committed

    try:
        both = [GRIDCO_ADMIN, CUSTOMER]
        commit("record", record_args(REFUSED, PARTIES, ["notary", "judicial"]), both)
        commit("endorse", {"digest": REFUSED, "org": "judicial"}, [JUDICIAL_ENDORSER])
        reason = "the delivered document's SHA-256 does not match the recorded digest"
        commit("refuse", {"digest": REFUSED, "org": "notary", "reason": reason}, [NOTARY_ENDORSER])
        commit("record", record_args(REVOKED, PARTIES, ["notary"]), both)
        commit("endorse", {"digest": REVOKED, "org": "notary"}, [NOTARY_ENDORSER])
        commit(
            "dispute", {"digest": REVOKED, "reason": "load shed twice"}, [EXCHANGE_ADMIN, CUSTOMER]
        )
        commit("revoke", {"digest": REVOKED, "reason": "settled out of court"}, [GRIDCO_ADMIN])
    finally:
        node.stop()
    yield store
    store.close()


@pytest.fixture(params=["refused", "revoked"])
def certificate(request: pytest.FixtureRequest, store: SqliteStore) -> dict[str, Any]:
    return build_certificate(store, REFUSED if request.param == "refused" else REVOKED)


def test_refused_record_certificate_verifies_and_says_who_refused_and_why(
    store: SqliteStore,
) -> None:
    cert = build_certificate(store, REFUSED)

    evidence = verify_certificate(cert, hashlib.sha256(REFUSED_DOC).digest())

    assert evidence.status == "refused"
    assert evidence.endorsed_by == ("judicial",)
    assert [c["action"] for c in evidence.history] == ["record", "endorse", "refuse"]
    assert [e["entry"]["kind"] for e in cert["entries"]] == [
        "notary.record",
        "notary.endorse",
        "notary.refuse",
    ]
    assert "refused (by notary: the delivered document's SHA-256" in evidence.summary()


def test_revoked_record_certificate_carries_the_dispute_and_the_revocation(
    store: SqliteStore,
) -> None:
    cert = build_certificate(store, REVOKED)

    evidence = verify_certificate(cert, hashlib.sha256(REVOKED_DOC).digest())

    assert evidence.status == "revoked"
    assert evidence.endorsed_by == ("notary",)
    assert [(c["action"], c["by"], c["reason"]) for c in evidence.history[2:]] == [
        ("dispute", CUSTOMER.address, "load shed twice"),
        ("revoke", GRIDCO_ADMIN.address, "settled out of court"),
    ]
    assert cert["record"]["history"] == list(evidence.history)
    assert "revoked (by party" in evidence.summary()


def test_changing_any_leaf_of_a_lifecycle_certificate_fails(certificate: dict[str, Any]) -> None:
    assert undetected(certificate, list(leaf_mutations(certificate))) == []


def test_adding_or_removing_any_field_of_a_lifecycle_certificate_fails(
    certificate: dict[str, Any],
) -> None:
    assert undetected(certificate, list(shape_mutations(certificate))) == []


def test_dropping_a_change_entry_without_fixing_the_summary_fails(
    certificate: dict[str, Any],
) -> None:
    cert = copy.deepcopy(certificate)
    del cert["entries"][-1]

    with pytest.raises(InvalidProof, match="record field"):
        verify_certificate(cert)


def test_changes_out_of_log_order_fail(certificate: dict[str, Any]) -> None:
    cert = copy.deepcopy(certificate)
    cert["entries"][1], cert["entries"][2] = cert["entries"][2], cert["entries"][1]

    with pytest.raises(InvalidProof, match="out of log order"):
        verify_certificate(cert)


# -- the replay refuses what the contract refuses -----------------------------------------------


def _item(index: int, tx: Transaction, kind: str) -> dict[str, Any]:
    entry = {
        "chain_id": CHAIN_ID,
        "height": index + 1,
        "kind": kind,
        "time_ms": 1_795_000_000_000 + index,
        "tx": {},
        "tx_id": tx.tx_id.hex(),
        "v": 1,
    }
    return {"entry": entry, "index": index, "path": []}


def _replay(*changes: tuple[str, dict[str, Any], list[Any]]) -> dict[str, Any]:
    record_tx = signed(
        "record",
        record_args(REFUSED, PARTIES, ["notary", "judicial"]),
        [
            GRIDCO_ADMIN,
            CUSTOMER,
        ],
    )
    items: list[tuple[Mapping[str, Any], Transaction]] = [
        (_item(i + 1, tx, f"notary.{method}"), tx)
        for i, (method, args, signers) in enumerate(changes)
        for tx in [signed(method, {"digest": REFUSED, **args}, signers)]
    ]
    return compute_record_view(_item(0, record_tx, "notary.record"), record_tx, items)


def test_replay_of_a_valid_life_gives_the_contracts_status() -> None:
    view = _replay(
        ("endorse", {"org": "notary"}, [NOTARY_ENDORSER]),
        ("endorse", {"org": "judicial"}, [JUDICIAL_ENDORSER]),
        ("dispute", {"reason": "r"}, [GRIDCO_ADMIN]),
    )

    assert view["status"] == "disputed"
    assert [c["action"] for c in view["history"]] == ["record", "endorse", "endorse", "dispute"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param(
            [
                ("refuse", {"org": "notary", "reason": "x"}, [NOTARY_ENDORSER]),
                ("endorse", {"org": "judicial"}, [JUDICIAL_ENDORSER]),
            ],
            "a record that is refused",
            id="endorse-after-refusal",
        ),
        pytest.param(
            [
                ("endorse", {"org": "notary"}, [NOTARY_ENDORSER]),
                ("refuse", {"org": "notary", "reason": "x"}, [NOTARY_ENDORSER]),
            ],
            "not one the record's policy asks for",
            id="org-decides-twice",
        ),
        pytest.param(
            [("endorse", {"org": "exchange"}, [EXCHANGE_ADMIN])],
            "not one the record's policy asks for",
            id="org-not-named",
        ),
        pytest.param(
            [("revoke", {}, [EXCHANGE_ADMIN])],
            "not signed by a party",
            id="revoke-by-non-party",
        ),
        pytest.param(
            [("revoke", {}, [GRIDCO_ADMIN]), ("dispute", {"reason": "x"}, [GRIDCO_ADMIN])],
            "a record that is revoked",
            id="dispute-after-revoke",
        ),
    ],
)
def test_replay_refuses_a_life_the_contract_would_refuse(
    changes: list[tuple[str, dict[str, Any], list[Any]]], reason: str
) -> None:
    with pytest.raises(InvalidProof, match=reason):
        _replay(*changes)
