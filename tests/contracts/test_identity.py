"""The identity contract: accounts added and deactivated by their organization's admin."""

from __future__ import annotations

from typing import Any

import pytest

from gridledger.contracts import identity
from gridledger.crypto import PrivateKey
from gridledger.ledger.transition import OK, BlockResult
from tests.chain import (
    EXCHANGE_ADMIN,
    GRIDCO_ADMIN,
    NOTARY_ADMIN,
    NOTARY_ENDORSER,
    Chain,
    digest_of,
    key_for,
    record_args,
)

NEW_KEY = key_for("gridco-field-engineer")


def add_account(
    chain: Chain, sender: PrivateKey, org: str = "gridco", **change: Any
) -> BlockResult:
    args = {
        "org": org,
        "public_key": NEW_KEY.public_key.hex(),
        "roles": ["submitter"],
        "name": "Field engineer",
        **change,
    }
    return chain.commit_block(chain.tx("identity", "add_account", args, [sender]))


def deactivate(chain: Chain, sender: PrivateKey, address: str) -> BlockResult:
    return chain.commit_block(
        chain.tx("identity", "deactivate_account", {"address": address}, [sender])
    )


def record_by(chain: Chain, sender: PrivateKey, name: str) -> BlockResult:
    args = record_args(digest_of(name), [sender.address])
    return chain.commit_block(chain.tx("notary", "record", args, [sender]))


def only_result(result: BlockResult) -> tuple[int, str]:
    (tx_result,) = result.tx_results
    return tx_result.code, tx_result.error


# -- is_admin_of_role --------------------------------------------------------------------------


def test_admin_of_role_needs_an_active_admin_of_an_organization_with_that_role() -> None:
    chain = Chain()
    state = chain.state
    assert identity.is_admin_of_role(state, GRIDCO_ADMIN.address, "operator")
    assert identity.is_admin_of_role(state, EXCHANGE_ADMIN.address, "market_operator")
    assert not identity.is_admin_of_role(state, GRIDCO_ADMIN.address, "market_operator")
    assert not identity.is_admin_of_role(state, NOTARY_ADMIN.address, "operator")
    assert not identity.is_admin_of_role(state, NOTARY_ENDORSER.address, "endorser")  # not admin
    assert not identity.is_admin_of_role(state, NEW_KEY.address, "operator")  # unknown


def test_a_deactivated_admin_is_no_longer_admin_of_its_role() -> None:
    chain = Chain()
    assert add_account(chain, GRIDCO_ADMIN, roles=["admin"]).tx_results[0].code == OK
    assert identity.is_admin_of_role(chain.state, NEW_KEY.address, "operator")
    assert deactivate(chain, GRIDCO_ADMIN, NEW_KEY.address).tx_results[0].code == OK
    assert not identity.is_admin_of_role(chain.state, NEW_KEY.address, "operator")


# -- add_account -------------------------------------------------------------------------------


def test_admin_adds_an_account_to_its_organization() -> None:
    chain = Chain()
    assert identity.get_account(chain.state, NEW_KEY.address) is None

    result = add_account(chain, GRIDCO_ADMIN, roles=["submitter", "auditor"])

    assert only_result(result) == (OK, "")
    assert identity.get_account(chain.state, NEW_KEY.address) == {
        "active": True,
        "address": NEW_KEY.address,
        "alg": "ed25519",
        "name": "Field engineer",
        "org": "gridco",
        "public_key": NEW_KEY.public_key.hex(),
        "roles": ["auditor", "submitter"],
    }
    assert chain.state.has(f"identity/member/gridco/{NEW_KEY.address}")
    assert identity.has_role(chain.state, NEW_KEY.address, "gridco", "auditor")
    assert not identity.has_role(chain.state, NEW_KEY.address, "notary", "auditor")
    (event,) = result.tx_results[0].events
    assert event.type == "identity.account_added"


def test_added_account_can_send_transactions() -> None:
    chain = Chain()
    add_account(chain, GRIDCO_ADMIN)

    assert only_result(record_by(chain, NEW_KEY, "engineer's report")) == (OK, "")


def test_account_without_name_gets_an_empty_name() -> None:
    chain = Chain()
    args = {"org": "gridco", "public_key": NEW_KEY.public_key.hex(), "roles": []}

    chain.commit_block(chain.tx("identity", "add_account", args, [GRIDCO_ADMIN]))

    account = identity.get_account(chain.state, NEW_KEY.address)
    assert account is not None
    assert account["name"] == ""


def test_non_admin_cannot_add_an_account() -> None:
    chain = Chain()

    result = add_account(chain, NOTARY_ENDORSER, org="notary")

    assert only_result(result) == (9, "unauthorized")
    assert result.changes == {}
    assert identity.get_account(chain.state, NEW_KEY.address) is None


def test_admin_of_another_organization_cannot_add_an_account() -> None:
    chain = Chain()

    result = add_account(chain, NOTARY_ADMIN, org="gridco")

    assert only_result(result) == (9, "unauthorized")
    assert "not an admin of organization gridco" in result.tx_results[0].log
    assert result.changes == {}


def test_adding_an_existing_account_is_a_conflict() -> None:
    chain = Chain()
    add_account(chain, GRIDCO_ADMIN)
    before = chain.dump()

    result = add_account(chain, GRIDCO_ADMIN, roles=["admin"])

    assert only_result(result) == (11, "conflict")
    assert result.changes == {}
    assert chain.dump() == before


def test_adding_a_genesis_account_again_is_a_conflict() -> None:
    chain = Chain()

    result = add_account(chain, GRIDCO_ADMIN, public_key=NOTARY_ADMIN.public_key.hex())

    assert only_result(result) == (11, "conflict")


def test_adding_to_an_unknown_organization_is_not_found() -> None:
    chain = Chain()

    result = add_account(chain, GRIDCO_ADMIN, org="nowhere")

    assert only_result(result) == (12, "not_found")
    assert result.changes == {}


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"roles": ["superuser"]}, id="unknown-role"),
        pytest.param({"roles": ["admin", "admin"]}, id="role-twice"),
        pytest.param({"roles": "admin"}, id="roles-not-list"),
        pytest.param({"public_key": "ab" * 31}, id="short-key"),
        pytest.param({"public_key": NEW_KEY.public_key.hex().upper()}, id="upper-key"),
        pytest.param({"name": "n" * 201}, id="long-name"),
        pytest.param({"colour": "red"}, id="unknown-argument"),
    ],
)
def test_add_account_refuses_bad_arguments(change: dict[str, Any]) -> None:
    chain = Chain()

    result = add_account(chain, GRIDCO_ADMIN, **change)

    assert only_result(result) == (2, "invalid_transaction")
    assert result.changes == {}


# -- deactivate_account ------------------------------------------------------------------------


def test_deactivated_account_can_no_longer_send() -> None:
    chain = Chain()
    add_account(chain, GRIDCO_ADMIN)
    assert identity.is_active_account(chain.state, NEW_KEY.address)

    assert only_result(deactivate(chain, GRIDCO_ADMIN, NEW_KEY.address)) == (OK, "")

    account = identity.get_account(chain.state, NEW_KEY.address)
    assert account is not None
    assert account["active"] is False
    assert not identity.is_active_account(chain.state, NEW_KEY.address)
    assert not identity.has_role(chain.state, NEW_KEY.address, "gridco", "submitter")
    result = record_by(chain, NEW_KEY, "after deactivation")
    assert only_result(result) == (9, "unauthorized")
    assert "deactivated" in result.tx_results[0].log
    assert result.changes == {}


def test_deactivating_twice_is_a_conflict() -> None:
    chain = Chain()
    add_account(chain, GRIDCO_ADMIN)
    deactivate(chain, GRIDCO_ADMIN, NEW_KEY.address)

    result = deactivate(chain, GRIDCO_ADMIN, NEW_KEY.address)

    assert only_result(result) == (11, "conflict")


def test_only_the_accounts_own_admin_can_deactivate_it() -> None:
    chain = Chain()

    result = deactivate(chain, NOTARY_ADMIN, GRIDCO_ADMIN.address)

    assert only_result(result) == (9, "unauthorized")
    assert identity.is_active_account(chain.state, GRIDCO_ADMIN.address)


def test_deactivating_an_unknown_account_is_not_found() -> None:
    chain = Chain()

    result = deactivate(chain, GRIDCO_ADMIN, key_for("stranger").address)

    assert only_result(result) == (12, "not_found")


def test_deactivated_account_may_still_co_sign_as_a_party() -> None:
    chain = Chain()
    add_account(chain, GRIDCO_ADMIN)
    deactivate(chain, GRIDCO_ADMIN, NEW_KEY.address)
    args = record_args(digest_of("co-signed"), [GRIDCO_ADMIN.address, NEW_KEY.address])

    result = chain.commit_block(chain.tx("notary", "record", args, [GRIDCO_ADMIN, NEW_KEY]))

    assert only_result(result) == (OK, "")
