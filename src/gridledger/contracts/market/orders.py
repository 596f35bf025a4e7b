"""``place_order`` and ``cancel_order``: limit orders for one 15-minute interval, accepted from
active participants until gate closure (judged by the grid clock), with a buyer's worst-case cost
escrowed at once. See docs/contracts/market.md."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridledger.contracts import token
from gridledger.contracts.args import HEX, require_fields, take_int, take_str
from gridledger.contracts.market.params import (
    BOOK_PREFIX,
    BUY,
    DUE_PREFIX,
    INTERVAL_S,
    MAX_AHEAD_S,
    MAX_PRICE,
    MAX_QTY_WH,
    MAX_START_S,
    ORDER_PREFIX,
    SELL,
    compute_escrow_ucny,
    compute_gate_close_s,
    compute_max_fee,
    interval_key,
    order_escrow_key,
    require_params,
    verify_interval_start,
)
from gridledger.contracts.market.participants import require_trader
from gridledger.errors import Conflict, InvalidTransaction, NotFound, RuleViolation, Unauthorized
from gridledger.ledger.context import BlockEnv, TxContext
from gridledger.ledger.gridclock import read_grid_time_ms
from gridledger.ledger.state import State

OPEN, CANCELLED, FILLED, PARTIALLY_FILLED, EXPIRED = (
    "open",
    "cancelled",
    "filled",
    "partially_filled",
    "expired",
)
CLEARED, SETTLED = "cleared", "settled"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder:
    interval_start: int
    side: str
    qty_wh: int
    price: int
    zone: str | None  # None: the participant's zone


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder:
    order: str


# -- readers -----------------------------------------------------------------------------------


def get_interval(state: State, start_s: int) -> dict[str, Any] | None:
    interval: dict[str, Any] | None = state.get_json(interval_key(start_s))
    return interval


def get_order(state: State, order_id: str) -> dict[str, Any] | None:
    order: dict[str, Any] | None = state.get_json(ORDER_PREFIX + order_id)
    return order


def get_interval_orders(state: State, start_s: int) -> list[dict[str, Any]]:
    """The interval's orders in placement (seq) order, cancelled ones left out."""
    prefix = f"{BOOK_PREFIX}{start_s:012d}/"
    ids = [raw.decode("ascii") for _, raw in state.iter_prefix(prefix)]
    return [order for order in (get_order(state, i) for i in ids) if order is not None]


def verify_before_gate_closure(
    state: State, env: BlockEnv, params: Mapping[str, Any], start_s: int
) -> int:
    """Raise RuleViolation once the interval's gate has closed; return the grid time (ms)."""
    now_ms = read_grid_time_ms(state, env)
    gate_close_s = compute_gate_close_s(params, start_s)
    if now_ms >= gate_close_s * 1000:
        raise RuleViolation(
            f"gate closure for interval {start_s} was at {gate_close_s} s; grid time is {now_ms} ms"
        )
    return now_ms


# -- place_order -------------------------------------------------------------------------------


def parse_place_order(args: Mapping[str, Any]) -> PlaceOrder:
    require_fields(
        args, frozenset({"interval_start", "side", "qty_wh", "price"}), frozenset({"zone"})
    )
    start = take_int(args, "interval_start", minimum=INTERVAL_S, maximum=MAX_START_S)
    verify_interval_start(start)
    side = args["side"]
    if side not in (BUY, SELL):
        raise InvalidTransaction("side must be buy or sell")
    return PlaceOrder(
        interval_start=start,
        side=str(side),
        qty_wh=take_int(args, "qty_wh", minimum=1, maximum=MAX_QTY_WH),
        price=take_int(args, "price", minimum=1, maximum=MAX_PRICE),
        zone=take_str(args, "zone", max_chars=32) if "zone" in args else None,
    )


def _order_escrow(params: Mapping[str, Any], msg: PlaceOrder, zone: str) -> int:
    if msg.side != BUY:
        return 0
    return compute_escrow_ucny(msg.qty_wh, msg.price, compute_max_fee(params, zone))


def check_place_order(ctx: TxContext, msg: PlaceOrder) -> None:
    params = require_params(ctx.state)
    participant = require_trader(ctx.state, ctx.sender)
    if msg.side == SELL and participant["role"] == "consumer":
        raise RuleViolation(f"{ctx.sender} is a consumer; only prosumers sell")
    if msg.zone is not None and msg.zone != participant["zone"]:
        raise RuleViolation(
            f"zone {msg.zone!r} is not the participant's zone {participant['zone']!r}"
        )
    if not params["price_floor"] <= msg.price <= params["price_cap"]:
        raise RuleViolation(
            f"price {msg.price} CNY/MWh is outside the floor {params['price_floor']} "
            f"and cap {params['price_cap']}"
        )
    interval = get_interval(ctx.state, msg.interval_start)
    if interval is not None and interval["state"] != OPEN:
        raise Conflict(f"interval {msg.interval_start} is already {interval['state']}")
    now_ms = verify_before_gate_closure(ctx.state, ctx.env, params, msg.interval_start)
    if msg.interval_start * 1000 - now_ms > MAX_AHEAD_S * 1000:
        raise RuleViolation(f"interval {msg.interval_start} is more than {MAX_AHEAD_S} s ahead")
    escrow = _order_escrow(params, msg, participant["zone"])
    if escrow:
        token.verify_funds(ctx.state, ctx.sender, escrow)


def apply_place_order(ctx: TxContext, msg: PlaceOrder) -> None:
    params = require_params(ctx.state)
    participant = require_trader(ctx.state, ctx.sender)
    order_id = ctx.tx.tx_id.hex()
    interval = get_interval(ctx.state, msg.interval_start)
    if interval is None:
        gate_close_s = compute_gate_close_s(params, msg.interval_start)
        interval = {"gate_close_s": gate_close_s, "start_s": msg.interval_start, "next_seq": 1}
        interval["state"] = OPEN
        ctx.state.put(f"{DUE_PREFIX}{gate_close_s:012d}/{msg.interval_start:012d}", b"")
    seq = int(interval["next_seq"])
    ctx.state.put_json(interval_key(msg.interval_start), {**interval, "next_seq": seq + 1})
    escrow = _order_escrow(params, msg, participant["zone"])
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
        "zone": participant["zone"],
    }
    ctx.state.put_json(ORDER_PREFIX + order_id, order)
    ctx.state.put(f"{BOOK_PREFIX}{msg.interval_start:012d}/{seq:010d}", order_id.encode("ascii"))
    if escrow:
        token.hold(ctx, ctx.sender, escrow, order_escrow_key(order_id))
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
    params = require_params(ctx.state)
    verify_before_gate_closure(ctx.state, ctx.env, params, int(order["interval_start"]))


def apply_cancel_order(ctx: TxContext, msg: CancelOrder) -> None:
    order = get_order(ctx.state, msg.order)
    if order is None:  # check_ ran first; kept for the type checker
        raise NotFound(f"order {msg.order} does not exist")
    ctx.state.put_json(ORDER_PREFIX + msg.order, {**order, "state": CANCELLED})
    ctx.state.delete(f"{BOOK_PREFIX}{order['interval_start']:012d}/{order['seq']:010d}")
    released = token.release_all(ctx, order_escrow_key(msg.order), ctx.sender)
    ctx.emit("market.order_cancelled", order=msg.order, released_ucny=released)
