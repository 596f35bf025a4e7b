"""Uniform-price clearing of one market interval's closed order book.

Follows the periodic, closed-book double auction of the domain report (section 1, "two-sided
pay-as-clear"; rules and worked examples 1-A and 1-B are [DERIVED] there): bids sorted best first
``(price desc, seq asc)``, asks ``(price asc, seq asc)``, matched greedily best against best while
the bid price is at least the ask price, every trade at one uniform price. Exact equal keys fall
back to the order id (the report's canonical tie order) so the result never depends on input order.

Everything here is pure integer arithmetic over Python ``int``: energy in Wh, prices in CNY/MWh.
The function validates its own inputs (an ``Order`` can be built with any values; it is checked
when cleared) and raises ``InvalidTransaction`` naming the order and the field.

``tie_rule="pro_rata"`` changes who fills at the marginal price level, never how much clears or
at what price. Its trade list is derived, not matched: the filled bids and the filled asks are each
walked in their sort order and paired front to front (see ``compute_trades``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gridledger.codec import INT_MAX, INT_MIN
from gridledger.errors import InvalidTransaction

PRICE_RULES = ("midpoint", "last_ask", "last_bid")
TIE_RULES = ("time", "pro_rata")

Trade = tuple[str, str, int]
"""``(buy_order_id, sell_order_id, qty_wh)``."""


@dataclass(frozen=True, slots=True)
class Order:
    """One limit order of an interval: a bid (buy) or an ask (sell), by the list it is passed in.

    ``price`` is the limit in CNY/MWh; ``seq`` is the ledger-assigned submission number that gives
    time priority (lower is earlier).
    """

    order_id: str
    qty_wh: int
    price: int
    seq: int


@dataclass(frozen=True, slots=True)
class Clearing:
    """What one clearing decided.

    ``price`` is ``None`` when nothing matched. ``fills`` has every input order id, 0 when unfilled;
    ``trades`` pairs buys with sells and sums, per order, to ``fills``.
    """

    quantity_wh: int
    price: int | None
    fills: dict[str, int]
    trades: list[Trade]


# --- predicates ---------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    """True for a real ``int`` (``bool`` is an ``int`` subclass but never a quantity or price)."""
    return isinstance(value, int) and not isinstance(value, bool)


def verify_order(order: object, side: str) -> None:
    """Raise ``InvalidTransaction`` unless ``order`` is an ``Order`` with int64-range integers and
    a positive quantity. ``side`` ("bid" or "ask") only names the order in the message."""
    if not isinstance(order, Order):
        raise InvalidTransaction(f"{side}: expected an Order, got {type(order).__name__}")
    if not isinstance(order.order_id, str) or not order.order_id:
        raise InvalidTransaction(
            f"{side}: order_id must be a non-empty string, got {order.order_id!r}"
        )
    name = f"{side} {order.order_id!r}"
    for field, value in (("qty_wh", order.qty_wh), ("price", order.price), ("seq", order.seq)):
        if not _is_int(value):
            raise InvalidTransaction(
                f"{name}: {field} must be an integer, got {type(value).__name__} {value!r}"
            )
        if not INT_MIN <= value <= INT_MAX:
            raise InvalidTransaction(f"{name}: {field} {value} is outside the signed 64-bit range")
    if order.qty_wh <= 0:
        raise InvalidTransaction(f"{name}: qty_wh must be positive, got {order.qty_wh}")


def verify_book(bids: object, asks: object, price_rule: object, tie_rule: object) -> None:
    """Raise ``InvalidTransaction`` for unknown rules, malformed orders or a reused order id (ids
    must be unique across both sides, since ``fills`` is keyed by them)."""
    if price_rule not in PRICE_RULES:
        raise InvalidTransaction(
            f"unknown price_rule {price_rule!r}; expected one of {PRICE_RULES}"
        )
    if tie_rule not in TIE_RULES:
        raise InvalidTransaction(f"unknown tie_rule {tie_rule!r}; expected one of {TIE_RULES}")
    seen: set[str] = set()
    for side, orders in (("bid", bids), ("ask", asks)):
        if not isinstance(orders, Sequence) or isinstance(orders, str | bytes):
            raise InvalidTransaction(
                f"{side}s must be a sequence of Order, got {type(orders).__name__}"
            )
        for order in orders:
            verify_order(order, side)
            if order.order_id in seen:
                raise InvalidTransaction(f"duplicate order id {order.order_id!r}")
            seen.add(order.order_id)


# --- pure math ----------------------------------------------------------------------------------


def _bid_key(order: Order) -> tuple[int, int, str]:
    return (-order.price, order.seq, order.order_id)


def _ask_key(order: Order) -> tuple[int, int, str]:
    return (order.price, order.seq, order.order_id)


def compute_price(price_rule: str, bid_price: int, ask_price: int) -> int:
    """The uniform price from the last matched bid ``b`` and ask ``a`` (``a <= b``)."""
    if price_rule == "last_ask":
        return ask_price
    if price_rule == "last_bid":
        return bid_price
    return (ask_price + bid_price) // 2  # floor, also for negative prices


def compute_time_fills(
    bids: Sequence[Order], asks: Sequence[Order]
) -> tuple[dict[str, int], int, int]:
    """Greedy price-time matching of sorted ``bids`` and ``asks``.

    Returns the fills of the orders that traded and the prices of the last matched bid and ask.
    The caller guarantees that the best bid crosses the best ask (at least one unit trades).
    """
    fills: dict[str, int] = {}
    bid_left, ask_left = bids[0].qty_wh, asks[0].qty_wh
    i = j = 0
    last_bid, last_ask = bids[0].price, asks[0].price
    while i < len(bids) and j < len(asks) and bids[i].price >= asks[j].price:
        qty = min(bid_left, ask_left)
        last_bid, last_ask = bids[i].price, asks[j].price
        fills[bids[i].order_id] = fills.get(bids[i].order_id, 0) + qty
        fills[asks[j].order_id] = fills.get(asks[j].order_id, 0) + qty
        bid_left -= qty
        ask_left -= qty
        if bid_left == 0:
            i += 1
            bid_left = bids[i].qty_wh if i < len(bids) else 0
        if ask_left == 0:
            j += 1
            ask_left = asks[j].qty_wh if j < len(asks) else 0
    return fills, last_bid, last_ask


def compute_largest_remainder(level: Sequence[Order], total_wh: int) -> dict[str, int]:
    """Split ``total_wh`` over ``level`` in proportion to each order's quantity.

    Every share is floored; the leftover Wh go one each to the largest fractional remainders,
    ties to the lower ``seq`` and then the lower order id. Requires ``total_wh`` at most the
    level's total quantity, so no share exceeds its order.
    """
    level_wh = sum(order.qty_wh for order in level)
    shares = {order.order_id: total_wh * order.qty_wh // level_wh for order in level}
    leftover = total_wh - sum(shares.values())
    by_remainder = sorted(
        level, key=lambda o: (-(total_wh * o.qty_wh % level_wh), o.seq, o.order_id)
    )
    for order in by_remainder[:leftover]:
        shares[order.order_id] += 1
    return shares


def compute_pro_rata_side(
    orders: Sequence[Order], marginal_price: int, side_total_wh: int, direction: int
) -> dict[str, int]:
    """Fills of one side under pro-rata: orders strictly better than the marginal price fill in
    full, the marginal level shares the rest. ``direction`` is +1 for bids (better = higher) and
    -1 for asks (better = lower)."""
    fills = {o.order_id: o.qty_wh for o in orders if direction * (o.price - marginal_price) > 0}
    level = [o for o in orders if o.price == marginal_price]
    fills.update(compute_largest_remainder(level, side_total_wh - sum(fills.values())))
    return fills


def compute_trades(
    bids: Sequence[Order], asks: Sequence[Order], fills: dict[str, int]
) -> list[Trade]:
    """Pair the filled parts of sorted ``bids`` and ``asks`` front to front.

    For time priority this reproduces the greedy match exactly; for pro-rata it is the documented
    derivation of a trade list from the fills.
    """
    buys = [(o.order_id, fills[o.order_id]) for o in bids if fills.get(o.order_id, 0) > 0]
    sells = [(o.order_id, fills[o.order_id]) for o in asks if fills.get(o.order_id, 0) > 0]
    trades: list[Trade] = []
    i = j = 0
    bid_left = buys[0][1] if buys else 0
    ask_left = sells[0][1] if sells else 0
    while i < len(buys) and j < len(sells):
        qty = min(bid_left, ask_left)
        trades.append((buys[i][0], sells[j][0], qty))
        bid_left -= qty
        ask_left -= qty
        if bid_left == 0:
            i += 1
            bid_left = buys[i][1] if i < len(buys) else 0
        if ask_left == 0:
            j += 1
            ask_left = sells[j][1] if j < len(sells) else 0
    return trades


# --- processing ---------------------------------------------------------------------------------


def compute_clearing(
    bids: Sequence[Order],
    asks: Sequence[Order],
    *,
    price_rule: str = "midpoint",
    tie_rule: str = "time",
) -> Clearing:
    """Clear one interval's closed book at a single price.

    ``price_rule``: "midpoint" = floor((a + b) / 2), "last_ask" = a, "last_bid" = b, where b and
    a are the prices of the last matched bid and ask. ``tie_rule``: "time" keeps the greedy fills;
    "pro_rata" fills every bid above b and every ask below a in full and splits the rest of each
    marginal level in proportion to quantity (largest remainder, ties to the lower seq).
    """
    verify_book(bids, asks, price_rule, tie_rule)
    sorted_bids = sorted(bids, key=_bid_key)
    sorted_asks = sorted(asks, key=_ask_key)
    fills = {order.order_id: 0 for order in (*sorted_bids, *sorted_asks)}
    if not sorted_bids or not sorted_asks or sorted_bids[0].price < sorted_asks[0].price:
        return Clearing(quantity_wh=0, price=None, fills=fills, trades=[])

    matched, last_bid, last_ask = compute_time_fills(sorted_bids, sorted_asks)
    quantity_wh = sum(matched[o.order_id] for o in sorted_bids if o.order_id in matched)
    if tie_rule == "pro_rata":
        matched = compute_pro_rata_side(sorted_bids, last_bid, quantity_wh, 1)
        matched.update(compute_pro_rata_side(sorted_asks, last_ask, quantity_wh, -1))
    fills.update(matched)
    return Clearing(
        quantity_wh=quantity_wh,
        price=compute_price(price_rule, last_bid, last_ask),
        fills=fills,
        trades=compute_trades(sorted_bids, sorted_asks, fills),
    )
