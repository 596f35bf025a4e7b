"""Token: the µCNY settlement token, issued by the grid company, and the escrow other contracts
use to hold buyers' money until a market interval clears.

Units: 1 token unit = 1 µCNY (1 fen = 10,000 µCNY), so ``Wh * CNY/MWh`` is an exact amount
(domain report section 0). Every amount is a positive integer within the signed 64-bit range.

State::

    token/supply              total issued, int
    token/balance/<address>   spendable balance, int (absent = 0)
    token/escrow/<hold_key>   {"owner", "amount"}: money held for a contract (absent = none)

Money is created only by ``issue`` (an admin of the organization with the genesis role
``operator``) and never destroyed; ``transfer``, ``hold`` and ``release`` only move it, so
``Σ balances + Σ escrows == supply`` after every transaction and every block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from gridledger.codec import INT_MAX
from gridledger.contracts import identity
from gridledger.contracts.args import require_fields, take_address, take_int, take_str
from gridledger.errors import Conflict, NotFound, RuleViolation, Unauthorized
from gridledger.ledger.context import Method, TxContext
from gridledger.ledger.state import State

# -- constants ---------------------------------------------------------------------------------

SUPPLY_KEY = "token/supply"
BALANCE_PREFIX = "token/balance/"
ESCROW_PREFIX = "token/escrow/"
ISSUER_ORG_ROLE = "operator"
MAX_MEMO_CHARS = 200
MAX_HOLD_KEY_CHARS = 200


class Ledger(Protocol):
    """What the escrow primitives need: the state and somewhere to put events. A TxContext is
    one; the market's end-of-block clearing passes its own."""

    @property
    def state(self) -> State: ...

    def emit(self, type_: str, **attributes: Any) -> None: ...


# -- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Issue:
    to: str
    amount_ucny: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer:
    to: str
    amount_ucny: int
    memo: str


# -- readers -----------------------------------------------------------------------------------


def get_balance(state: State, address: str) -> int:
    value = state.get_json(BALANCE_PREFIX + address)
    return int(value) if value is not None else 0


def get_total_supply(state: State) -> int:
    value = state.get_json(SUPPLY_KEY)
    return int(value) if value is not None else 0


def get_escrow(state: State, hold_key: str) -> dict[str, Any] | None:
    escrow: dict[str, Any] | None = state.get_json(ESCROW_PREFIX + hold_key)
    return escrow


def compute_circulating(state: State) -> int:
    """Σ balances + Σ escrows, by walking the state (for audits and tests: equals the supply)."""
    balances = sum(int(v) for v in _values(state, BALANCE_PREFIX))
    escrows = sum(int(v["amount"]) for v in _values(state, ESCROW_PREFIX))
    return balances + escrows


def is_issuer(state: State, address: str) -> bool:
    """An active admin of an organization whose genesis roles include ``operator``."""
    return identity.is_admin_of_role(state, address, ISSUER_ORG_ROLE)


def verify_funds(state: State, owner: str, amount_ucny: int) -> None:
    """Raise RuleViolation naming the shortfall unless ``owner`` can spend ``amount_ucny``."""
    balance = get_balance(state, owner)
    if balance < amount_ucny:
        raise RuleViolation(
            f"insufficient funds: {owner} has {balance} µCNY, needs {amount_ucny} µCNY "
            f"(short by {amount_ucny - balance} µCNY)"
        )


def _values(state: State, prefix: str) -> list[Any]:
    return [state.get_json(key) for key, _ in state.iter_prefix(prefix)]


# -- mutators ----------------------------------------------------------------------------------


def _set_balance(state: State, address: str, amount_ucny: int) -> None:
    if amount_ucny < 0:  # unreachable when callers verify first; never store a negative balance
        raise RuleViolation(f"balance of {address} would become negative ({amount_ucny} µCNY)")
    if amount_ucny == 0:
        state.delete(BALANCE_PREFIX + address)
    else:
        state.put_json(BALANCE_PREFIX + address, amount_ucny)


def _verify_amount(amount_ucny: int) -> None:
    if isinstance(amount_ucny, bool) or not isinstance(amount_ucny, int):
        raise RuleViolation(f"amount must be an integer µCNY, not {amount_ucny!r}")
    if not 1 <= amount_ucny <= INT_MAX:
        raise RuleViolation(f"amount must be between 1 and {INT_MAX} µCNY, not {amount_ucny}")


def hold(ctx: Ledger, owner: str, amount_ucny: int, reason_key: str) -> str:
    """Move ``amount_ucny`` from ``owner``'s balance into the escrow ``reason_key`` (a key the
    calling contract owns, such as ``market/order/<id>``); return the hold key."""
    _verify_amount(amount_ucny)
    if not 1 <= len(reason_key) <= MAX_HOLD_KEY_CHARS or not reason_key.isascii():
        raise RuleViolation(f"hold key must be 1 to {MAX_HOLD_KEY_CHARS} ASCII characters")
    if get_escrow(ctx.state, reason_key) is not None:
        raise Conflict(f"escrow {reason_key} already exists")
    verify_funds(ctx.state, owner, amount_ucny)
    _set_balance(ctx.state, owner, get_balance(ctx.state, owner) - amount_ucny)
    ctx.state.put_json(ESCROW_PREFIX + reason_key, {"amount": amount_ucny, "owner": owner})
    ctx.emit("token.held", owner=owner, amount_ucny=amount_ucny, hold_key=reason_key)
    return reason_key


def release(ctx: Ledger, hold_key: str, to: str, amount_ucny: int) -> None:
    """Pay ``amount_ucny`` out of the escrow ``hold_key`` to ``to`` (the seller, a fee account,
    or the owner getting the rest back). An emptied escrow is deleted."""
    _verify_amount(amount_ucny)
    escrow = get_escrow(ctx.state, hold_key)
    if escrow is None:
        raise NotFound(f"escrow {hold_key} does not exist")
    held = int(escrow["amount"])
    if held < amount_ucny:
        raise RuleViolation(
            f"escrow {hold_key} holds {held} µCNY, cannot release {amount_ucny} µCNY "
            f"(short by {amount_ucny - held} µCNY)"
        )
    if held == amount_ucny:
        ctx.state.delete(ESCROW_PREFIX + hold_key)
    else:
        ctx.state.put_json(ESCROW_PREFIX + hold_key, {**escrow, "amount": held - amount_ucny})
    _set_balance(ctx.state, to, get_balance(ctx.state, to) + amount_ucny)
    ctx.emit("token.released", hold_key=hold_key, to=to, amount_ucny=amount_ucny)


def release_all(ctx: Ledger, hold_key: str, to: str) -> int:
    """Release whatever is left in ``hold_key`` to ``to``; return the amount (0 if none)."""
    escrow = get_escrow(ctx.state, hold_key)
    if escrow is None:
        return 0
    amount = int(escrow["amount"])
    release(ctx, hold_key, to, amount)
    return amount


def collect(ctx: Ledger, payer: str, payee: str, amount_ucny: int, reason: str) -> int:
    """Move ``amount_ucny`` from ``payer`` to ``payee``, or as much of it as ``payer``'s balance
    covers; return what moved. For charges a contract must record even when the payer is short
    (a retail bill): the rest stays owed, off the balances, and no balance goes negative."""
    moved = min(amount_ucny, get_balance(ctx.state, payer))
    if moved > 0 and payer != payee:
        _set_balance(ctx.state, payer, get_balance(ctx.state, payer) - moved)
        _set_balance(ctx.state, payee, get_balance(ctx.state, payee) + moved)
        ctx.emit("token.transferred", sender=payer, to=payee, amount_ucny=moved, memo=reason)
    return max(moved, 0)


# -- processing --------------------------------------------------------------------------------


def parse_issue(args: Mapping[str, Any]) -> Issue:
    require_fields(args, frozenset({"to", "amount"}))
    return Issue(
        to=take_address(args, "to"),
        amount_ucny=take_int(args, "amount", minimum=1, maximum=INT_MAX),
    )


def check_issue(ctx: TxContext, msg: Issue) -> None:
    if not is_issuer(ctx.state, ctx.sender):
        raise Unauthorized(
            f"sender {ctx.sender} is not an admin of the {ISSUER_ORG_ROLE} organization"
        )
    supply = get_total_supply(ctx.state)
    if supply + msg.amount_ucny > INT_MAX:
        raise RuleViolation(
            f"issuing {msg.amount_ucny} µCNY would take the supply past {INT_MAX} (now {supply})"
        )


def apply_issue(ctx: TxContext, msg: Issue) -> None:
    ctx.state.put_json(SUPPLY_KEY, get_total_supply(ctx.state) + msg.amount_ucny)
    _set_balance(ctx.state, msg.to, get_balance(ctx.state, msg.to) + msg.amount_ucny)
    ctx.emit("token.issued", to=msg.to, amount_ucny=msg.amount_ucny)


def parse_transfer(args: Mapping[str, Any]) -> Transfer:
    require_fields(args, frozenset({"to", "amount"}), frozenset({"memo"}))
    memo = take_str(args, "memo", max_chars=MAX_MEMO_CHARS, min_chars=0) if "memo" in args else ""
    return Transfer(
        to=take_address(args, "to"),
        amount_ucny=take_int(args, "amount", minimum=1, maximum=INT_MAX),
        memo=memo,
    )


def check_transfer(ctx: TxContext, msg: Transfer) -> None:
    verify_funds(ctx.state, ctx.sender, msg.amount_ucny)


def apply_transfer(ctx: TxContext, msg: Transfer) -> None:
    _set_balance(ctx.state, ctx.sender, get_balance(ctx.state, ctx.sender) - msg.amount_ucny)
    _set_balance(ctx.state, msg.to, get_balance(ctx.state, msg.to) + msg.amount_ucny)
    ctx.emit(
        "token.transferred",
        sender=ctx.sender,
        to=msg.to,
        amount_ucny=msg.amount_ucny,
        memo=msg.memo,
    )


METHODS = {
    "issue": Method(parse=parse_issue, check=check_issue, apply=apply_issue),
    "transfer": Method(parse=parse_transfer, check=check_transfer, apply=apply_transfer),
}
