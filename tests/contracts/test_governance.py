"""The governance contract: members and validators change by a vote of more than two thirds of
the member organizations; validator changes come out of the block as CometBFT updates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gridledger.contracts import governance, identity
from gridledger.crypto import PrivateKey
from gridledger.ledger.context import ValidatorChange, ValidatorUpdate
from gridledger.ledger.transition import OK, BlockResult, compute_validator_updates
from tests.chain import (
    EXCHANGE_ADMIN,
    GRIDCO_ADMIN,
    MAX_EXPIRY_WINDOW,
    NOTARY_ADMIN,
    NOTARY_ENDORSER,
    Chain,
    digest_of,
    genesis_document,
    key_for,
    record_args,
)

JUDICIAL_ADMIN = key_for("judicial-admin")
GRIDCO_SECOND_ADMIN = key_for("gridco-second-admin")
VALIDATORS = {
    org: key_for(f"validator-{org}") for org in ("gridco", "notary", "judicial", "exchange")
}
NEW_VALIDATOR = key_for("validator-new")
ENERGY_ADMIN = key_for("energyco-admin")
ADMINS = {
    "gridco": GRIDCO_ADMIN,
    "notary": NOTARY_ADMIN,
    "judicial": JUDICIAL_ADMIN,
    "exchange": EXCHANGE_ADMIN,
}
VOTING_PERIOD = 20
REPO = Path(__file__).resolve().parents[2]


def gov_genesis(validator_orgs: tuple[str, ...] = tuple(VALIDATORS)) -> dict[str, Any]:
    """The test genesis with an admin in every organization and one validator per named org."""
    doc = genesis_document()
    for key, org in ((JUDICIAL_ADMIN, "judicial"), (GRIDCO_SECOND_ADMIN, "gridco")):
        doc["accounts"].append(
            {"public_key": key.public_key.hex(), "org": org, "roles": ["admin", "submitter"]}
        )
    doc["validators"] = [
        {"org": org, "public_key": VALIDATORS[org].public_key.hex(), "power": 10}
        for org in validator_orgs
    ]
    doc["params"] = {"max_expiry_window": MAX_EXPIRY_WINDOW, "voting_period": VOTING_PERIOD}
    return doc


def propose(chain: Chain, sender: PrivateKey, **args: Any) -> tuple[BlockResult, str]:
    tx = chain.tx("governance", "propose", args, [sender])
    return chain.commit_block(tx), tx.tx_id.hex()


def vote(chain: Chain, sender: PrivateKey, proposal_id: str, choice: str = "yes") -> BlockResult:
    args = {"proposal": proposal_id, "vote": choice}
    return chain.commit_block(chain.tx("governance", "vote", args, [sender]))


def only_result(result: BlockResult) -> tuple[int, str]:
    (tx_result,) = result.tx_results
    return tx_result.code, tx_result.error


def event_types(result: BlockResult) -> list[str]:
    return [e.type for r in result.tx_results for e in r.events]


def proposal(chain: Chain, proposal_id: str) -> dict[str, Any]:
    found = governance.get_proposal(chain.state, proposal_id, at_height=chain.height + 1)
    assert found is not None
    return found


def add_validator_args(key: PrivateKey = NEW_VALIDATOR, org: str = "notary") -> dict[str, Any]:
    return {"kind": "add_validator", "org": org, "public_key": key.public_key.hex(), "power": 7}


def add_member_args(org_id: str = "energyco", admin: PrivateKey = ENERGY_ADMIN) -> dict[str, Any]:
    return {
        "kind": "add_member",
        "org": {"id": org_id, "name": "Energy Co", "roles": ["member"]},
        "admin": {"public_key": admin.public_key.hex(), "alg": "ed25519", "name": "Energy admin"},
    }


def approve(chain: Chain, proposal_id: str, orgs: tuple[str, ...]) -> BlockResult:
    """Yes votes from ``orgs`` in turn; the result of the last one."""
    results = [vote(chain, ADMINS[org], proposal_id) for org in orgs]
    for result in results:
        assert only_result(result) == (OK, "")
    return results[-1]


# -- genesis -----------------------------------------------------------------------------------


def test_genesis_organizations_are_the_members_and_its_validators_the_set() -> None:
    chain = Chain(gov_genesis())

    assert governance.get_members(chain.state) == ("exchange", "gridco", "judicial", "notary")
    assert governance.get_validators(chain.state) == sorted(
        (
            {"org": org, "power": 10, "public_key": key.public_key.hex()}
            for org, key in VALIDATORS.items()
        ),
        key=lambda v: str(v["public_key"]),
    )


# -- add_validator and the two-thirds rule -----------------------------------------------------


def test_proposal_is_open_and_the_proposer_has_not_voted() -> None:
    chain = Chain(gov_genesis())

    result, pid = propose(chain, GRIDCO_ADMIN, **add_validator_args(), reason="more resilience")

    assert only_result(result) == (OK, "")
    assert event_types(result) == ["governance.proposed"]
    assert proposal(chain, pid) == {
        "change": {"org": "notary", "power": 7, "public_key": NEW_VALIDATOR.public_key.hex()},
        "created_height": 1,
        "decided_height": None,
        "expiry_height": 1 + VOTING_PERIOD,
        "id": pid,
        "kind": "add_validator",
        "proposer": GRIDCO_ADMIN.address,
        "proposer_org": "gridco",
        "reason": "more resilience",
        "status": "open",
        "votes": {},
    }
    assert result.validator_updates == ()


def test_add_validator_needs_three_of_four_members() -> None:
    chain = Chain(gov_genesis())
    _, pid = propose(chain, GRIDCO_ADMIN, **add_validator_args())

    for org in ("gridco", "notary"):
        result = vote(chain, ADMINS[org], pid)
        assert only_result(result) == (OK, "")
        assert result.validator_updates == ()
        assert event_types(result) == ["governance.voted"]
    assert proposal(chain, pid)["status"] == "open"
    assert governance.get_validator(chain.state, NEW_VALIDATOR.public_key.hex()) is None

    result = vote(chain, JUDICIAL_ADMIN, pid)

    assert only_result(result) == (OK, "")
    assert result.validator_updates == (
        ValidatorUpdate(public_key=NEW_VALIDATOR.public_key, power=7),
    )
    assert event_types(result) == [
        "governance.voted",
        "governance.approved",
        "governance.validator_added",
    ]
    voted = result.tx_results[0].events[0].attributes
    assert (voted["yes"], voted["no"], voted["members"]) == (3, 0, 4)
    assert governance.get_validator(chain.state, NEW_VALIDATOR.public_key.hex()) == {
        "org": "notary",
        "power": 7,
        "public_key": NEW_VALIDATOR.public_key.hex(),
    }
    decided = proposal(chain, pid)
    assert (decided["status"], decided["decided_height"]) == ("approved", 4)
    assert sorted(decided["votes"]) == ["gridco", "judicial", "notary"]


def test_vote_after_approval_is_refused() -> None:
    chain = Chain(gov_genesis())
    _, pid = propose(chain, GRIDCO_ADMIN, **add_validator_args())
    approve(chain, pid, ("gridco", "notary", "judicial"))

    result = vote(chain, EXCHANGE_ADMIN, pid)

    assert only_result(result) == (11, "conflict")
    assert "is approved; voting is closed" in result.tx_results[0].log
    assert result.validator_updates == ()


def test_remove_validator_emits_power_zero() -> None:
    chain = Chain(gov_genesis())
    gone = VALIDATORS["exchange"].public_key
    _, pid = propose(chain, NOTARY_ADMIN, kind="remove_validator", public_key=gone.hex())

    result = approve(chain, pid, ("exchange", "notary", "gridco"))

    assert result.validator_updates == (ValidatorUpdate(public_key=gone, power=0),)
    assert governance.get_validator(chain.state, gone.hex()) is None
    assert len(governance.get_validators(chain.state)) == 3
    assert event_types(result)[-1] == "governance.validator_removed"


# -- members -----------------------------------------------------------------------------------


def test_added_member_can_act_and_raises_the_threshold_to_four_of_five() -> None:
    chain = Chain(gov_genesis())
    _, pid = propose(chain, GRIDCO_ADMIN, **add_member_args())
    result = approve(chain, pid, ("gridco", "notary", "judicial"))

    assert event_types(result)[-1] == "governance.member_added"
    assert result.validator_updates == ()
    assert governance.get_members(chain.state) == (
        "energyco",
        "exchange",
        "gridco",
        "judicial",
        "notary",
    )
    assert identity.get_org(chain.state, "energyco") == {
        "id": "energyco",
        "name": "Energy Co",
        "roles": ["member"],
    }
    assert identity.get_account(chain.state, ENERGY_ADMIN.address) == {
        "active": True,
        "address": ENERGY_ADMIN.address,
        "alg": "ed25519",
        "name": "Energy admin",
        "org": "energyco",
        "public_key": ENERGY_ADMIN.public_key.hex(),
        "roles": ["admin", "submitter"],
    }
    assert chain.state.has(f"identity/member/energyco/{ENERGY_ADMIN.address}")

    # The new organization's admin can send transactions and take part in governance.
    record = chain.tx(
        "notary", "record", record_args(digest_of("e"), [ENERGY_ADMIN.address]), [ENERGY_ADMIN]
    )
    assert only_result(chain.commit_block(record)) == (OK, "")
    result, pid = propose(chain, ENERGY_ADMIN, **add_validator_args(org="energyco"))
    assert only_result(result) == (OK, "")

    five = {**ADMINS, "energyco": ENERGY_ADMIN}
    for org in ("energyco", "gridco", "notary"):
        result = vote(chain, five[org], pid)
        assert only_result(result) == (OK, "")
        assert result.validator_updates == ()
    assert proposal(chain, pid)["status"] == "open"

    result = vote(chain, EXCHANGE_ADMIN, pid)

    assert result.validator_updates == (
        ValidatorUpdate(public_key=NEW_VALIDATOR.public_key, power=7),
    )
    assert proposal(chain, pid)["status"] == "approved"


def test_removed_member_is_deactivated_and_loses_its_validators() -> None:
    chain = Chain(gov_genesis())
    _, pid = propose(chain, GRIDCO_ADMIN, kind="remove_member", org="exchange")

    result = approve(chain, pid, ("gridco", "notary", "judicial"))

    assert result.validator_updates == (
        ValidatorUpdate(public_key=VALIDATORS["exchange"].public_key, power=0),
    )
    assert event_types(result)[-2:] == [
        "governance.validator_removed",
        "governance.member_removed",
    ]
    removed = result.tx_results[0].events[-1].attributes
    assert removed["deactivated"] == [EXCHANGE_ADMIN.address]
    assert governance.get_members(chain.state) == ("gridco", "judicial", "notary")
    assert not identity.is_active_account(chain.state, EXCHANGE_ADMIN.address)
    assert identity.get_org(chain.state, "exchange") is not None  # history is kept

    result, pid = propose(chain, EXCHANGE_ADMIN, **add_validator_args())
    assert only_result(result) == (9, "unauthorized")

    # Three members: 3 * yes > 6 needs all three.
    _, pid = propose(chain, GRIDCO_ADMIN, **add_validator_args())
    approve(chain, pid, ("gridco", "notary"))
    assert proposal(chain, pid)["status"] == "open"
    assert approve(chain, pid, ("judicial",)).validator_updates != ()


def test_removed_members_earlier_vote_no_longer_counts() -> None:
    chain = Chain(gov_genesis())
    _, add = propose(chain, GRIDCO_ADMIN, **add_validator_args())
    approve(chain, add, ("exchange", "gridco"))
    _, remove = propose(chain, GRIDCO_ADMIN, kind="remove_member", org="exchange")
    approve(chain, remove, ("gridco", "notary", "judicial"))

    result = vote(chain, NOTARY_ADMIN, add)

    voted = result.tx_results[0].events[0].attributes
    assert (voted["yes"], voted["no"], voted["members"]) == (2, 0, 3)
    assert proposal(chain, add)["status"] == "open"


def test_member_ids_are_never_reused() -> None:
    chain = Chain(gov_genesis())
    _, pid = propose(chain, GRIDCO_ADMIN, kind="remove_member", org="exchange")
    approve(chain, pid, ("gridco", "notary", "judicial"))

    result, _ = propose(chain, GRIDCO_ADMIN, **add_member_args(org_id="exchange"))

    assert only_result(result) == (11, "conflict")
    assert "never reused" in result.tx_results[0].log


def test_add_member_refuses_an_existing_admin_key() -> None:
    chain = Chain(gov_genesis())

    result, _ = propose(chain, GRIDCO_ADMIN, **add_member_args(admin=NOTARY_ENDORSER))

    assert only_result(result) == (11, "conflict")


# -- rejection and expiry ----------------------------------------------------------------------


def test_proposal_is_rejected_once_approval_is_impossible() -> None:
    chain = Chain(gov_genesis())
    _, pid = propose(chain, GRIDCO_ADMIN, **add_validator_args())

    result = vote(chain, NOTARY_ADMIN, pid, "no")
    assert event_types(result) == ["governance.voted"]
    assert proposal(chain, pid)["status"] == "open"  # 3 of 4 may still say yes

    result = vote(chain, EXCHANGE_ADMIN, pid, "no")

    assert event_types(result) == ["governance.voted", "governance.rejected"]
    assert proposal(chain, pid)["status"] == "rejected"
    assert result.validator_updates == ()
    late = vote(chain, GRIDCO_ADMIN, pid)
    assert only_result(late) == (11, "conflict")
    assert "is rejected" in late.tx_results[0].log


def test_proposal_past_its_expiry_cannot_be_voted() -> None:
    chain = Chain(gov_genesis())
    _, pid = propose(chain, GRIDCO_ADMIN, **add_validator_args(), voting_period=2)
    assert proposal(chain, pid)["expiry_height"] == 3
    assert only_result(vote(chain, GRIDCO_ADMIN, pid)) == (OK, "")  # height 2
    assert only_result(vote(chain, NOTARY_ADMIN, pid)) == (OK, "")  # height 3, the last

    result = vote(chain, JUDICIAL_ADMIN, pid)  # height 4

    assert only_result(result) == (11, "conflict")
    assert "expired at height 3" in result.tx_results[0].log
    assert result.validator_updates == ()
    assert proposal(chain, pid)["status"] == "expired"
    listed = governance.list_proposals(chain.state, at_height=chain.height + 1, status="expired")
    assert [p["id"] for p in listed] == [pid]
    assert governance.list_proposals(chain.state, at_height=chain.height + 1, status="open") == []


def test_voting_period_above_the_chain_limit_is_refused() -> None:
    chain = Chain(gov_genesis())

    result, _ = propose(chain, GRIDCO_ADMIN, **add_validator_args(), voting_period=21)

    assert only_result(result) == (10, "rule_violation")
    assert "exceeds the chain's limit 20" in result.tx_results[0].log


def test_list_proposals_is_oldest_first() -> None:
    chain = Chain(gov_genesis())
    _, first = propose(chain, GRIDCO_ADMIN, **add_validator_args())
    _, second = propose(chain, NOTARY_ADMIN, kind="remove_member", org="judicial")

    listed = governance.list_proposals(chain.state, at_height=chain.height + 1)

    assert [p["id"] for p in listed] == [first, second]


# -- who may vote, and bad votes ---------------------------------------------------------------


def test_second_vote_of_an_organization_is_refused_even_from_another_admin() -> None:
    chain = Chain(gov_genesis())
    _, pid = propose(chain, GRIDCO_ADMIN, **add_validator_args())
    vote(chain, GRIDCO_ADMIN, pid)

    result = vote(chain, GRIDCO_SECOND_ADMIN, pid, "no")

    assert only_result(result) == (11, "conflict")
    assert "organization gridco has already voted yes" in result.tx_results[0].log
    assert result.changes == {}


def test_non_admin_account_may_neither_propose_nor_vote() -> None:
    chain = Chain(gov_genesis())
    refused, _ = propose(chain, NOTARY_ENDORSER, **add_validator_args())
    _, pid = propose(chain, GRIDCO_ADMIN, **add_validator_args())

    result = vote(chain, NOTARY_ENDORSER, pid)

    for bad in (refused, result):
        assert only_result(bad) == (9, "unauthorized")
        assert "only admins may govern" in bad.tx_results[0].log
        assert bad.changes == {}


def test_vote_on_an_unknown_proposal_is_not_found() -> None:
    chain = Chain(gov_genesis())

    result = vote(chain, GRIDCO_ADMIN, digest_of("no such proposal"))

    assert only_result(result) == (12, "not_found")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param({"power": 7}, "kind must be one of", id="no-kind"),
        pytest.param({"kind": "coup"}, "kind must be one of", id="unknown-kind"),
        pytest.param({"kind": ["add_validator"]}, "kind must be one of", id="kind-list"),
        pytest.param({**add_validator_args(), "power": 0}, "power must be", id="power-0"),
        pytest.param({**add_validator_args(), "power": 10**7}, "power must be", id="power-big"),
        pytest.param({**add_validator_args(), "power": True}, "power must be", id="power-bool"),
        pytest.param(
            {**add_validator_args(), "public_key": NEW_VALIDATOR.public_key.hex().upper()},
            "public_key must be 64 lowercase hex",
            id="upper-key",
        ),
        pytest.param(
            {**add_validator_args(), "public_key": "ab" * 31}, "public_key", id="short-key"
        ),
        pytest.param({**add_validator_args(), "org": "Grid Co"}, "org must be", id="bad-org"),
        pytest.param({**add_validator_args(), "colour": "red"}, "unknown argument", id="extra"),
        pytest.param({"kind": "remove_validator"}, "missing argument", id="missing-key"),
        pytest.param({"kind": "remove_member", "org": 7}, "org must be", id="org-int"),
        pytest.param({**add_member_args(), "org": "energyco"}, "org must be an object", id="org"),
        pytest.param(
            {**add_member_args(), "org": {"id": "energyco", "name": "E"}},
            "org: missing argument",
            id="org-no-roles",
        ),
        pytest.param(
            {**add_member_args(), "org": {"id": "e", "name": "E", "roles": ["king"]}},
            "org: unknown role",
            id="org-bad-role",
        ),
        pytest.param(
            {**add_member_args(), "admin": {"public_key": "00" * 32, "alg": "rsa"}},
            "admin: alg must be",
            id="admin-alg",
        ),
        pytest.param(
            {**add_member_args(), "admin": {"public_key": "00" * 32, "roles": ["admin"]}},
            "admin: unknown argument",
            id="admin-extra",
        ),
        pytest.param({**add_validator_args(), "voting_period": 0}, "voting_period", id="period-0"),
        pytest.param({**add_validator_args(), "reason": "r" * 501}, "reason", id="long-reason"),
    ],
)
def test_propose_refuses_malformed_arguments(args: dict[str, Any], message: str) -> None:
    chain = Chain(gov_genesis())

    result, _ = propose(chain, GRIDCO_ADMIN, **args)

    assert only_result(result) == (2, "invalid_transaction")
    assert message in result.tx_results[0].log
    assert result.changes == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param({"vote": "yes"}, "missing argument", id="no-proposal"),
        pytest.param({"proposal": "ab" * 32, "vote": "maybe"}, "vote must be", id="maybe"),
        pytest.param({"proposal": "AB" * 32, "vote": "yes"}, "proposal must be", id="upper"),
        pytest.param({"proposal": 5, "vote": "yes"}, "proposal must be", id="int"),
        pytest.param({"proposal": "ab" * 32, "vote": "yes", "org": "x"}, "unknown", id="extra"),
    ],
)
def test_vote_refuses_malformed_arguments(args: dict[str, Any], message: str) -> None:
    chain = Chain(gov_genesis())

    result = chain.commit_block(chain.tx("governance", "vote", args, [GRIDCO_ADMIN]))

    assert only_result(result) == (2, "invalid_transaction")
    assert message in result.tx_results[0].log


# -- rules of the validator and member sets ----------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected", "message"),
    [
        pytest.param(
            add_validator_args(org="nowhere"), (10, "rule_violation"), "not a member", id="org"
        ),
        pytest.param(
            add_validator_args(key=VALIDATORS["judicial"]),
            (11, "conflict"),
            "already a validator",
            id="twice",
        ),
        pytest.param(
            {"kind": "remove_validator", "public_key": NEW_VALIDATOR.public_key.hex()},
            (12, "not_found"),
            "is not a validator",
            id="unknown-validator",
        ),
        pytest.param(
            {"kind": "remove_member", "org": "nowhere"},
            (12, "not_found"),
            "not a member",
            id="unknown-member",
        ),
    ],
)
def test_impossible_changes_are_refused_when_proposed(
    args: dict[str, Any], expected: tuple[int, str], message: str
) -> None:
    chain = Chain(gov_genesis())

    result, _ = propose(chain, GRIDCO_ADMIN, **args)

    assert only_result(result) == expected
    assert message in result.tx_results[0].log


def test_the_last_validator_cannot_be_removed() -> None:
    chain = Chain(gov_genesis(validator_orgs=("gridco",)))
    key = VALIDATORS["gridco"].public_key.hex()

    result, _ = propose(chain, GRIDCO_ADMIN, kind="remove_validator", public_key=key)
    assert only_result(result) == (10, "rule_violation")
    assert "last validator" in result.tx_results[0].log

    result, _ = propose(chain, NOTARY_ADMIN, kind="remove_member", org="gridco")
    assert only_result(result) == (10, "rule_violation")
    assert "would remove every validator" in result.tx_results[0].log


def test_approving_vote_is_refused_when_the_change_became_impossible() -> None:
    chain = Chain(gov_genesis(validator_orgs=("gridco", "notary")))
    keys = [VALIDATORS[org].public_key.hex() for org in ("gridco", "notary")]
    _, first = propose(chain, GRIDCO_ADMIN, kind="remove_validator", public_key=keys[0])
    _, second = propose(chain, GRIDCO_ADMIN, kind="remove_validator", public_key=keys[1])
    approve(chain, first, ("gridco", "notary", "judicial"))
    approve(chain, second, ("gridco", "notary"))

    result = vote(chain, JUDICIAL_ADMIN, second)

    assert only_result(result) == (10, "rule_violation")
    assert "cannot be executed now: the last validator" in result.tx_results[0].log
    assert result.validator_updates == ()
    assert proposal(chain, second)["status"] == "open"
    assert "judicial" not in proposal(chain, second)["votes"]


# -- validator updates of a block --------------------------------------------------------------


def test_updates_of_one_block_are_merged_per_key_and_sorted() -> None:
    chain = Chain(gov_genesis())
    a, b = key_for("validator-a"), key_for("validator-b")
    _, add_a = propose(chain, GRIDCO_ADMIN, **add_validator_args(key=a, org="exchange"))
    _, add_b = propose(chain, GRIDCO_ADMIN, **add_validator_args(key=b))
    _, remove_exchange = propose(chain, GRIDCO_ADMIN, kind="remove_member", org="exchange")
    for pid in (add_a, add_b, remove_exchange):
        approve(chain, pid, ("gridco", "notary"))
    votes = [
        chain.tx("governance", "vote", {"proposal": pid, "vote": "yes"}, [JUDICIAL_ADMIN])
        for pid in (add_b, add_a, remove_exchange)
    ]

    result = chain.commit_block(*votes)

    assert [r.code for r in result.tx_results] == [OK, OK, OK]
    # a was added, then removed with its organization, within the block: CometBFT never hears
    # of it (it would refuse to remove a key it does not have).
    expected = sorted(
        [
            ValidatorUpdate(public_key=b.public_key, power=7),
            ValidatorUpdate(public_key=VALIDATORS["exchange"].public_key, power=0),
        ],
        key=lambda u: u.public_key,
    )
    assert result.validator_updates == tuple(expected)
    assert governance.get_validator(chain.state, a.public_key.hex()) is None
    removed = result.tx_results[2].events[-1].attributes["validators_removed"]
    assert sorted(removed) == sorted(k.public_key.hex() for k in (a, VALIDATORS["exchange"]))


def test_compute_validator_updates_gives_the_net_change_per_key() -> None:
    k1, k2, k3, k4 = (bytes([n]) * 32 for n in (4, 1, 3, 2))
    changes = [
        ValidatorChange(public_key=k1, power=5, previous_power=0),
        ValidatorChange(public_key=k2, power=0, previous_power=10),
        ValidatorChange(public_key=k3, power=9, previous_power=0),
        ValidatorChange(public_key=k3, power=0, previous_power=9),  # added then removed
        ValidatorChange(public_key=k4, power=0, previous_power=10),
        ValidatorChange(public_key=k4, power=10, previous_power=0),  # removed then restored
        ValidatorChange(public_key=k2, power=3, previous_power=0),  # removed, back with 3
    ]

    assert compute_validator_updates(changes) == (
        ValidatorUpdate(public_key=k2, power=3),
        ValidatorUpdate(public_key=k1, power=5),
    )


def test_only_the_approving_vote_yields_an_update_in_a_block_with_failures() -> None:
    chain = Chain(gov_genesis())
    _, pid = propose(chain, GRIDCO_ADMIN, **add_validator_args())
    approve(chain, pid, ("gridco", "notary"))
    good = chain.tx("governance", "vote", {"proposal": pid, "vote": "yes"}, [JUDICIAL_ADMIN])
    again = chain.tx("governance", "vote", {"proposal": pid, "vote": "yes"}, [EXCHANGE_ADMIN])

    result = chain.commit_block(again.raw[:-2], good, again)

    assert [r.code for r in result.tx_results] == [1, OK, 11]
    assert result.validator_updates == (
        ValidatorUpdate(public_key=NEW_VALIDATOR.public_key, power=7),
    )


# -- determinism -------------------------------------------------------------------------------


def run_workload() -> dict[str, Any]:
    """A fixed governance sequence (every kind, failures, several changes per block)."""
    chain = Chain(gov_genesis())
    admins = {**ADMINS, "energyco": ENERGY_ADMIN}
    a, b = key_for("validator-a"), key_for("validator-b")
    out: dict[str, Any] = {"app_hashes": [chain.app_hash.hex()], "codes": [], "updates": []}

    def block(*txs: Any) -> None:
        result = chain.commit_block(*txs)
        out["app_hashes"].append(result.app_hash.hex())
        out["codes"].append([r.code for r in result.tx_results])
        out["updates"].append([[u.public_key.hex(), u.power] for u in result.validator_updates])

    def ballot(pid: str, orgs: str, choice: str = "yes") -> list[Any]:
        args = {"proposal": pid, "vote": choice}
        return [chain.tx("governance", "vote", args, [admins[o]]) for o in orgs.split()]

    proposals = [
        chain.tx("governance", "propose", args, [GRIDCO_ADMIN])
        for args in (
            add_validator_args(key=a),
            add_validator_args(key=b, org="judicial"),
            add_member_args(),
            {"kind": "remove_member", "org": "exchange"},
            {"kind": "remove_validator", "public_key": VALIDATORS["notary"].public_key.hex()},
        )
    ]
    ids = [p.tx_id.hex() for p in proposals]
    block(*proposals, chain.tx("governance", "propose", {"kind": "x"}, [GRIDCO_ADMIN]))
    block(*ballot(ids[1], "gridco notary judicial"), *ballot(ids[0], "notary gridco exchange"))
    block(*ballot(ids[2], "judicial exchange gridco gridco"), *ballot(ids[4], "notary", "no"))
    block(*ballot(ids[3], "energyco notary gridco exchange judicial"))
    block(*ballot(ids[4], "gridco judicial energyco exchange"))
    return out


def test_governance_is_the_same_under_every_hash_seed() -> None:
    code = (
        "import json; from tests.contracts.test_governance import run_workload; "
        "print(json.dumps(run_workload()))"
    )
    outputs = {}
    for seed in ("0", "1", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=REPO,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        outputs[seed] = json.loads(done.stdout)

    assert outputs["1"] == outputs["0"]
    assert outputs["4242"] == outputs["0"]
    first = outputs["0"]
    assert first == run_workload()
    assert len(set(first["app_hashes"])) == len(first["app_hashes"])
    assert sum(len(u) for u in first["updates"]) >= 4  # adds, member removal, removal
    assert {0, 2, 9, 11} <= {code for block in first["codes"] for code in block}
