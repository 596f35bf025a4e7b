"""The notary contract: pre-state → operation → post-state, then every way to get it wrong."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from gridledger import codec, merkle
from gridledger.contracts import notary
from gridledger.crypto import PrivateKey
from gridledger.ledger.transition import OK, BlockResult
from tests.chain import (
    CUSTOMER,
    EXCHANGE_ADMIN,
    GRIDCO_ADMIN,
    JUDICIAL_ENDORSER,
    NOTARY_ADMIN,
    NOTARY_ENDORSER,
    Chain,
    digest_of,
    nested_object,
    record_args,
)

DIGEST = digest_of("supply contract v1")
PARTIES = (GRIDCO_ADMIN.address, CUSTOMER.address)


def submit(
    chain: Chain, method: str, args: dict[str, Any], signers: Iterable[PrivateKey]
) -> BlockResult:
    return chain.commit_block(chain.tx("notary", method, args, signers))


def endorse(chain: Chain, key: PrivateKey, org: str, digest: str = DIGEST, **extra: Any) -> Any:
    return submit(chain, "endorse", {"digest": digest, "org": org, **extra}, [key])


def tx_id_hex(result: BlockResult) -> str:
    tx_id = result.tx_results[0].tx_id
    assert tx_id is not None
    return tx_id.hex()


def get_record(chain: Chain, digest: str = DIGEST) -> dict[str, Any]:
    record = notary.get_record(chain.state, digest)
    assert record is not None
    return record


def assert_ok(result: BlockResult) -> None:
    assert [(r.code, r.error, r.log) for r in result.tx_results] == [(OK, "", "")]


def assert_rejected(chain: Chain, result: BlockResult, error: str, reason: str) -> None:
    (tx_result,) = result.tx_results
    assert tx_result.error == error
    assert reason in tx_result.log
    assert result.changes == {}


def chain_with_pending_record(endorsers: Iterable[str] = ("notary", "judicial")) -> Chain:
    chain = Chain()
    assert_ok(
        submit(chain, "record", record_args(DIGEST, PARTIES, endorsers), [GRIDCO_ADMIN, CUSTOMER])
    )
    return chain


# -- record ------------------------------------------------------------------------------------


def test_record_with_endorsers_is_pending_and_waits_for_each_org() -> None:
    chain = Chain()
    assert notary.get_record(chain.state, DIGEST) is None
    args = record_args(
        DIGEST, PARTIES, ["notary", "judicial"], metadata={"pages": 12, "lang": "zh"}
    )

    tx = chain.tx("notary", "record", args, [GRIDCO_ADMIN, CUSTOMER])

    result = chain.commit_block(tx)

    assert_ok(result)
    record = notary.get_record(chain.state, DIGEST)
    assert record == {
        "algorithm": "sha256",
        "count": 1,
        "digest": DIGEST,
        "endorsements": [],
        "endorsers": ["notary", "judicial"],
        "height": 1,
        "history": [
            {
                "action": "record",
                "by": GRIDCO_ADMIN.address,
                "height": 1,
                "log_index": 0,
                "org": "",
                "reason": "",
                "time_ms": chain.genesis.genesis_time_ms + 1000,
                "tx_id": tx_id_hex(result),
            }
        ],
        "kind": "document",
        "log_index": 0,
        "metadata": {"lang": "zh", "pages": 12},
        "parties": list(PARTIES),
        "record_type": "contract",
        "signatures": [
            {
                "alg": "ed25519",
                "party": key.address,
                "public_key": key.public_key.hex(),
                "signature": key.sign(tx.sign_bytes).hex(),
            }
            for key in (GRIDCO_ADMIN, CUSTOMER)
        ],
        "status": "pending",
        "submitter": GRIDCO_ADMIN.address,
        "time_ms": chain.genesis.genesis_time_ms + 1000,
        "title": "Supply contract",
        "tx_id": tx_id_hex(result),
    }
    assert list(notary.iter_pending_for_org(chain.state, "notary")) == [DIGEST]
    assert list(notary.iter_pending_for_org(chain.state, "judicial")) == [DIGEST]
    (event,) = result.tx_results[0].events
    assert event.type == "notary.recorded"
    assert event.attributes == {
        "digest": DIGEST,
        "kind": "document",
        "count": 1,
        "log_index": 0,
        "endorsers": ["notary", "judicial"],
    }


def test_record_without_endorsers_is_recorded_and_pending_nowhere() -> None:
    chain = Chain()

    assert_ok(submit(chain, "record", record_args(DIGEST, [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN]))

    record = notary.get_record(chain.state, DIGEST)
    assert record is not None
    assert (record["status"], record["endorsers"]) == ("recorded", [])
    assert list(chain.state.iter_prefix("notary/pending/")) == []


def test_record_is_an_entry_of_the_evidence_log() -> None:
    chain = Chain()
    tx = chain.tx("notary", "record", record_args(DIGEST, PARTIES), [GRIDCO_ADMIN, CUSTOMER])

    chain.commit_block(tx)

    entry = codec.decode(chain.state.get_log_entry(0))
    assert entry == {
        "chain_id": chain.genesis.chain_id,
        "height": 1,
        "kind": "notary.record",
        "time_ms": chain.genesis.genesis_time_ms + 1000,
        "tx": tx.to_json(),
        "tx_id": tx.tx_id.hex(),
        "v": 1,
    }
    assert chain.state.log().root() == merkle.root([chain.state.get_log_entry(0)])


def test_metadata_at_the_depth_limit_is_recorded_and_its_log_entry_decodes() -> None:
    chain = Chain()
    metadata = {"annex": nested_object(notary.MAX_METADATA_DEPTH - 1)}
    args = record_args(DIGEST, [GRIDCO_ADMIN.address], metadata=metadata)

    assert_ok(submit(chain, "record", args, [GRIDCO_ADMIN]))

    assert get_record(chain)["metadata"] == metadata
    entry = codec.decode(chain.state.get_log_entry(0))
    assert entry["tx"]["body"]["args"]["metadata"] == metadata


def test_parties_may_sign_in_any_order_and_extra_co_signers_are_allowed() -> None:
    chain = Chain()
    args = record_args(DIGEST, [CUSTOMER.address])

    assert_ok(submit(chain, "record", args, [GRIDCO_ADMIN, NOTARY_ADMIN, CUSTOMER]))

    assert get_record(chain)["submitter"] == GRIDCO_ADMIN.address


def test_record_lists_each_partys_signature_in_the_order_of_the_parties() -> None:
    chain = Chain()
    args = record_args(DIGEST, [CUSTOMER.address, GRIDCO_ADMIN.address])

    assert_ok(submit(chain, "record", args, [GRIDCO_ADMIN, NOTARY_ADMIN, CUSTOMER]))

    signatures = get_record(chain)["signatures"]
    assert [s["party"] for s in signatures] == [CUSTOMER.address, GRIDCO_ADMIN.address]
    assert [s["public_key"] for s in signatures] == [
        CUSTOMER.public_key.hex(),
        GRIDCO_ADMIN.public_key.hex(),
    ]  # the notary admin co-signed but is no party: not listed


def test_records_by_party_lists_each_partys_records_oldest_first() -> None:
    chain = Chain()
    first, second, third = digest_of("first"), digest_of("second"), digest_of("third")
    assert list(notary.iter_records_by_party(chain.state, CUSTOMER.address)) == []

    submit(chain, "record", record_args(second, PARTIES), [GRIDCO_ADMIN, CUSTOMER])
    submit(chain, "record", record_args(first, [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN])
    submit(chain, "record", record_args(third, PARTIES), [GRIDCO_ADMIN, CUSTOMER])

    assert list(notary.iter_records_by_party(chain.state, CUSTOMER.address)) == [second, third]
    assert list(notary.iter_records_by_party(chain.state, GRIDCO_ADMIN.address)) == [
        second,
        first,
        third,
    ]
    assert list(notary.iter_records_by_party(chain.state, NOTARY_ADMIN.address)) == []


# -- record_batch ------------------------------------------------------------------------------


def test_record_batch_records_the_root_and_count() -> None:
    chain = Chain()
    leaves = [bytes.fromhex(digest_of(f"meter-file-{i}")) for i in range(7)]
    root = merkle.root(leaves).hex()
    args = {
        "root": root,
        "count": len(leaves),
        "title": "Meter data, May",
        "record_type": "meter_data",
        "parties": [GRIDCO_ADMIN.address],
    }

    result = submit(chain, "record_batch", args, [GRIDCO_ADMIN])

    assert_ok(result)
    record = notary.get_record(chain.state, root)
    assert record is not None
    assert (record["kind"], record["count"], record["digest"], record["status"]) == (
        "batch",
        7,
        root,
        "recorded",
    )
    assert codec.decode(chain.state.get_log_entry(0))["kind"] == "notary.record_batch"
    assert result.tx_results[0].events[0].attributes["kind"] == "batch"


@pytest.mark.parametrize("count", [0, -1, notary.MAX_BATCH_COUNT + 1, True, "7"])
def test_record_batch_refuses_a_bad_count(count: Any) -> None:
    chain = Chain()
    args = {
        "root": DIGEST,
        "count": count,
        "title": "t",
        "record_type": "meter_data",
        "parties": [GRIDCO_ADMIN.address],
    }

    result = submit(chain, "record_batch", args, [GRIDCO_ADMIN])

    assert_rejected(chain, result, "invalid_transaction", "count")


# -- endorse -----------------------------------------------------------------------------------


def test_endorse_by_one_org_keeps_the_record_pending() -> None:
    chain = chain_with_pending_record()

    result = endorse(chain, NOTARY_ENDORSER, "notary", note="checked against the original")

    assert_ok(result)
    record = notary.get_record(chain.state, DIGEST)
    assert record is not None
    assert record["status"] == "pending"
    assert record["endorsements"] == [
        {
            "by": NOTARY_ENDORSER.address,
            "height": 2,
            "log_index": 1,
            "note": "checked against the original",
            "org": "notary",
            "time_ms": chain.genesis.genesis_time_ms + 2000,
            "tx_id": tx_id_hex(result),
        }
    ]
    assert list(notary.iter_pending_for_org(chain.state, "notary")) == []
    assert list(notary.iter_pending_for_org(chain.state, "judicial")) == [DIGEST]
    assert result.tx_results[0].events[0].attributes["status"] == "pending"


def test_endorse_by_every_named_org_makes_the_record_endorsed() -> None:
    chain = chain_with_pending_record()
    endorse(chain, NOTARY_ENDORSER, "notary")

    result = endorse(chain, JUDICIAL_ENDORSER, "judicial")

    assert_ok(result)
    record = notary.get_record(chain.state, DIGEST)
    assert record is not None
    assert record["status"] == "endorsed"
    assert [e["org"] for e in record["endorsements"]] == ["notary", "judicial"]
    assert list(chain.state.iter_prefix("notary/pending/")) == []
    assert chain.state.log().size == 3
    assert codec.decode(chain.state.get_log_entry(2))["kind"] == "notary.endorse"


# -- bad input ---------------------------------------------------------------------------------


def test_record_of_an_already_recorded_digest_is_a_conflict() -> None:
    chain = chain_with_pending_record()

    result = submit(chain, "record", record_args(DIGEST, [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN])

    assert_rejected(chain, result, "conflict", "already recorded")


def test_batch_root_equal_to_a_recorded_digest_is_a_conflict() -> None:
    chain = chain_with_pending_record()
    args = {
        "root": DIGEST,
        "count": 2,
        "title": "t",
        "record_type": "batch",
        "parties": [GRIDCO_ADMIN.address],
    }

    result = submit(chain, "record_batch", args, [GRIDCO_ADMIN])

    assert_rejected(chain, result, "conflict", "already recorded")


def test_record_naming_a_party_that_did_not_sign_is_unauthorized() -> None:
    chain = Chain()

    result = submit(chain, "record", record_args(DIGEST, PARTIES), [GRIDCO_ADMIN])

    assert_rejected(chain, result, "unauthorized", CUSTOMER.address)


def test_record_naming_an_org_that_is_not_an_endorser_is_refused() -> None:
    chain = Chain()
    args = record_args(DIGEST, [GRIDCO_ADMIN.address], ["notary", "exchange"])

    result = submit(chain, "record", args, [GRIDCO_ADMIN])

    assert_rejected(chain, result, "rule_violation", "'exchange' is not an endorsing organization")


def test_record_naming_an_unknown_org_is_refused() -> None:
    chain = Chain()
    args = record_args(DIGEST, [GRIDCO_ADMIN.address], ["court-of-mars"])

    result = submit(chain, "record", args, [GRIDCO_ADMIN])

    assert_rejected(chain, result, "rule_violation", "does not exist")


def test_endorse_by_an_org_the_policy_does_not_name_is_unauthorized() -> None:
    chain = chain_with_pending_record(endorsers=["notary"])

    result = endorse(chain, JUDICIAL_ENDORSER, "judicial")

    assert_rejected(chain, result, "unauthorized", "not an endorser named by the policy")


def test_endorse_by_an_account_without_the_endorser_role_is_unauthorized() -> None:
    chain = chain_with_pending_record()

    result = endorse(chain, NOTARY_ADMIN, "notary")

    assert_rejected(chain, result, "unauthorized", "not an endorser account of organization notary")


def test_endorse_for_another_org_than_ones_own_is_unauthorized() -> None:
    chain = chain_with_pending_record()

    result = endorse(chain, JUDICIAL_ENDORSER, "notary")

    assert_rejected(chain, result, "unauthorized", "not an endorser account")


def test_endorse_twice_by_the_same_org_is_a_conflict() -> None:
    chain = chain_with_pending_record()
    endorse(chain, NOTARY_ENDORSER, "notary")

    result = endorse(chain, NOTARY_ENDORSER, "notary")

    assert_rejected(chain, result, "conflict", "already endorsed")


def test_endorse_of_an_unknown_digest_is_not_found() -> None:
    chain = chain_with_pending_record()

    result = endorse(chain, NOTARY_ENDORSER, "notary", digest=digest_of("never recorded"))

    assert_rejected(chain, result, "not_found", "no record")


def test_endorse_of_a_record_without_endorsers_is_unauthorized() -> None:
    chain = Chain()
    submit(chain, "record", record_args(DIGEST, [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN])

    result = endorse(chain, NOTARY_ENDORSER, "notary")

    assert_rejected(chain, result, "unauthorized", "named: none")


@pytest.mark.parametrize(
    ("change", "error", "reason"),
    [
        pytest.param(
            {"title": "x" * (notary.MAX_TITLE_CHARS + 1)},
            "invalid_transaction",
            "title",
            id="title-too-long",
        ),
        pytest.param({"title": ""}, "invalid_transaction", "title", id="title-empty"),
        pytest.param(
            {"record_type": "t" * (notary.MAX_TYPE_CHARS + 1)},
            "invalid_transaction",
            "record_type",
            id="type-too-long",
        ),
        pytest.param(
            {"metadata": {"blob": "x" * notary.MAX_METADATA_BYTES}},
            "oversized",
            "metadata",
            id="metadata-too-big",
        ),
        pytest.param(
            {"metadata": nested_object(notary.MAX_METADATA_DEPTH + 1)},
            "oversized",
            "nested 9 levels deep",
            id="metadata-too-deep",
        ),
        pytest.param({"metadata": ["a"]}, "invalid_transaction", "metadata", id="metadata-list"),
        pytest.param({"colour": "red"}, "invalid_transaction", "unknown argument", id="unknown"),
        pytest.param({"digest": DIGEST.upper()}, "invalid_transaction", "digest", id="upper-hex"),
        pytest.param({"digest": DIGEST[:-2]}, "invalid_transaction", "digest", id="short-digest"),
        pytest.param(
            {"digest": "g" + DIGEST[1:]}, "invalid_transaction", "digest", id="non-hex-digest"
        ),
        pytest.param({"digest": 7}, "invalid_transaction", "digest", id="int-digest"),
        pytest.param({"algorithm": "md5"}, "invalid_transaction", "algorithm", id="algorithm"),
        pytest.param({"parties": []}, "invalid_transaction", "parties", id="no-parties"),
        pytest.param(
            {"parties": ["gridco"]}, "invalid_transaction", "not an address", id="party-not-address"
        ),
        pytest.param(
            {"parties": [GRIDCO_ADMIN.address, GRIDCO_ADMIN.address]},
            "invalid_transaction",
            "twice",
            id="party-twice",
        ),
        pytest.param(
            {"endorsers": ["notary", "notary"]}, "invalid_transaction", "twice", id="endorser-twice"
        ),
        pytest.param(
            {"endorsers": [f"org{i}" for i in range(notary.MAX_ENDORSERS + 1)]},
            "invalid_transaction",
            "endorsers",
            id="too-many-endorsers",
        ),
    ],
)
def test_record_refuses_bad_arguments(change: dict[str, Any], error: str, reason: str) -> None:
    chain = Chain()
    args = {**record_args(DIGEST, [GRIDCO_ADMIN.address]), **change}

    result = submit(chain, "record", args, [GRIDCO_ADMIN])

    assert_rejected(chain, result, error, reason)


def test_record_refuses_missing_arguments() -> None:
    chain = Chain()
    args = record_args(DIGEST, [GRIDCO_ADMIN.address])
    del args["title"]

    result = submit(chain, "record", args, [GRIDCO_ADMIN])

    assert_rejected(chain, result, "invalid_transaction", "missing argument(s): title")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"digest": DIGEST.upper()}, "digest", id="upper-hex"),
        pytest.param({"org": ""}, "org", id="empty-org"),
        pytest.param({"note": "n" * (notary.MAX_NOTE_CHARS + 1)}, "note", id="note-too-long"),
        pytest.param({"colour": "red"}, "unknown argument", id="unknown"),
    ],
)
def test_endorse_refuses_bad_arguments(change: dict[str, Any], reason: str) -> None:
    chain = chain_with_pending_record()
    args = {"digest": DIGEST, "org": "notary", **change}

    result = submit(chain, "endorse", args, [NOTARY_ENDORSER])

    assert_rejected(chain, result, "invalid_transaction", reason)


def test_exchange_admin_cannot_endorse_for_itself() -> None:
    chain = chain_with_pending_record(endorsers=["notary"])

    result = endorse(chain, EXCHANGE_ADMIN, "exchange")

    assert_rejected(chain, result, "unauthorized", "not an endorser named")
