"""Market parameters (``configure``), the grid fee schedule, and the constants and state keys the
other market modules share.

Stored at ``market/params``. See docs/contracts/market.md, "Parameters".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridledger.contracts import identity, token
from gridledger.contracts.args import (
    require_fields,
    take_address,
    take_int,
    take_name_list,
    take_str,
)
from gridledger.contracts.clearing import PRICE_RULES, TIE_RULES
from gridledger.errors import Conflict, InvalidTransaction, RuleViolation, Unauthorized
from gridledger.ledger.context import TxContext
from gridledger.ledger.state import State

# -- constants ---------------------------------------------------------------------------------

INTERVAL_S = 900
DEFAULT_GATE_CLOSURE_LEAD_S = 300
MAX_GATE_CLOSURE_LEAD_S = 86_400
DEFAULT_SETTLEMENT_DEADLINE_S = 86_400
MAX_SETTLEMENT_DEADLINE_S = 30 * 86_400
MAX_AHEAD_S = 7 * 86_400  # orders for intervals at most a week ahead of the block
MAX_QTY_WH = 1_000_000_000  # 1 GWh in one order
MAX_PRICE = 1_000_000  # CNY/MWh (1,000 CNY/kWh): escrows stay far inside int64
MAX_ZONES = 64
MAX_GRID_FEES = 256
MAX_START_S = 10**11
BUY, SELL = "buy", "sell"
ZONE = re.compile(r"[a-z0-9_-]{1,32}")

PARAMS_KEY = "market/params"
INTERVAL_PREFIX = "market/interval/"  # <start_s:012d>
ORDER_PREFIX = "market/order/"  # <order id>
BOOK_PREFIX = "market/book/"  # <start_s:012d>/<seq:010d> -> order id
DUE_PREFIX = "market/due/"  # <gate_close_s:012d>/<start_s:012d>: uncleared intervals
TRADE_PREFIX = "market/trade/"  # <start_s:012d>/<n:06d>; also the trade's escrow hold key
PARTICIPANT_PREFIX = "market/participant/"  # <address>
PARTICIPANT_METER_PREFIX = "market/participant_meter/"  # <meter id> -> address
SETTLEMENT_PREFIX = "market/settlement/"  # <start_s:012d>
INVOICE_PREFIX = "market/invoice/"  # <start_s:012d>/<address>
INVOICE_BY_PREFIX = "market/invoice_by/"  # <address>/<start_s:012d> -> empty (index)


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
    retail_tariff: int
    feed_in_tariff: int
    retailer_account: str | None  # None: the sender
    settlement_deadline_s: int


# -- keys and arithmetic -----------------------------------------------------------------------


def interval_key(start_s: int) -> str:
    return f"{INTERVAL_PREFIX}{start_s:012d}"


def trade_key(start_s: int, n: int) -> str:
    return f"{TRADE_PREFIX}{start_s:012d}/{n:06d}"


def order_escrow_key(order_id: str) -> str:
    return f"{ORDER_PREFIX}{order_id}"


def compute_gate_close_s(params: Mapping[str, Any], start_s: int) -> int:
    return start_s - int(params["gate_closure_lead_s"])


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


def verify_interval_start(start: int) -> None:
    if start % INTERVAL_S:
        raise InvalidTransaction(f"interval_start {start} is not a multiple of {INTERVAL_S} s")


# -- readers -----------------------------------------------------------------------------------


def get_params(state: State) -> dict[str, Any] | None:
    params: dict[str, Any] | None = state.get_json(PARAMS_KEY)
    return params


def require_params(state: State) -> dict[str, Any]:
    params = get_params(state)
    if params is None:
        raise RuleViolation("the market is not configured yet (market.configure)")
    return params


def has_due_intervals(state: State) -> bool:
    return next(state.iter_prefix(DUE_PREFIX), None) is not None


def is_market_admin(state: State, address: str) -> bool:
    """An active admin of the grid operator (gridco) or of a market operator (the trading
    center): the organizations that admit market participants."""
    return token.is_issuer(state, address) or identity.is_admin_of_role(
        state, address, "market_operator"
    )


# -- configure ---------------------------------------------------------------------------------


CONFIGURE_DEFAULTS: Mapping[str, Any] = {
    "gate_closure_lead_s": DEFAULT_GATE_CLOSURE_LEAD_S,
    "default_grid_fee": 0,
    "grid_fees": [],
    "price_rule": "midpoint",
    "tie_rule": "time",
    "settlement_deadline_s": DEFAULT_SETTLEMENT_DEADLINE_S,
}
CONFIGURE_REQUIRED = frozenset(
    {"price_floor", "price_cap", "zones", "retail_tariff", "feed_in_tariff"}
)


def parse_configure(args: Mapping[str, Any]) -> Configure:
    require_fields(
        args,
        CONFIGURE_REQUIRED,
        frozenset({*CONFIGURE_DEFAULTS, "fee_account", "retailer_account"}),
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
        retail_tariff=take_int(full, "retail_tariff", minimum=0, maximum=MAX_PRICE),
        feed_in_tariff=take_int(full, "feed_in_tariff", minimum=0, maximum=MAX_PRICE),
        retailer_account=(
            take_address(full, "retailer_account") if "retailer_account" in full else None
        ),
        settlement_deadline_s=take_int(
            full, "settlement_deadline_s", minimum=INTERVAL_S, maximum=MAX_SETTLEMENT_DEADLINE_S
        ),
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
    old = get_params(ctx.state)
    if old is not None:
        registered = {p["zone"] for p in list_participants(ctx.state)}
        missing = sorted(registered - set(msg.zones))
        if missing:
            raise Conflict(f"participants are registered in zones {', '.join(missing)}")


def list_participants(state: State) -> list[dict[str, Any]]:
    """Every participant, active or retired, by address (here, beside the key prefix, because
    configuring the market checks their zones; ``participants`` re-exports it)."""
    return [state.get_json(key) for key, _ in state.iter_prefix(PARTICIPANT_PREFIX)]


def apply_configure(ctx: TxContext, msg: Configure) -> None:
    params = {
        "default_grid_fee": msg.default_grid_fee,
        "fee_account": msg.fee_account or ctx.sender,
        "feed_in_tariff": msg.feed_in_tariff,
        "gate_closure_lead_s": msg.gate_closure_lead_s,
        "grid_fees": [{"fee": f, "from_zone": a, "to_zone": b} for a, b, f in msg.grid_fees],
        "interval_s": INTERVAL_S,
        "price_cap": msg.price_cap,
        "price_floor": msg.price_floor,
        "price_rule": msg.price_rule,
        "retail_tariff": msg.retail_tariff,
        "retailer_account": msg.retailer_account or ctx.sender,
        "settlement_deadline_s": msg.settlement_deadline_s,
        "tie_rule": msg.tie_rule,
        "zones": list(msg.zones),
    }
    ctx.state.put_json(PARAMS_KEY, params)
    ctx.emit("market.configured", **params)
