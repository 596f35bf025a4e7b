"""The token contract: issue by the operator's admin, transfer, and the hold/release escrow
primitives; money is never created except by issue and never destroyed."""

from __future__ import annotations

from typing import Any

import pytest

from gridledger.codec import INT_MAX
from gridledger.contracts import token
from gridledger.contracts.market.clearing_hook import ClearingContext
from gridledger.errors import Conflict, DecodeError, NotFound, RuleViolation
from gridledger.ledger.context import BlockEnv
from gridledger.ledger.state import MemoryBackend, State
from gridledger.ledger.transition import OK, BlockResult
from tests.chain import (
    CUSTOMER,
    EXCHANGE_ADMIN,
    GRIDCO_ADMIN,
    NOTARY_ADMIN,
    Chain,
    genesis_document,
    key_for,
)

GRIDCO_CLERK = key_for("gridco-clerk")  # gridco account without the admin role


def token_genesis() -> dict[str, Any]:
    doc = genesis_document()
    doc["accounts"].append(
        {"public_key": GRIDCO_CLERK.public_key.hex(), "org": "gridco", "roles": ["submitter"]}
    )
    return doc


def only(result: BlockResult) -> tuple[int, str, str]:
    (tx_result,) = result.tx_results
    return tx_result.code, tx_result.error, tx_result.log


def verify_conservation(state: State) -> None:
    """Σ balances + Σ escrows == supply, and nothing is negative."""
    assert token.compute_circulating(state) == token.get_total_supply(state)
    for _, raw in state.iter_prefix(token.BALANCE_PREFIX):
        assert int(raw) > 0
    for key, _ in state.iter_prefix(token.ESCROW_PREFIX):
        assert state.get_json(key)["amount"] > 0


@pytest.fixture
def chain() -> Chain:
    return Chain(token_genesis())


def issue(chain: Chain, to: str, amount: Any, sender: Any = GRIDCO_ADMIN) -> BlockResult:
    result = chain.commit_block(chain.tx("token", "issue", {"to": to, "amount": amount}, [sender]))
    verify_conservation(chain.state)
    return result


def transfer(chain: Chain, sender: Any, **args: Any) -> BlockResult:
    result = chain.commit_block(chain.tx("token", "transfer", args, [sender]))
    verify_conservation(chain.state)
    return result


# -- issue ---------------------------------------------------------------------------------------


def test_issue_by_operator_admin_credits_balance_and_supply(chain: Chain) -> None:
    assert token.get_balance(chain.state, NOTARY_ADMIN.address) == 0
    assert token.get_total_supply(chain.state) == 0

    result = issue(chain, NOTARY_ADMIN.address, 5_000_000)

    assert only(result)[0] == OK
    assert token.get_balance(chain.state, NOTARY_ADMIN.address) == 5_000_000
    assert token.get_total_supply(chain.state) == 5_000_000
    (event,) = result.tx_results[0].events
    assert event.type == "token.issued"
    assert event.attributes == {"to": NOTARY_ADMIN.address, "amount_ucny": 5_000_000}


def test_issue_to_unregistered_address_is_allowed(chain: Chain) -> None:
    assert only(issue(chain, CUSTOMER.address, 7))[0] == OK
    assert token.get_balance(chain.state, CUSTOMER.address) == 7


@pytest.mark.parametrize("sender", [EXCHANGE_ADMIN, NOTARY_ADMIN, GRIDCO_CLERK])
def test_issue_rejects_sender_who_is_not_operator_admin(chain: Chain, sender: Any) -> None:
    _, error, _ = only(issue(chain, sender.address, 100, sender))
    assert error == "unauthorized"
    assert token.get_total_supply(chain.state) == 0


@pytest.mark.parametrize("amount", [0, -1, True, "100", 1.5, None, INT_MAX + 1])
def test_issue_rejects_bad_amount(chain: Chain, amount: Any) -> None:
    tx_args = {"to": NOTARY_ADMIN.address, "amount": amount}
    if isinstance(amount, float) or amount == INT_MAX + 1:
        # the canonical codec refuses these before a transaction even exists
        with pytest.raises(DecodeError):
            chain.tx("token", "issue", tx_args, [GRIDCO_ADMIN])
        return
    assert only(issue(chain, NOTARY_ADMIN.address, amount))[1] == "invalid_transaction"
    assert token.get_total_supply(chain.state) == 0


def test_issue_rejects_bad_address_and_unknown_field(chain: Chain) -> None:
    assert only(issue(chain, "gl1234", 5))[1] == "invalid_transaction"
    tx = chain.tx("token", "issue", {"to": CUSTOMER.address, "amount": 5, "x": 1}, [GRIDCO_ADMIN])
    assert only(chain.commit_block(tx))[1] == "invalid_transaction"


def test_issue_rejects_supply_past_int64(chain: Chain) -> None:
    assert only(issue(chain, NOTARY_ADMIN.address, INT_MAX))[0] == OK
    _, error, log = only(issue(chain, NOTARY_ADMIN.address, 1))
    assert error == "rule_violation"
    assert "supply" in log
    assert token.get_total_supply(chain.state) == INT_MAX


# -- transfer ------------------------------------------------------------------------------------


def test_transfer_moves_money_and_keeps_supply(chain: Chain) -> None:
    issue(chain, NOTARY_ADMIN.address, 1_000)

    result = transfer(chain, NOTARY_ADMIN, to=EXCHANGE_ADMIN.address, amount=400, memo="rent")

    assert only(result)[0] == OK
    assert token.get_balance(chain.state, NOTARY_ADMIN.address) == 600
    assert token.get_balance(chain.state, EXCHANGE_ADMIN.address) == 400
    assert token.get_total_supply(chain.state) == 1_000
    assert result.tx_results[0].events[0].attributes["memo"] == "rent"


def test_transfer_of_whole_balance_leaves_no_zero_entry(chain: Chain) -> None:
    issue(chain, NOTARY_ADMIN.address, 1_000)
    transfer(chain, NOTARY_ADMIN, to=EXCHANGE_ADMIN.address, amount=1_000)
    assert chain.state.get(token.BALANCE_PREFIX + NOTARY_ADMIN.address) is None
    assert token.get_balance(chain.state, EXCHANGE_ADMIN.address) == 1_000


def test_transfer_to_self_changes_nothing(chain: Chain) -> None:
    issue(chain, NOTARY_ADMIN.address, 1_000)
    assert only(transfer(chain, NOTARY_ADMIN, to=NOTARY_ADMIN.address, amount=999))[0] == OK
    assert token.get_balance(chain.state, NOTARY_ADMIN.address) == 1_000


def test_transfer_rejects_overdraft_naming_shortfall(chain: Chain) -> None:
    issue(chain, NOTARY_ADMIN.address, 1_000)
    _, error, log = only(transfer(chain, NOTARY_ADMIN, to=CUSTOMER.address, amount=1_001))
    assert error == "rule_violation"
    assert "short by 1 µCNY" in log
    assert token.get_balance(chain.state, NOTARY_ADMIN.address) == 1_000
    assert token.get_balance(chain.state, CUSTOMER.address) == 0


@pytest.mark.parametrize(
    "args",
    [
        {"to": "nope", "amount": 1},
        {"to": CUSTOMER.address, "amount": 0},
        {"to": CUSTOMER.address, "amount": -5},
        {"to": CUSTOMER.address},
        {"to": CUSTOMER.address, "amount": 1, "memo": "x" * 201},
        {"to": CUSTOMER.address, "amount": 1, "memo": 5},
        {"to": CUSTOMER.address, "amount": 1, "extra": True},
    ],
)
def test_transfer_rejects_bad_input(chain: Chain, args: dict[str, Any]) -> None:
    issue(chain, NOTARY_ADMIN.address, 1_000)
    assert only(transfer(chain, NOTARY_ADMIN, **args))[1] == "invalid_transaction"
    assert token.get_balance(chain.state, NOTARY_ADMIN.address) == 1_000


# -- hold / release ------------------------------------------------------------------------------


def ledger_with(balances: dict[str, int]) -> ClearingContext:
    backend = MemoryBackend()
    changes: dict[str, bytes | None] = {
        token.BALANCE_PREFIX + a: str(v).encode() for a, v in sorted(balances.items())
    }
    changes[token.SUPPLY_KEY] = str(sum(balances.values())).encode()
    backend.apply_changes(changes)
    return ClearingContext(state=State(backend), env=BlockEnv(chain_id="t", height=1, time_ms=0))


def test_hold_and_release_move_money_without_creating_it() -> None:
    owner, seller, dso = NOTARY_ADMIN.address, EXCHANGE_ADMIN.address, CUSTOMER.address
    ctx = ledger_with({owner: 1_000})

    key = token.hold(ctx, owner, 800, "market/order/x")
    assert key == "market/order/x"
    assert token.get_balance(ctx.state, owner) == 200
    assert token.get_escrow(ctx.state, key) == {"amount": 800, "owner": owner}
    verify_conservation(ctx.state)

    token.release(ctx, key, seller, 500)
    token.release(ctx, key, dso, 100)
    assert token.get_escrow(ctx.state, key) == {"amount": 200, "owner": owner}
    assert token.release_all(ctx, key, owner) == 200
    assert token.get_escrow(ctx.state, key) is None
    assert token.release_all(ctx, key, owner) == 0
    assert [token.get_balance(ctx.state, a) for a in (owner, seller, dso)] == [400, 500, 100]
    verify_conservation(ctx.state)
    assert [e.type for e in ctx.events] == ["token.held"] + ["token.released"] * 3


def test_hold_rejects_shortfall_duplicate_key_and_bad_amount() -> None:
    owner = NOTARY_ADMIN.address
    ctx = ledger_with({owner: 100})
    with pytest.raises(RuleViolation, match="short by 1 µCNY"):
        token.hold(ctx, owner, 101, "k")
    token.hold(ctx, owner, 50, "k")
    with pytest.raises(Conflict):
        token.hold(ctx, owner, 1, "k")
    for amount in (0, -1, INT_MAX + 1):
        with pytest.raises(RuleViolation):
            token.hold(ctx, owner, amount, "k2")
    with pytest.raises(RuleViolation):
        token.hold(ctx, owner, 1, "")
    assert token.get_balance(ctx.state, owner) == 50
    verify_conservation(ctx.state)


def test_release_rejects_more_than_held_and_unknown_hold() -> None:
    owner = NOTARY_ADMIN.address
    ctx = ledger_with({owner: 100})
    token.hold(ctx, owner, 60, "k")
    with pytest.raises(RuleViolation, match="short by 1 µCNY"):
        token.release(ctx, "k", CUSTOMER.address, 61)
    with pytest.raises(NotFound):
        token.release(ctx, "missing", CUSTOMER.address, 1)
    with pytest.raises(RuleViolation):
        token.release(ctx, "k", CUSTOMER.address, 0)
    assert token.get_escrow(ctx.state, "k") == {"amount": 60, "owner": owner}
    verify_conservation(ctx.state)
