"""The notary record's lifecycle: refuse, dispute, revoke. Pre-state → operation → post-state,
then every way to get each wrong. Nothing is ever deleted; every change is in ``history`` and in
the evidence log."""

from __future__ import annotations

from typing import Any

import pytest

from gridledger import codec
from gridledger.contracts import notary
from gridledger.crypto import PrivateKey
from gridledger.ledger.transition import BlockResult
from tests.chain import (
    CUSTOMER,
    EXCHANGE_ADMIN,
    GRIDCO_ADMIN,
    JUDICIAL_ENDORSER,
    NOTARY_ADMIN,
    NOTARY_ENDORSER,
    Chain,
    digest_of,
    record_args,
)
from tests.contracts.test_notary import (
    DIGEST,
    PARTIES,
    assert_ok,
    assert_rejected,
    chain_with_pending_record,
    endorse,
    get_record,
    submit,
    tx_id_hex,
)


def refuse(chain: Chain, key: PrivateKey, org: str, reason: str = "digest mismatch") -> Any:
    return submit(chain, "refuse", {"digest": DIGEST, "org": org, "reason": reason}, [key])


def dispute(chain: Chain, signers: list[PrivateKey], reason: str = "price clause") -> BlockResult:
    return submit(chain, "dispute", {"digest": DIGEST, "reason": reason}, signers)


def revoke(chain: Chain, signers: list[PrivateKey], **extra: Any) -> BlockResult:
    return submit(chain, "revoke", {"digest": DIGEST, **extra}, signers)


def endorsed_chain() -> Chain:
    chain = chain_with_pending_record()
    assert_ok(endorse(chain, NOTARY_ENDORSER, "notary"))
    assert_ok(endorse(chain, JUDICIAL_ENDORSER, "judicial"))
    return chain


def log_kinds(chain: Chain) -> list[str]:
    state = chain.state
    return [codec.decode(state.get_log_entry(i))["kind"] for i in range(state.log().size)]


# -- history -----------------------------------------------------------------------------------


def test_every_change_is_kept_in_history_in_order_with_who_when_and_why() -> None:
    chain = chain_with_pending_record()
    endorse(chain, NOTARY_ENDORSER, "notary", note="original seen")
    endorse(chain, JUDICIAL_ENDORSER, "judicial")
    dispute(chain, [GRIDCO_ADMIN, CUSTOMER], reason="delivery volume contested")

    result = revoke(chain, [GRIDCO_ADMIN], reason="contract cancelled by both parties")

    assert_ok(result)
    record = get_record(chain)
    assert record["status"] == "revoked"
    history = record["history"]
    assert [(c["action"], c["org"], c["height"], c["log_index"]) for c in history] == [
        ("record", "", 1, 0),
        ("endorse", "notary", 2, 1),
        ("endorse", "judicial", 3, 2),
        ("dispute", "", 4, 3),
        ("revoke", "", 5, 4),
    ]
    assert [c["by"] for c in history] == [
        GRIDCO_ADMIN.address,
        NOTARY_ENDORSER.address,
        JUDICIAL_ENDORSER.address,
        GRIDCO_ADMIN.address,  # the first signer who is a party
        GRIDCO_ADMIN.address,
    ]
    assert [c["reason"] for c in history] == [
        "",
        "original seen",
        "",
        "delivery volume contested",
        "contract cancelled by both parties",
    ]
    assert history[-1] == {
        "action": "revoke",
        "by": GRIDCO_ADMIN.address,
        "height": 5,
        "log_index": 4,
        "org": "",
        "reason": "contract cancelled by both parties",
        "time_ms": chain.genesis.genesis_time_ms + 5000,
        "tx_id": tx_id_hex(result),
    }
    assert log_kinds(chain) == [
        "notary.record",
        "notary.endorse",
        "notary.endorse",
        "notary.dispute",
        "notary.revoke",
    ]
    assert [e["org"] for e in record["endorsements"]] == ["notary", "judicial"]
    # never deleted: the record and the party index are still there
    assert list(notary.iter_records_by_party(chain.state, CUSTOMER.address)) == [DIGEST]


# -- refuse ------------------------------------------------------------------------------------


def test_refuse_by_a_named_org_makes_the_record_refused_and_pending_nowhere() -> None:
    chain = chain_with_pending_record()
    assert list(notary.iter_pending_for_org(chain.state, "judicial")) == [DIGEST]

    result = refuse(chain, NOTARY_ENDORSER, "notary", reason="delivered copy does not match")

    assert_ok(result)
    record = get_record(chain)
    assert record["status"] == "refused"
    assert record["endorsements"] == []
    assert record["history"][-1] == {
        "action": "refuse",
        "by": NOTARY_ENDORSER.address,
        "height": 2,
        "log_index": 1,
        "org": "notary",
        "reason": "delivered copy does not match",
        "time_ms": chain.genesis.genesis_time_ms + 2000,
        "tx_id": tx_id_hex(result),
    }
    assert list(chain.state.iter_prefix("notary/pending/")) == []
    assert log_kinds(chain) == ["notary.record", "notary.refuse"]
    (event,) = result.tx_results[0].events
    assert (event.type, event.attributes) == (
        "notary.refused",
        {
            "digest": DIGEST,
            "org": "notary",
            "reason": "delivered copy does not match",
            "log_index": 1,
        },
    )


def test_refuse_after_another_orgs_endorsement_keeps_that_endorsement() -> None:
    chain = chain_with_pending_record()
    endorse(chain, NOTARY_ENDORSER, "notary")

    assert_ok(refuse(chain, JUDICIAL_ENDORSER, "judicial", reason="document never delivered"))

    record = get_record(chain)
    assert record["status"] == "refused"
    assert [e["org"] for e in record["endorsements"]] == ["notary"]
    assert [c["action"] for c in record["history"]] == ["record", "endorse", "refuse"]


def test_endorse_after_a_refusal_by_another_org_is_a_conflict() -> None:
    chain = chain_with_pending_record()
    refuse(chain, NOTARY_ENDORSER, "notary")

    result = endorse(chain, JUDICIAL_ENDORSER, "judicial")

    assert_rejected(chain, result, "conflict", "is refused")


def test_refuse_after_ones_own_endorsement_is_a_conflict() -> None:
    chain = chain_with_pending_record()
    endorse(chain, NOTARY_ENDORSER, "notary")

    assert_rejected(chain, refuse(chain, NOTARY_ENDORSER, "notary"), "conflict", "already endorsed")


def test_endorse_after_ones_own_refusal_is_a_conflict() -> None:
    chain = chain_with_pending_record()
    refuse(chain, NOTARY_ENDORSER, "notary")

    result = endorse(chain, NOTARY_ENDORSER, "notary")

    assert_rejected(chain, result, "conflict", "already refused")


def test_refuse_by_an_org_the_policy_does_not_name_is_unauthorized() -> None:
    chain = chain_with_pending_record(endorsers=["notary"])

    result = refuse(chain, JUDICIAL_ENDORSER, "judicial")

    assert_rejected(chain, result, "unauthorized", "not an endorser named by the policy")


def test_refuse_by_an_account_without_the_endorser_role_is_unauthorized() -> None:
    chain = chain_with_pending_record()

    result = refuse(chain, NOTARY_ADMIN, "notary")

    assert_rejected(chain, result, "unauthorized", "not an endorser account of organization notary")


def test_refuse_of_an_unknown_digest_is_not_found() -> None:
    chain = chain_with_pending_record()
    args = {"digest": digest_of("never recorded"), "org": "notary", "reason": "x"}

    result = submit(chain, "refuse", args, [NOTARY_ENDORSER])

    assert_rejected(chain, result, "not_found", "no record")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"reason": ""}, "reason", id="empty-reason"),
        pytest.param({"reason": "r" * (notary.MAX_REASON_CHARS + 1)}, "reason", id="long-reason"),
        pytest.param({"reason": 7}, "reason", id="int-reason"),
        pytest.param({"note": "n"}, "unknown argument", id="unknown"),
        pytest.param({"digest": DIGEST.upper()}, "digest", id="upper-hex"),
        pytest.param({"org": ""}, "org", id="empty-org"),
    ],
)
def test_refuse_refuses_bad_arguments(change: dict[str, Any], reason: str) -> None:
    chain = chain_with_pending_record()
    args = {"digest": DIGEST, "org": "notary", "reason": "mismatch", **change}

    result = submit(chain, "refuse", args, [NOTARY_ENDORSER])

    assert_rejected(chain, result, "invalid_transaction", reason)


def test_refuse_without_a_reason_is_refused() -> None:
    chain = chain_with_pending_record()

    result = submit(chain, "refuse", {"digest": DIGEST, "org": "notary"}, [NOTARY_ENDORSER])

    assert_rejected(chain, result, "invalid_transaction", "missing argument(s): reason")


# -- dispute -----------------------------------------------------------------------------------


def test_dispute_by_a_party_marks_an_endorsed_record_disputed() -> None:
    chain = endorsed_chain()

    result = dispute(chain, [GRIDCO_ADMIN], reason="metered volume contested")

    assert_ok(result)
    record = get_record(chain)
    assert record["status"] == "disputed"
    assert record["history"][-1]["action"] == "dispute"
    assert record["history"][-1]["reason"] == "metered volume contested"
    assert [e["org"] for e in record["endorsements"]] == ["notary", "judicial"]
    (event,) = result.tx_results[0].events
    assert event.type == "notary.disputed"
    assert event.attributes["by"] == GRIDCO_ADMIN.address


def test_a_party_without_an_account_disputes_by_co_signing() -> None:
    chain = endorsed_chain()

    assert_ok(dispute(chain, [EXCHANGE_ADMIN, CUSTOMER]))  # the exchange sends, the customer signs

    assert get_record(chain)["history"][-1]["by"] == CUSTOMER.address


def test_dispute_of_a_pending_record_stops_its_endorsement() -> None:
    chain = chain_with_pending_record()

    assert_ok(dispute(chain, [GRIDCO_ADMIN]))

    assert list(chain.state.iter_prefix("notary/pending/")) == []
    result = endorse(chain, NOTARY_ENDORSER, "notary")
    assert_rejected(chain, result, "conflict", "is disputed")


def test_dispute_by_a_non_party_is_unauthorized() -> None:
    chain = endorsed_chain()

    result = dispute(chain, [EXCHANGE_ADMIN])

    assert_rejected(chain, result, "unauthorized", "only a party")


def test_dispute_twice_is_a_conflict() -> None:
    chain = endorsed_chain()
    dispute(chain, [GRIDCO_ADMIN])

    result = dispute(chain, [GRIDCO_ADMIN], reason="again")

    assert_rejected(chain, result, "conflict", "already disputed")


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        pytest.param({"digest": DIGEST}, "missing argument(s): reason", id="no-reason"),
        pytest.param({"digest": DIGEST, "reason": ""}, "reason", id="empty-reason"),
        pytest.param({"digest": DIGEST[:-1], "reason": "x"}, "digest", id="short-digest"),
        pytest.param({"digest": DIGEST, "reason": "x", "org": "notary"}, "unknown", id="unknown"),
    ],
)
def test_dispute_refuses_bad_arguments(args: dict[str, Any], reason: str) -> None:
    chain = endorsed_chain()

    result = submit(chain, "dispute", args, [GRIDCO_ADMIN])

    assert_rejected(chain, result, "invalid_transaction", reason)


def test_dispute_of_an_unknown_digest_is_not_found() -> None:
    chain = endorsed_chain()
    args = {"digest": digest_of("never recorded"), "reason": "x"}

    assert_rejected(chain, submit(chain, "dispute", args, [GRIDCO_ADMIN]), "not_found", "no record")


# -- revoke ------------------------------------------------------------------------------------


@pytest.mark.parametrize("before", ["recorded", "pending", "endorsed", "refused", "disputed"])
def test_revoke_by_a_party_works_from_every_status_but_revoked(before: str) -> None:
    if before == "recorded":
        chain = Chain()
        submit(chain, "record", record_args(DIGEST, PARTIES), [GRIDCO_ADMIN, CUSTOMER])
    elif before == "refused":
        chain = chain_with_pending_record()
        refuse(chain, NOTARY_ENDORSER, "notary")
    elif before == "disputed":
        chain = endorsed_chain()
        dispute(chain, [GRIDCO_ADMIN])
    elif before == "endorsed":
        chain = endorsed_chain()
    else:
        chain = chain_with_pending_record()
    assert get_record(chain)["status"] == before
    size = chain.state.log().size

    result = revoke(chain, [GRIDCO_ADMIN])

    assert_ok(result)
    record = get_record(chain)
    assert record["status"] == "revoked"
    assert record["history"][-1]["reason"] == ""
    assert chain.state.log().size == size + 1
    assert list(chain.state.iter_prefix("notary/pending/")) == []


def test_revoke_by_a_non_party_is_unauthorized() -> None:
    chain = endorsed_chain()

    result = revoke(chain, [EXCHANGE_ADMIN], reason="I want it gone")

    assert_rejected(chain, result, "unauthorized", "only a party")
    assert get_record(chain)["status"] == "endorsed"


def test_revoke_by_an_endorser_is_unauthorized() -> None:
    chain = endorsed_chain()

    assert_rejected(chain, revoke(chain, [NOTARY_ENDORSER]), "unauthorized", "only a party")


def test_revoke_twice_and_dispute_after_revoke_are_conflicts() -> None:
    chain = endorsed_chain()
    revoke(chain, [GRIDCO_ADMIN])

    assert_rejected(chain, revoke(chain, [GRIDCO_ADMIN]), "conflict", "already revoked")
    assert_rejected(chain, dispute(chain, [GRIDCO_ADMIN]), "conflict", "already revoked")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"reason": "r" * (notary.MAX_REASON_CHARS + 1)}, "reason", id="long-reason"),
        pytest.param({"reason": None}, "reason", id="null-reason"),
        pytest.param({"org": "notary"}, "unknown argument", id="unknown"),
    ],
)
def test_revoke_refuses_bad_arguments(change: dict[str, Any], reason: str) -> None:
    chain = endorsed_chain()

    result = revoke(chain, [GRIDCO_ADMIN], **change)

    assert_rejected(chain, result, "invalid_transaction", reason)
