"""The local energy market contract: a periodic, closed-book double auction per 15-minute
interval with one uniform price (domain report section 1; rules and vectors 1-A to 1-H).

- ``configure`` (an admin of the ``operator`` organization): gate closure lead, price floor and
  cap, zones, grid fees per zone pair, the fee account, price and tie rules.
- ``place_order``: any active account, before gate closure (judged by block time). A buyer's
  worst-case cost ``qty_wh * (price + highest grid fee into its zone)`` µCNY is escrowed in the
  ``token`` contract at once.
- ``cancel_order``: only the owner, only before gate closure; the escrow goes back.
- ``apply_due_clearings``: called by ``apply_block`` after the block's transactions. Every
  interval whose gate closure has passed is cleared with ``compute_clearing`` (in
  ``gridledger.contracts.clearing``), buyers pay sellers and the fee account out of escrow, the
  rest of each escrow is released. Its writes are part of the block's change set.

Units: Wh, CNY/MWh, µCNY (``Wh * CNY/MWh = µCNY`` exactly: no rounding anywhere). Time: interval
starts in Unix seconds, block time in milliseconds. See docs/contracts/market.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gridledger.contracts import token
from gridledger.contracts.args import (
    HEX,
    require_fields,
    take_address,
    take_int,
    take_name_list,
    take_str,
)
from gridledger.contracts.clearing import (
    PRICE_RULES,
    TIE_RULES,
    Clearing,
    Order,
    Trade,
    compute_clearing,
)
from gridledger.errors import Conflict, InvalidTransaction, NotFound, RuleViolation, Unauthorized
from gridledger.ledger.context import BlockEnv, Event, Method, TxContext
from gridledger.ledger.state import State

__all__ = [
    "METHODS",
    "PRICE_RULES",
    "TIE_RULES",
    "Clearing",
    "Order",
    "Trade",
    "apply_due_clearings",
    "compute_clearing",
    "compute_escrow_ucny",
    "get_interval",
    "get_order",
    "get_params",
    "get_trades",
]

# -- constants ---------------------------------------------------------------------------------

INTERVAL_S = 900
DEFAULT_GATE_CLOSURE_LEAD_S = 300
MAX_GATE_CLOSURE_LEAD_S = 86_400
MAX_AHEAD_S = 7 * 86_400  # orders for intervals at most a week ahead of the block
MAX_QTY_WH = 1_000_000_000  # 1 GWh in one order
MAX_PRICE = 1_000_000  # CNY/MWh (1,000 CNY/kWh): escrows stay far inside int64
MAX_ZONES = 64
MAX_GRID_FEES = 256
MAX_START_S = 10**11
BUY, SELL = "buy", "sell"
OPEN, CANCELLED, FILLED, PARTIALLY_FILLED, EXPIRED = (
    "open",
    "cancelled",
    "filled",
    "partially_filled",
    "expired",
)
CLEARED = "cleared"
ZONE = re.compile(r"[a-z0-9_-]{1,32}")

PARAMS_KEY = "market/params"
INTERVAL_PREFIX = "market/interval/"  # <start_s:012d>
ORDER_PREFIX = "market/order/"  # <order id>
BOOK_PREFIX = "market/book/"  # <start_s:012d>/<seq:010d> -> order id
DUE_PREFIX = "market/due/"  # <gate_close_s:012d>/<start_s:012d>: uncleared intervals
TRADE_PREFIX = "market/trade/"  # <start_s:012d>/<n:06d>

# -- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Configure:
    gate_closure_lead_s: int
    price_floor: int
    price_cap: int
    zones: tuple[str, ...]
    default_grid_fee: int
    grid_fees: tuple[tuple[str, str, int], ...]  # (from_zone, to_zone, CNY/MWh), sorted
    fee_account: str | None  # None: the sender
    price_rule: str
    tie_rule: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    interval_start: int
    side: str
    qty_wh: int
    price: int
    zone: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    order: str


@dataclass(slots=True, kw_only=True)
class ClearingContext:
    """The end-of-block stand-in for a TxContext: state, block and events, no transaction."""

    state: State
    env: BlockEnv
    events: list[Event] = field(default_factory=list)

    def emit(self, type_: str, **attributes: Any) -> None:
        self.events.append(Event(type=type_, attributes=attributes))


# -- pure arithmetic ---------------------------------------------------------------------------


def compute_escrow_ucny(qty_wh: int, price: int, max_fee: int) -> int:
    """A buyer's worst case: every Wh at its limit price plus the highest fee it could pay."""
    return qty_wh * (price + max_fee)


def compute_fee(params: Mapping[str, Any], from_zone: str, to_zone: str) -> int:
    """The grid fee (CNY/MWh) for energy from a seller in ``from_zone`` to a buyer in
    ``to_zone``: the listed pair's fee, else the default."""
    for entry in params["grid_fees"]:
        if entry["from_zone"] == from_zone and entry["to_zone"] == to_zone:
            return int(entry["fee"])
    return int(params["default_grid_fee"])


def compute_max_fee(params: Mapping[str, Any], to_zone: str) -> int:
    """The highest fee a buyer in ``to_zone`` can be charged, whatever the seller's zone."""
    return max(compute_fee(params, zone, to_zone) for zone in params["zones"])


def _interval_key(start_s: int) -> str:
    return f"{INTERVAL_PREFIX}{start_s:012d}"


def _escrow_key(order_id: str) -> str:
    return f"{ORDER_PREFIX}{order_id}"


def _gate_close_s(params: Mapping[str, Any], start_s: int) -> int:
    return start_s - int(params["gate_closure_lead_s"])


# -- readers -----------------------------------------------------------------------------------


def get_params(state: State) -> dict[str, Any] | None:
    params: dict[str, Any] | None = state.get_json(PARAMS_KEY)
    return params


def get_interval(state: State, start_s: int) -> dict[str, Any] | None:
    interval: dict[str, Any] | None = state.get_json(_interval_key(start_s))
    return interval


def get_order(state: State, order_id: str) -> dict[str, Any] | None:
    order: dict[str, Any] | None = state.get_json(ORDER_PREFIX + order_id)
    return order


def get_interval_orders(state: State, start_s: int) -> list[dict[str, Any]]:
    """The interval's orders in placement (seq) order, cancelled ones left out."""
    prefix = f"{BOOK_PREFIX}{start_s:012d}/"
    ids = [raw.decode("ascii") for _, raw in state.iter_prefix(prefix)]
    return [order for order in (get_order(state, i) for i in ids) if order is not None]


def get_trades(state: State, start_s: int) -> list[dict[str, Any]]:
    prefix = f"{TRADE_PREFIX}{start_s:012d}/"
    return [state.get_json(key) for key, _ in state.iter_prefix(prefix)]


def has_due_intervals(state: State) -> bool:
    return next(state.iter_prefix(DUE_PREFIX), None) is not None


def _require_params(state: State) -> dict[str, Any]:
    params = get_params(state)
    if params is None:
        raise RuleViolation("the market is not configured yet (market.configure)")
    return params


def verify_before_gate_closure(env: BlockEnv, params: Mapping[str, Any], start_s: int) -> None:
    gate_close_s = _gate_close_s(params, start_s)
    if env.time_ms >= gate_close_s * 1000:
        raise RuleViolation(
            f"gate closure for interval {start_s} was at {gate_close_s} s; "
            f"block time is {env.time_ms} ms"
        )


# -- configure ---------------------------------------------------------------------------------


CONFIGURE_DEFAULTS: Mapping[str, Any] = {
    "gate_closure_lead_s": DEFAULT_GATE_CLOSURE_LEAD_S,
    "default_grid_fee": 0,
    "grid_fees": [],
    "price_rule": "midpoint",
    "tie_rule": "time",
}


def parse_configure(args: Mapping[str, Any]) -> Configure:
    require_fields(
        args,
        frozenset({"price_floor", "price_cap", "zones"}),
        frozenset({*CONFIGURE_DEFAULTS, "fee_account"}),
    )
    full = {**CONFIGURE_DEFAULTS, **args}
    floor = take_int(full, "price_floor", minimum=1, maximum=MAX_PRICE)
    cap = take_int(full, "price_cap", minimum=1, maximum=MAX_PRICE)
    if floor > cap:
        raise InvalidTransaction(f"price_floor {floor} is above price_cap {cap}")
    zones = take_name_list(full, "zones", max_items=MAX_ZONES, min_items=1)
    for zone in zones:
        if not ZONE.fullmatch(zone):
            raise InvalidTransaction(f"zone {zone!r} must be 1 to 32 of a-z 0-9 - _")
    for name, allowed in (("price_rule", PRICE_RULES), ("tie_rule", TIE_RULES)):
        if full[name] not in allowed:
            raise InvalidTransaction(f"{name} must be one of {', '.join(allowed)}")
    return Configure(
        gate_closure_lead_s=take_int(
            full, "gate_closure_lead_s", minimum=0, maximum=MAX_GATE_CLOSURE_LEAD_S
        ),
        price_floor=floor,
        price_cap=cap,
        zones=tuple(sorted(zones)),
        default_grid_fee=take_int(full, "default_grid_fee", minimum=0, maximum=MAX_PRICE),
        grid_fees=_parse_grid_fees(full["grid_fees"], frozenset(zones)),
        fee_account=take_address(full, "fee_account") if "fee_account" in full else None,
        price_rule=str(full["price_rule"]),
        tie_rule=str(full["tie_rule"]),
    )


def _parse_grid_fees(value: Any, zones: frozenset[str]) -> tuple[tuple[str, str, int], ...]:
    if not isinstance(value, list) or len(value) > MAX_GRID_FEES:
        raise InvalidTransaction(f"grid_fees must be a list of at most {MAX_GRID_FEES} items")
    fees: dict[tuple[str, str], int] = {}
    for item in value:
        if not isinstance(item, dict):
            raise InvalidTransaction("each grid fee must be {from_zone, to_zone, fee}")
        require_fields(item, frozenset({"from_zone", "to_zone", "fee"}))
        pair = (take_str(item, "from_zone", max_chars=32), take_str(item, "to_zone", max_chars=32))
        if not set(pair) <= zones:
            raise InvalidTransaction(f"grid fee {pair[0]}->{pair[1]} names an unknown zone")
        if pair in fees:
            raise InvalidTransaction(f"grid fee {pair[0]}->{pair[1]} is listed twice")
        fees[pair] = take_int(item, "fee", minimum=0, maximum=MAX_PRICE)
    return tuple((a, b, fees[(a, b)]) for a, b in sorted(fees))


def check_configure(ctx: TxContext, msg: Configure) -> None:
    if not token.is_issuer(ctx.state, ctx.sender):
        raise Unauthorized(f"sender {ctx.sender} is not an admin of the operator organization")
    if has_due_intervals(ctx.state):
        raise Conflict("the market has intervals with orders that are not cleared yet")


def apply_configure(ctx: TxContext, msg: Configure) -> None:
    params = {
        "default_grid_fee": msg.default_grid_fee,
        "fee_account": msg.fee_account or ctx.sender,
        "gate_closure_lead_s": msg.gate_closure_lead_s,
        "grid_fees": [{"fee": f, "from_zone": a, "to_zone": b} for a, b, f in msg.grid_fees],
        "interval_s": INTERVAL_S,
        "price_cap": msg.price_cap,
        "price_floor": msg.price_floor,
        "price_rule": msg.price_rule,
        "tie_rule": msg.tie_rule,
        "zones": list(msg.zones),
    }
    ctx.state.put_json(PARAMS_KEY, params)
    ctx.emit("market.configured", **params)


# -- place_order -------------------------------------------------------------------------------


def parse_place_order(args: Mapping[str, Any]) -> PlaceOrder:
    require_fields(args, frozenset({"interval_start", "side", "qty_wh", "price", "zone"}))
    start = take_int(args, "interval_start", minimum=INTERVAL_S, maximum=MAX_START_S)
    if start % INTERVAL_S:
        raise InvalidTransaction(f"interval_start {start} is not a multiple of {INTERVAL_S} s")
    side = args["side"]
    if side not in (BUY, SELL):
        raise InvalidTransaction("side must be buy or sell")
    return PlaceOrder(
        interval_start=start,
        side=str(side),
        qty_wh=take_int(args, "qty_wh", minimum=1, maximum=MAX_QTY_WH),
        price=take_int(args, "price", minimum=1, maximum=MAX_PRICE),
        zone=take_str(args, "zone", max_chars=32),
    )


def _order_escrow(params: Mapping[str, Any], msg: PlaceOrder) -> int:
    if msg.side != BUY:
        return 0
    return compute_escrow_ucny(msg.qty_wh, msg.price, compute_max_fee(params, msg.zone))


def check_place_order(ctx: TxContext, msg: PlaceOrder) -> None:
    params = _require_params(ctx.state)
    if msg.zone not in params["zones"]:
        raise RuleViolation(f"zone {msg.zone!r} is not a market zone")
    if not params["price_floor"] <= msg.price <= params["price_cap"]:
        raise RuleViolation(
            f"price {msg.price} CNY/MWh is outside the floor {params['price_floor']} "
            f"and cap {params['price_cap']}"
        )
    interval = get_interval(ctx.state, msg.interval_start)
    if interval is not None and interval["state"] == CLEARED:
        raise Conflict(f"interval {msg.interval_start} is already cleared")
    verify_before_gate_closure(ctx.env, params, msg.interval_start)
    if msg.interval_start * 1000 - ctx.env.time_ms > MAX_AHEAD_S * 1000:
        raise RuleViolation(f"interval {msg.interval_start} is more than {MAX_AHEAD_S} s ahead")
    escrow = _order_escrow(params, msg)
    if escrow:
        token.verify_funds(ctx.state, ctx.sender, escrow)


def apply_place_order(ctx: TxContext, msg: PlaceOrder) -> None:
    params = _require_params(ctx.state)
    order_id = ctx.tx.tx_id.hex()
    interval = get_interval(ctx.state, msg.interval_start)
    if interval is None:
        gate_close_s = _gate_close_s(params, msg.interval_start)
        interval = {"gate_close_s": gate_close_s, "start_s": msg.interval_start, "next_seq": 1}
        interval["state"] = OPEN
        ctx.state.put(f"{DUE_PREFIX}{gate_close_s:012d}/{msg.interval_start:012d}", b"")
    seq = int(interval["next_seq"])
    ctx.state.put_json(_interval_key(msg.interval_start), {**interval, "next_seq": seq + 1})
    escrow = _order_escrow(params, msg)
    order = {
        "escrow_ucny": escrow,
        "filled_wh": 0,
        "id": order_id,
        "interval_start": msg.interval_start,
        "owner": ctx.sender,
        "price": msg.price,
        "qty_wh": msg.qty_wh,
        "seq": seq,
        "side": msg.side,
        "state": OPEN,
        "zone": msg.zone,
    }
    ctx.state.put_json(ORDER_PREFIX + order_id, order)
    ctx.state.put(f"{BOOK_PREFIX}{msg.interval_start:012d}/{seq:010d}", order_id.encode("ascii"))
    if escrow:
        token.hold(ctx, ctx.sender, escrow, _escrow_key(order_id))
    ctx.emit("market.order_placed", **order)


# -- cancel_order ------------------------------------------------------------------------------


def parse_cancel_order(args: Mapping[str, Any]) -> CancelOrder:
    require_fields(args, frozenset({"order"}))
    value = args["order"]
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= HEX:
        raise InvalidTransaction("order must be an order id (64 lowercase hex characters)")
    return CancelOrder(order=value)


def check_cancel_order(ctx: TxContext, msg: CancelOrder) -> None:
    order = get_order(ctx.state, msg.order)
    if order is None:
        raise NotFound(f"order {msg.order} does not exist")
    if order["owner"] != ctx.sender:
        raise Unauthorized(f"order {msg.order} belongs to {order['owner']}, not {ctx.sender}")
    if order["state"] != OPEN:
        raise Conflict(f"order {msg.order} is {order['state']}, not open")
    verify_before_gate_closure(ctx.env, _require_params(ctx.state), int(order["interval_start"]))


def apply_cancel_order(ctx: TxContext, msg: CancelOrder) -> None:
    order = get_order(ctx.state, msg.order)
    if order is None:  # check_ ran first; kept for the type checker
        raise NotFound(f"order {msg.order} does not exist")
    ctx.state.put_json(ORDER_PREFIX + msg.order, {**order, "state": CANCELLED})
    ctx.state.delete(f"{BOOK_PREFIX}{order['interval_start']:012d}/{order['seq']:010d}")
    released = token.release_all(ctx, _escrow_key(msg.order), ctx.sender)
    ctx.emit("market.order_cancelled", order=msg.order, released_ucny=released)


# -- end-of-block clearing ---------------------------------------------------------------------


def apply_due_clearings(state: State, env: BlockEnv) -> tuple[Event, ...]:
    """Clear, in ascending interval order, every interval whose gate closure is at or before
    this block's time. Costs one empty prefix scan when nothing is due."""
    ctx = ClearingContext(state=state, env=env)
    due: list[tuple[str, int]] = []
    for key, _ in state.iter_prefix(DUE_PREFIX):
        gate_close_s, start_s = (int(part) for part in key[len(DUE_PREFIX) :].split("/"))
        if gate_close_s * 1000 > env.time_ms:
            break
        due.append((key, start_s))
    for key, start_s in due:
        apply_interval_clearing(ctx, start_s)
        state.delete(key)
    return tuple(ctx.events)


def apply_interval_clearing(ctx: ClearingContext, start_s: int) -> None:
    """Clear one interval: trades, payments out of escrow, order outcomes, the interval record."""
    state = ctx.state
    params = _require_params(state)
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
    paid_ucny = fees_ucny = 0
    for n, (buy_id, sell_id, qty_wh) in enumerate(clearing.trades):
        trade = _apply_trade(ctx, params, by_id[buy_id], by_id[sell_id], qty_wh, clearing)
        state.put_json(f"{TRADE_PREFIX}{start_s:012d}/{n:06d}", trade)
        ctx.emit("market.trade", interval_start=start_s, **trade)
        paid_ucny += trade["amount_ucny"]
        fees_ucny += trade["fee_ucny"]
    for order in orders:
        _apply_order_outcome(ctx, order, clearing.fills[order["id"]])
    interval = get_interval(state, start_s) or {}
    result = {
        "cleared_height": ctx.env.height,
        "fees_ucny": fees_ucny,
        "paid_ucny": paid_ucny,
        "price": clearing.price,
        "quantity_wh": clearing.quantity_wh,
        "trades": len(clearing.trades),
    }
    state.put_json(_interval_key(start_s), {**interval, **result, "state": CLEARED})
    ctx.emit("market.interval_cleared", interval_start=start_s, **result)


def _apply_trade(
    ctx: ClearingContext,
    params: Mapping[str, Any],
    buy: Mapping[str, Any],
    sell: Mapping[str, Any],
    qty_wh: int,
    clearing: Clearing,
) -> dict[str, Any]:
    price = int(clearing.price or 0)
    fee = compute_fee(params, sell["zone"], buy["zone"])
    amount_ucny, fee_ucny = qty_wh * price, qty_wh * fee
    if amount_ucny:
        token.release(ctx, _escrow_key(buy["id"]), sell["owner"], amount_ucny)
    if fee_ucny:
        token.release(ctx, _escrow_key(buy["id"]), params["fee_account"], fee_ucny)
    return {
        "amount_ucny": amount_ucny,
        "buy_order": buy["id"],
        "buyer": buy["owner"],
        "fee_per_mwh": fee,
        "fee_ucny": fee_ucny,
        "price": price,
        "qty_wh": qty_wh,
        "sell_order": sell["id"],
        "seller": sell["owner"],
    }


def _apply_order_outcome(ctx: ClearingContext, order: Mapping[str, Any], filled_wh: int) -> None:
    outcome = EXPIRED
    if filled_wh:
        outcome = FILLED if filled_wh == order["qty_wh"] else PARTIALLY_FILLED
    refund = 0
    if order["side"] == BUY:
        refund = token.release_all(ctx, _escrow_key(order["id"]), order["owner"])
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


METHODS = {
    "configure": Method(parse=parse_configure, check=check_configure, apply=apply_configure),
    "place_order": Method(
        parse=parse_place_order, check=check_place_order, apply=apply_place_order
    ),
    "cancel_order": Method(
        parse=parse_cancel_order, check=check_cancel_order, apply=apply_cancel_order
    ),
}
