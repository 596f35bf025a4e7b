"""Continuous double auction: the domain report's worked example 1-D (section 1.5), edge cases, bad
inputs, and hypothesis properties checked against a slow reference implementation, plus a run
under two PYTHONHASHSEEDs in subprocesses.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.contracts.continuous import (
    Arrival,
    ContinuousResult,
    ContinuousTrade,
    compute_continuous_matching,
)
from gridledger.errors import InvalidTransaction

INT64_MAX = 2**63 - 1

# --- vector 1-D ---------------------------------------------------------------------------------

ARRIVALS_1D = [
    Arrival("A1", "sell", 2500, 400),
    Arrival("B5", "buy", 2500, 480),
    Arrival("A2", "sell", 3500, 450),
    Arrival("B1", "buy", 3000, 620),
    Arrival("A3", "sell", 3500, 530),
    Arrival("B2", "buy", 2000, 600),
    Arrival("B3", "buy", 4000, 550),
    Arrival("A4", "sell", 4000, 600),
    Arrival("B4", "buy", 1500, 550),
]
TRADES_1D = [  # T1..T5: buyer, seller, Wh, price, µCNY
    ("B5", "A1", 2500, 400, 1_000_000),
    ("B1", "A2", 3000, 450, 1_350_000),
    ("B2", "A2", 500, 450, 225_000),
    ("B2", "A3", 1500, 530, 795_000),
    ("B3", "A3", 2000, 530, 1_060_000),
]


def test_1d_trades_totals_and_resting_book() -> None:
    result = compute_continuous_matching(ARRIVALS_1D)
    assert [
        (t.buy_order_id, t.sell_order_id, t.qty_wh, t.price, t.amount_ucny) for t in result.trades
    ] == TRADES_1D
    assert result.trades == [ContinuousTrade(b, s, q, p) for b, s, q, p, _ in TRADES_1D]
    assert sum(t.qty_wh for t in result.trades) == 9500
    assert sum(t.amount_ucny for t in result.trades) == 4_430_000
    assert result.resting_bids == [("B3", 2000, 550), ("B4", 1500, 550)]
    assert result.resting_asks == [("A4", 4000, 600)]
    assert result.resting_bids[0][2] < result.resting_asks[0][2]  # not crossed


def test_1d_fills_in_arrival_order_and_money_balances() -> None:
    result = compute_continuous_matching(ARRIVALS_1D)
    assert list(result.fills.items()) == [
        ("A1", 2500),
        ("B5", 2500),
        ("A2", 3500),
        ("B1", 3000),
        ("A3", 3500),
        ("B2", 2000),
        ("B3", 2000),
        ("A4", 0),
        ("B4", 0),
    ]
    paid = {a.order_id: 0 for a in ARRIVALS_1D}
    for trade in result.trades:
        paid[trade.buy_order_id] += trade.amount_ucny
        paid[trade.sell_order_id] += trade.amount_ucny
    assert [paid[i] for i in ("B5", "B1", "B2", "B3", "B4")] == [
        1_000_000,
        1_350_000,
        1_020_000,
        1_060_000,
        0,
    ]
    assert [paid[i] for i in ("A1", "A2", "A3", "A4")] == [1_000_000, 1_575_000, 1_855_000, 0]
    assert sum(paid[a.order_id] for a in ARRIVALS_1D if a.side == "buy") == 4_430_000
    assert sum(paid[a.order_id] for a in ARRIVALS_1D if a.side == "sell") == 4_430_000


def test_1d_differs_from_the_uniform_price_auction_on_the_same_orders() -> None:
    # Same orders as 1-A/1-B: the periodic auction clears 9,500 Wh for 5,130,000 µCNY at 540;
    # continuous trading moves the same 9,500 Wh but at the resting prices.
    result = compute_continuous_matching(ARRIVALS_1D)
    assert sum(t.qty_wh for t in result.trades) == 9500
    assert {t.price for t in result.trades} == {400, 450, 530}


# --- edge cases ---------------------------------------------------------------------------------


def test_empty_input_matches_nothing() -> None:
    assert compute_continuous_matching([]) == ContinuousResult(
        trades=[], fills={}, resting_bids=[], resting_asks=[]
    )
    assert compute_continuous_matching(()) == compute_continuous_matching([])


def test_equal_prices_cross_at_the_resting_price() -> None:
    result = compute_continuous_matching(
        [Arrival("b", "buy", 5, 500), Arrival("a", "sell", 7, 500)]
    )
    assert result.trades == [ContinuousTrade("b", "a", 5, 500)]
    assert result.fills == {"b": 5, "a": 5}
    assert (result.resting_bids, result.resting_asks) == ([], [("a", 2, 500)])


def test_no_cross_rests_both_sides() -> None:
    result = compute_continuous_matching(
        [Arrival("b", "buy", 1000, 450), Arrival("a", "sell", 1000, 500)]
    )
    assert result.trades == []
    assert result.fills == {"b": 0, "a": 0}
    assert (result.resting_bids, result.resting_asks) == ([("b", 1000, 450)], [("a", 1000, 500)])


def test_one_side_only_rests_in_price_time_order() -> None:
    result = compute_continuous_matching(
        [
            Arrival("s1", "sell", 1, 500),
            Arrival("s2", "sell", 2, 400),
            Arrival("s3", "sell", 3, 500),
            Arrival("s4", "sell", 4, 400),
        ]
    )
    assert result.trades == []
    assert result.resting_asks == [("s2", 2, 400), ("s4", 4, 400), ("s1", 1, 500), ("s3", 3, 500)]
    bids = compute_continuous_matching(
        [Arrival("b1", "buy", 1, 400), Arrival("b2", "buy", 2, 500), Arrival("b3", "buy", 3, 400)]
    )
    assert bids.resting_bids == [("b2", 2, 500), ("b1", 1, 400), ("b3", 3, 400)]


def test_buy_taker_walks_asks_by_price_then_time_at_each_resting_price() -> None:
    result = compute_continuous_matching(
        [
            Arrival("a-late-cheap", "sell", 10, 410),
            Arrival("a-dear", "sell", 10, 430),
            Arrival("a-cheap", "sell", 10, 400),
            Arrival("a-late", "sell", 10, 410),
            Arrival("b", "buy", 35, 450),
        ]
    )
    assert result.trades == [
        ContinuousTrade("b", "a-cheap", 10, 400),
        ContinuousTrade("b", "a-late-cheap", 10, 410),
        ContinuousTrade("b", "a-late", 10, 410),
        ContinuousTrade("b", "a-dear", 5, 430),
    ]
    assert result.resting_asks == [("a-dear", 5, 430)]
    assert result.resting_bids == []


def test_sell_taker_walks_bids_and_rests_its_remainder() -> None:
    result = compute_continuous_matching(
        [
            Arrival("b1", "buy", 10, 500),
            Arrival("b2", "buy", 10, 520),
            Arrival("b3", "buy", 10, 500),
            Arrival("b4", "buy", 10, 480),
            Arrival("s", "sell", 40, 490),
        ]
    )
    assert result.trades == [
        ContinuousTrade("b2", "s", 10, 520),
        ContinuousTrade("b1", "s", 10, 500),
        ContinuousTrade("b3", "s", 10, 500),
    ]
    assert result.resting_bids == [("b4", 10, 480)]
    assert result.resting_asks == [("s", 10, 490)]
    assert result.fills == {"b1": 10, "b2": 10, "b3": 10, "b4": 0, "s": 30}


def test_partly_filled_resting_order_keeps_its_time_priority() -> None:
    result = compute_continuous_matching(
        [
            Arrival("a1", "sell", 10, 400),
            Arrival("a2", "sell", 10, 400),
            Arrival("b1", "buy", 4, 400),
            Arrival("b2", "buy", 8, 400),
        ]
    )
    assert result.trades == [
        ContinuousTrade("b1", "a1", 4, 400),
        ContinuousTrade("b2", "a1", 6, 400),
        ContinuousTrade("b2", "a2", 2, 400),
    ]
    assert result.resting_asks == [("a2", 8, 400)]


def test_int64_extremes_stay_exact() -> None:
    result = compute_continuous_matching(
        [
            Arrival("a", "sell", INT64_MAX, INT64_MAX - 1),
            Arrival("b", "buy", INT64_MAX, INT64_MAX),
            Arrival("c", "buy", 1, 1),
        ]
    )
    assert result.trades == [ContinuousTrade("b", "a", INT64_MAX, INT64_MAX - 1)]
    assert result.trades[0].amount_ucny == INT64_MAX * (INT64_MAX - 1)  # beyond int64, exact
    assert result.resting_bids == [("c", 1, 1)]
    assert result.resting_asks == []


def test_records_are_frozen_with_slots() -> None:
    arrival = Arrival("b", "buy", 1, 1)
    result = compute_continuous_matching([arrival, Arrival("a", "sell", 1, 1)])
    for record in (arrival, result, result.trades[0]):
        assert not hasattr(record, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        arrival.qty_wh = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.trades[0].price = 2  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.fills = {}  # type: ignore[misc]


def test_input_is_not_modified_and_a_tuple_gives_the_same_result() -> None:
    arrivals = list(ARRIVALS_1D)
    first = compute_continuous_matching(arrivals)
    assert arrivals == ARRIVALS_1D
    assert compute_continuous_matching(tuple(arrivals)) == first


# --- bad inputs ---------------------------------------------------------------------------------

GOOD = Arrival("a", "sell", 10, 100)
SIDES_MESSAGE = "side must be one of ('buy', 'sell'), got"


def bad(side: object = "buy", qty_wh: object = 10, price: object = 100) -> Arrival:
    """Order 'b' with one field of the wrong type or value (the dataclass does not check)."""
    return Arrival("b", side, qty_wh, price)  # type: ignore[arg-type]


BAD_ARRIVALS = [
    pytest.param(bad(qty_wh=0), "qty_wh must be positive, got 0", id="zero-qty"),
    pytest.param(bad(qty_wh=-5), "qty_wh must be positive, got -5", id="negative-qty"),
    pytest.param(bad(qty_wh=True), "qty_wh must be an integer, got bool", id="bool-qty"),
    pytest.param(bad(qty_wh=10.0), "qty_wh must be an integer, got float", id="float-qty"),
    pytest.param(bad(qty_wh="10"), "qty_wh must be an integer, got str", id="str-qty"),
    pytest.param(bad(qty_wh=None), "qty_wh must be an integer, got NoneType", id="none-qty"),
    pytest.param(bad(qty_wh=2**63), "qty_wh 9223372036854775808 is outside", id="qty-2^63"),
    pytest.param(bad(price=0), "price must be positive, got 0", id="zero-price"),
    pytest.param(bad(price=-540), "price must be positive, got -540", id="negative-price"),
    pytest.param(bad(price=False), "price must be an integer, got bool", id="bool-price"),
    pytest.param(bad(price=99.5), "price must be an integer, got float", id="float-price"),
    pytest.param(bad(price=2**63), "price 9223372036854775808 is outside", id="price-2^63"),
    pytest.param(bad(side="BUY"), f"{SIDES_MESSAGE} 'BUY'", id="upper-case-side"),
    pytest.param(bad(side="bid"), f"{SIDES_MESSAGE} 'bid'", id="bid-side"),
    pytest.param(bad(side=""), f"{SIDES_MESSAGE} ''", id="empty-side"),
    pytest.param(bad(side=None), f"{SIDES_MESSAGE} None", id="none-side"),
    pytest.param(bad(side=b"buy"), f"{SIDES_MESSAGE} b'buy'", id="bytes-side"),
    pytest.param(bad(side=["buy"]), f"{SIDES_MESSAGE} ['buy']", id="list-side"),
]


@pytest.mark.parametrize(("arrival", "message"), BAD_ARRIVALS)
def test_bad_field_is_rejected_naming_the_order(arrival: Arrival, message: str) -> None:
    with pytest.raises(InvalidTransaction, match=re.escape(message)) as raised:
        compute_continuous_matching([GOOD, arrival])
    assert raised.value.message.startswith("order 'b' (arrival 2): ")


@pytest.mark.parametrize(("arrival", "message"), BAD_ARRIVALS)
def test_bad_field_is_rejected_when_alone(arrival: Arrival, message: str) -> None:
    with pytest.raises(InvalidTransaction, match=re.escape(message)) as raised:
        compute_continuous_matching([arrival])
    assert raised.value.message.startswith("order 'b' (arrival 1): ")


def test_largest_int64_quantity_and_price_are_accepted() -> None:
    result = compute_continuous_matching([Arrival("b", "buy", INT64_MAX, INT64_MAX)])
    assert result.resting_bids == [("b", INT64_MAX, INT64_MAX)]


@pytest.mark.parametrize(
    ("order_id", "shown"), [("", "''"), (7, "7"), (None, "None"), (b"b", "b'b'")]
)
def test_bad_order_id_is_rejected_naming_the_arrival(order_id: object, shown: str) -> None:
    nameless = Arrival(order_id, "buy", 10, 100)  # type: ignore[arg-type]
    with pytest.raises(InvalidTransaction) as raised:
        compute_continuous_matching([GOOD, nameless])
    assert raised.value.message == f"arrival 2: order_id must be a non-empty string, got {shown}"


def test_bad_arrival_after_crossing_orders_is_still_rejected() -> None:
    # Validation runs over the whole sequence before any matching.
    tail = Arrival("tail", "sell", 0, 1)
    with pytest.raises(InvalidTransaction, match=r"order 'tail' \(arrival 3\): qty_wh must be"):
        compute_continuous_matching([GOOD, Arrival("b", "buy", 10, 100), tail])


@pytest.mark.parametrize(
    "arrivals",
    [
        [GOOD, Arrival("a", "sell", 5, 90)],  # same side
        [GOOD, Arrival("b", "buy", 1, 1), Arrival("a", "buy", 5, 90)],  # other side
    ],
)
def test_duplicate_order_id_is_rejected(arrivals: list[Arrival]) -> None:
    with pytest.raises(InvalidTransaction, match=r"duplicate order id 'a' \(arrival \d\)"):
        compute_continuous_matching(arrivals)


def test_non_arrival_items_are_rejected() -> None:
    with pytest.raises(InvalidTransaction, match="arrival 2: expected an Arrival, got tuple"):
        compute_continuous_matching([GOOD, ("b", "buy", 10, 100)])  # type: ignore[list-item]
    with pytest.raises(InvalidTransaction, match="arrival 1: expected an Arrival, got dict"):
        compute_continuous_matching([{"order_id": "b"}])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("arrivals", "kind"),
    [
        ("ab", "str"),
        (b"ab", "bytes"),
        ({GOOD}, "set"),
        (iter([GOOD]), "list_iterator"),
        (None, "NoneType"),
    ],
)
def test_non_sequence_input_is_rejected(arrivals: object, kind: str) -> None:
    with pytest.raises(
        InvalidTransaction, match=f"arrivals must be a sequence of Arrival, got {kind}"
    ):
        compute_continuous_matching(arrivals)  # type: ignore[arg-type]


# --- reference implementation (slow, obvious) ---------------------------------------------------


@dataclasses.dataclass
class Resting:
    position: int
    arrival: Arrival
    left_wh: int


def reference_matching(arrivals: Sequence[Arrival]) -> ContinuousResult:
    """Scan the whole opposite book for its best order before every single trade."""
    book: list[Resting] = []
    trades: list[ContinuousTrade] = []
    filled = {a.order_id: 0 for a in arrivals}
    for position, taker in enumerate(arrivals):
        sign = 1 if taker.side == "buy" else -1  # asks: cheapest first; bids: dearest first
        left = taker.qty_wh
        while left > 0:
            others = [r for r in book if r.arrival.side != taker.side]
            if not others:
                break
            best = min(others, key=lambda r: (sign * r.arrival.price, r.position))
            if sign * best.arrival.price > sign * taker.price:
                break
            qty = min(left, best.left_wh)
            buy, sell = (taker, best.arrival) if sign == 1 else (best.arrival, taker)
            trades.append(ContinuousTrade(buy.order_id, sell.order_id, qty, best.arrival.price))
            filled[taker.order_id] += qty
            filled[best.arrival.order_id] += qty
            left -= qty
            best.left_wh -= qty
            if best.left_wh == 0:
                book.remove(best)
        if left > 0:
            book.append(Resting(position, taker, left))

    def rest(side: str, sign: int) -> list[tuple[str, int, int]]:
        ranked = sorted(
            (r for r in book if r.arrival.side == side),
            key=lambda r: (sign * r.arrival.price, r.position),
        )
        return [(r.arrival.order_id, r.left_wh, r.arrival.price) for r in ranked]

    return ContinuousResult(
        trades=trades, fills=filled, resting_bids=rest("buy", -1), resting_asks=rest("sell", 1)
    )


# --- properties ---------------------------------------------------------------------------------


@st.composite
def arrival_sequences(
    draw: st.DrawFn, qty: st.SearchStrategy[int], price: st.SearchStrategy[int]
) -> list[Arrival]:
    """Up to 30 arrivals; narrow price ranges make crosses, equal prices and sweeps common."""
    count = draw(st.integers(0, 30))
    sides = [draw(st.sampled_from(["buy", "sell"])) for _ in range(count)]
    return [Arrival(f"{side[0]}{k}", side, draw(qty), draw(price)) for k, side in enumerate(sides)]


SMALL = arrival_sequences(st.integers(1, 40), st.integers(95, 105))
LARGE = arrival_sequences(
    st.integers(1, INT64_MAX), st.one_of(st.integers(1, 4), st.integers(INT64_MAX - 3, INT64_MAX))
)


def check_invariants(arrivals: list[Arrival], result: ContinuousResult) -> None:
    """Section 1.4 invariants 1-4 for continuous trading, plus the shape of the result."""
    by_id = {a.order_id: a for a in arrivals}
    position = {a.order_id: k for k, a in enumerate(arrivals)}
    assert list(result.fills) == [a.order_id for a in arrivals]
    per_order = dict.fromkeys(by_id, 0)
    for trade in result.trades:
        buy, sell = by_id[trade.buy_order_id], by_id[trade.sell_order_id]
        assert (buy.side, sell.side) == ("buy", "sell")
        assert trade.qty_wh > 0
        assert sell.price <= trade.price <= buy.price
        resting = buy if position[buy.order_id] < position[sell.order_id] else sell
        assert trade.price == resting.price
        assert trade.amount_ucny == trade.qty_wh * trade.price
        per_order[buy.order_id] += trade.qty_wh
        per_order[sell.order_id] += trade.qty_wh
    assert per_order == result.fills
    for a in arrivals:
        assert 0 <= result.fills[a.order_id] <= a.qty_wh
    traded = sum(t.qty_wh for t in result.trades)
    assert sum(result.fills[a.order_id] for a in arrivals if a.side == "buy") == traded
    assert sum(result.fills[a.order_id] for a in arrivals if a.side == "sell") == traded
    for side, book, sign in (("buy", result.resting_bids, -1), ("sell", result.resting_asks, 1)):
        open_orders = [
            a for a in arrivals if a.side == side and result.fills[a.order_id] < a.qty_wh
        ]
        open_orders.sort(key=lambda a: (sign * a.price, position[a.order_id]))
        assert book == [
            (a.order_id, a.qty_wh - result.fills[a.order_id], a.price) for a in open_orders
        ]
    if result.resting_bids and result.resting_asks:
        assert result.resting_bids[0][2] < result.resting_asks[0][2]


@settings(max_examples=300)
@given(SMALL)
def test_invariants_hold_on_small_sequences(arrivals: list[Arrival]) -> None:
    check_invariants(arrivals, compute_continuous_matching(arrivals))


@given(LARGE)
def test_invariants_hold_on_int64_sequences(arrivals: list[Arrival]) -> None:
    check_invariants(arrivals, compute_continuous_matching(arrivals))


@settings(max_examples=300)
@given(st.one_of(SMALL, LARGE))
def test_matches_the_scanning_reference(arrivals: list[Arrival]) -> None:
    result = compute_continuous_matching(arrivals)
    assert result == reference_matching(arrivals)
    assert list(result.fills.items()) == list(reference_matching(arrivals).fills.items())


@given(SMALL, st.data())
def test_renaming_orders_changes_nothing_but_the_names(
    arrivals: list[Arrival], data: st.DataObject
) -> None:
    # Ids only label orders; priority comes from price and position alone.
    names = data.draw(
        st.lists(
            st.text(min_size=1, max_size=4),
            min_size=len(arrivals),
            max_size=len(arrivals),
            unique=True,
        )
    )
    rename = {a.order_id: n for a, n in zip(arrivals, names, strict=True)}
    renamed = [dataclasses.replace(a, order_id=rename[a.order_id]) for a in arrivals]
    result = compute_continuous_matching(arrivals)
    again = compute_continuous_matching(renamed)
    assert again.trades == [
        dataclasses.replace(
            t, buy_order_id=rename[t.buy_order_id], sell_order_id=rename[t.sell_order_id]
        )
        for t in result.trades
    ]
    assert list(again.fills.items()) == [(rename[k], v) for k, v in result.fills.items()]
    assert again.resting_bids == [(rename[i], q, p) for i, q, p in result.resting_bids]
    assert again.resting_asks == [(rename[i], q, p) for i, q, p in result.resting_asks]


# --- determinism and scale ----------------------------------------------------------------------


def workload(count: int, seed: int) -> list[Arrival]:
    """A deterministic mixed order flow (an LCG, so no dependency on ``random``'s internals)."""
    arrivals = []
    state = seed
    for k in range(count):
        state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
        side = "buy" if state >> 63 else "sell"
        arrivals.append(
            Arrival(f"{side}-{k:06d}", side, 1 + (state >> 20) % 10_000, 300 + (state >> 40) % 400)
        )
    return arrivals


def encode_result(result: ContinuousResult) -> str:
    return json.dumps(
        {
            "trades": [dataclasses.astuple(t) for t in result.trades],
            "fills": list(result.fills.items()),
            "bids": result.resting_bids,
            "asks": result.resting_asks,
        }
    )


RUN_IN_SUBPROCESS = """
import json, sys
from gridledger.contracts.continuous import Arrival, compute_continuous_matching
from tests.contracts.test_continuous import encode_result
result = compute_continuous_matching([Arrival(*row) for row in json.load(sys.stdin)])
print(json.dumps({"probe": hash("probe"), "result": encode_result(result)}))
"""


def test_result_does_not_depend_on_the_hash_seed() -> None:
    arrivals = workload(3000, seed=7)
    stdin = json.dumps([dataclasses.astuple(a) for a in arrivals]).encode()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    outputs = {}
    for seed in ("0", "4242"):
        done = subprocess.run(
            [sys.executable, "-c", RUN_IN_SUBPROCESS],
            input=stdin,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=repo,
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr.decode()
        outputs[seed] = json.loads(done.stdout)
    assert outputs["0"]["probe"] != outputs["4242"]["probe"]  # the seeds really differed
    assert outputs["0"]["result"] == outputs["4242"]["result"]
    in_process = compute_continuous_matching(arrivals)
    assert outputs["0"]["result"] == encode_result(in_process)
    assert len(in_process.trades) > 1000  # the workload really trades
    assert in_process.resting_bids and in_process.resting_asks


def test_hundred_thousand_arrivals_including_a_deep_sweep() -> None:
    # 50,000 resting bids at distinct prices, then sells that sweep all of them, then a mixed flow.
    deep = [Arrival(f"deep-{k}", "buy", 10, 1000 + k) for k in range(50_000)]
    sweep = [Arrival(f"sweep-{k}", "sell", 1000, 1) for k in range(500)]
    arrivals = deep + sweep + workload(49_500, seed=11)
    started = time.monotonic()
    result = compute_continuous_matching(arrivals)
    elapsed = time.monotonic() - started
    # Loose bound: about 0.3 s here; a quadratic book would take minutes.
    assert elapsed < 30, f"{elapsed:.1f} s for 100,000 arrivals"
    assert result.trades[50_000 - 1] == ContinuousTrade("deep-0", "sweep-499", 10, 1000)
    assert result.trades[0] == ContinuousTrade("deep-49999", "sweep-0", 10, 50_999)
    traded = sum(t.qty_wh for t in result.trades)
    assert sum(result.fills[a.order_id] for a in arrivals if a.side == "buy") == traded
    assert sum(result.fills[a.order_id] for a in arrivals if a.side == "sell") == traded
    assert result.resting_bids[0][2] < result.resting_asks[0][2]
