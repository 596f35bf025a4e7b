"""End-of-block clearing: every interval whose gate has closed by the block's grid time is cleared
with ``compute_clearing``, inside that block, after its transactions.

Trades are recorded and their money moves from the buyer's order escrow into one escrow per trade
(``market/trade/<start>/<n>``, owner the buyer): ``qty_wh * (price + grid fee)`` µCNY. Nothing is
paid to sellers yet: delivery is settled against the meters later (``settle``), which pays for
what was delivered and returns the rest. The unused part of each order escrow goes back to the
buyer at once. See docs/contracts/market.md, "Clearing hook".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gridledger.contracts import token
from gridledger.contracts.clearing import Clearing, Order, compute_clearing
from gridledger.contracts.market.orders import (
    CLEARED,
    EXPIRED,
    FILLED,
    PARTIALLY_FILLED,
    get_interval,
    get_interval_orders,
)
from gridledger.contracts.market.params import (
    BUY,
    DUE_PREFIX,
    ORDER_PREFIX,
    SELL,
    compute_fee,
    interval_key,
    order_escrow_key,
    require_params,
    trade_key,
)
from gridledger.ledger.context import BlockEnv, Event
from gridledger.ledger.gridclock import read_grid_time_ms
from gridledger.ledger.state import State


@dataclass(slots=True, kw_only=True)
class ClearingContext:
    """The end-of-block stand-in for a TxContext: state, block and events, no transaction."""

    state: State
    env: BlockEnv
    events: list[Event] = field(default_factory=list)

    def emit(self, type_: str, **attributes: Any) -> None:
        self.events.append(Event(type=type_, attributes=attributes))


def apply_due_clearings(state: State, env: BlockEnv) -> tuple[Event, ...]:
    """Clear, in ascending interval order, every interval whose gate closure is at or before
    this block's grid time. Costs one empty prefix scan when nothing is due."""
    ctx = ClearingContext(state=state, env=env)
    due: list[tuple[str, int]] = []
    now_ms: int | None = None
    for key, _ in state.iter_prefix(DUE_PREFIX):
        if now_ms is None:
            now_ms = read_grid_time_ms(state, env)
        gate_close_s, start_s = (int(part) for part in key[len(DUE_PREFIX) :].split("/"))
        if gate_close_s * 1000 > now_ms:
            break
        due.append((key, start_s))
    for key, start_s in due:
        apply_interval_clearing(ctx, start_s)
        state.delete(key)
    return tuple(ctx.events)


def apply_interval_clearing(ctx: ClearingContext, start_s: int) -> None:
    """Clear one interval: trades and their escrows, order outcomes, the interval record."""
    state = ctx.state
    params = require_params(state)
    orders = get_interval_orders(state, start_s)
    by_id = {order["id"]: order for order in orders}
    book = {
        side: [
            Order(o["id"], int(o["qty_wh"]), int(o["price"]), int(o["seq"]))
            for o in orders
            if o["side"] == side
        ]
        for side in (BUY, SELL)
    }
    clearing = compute_clearing(
        book[BUY], book[SELL], price_rule=params["price_rule"], tie_rule=params["tie_rule"]
    )
    amount_ucny = fees_ucny = 0
    for n, (buy_id, sell_id, qty_wh) in enumerate(clearing.trades):
        trade = _apply_trade(ctx, params, by_id[buy_id], by_id[sell_id], qty_wh, clearing, n)
        state.put_json(trade_key(start_s, n), trade)
        ctx.emit("market.trade", interval_start=start_s, **trade)
        amount_ucny += trade["amount_ucny"]
        fees_ucny += trade["fee_ucny"]
    for order in orders:
        _apply_order_outcome(ctx, order, clearing.fills[order["id"]])
    interval = get_interval(state, start_s) or {}
    result = {
        "amount_ucny": amount_ucny,
        "cleared_height": ctx.env.height,
        "fees_ucny": fees_ucny,
        "price": clearing.price,
        "quantity_wh": clearing.quantity_wh,
        "trades": len(clearing.trades),
    }
    state.put_json(interval_key(start_s), {**interval, **result, "state": CLEARED})
    ctx.emit("market.interval_cleared", interval_start=start_s, **result)


def _apply_trade(
    ctx: ClearingContext,
    params: Mapping[str, Any],
    buy: Mapping[str, Any],
    sell: Mapping[str, Any],
    qty_wh: int,
    clearing: Clearing,
    n: int,
) -> dict[str, Any]:
    """Record trade ``n`` and move its worst case (amount and fee) from the buyer's order escrow
    into the trade's own escrow, where it waits for settlement."""
    price = int(clearing.price or 0)
    fee = compute_fee(params, sell["zone"], buy["zone"])
    amount_ucny, fee_ucny = qty_wh * price, qty_wh * fee
    held = amount_ucny + fee_ucny
    if held:
        token.release(ctx, order_escrow_key(buy["id"]), buy["owner"], held)
        token.hold(ctx, buy["owner"], held, trade_key(int(buy["interval_start"]), n))
    return {
        "amount_ucny": amount_ucny,
        "buy_order": buy["id"],
        "buyer": buy["owner"],
        "fee_per_mwh": fee,
        "fee_ucny": fee_ucny,
        "held_ucny": held,
        "n": n,
        "price": price,
        "qty_wh": qty_wh,
        "sell_order": sell["id"],
        "seller": sell["owner"],
        "state": CLEARED,
    }


def _apply_order_outcome(ctx: ClearingContext, order: Mapping[str, Any], filled_wh: int) -> None:
    outcome = EXPIRED
    if filled_wh:
        outcome = FILLED if filled_wh == order["qty_wh"] else PARTIALLY_FILLED
    refund = 0
    if order["side"] == BUY:
        refund = token.release_all(ctx, order_escrow_key(order["id"]), order["owner"])
    ctx.state.put_json(
        ORDER_PREFIX + order["id"], {**order, "filled_wh": filled_wh, "state": outcome}
    )
    ctx.emit(
        "market.order_closed",
        order=order["id"],
        state=outcome,
        filled_wh=filled_wh,
        refund_ucny=refund,
    )
