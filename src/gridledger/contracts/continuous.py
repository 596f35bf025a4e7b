"""Continuous double auction: every arriving order is matched against the resting book at once.

Follows the domain report, section 1.3 ("CDA differs: matching happens on each submit") and worked
example 1-D (rules [DERIVED] there from exchange continuous trading, [S22][S23]): price-time
priority; the arriving order is the *taker* and trades against the best resting orders of the other
side while it crosses (buy limit >= best ask, sell limit <= best bid), each trade at the *resting*
order's price; whatever the taker has left rests in the book. Resting bids rank ``(price desc,
seq asc)``, asks ``(price asc, seq asc)``, where ``seq`` is the arrival position (1, 2, ...).

The on-ledger market does not use this: it clears each interval with the periodic uniform-price
auction in ``clearing.py``. This pure function exists for analysis and conformance (vector 1-D),
e.g. to compare what the same order flow would have paid under continuous trading.

Pure integer arithmetic over Python ``int``; no clock, float, hashing order or set iteration, so
the result depends on the arrival sequence alone. Both books are binary heaps keyed by
``(signed price, position)``: positions are unique, so keys never tie and nothing falls back to
comparing ids. Each arrival costs O(log n) plus O(log n) per resting order it fills up.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass

from gridledger.codec import INT_MAX
from gridledger.errors import InvalidTransaction

SIDES = ("buy", "sell")

RestingOrder = tuple[str, int, int]
"""``(order_id, remaining_wh, price)`` of an order left in the book."""

_BookKey = tuple[int, int]
"""``(signed price, position)``: ``-price`` for bids, ``price`` for asks; the best is smallest."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """One limit order as it reaches the matcher; its place in the input sequence is its time.

    ``price`` is the limit in CNY/MWh, ``qty_wh`` the energy in Wh, ``side`` "buy" or "sell".
    """

    order_id: str
    side: str
    qty_wh: int
    price: int


@dataclass(frozen=True, slots=True)
class ContinuousTrade:
    """One execution, at the price of the order that was resting when the other one arrived."""

    buy_order_id: str
    sell_order_id: str
    qty_wh: int
    price: int

    @property
    def amount_ucny(self) -> int:
        """Wh * CNY/MWh is µCNY exactly (domain report section 0), so nothing is rounded."""
        return self.qty_wh * self.price


@dataclass(frozen=True, slots=True)
class ContinuousResult:
    """What the whole arrival sequence did.

    ``trades`` are in execution order; ``fills`` has every order id, in arrival order, 0 when
    unfilled; ``resting_bids`` and ``resting_asks`` are the books left afterwards, best first.
    """

    trades: list[ContinuousTrade]
    fills: dict[str, int]
    resting_bids: list[RestingOrder]
    resting_asks: list[RestingOrder]


# --- predicates ---------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    """True for a real ``int`` (``bool`` is an ``int`` subclass but never a quantity or price)."""
    return isinstance(value, int) and not isinstance(value, bool)


def verify_arrival(arrival: object, seq: int) -> None:
    """Raise ``InvalidTransaction`` unless ``arrival`` is an ``Arrival`` with a non-empty id, a
    known side and a quantity and price in 1 … 2**63 - 1. ``seq`` names it when the id cannot."""
    if not isinstance(arrival, Arrival):
        raise InvalidTransaction(
            f"arrival {seq}: expected an Arrival, got {type(arrival).__name__}"
        )
    if not isinstance(arrival.order_id, str) or not arrival.order_id:
        raise InvalidTransaction(
            f"arrival {seq}: order_id must be a non-empty string, got {arrival.order_id!r}"
        )
    name = f"order {arrival.order_id!r} (arrival {seq})"
    if not isinstance(arrival.side, str) or arrival.side not in SIDES:
        raise InvalidTransaction(f"{name}: side must be one of {SIDES}, got {arrival.side!r}")
    for field, value in (("qty_wh", arrival.qty_wh), ("price", arrival.price)):
        if not _is_int(value):
            raise InvalidTransaction(
                f"{name}: {field} must be an integer, got {type(value).__name__} {value!r}"
            )
        if value <= 0:
            raise InvalidTransaction(f"{name}: {field} must be positive, got {value}")
        if value > INT_MAX:
            raise InvalidTransaction(f"{name}: {field} {value} is outside the signed 64-bit range")


def verify_arrivals(arrivals: object) -> None:
    """Raise ``InvalidTransaction`` for a non-sequence, a malformed arrival or a reused order id
    (ids are unique across both sides, since ``fills`` is keyed by them)."""
    if not isinstance(arrivals, Sequence) or isinstance(arrivals, str | bytes):
        raise InvalidTransaction(
            f"arrivals must be a sequence of Arrival, got {type(arrivals).__name__}"
        )
    seen: set[str] = set()
    for seq, arrival in enumerate(arrivals, start=1):
        verify_arrival(arrival, seq)
        if arrival.order_id in seen:
            raise InvalidTransaction(f"duplicate order id {arrival.order_id!r} (arrival {seq})")
        seen.add(arrival.order_id)


# --- pure math ----------------------------------------------------------------------------------


def compute_resting(
    arrivals: Sequence[Arrival], book: list[_BookKey], remaining: list[int]
) -> list[RestingOrder]:
    """The book's orders best first; sorting the heap keys gives exactly price-time order."""
    return [
        (arrivals[position].order_id, remaining[position], arrivals[position].price)
        for _, position in sorted(book)
    ]


def compute_taker_fill(
    arrivals: Sequence[Arrival],
    position: int,
    opposite: list[_BookKey],
    remaining: list[int],
    trades: list[ContinuousTrade],
) -> int:
    """Match the arrival at ``position`` against the ``opposite`` book while it crosses.

    Updates the resting orders' ``remaining``, pops the ones filled up, appends the trades and
    returns how many Wh the taker has left. Opposite keys are ``sign * price`` with ``sign`` +1
    when the taker buys (asks) and -1 when it sells (bids), so "crosses" is one comparison.
    """
    taker = arrivals[position]
    sign = 1 if taker.side == "buy" else -1
    limit_key = sign * taker.price
    left = taker.qty_wh
    while left and opposite and opposite[0][0] <= limit_key:
        resting_position = opposite[0][1]
        resting = arrivals[resting_position]
        qty = min(left, remaining[resting_position])
        left -= qty
        remaining[resting_position] -= qty
        if remaining[resting_position] == 0:
            heapq.heappop(opposite)
        if sign == 1:
            trades.append(ContinuousTrade(taker.order_id, resting.order_id, qty, resting.price))
        else:
            trades.append(ContinuousTrade(resting.order_id, taker.order_id, qty, resting.price))
    return left


# --- processing ---------------------------------------------------------------------------------


def compute_continuous_matching(arrivals: Sequence[Arrival]) -> ContinuousResult:
    """Run a continuous double auction over ``arrivals`` in their given order.

    Every input is validated before anything matches, so a bad order anywhere rejects the whole
    sequence. The input is not modified.
    """
    verify_arrivals(arrivals)
    remaining = [arrival.qty_wh for arrival in arrivals]
    bids: list[_BookKey] = []
    asks: list[_BookKey] = []
    trades: list[ContinuousTrade] = []
    for position, arrival in enumerate(arrivals):
        if arrival.side == "buy":
            left = compute_taker_fill(arrivals, position, asks, remaining, trades)
            own, key = bids, -arrival.price
        else:
            left = compute_taker_fill(arrivals, position, bids, remaining, trades)
            own, key = asks, arrival.price
        remaining[position] = left
        if left:
            heapq.heappush(own, (key, position))
    return ContinuousResult(
        trades=trades,
        fills={a.order_id: a.qty_wh - left for a, left in zip(arrivals, remaining, strict=True)},
        resting_bids=compute_resting(arrivals, bids, remaining),
        resting_asks=compute_resting(arrivals, asks, remaining),
    )
