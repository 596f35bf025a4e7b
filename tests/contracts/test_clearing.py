"""Uniform-price interval clearing: the domain report's worked examples (section 1.5), edge cases,
bad inputs, and hypothesis properties checked against slow reference implementations.

Examples of section 1.5 covered here: 1-A, 1-B, 1-C (pay-as-bid amount from the same trade
pairs), 1-E (fees on top of the clearing) and the clearing cases of 1-H. Not clearing, so not
here: 1-D (continuous double auction, matched on each submit), 1-F and 1-G (settlement against
meters), and 1-H's gate-closure and cancel-after-clearing cases (interval lifecycle).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.contracts.market import Clearing, Order, compute_clearing
from gridledger.errors import InvalidTransaction

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# --- the order book of examples 1-A to 1-C ------------------------------------------------------

BOOK_BIDS = [
    Order("B1", 3000, 620, 1),
    Order("B2", 2000, 600, 2),
    Order("B3", 4000, 550, 3),
    Order("B5", 2500, 480, 4),
    Order("B4", 1500, 550, 5),
]
BOOK_ASKS = [
    Order("A1", 2500, 400, 1),
    Order("A2", 3500, 450, 2),
    Order("A3", 3500, 530, 3),
    Order("A4", 4000, 600, 4),
]
TIME_TRADES_1B = [
    ("B1", "A1", 2500),
    ("B1", "A2", 500),
    ("B2", "A2", 2000),
    ("B3", "A2", 1000),
    ("B3", "A3", 3000),
    ("B4", "A3", 500),
]
TIME_FILLS_1B = {
    "B1": 3000,
    "B2": 2000,
    "B3": 4000,
    "B4": 500,
    "B5": 0,
    "A1": 2500,
    "A2": 3500,
    "A3": 3500,
    "A4": 0,
}


@pytest.mark.parametrize(
    ("price_rule", "price"), [("last_ask", 530), ("midpoint", 540), ("last_bid", 550)]
)
@pytest.mark.parametrize("tie_rule", ["time", "pro_rata"])
def test_1a_price_per_rule_and_same_quantity(price_rule: str, price: int, tie_rule: str) -> None:
    clearing = compute_clearing(BOOK_BIDS, BOOK_ASKS, price_rule=price_rule, tie_rule=tie_rule)
    assert clearing.quantity_wh == 9500
    assert clearing.price == price
    # A1-A3 fill in full, A4 is unmatched; B1, B2 fill in full, B5 (480) is rejected.
    assert [clearing.fills[i] for i in ("A1", "A2", "A3", "A4")] == [2500, 3500, 3500, 0]
    assert [clearing.fills[i] for i in ("B1", "B2", "B5")] == [3000, 2000, 0]
    assert clearing.fills["B3"] + clearing.fills["B4"] == 4500


def test_1a_default_rules_are_midpoint_and_time() -> None:
    clearing = compute_clearing(BOOK_BIDS, BOOK_ASKS)
    assert (clearing.price, clearing.fills) == (540, TIME_FILLS_1B)


def test_1b_time_priority_fills_trades_and_amounts() -> None:
    clearing = compute_clearing(BOOK_BIDS, BOOK_ASKS, tie_rule="time")
    assert clearing == Clearing(
        quantity_wh=9500, price=540, fills=TIME_FILLS_1B, trades=TIME_TRADES_1B
    )
    assert clearing.price is not None
    amounts = {oid: wh * clearing.price for oid, wh in clearing.fills.items()}
    assert [amounts[i] for i in ("B1", "B2", "B3", "B4")] == [
        1_620_000,
        1_080_000,
        2_160_000,
        270_000,
    ]
    assert [amounts[i] for i in ("A1", "A2", "A3")] == [1_350_000, 1_890_000, 1_890_000]
    buys = sum(amounts[i] for i in ("B1", "B2", "B3", "B4", "B5"))
    sells = sum(amounts[i] for i in ("A1", "A2", "A3", "A4"))
    assert buys == sells == 5_130_000


def test_1b_pro_rata_largest_remainder_at_marginal_level() -> None:
    clearing = compute_clearing(BOOK_BIDS, BOOK_ASKS, tie_rule="pro_rata")
    assert clearing.quantity_wh == 9500
    assert clearing.price == 540
    assert (clearing.fills["B3"], clearing.fills["B4"]) == (3273, 1227)
    assert clearing.fills["B3"] * 540 == 1_767_420
    assert clearing.fills["B4"] * 540 == 662_580
    assert sum(wh * 540 for oid, wh in clearing.fills.items() if oid.startswith("B")) == 5_130_000
    # Derived trades: filled bids and asks paired front to front in sort order.
    assert clearing.trades == [
        ("B1", "A1", 2500),
        ("B1", "A2", 500),
        ("B2", "A2", 2000),
        ("B3", "A2", 1000),
        ("B3", "A3", 2273),
        ("B4", "A3", 1227),
    ]


def test_1c_pay_as_bid_amount_from_the_same_pairs() -> None:
    clearing = compute_clearing(BOOK_BIDS, BOOK_ASKS)
    bid_price = {o.order_id: o.price for o in BOOK_BIDS}
    assert sum(qty * bid_price[buy] for buy, _, qty in clearing.trades) == 5_535_000


def test_1e_buyer_pays_network_fee_on_top_of_clearing() -> None:
    fee = 15
    clearing = compute_clearing(BOOK_BIDS, BOOK_ASKS)
    assert clearing.price == 540
    paid = {oid: wh * (clearing.price + fee) for oid, wh in clearing.fills.items() if oid[0] == "B"}
    assert paid["B1"] == 1_665_000
    assert sum(paid.values()) == 5_272_500 == 5_130_000 + clearing.quantity_wh * fee


def test_1h_no_cross_clears_nothing() -> None:
    clearing = compute_clearing([Order("b", 1000, 450, 1)], [Order("a", 1000, 500, 1)])
    assert clearing == Clearing(quantity_wh=0, price=None, fills={"b": 0, "a": 0}, trades=[])


@pytest.mark.parametrize("tie_rule", ["time", "pro_rata"])
def test_1h_one_side_empty_clears_nothing(tie_rule: str) -> None:
    only_bids = compute_clearing(BOOK_BIDS, [], tie_rule=tie_rule)
    assert (only_bids.quantity_wh, only_bids.price, only_bids.trades) == (0, None, [])
    assert only_bids.fills == {o.order_id: 0 for o in BOOK_BIDS}
    only_asks = compute_clearing((), BOOK_ASKS, tie_rule=tie_rule)
    assert (only_asks.quantity_wh, only_asks.price) == (0, None)
    assert only_asks.fills == {o.order_id: 0 for o in BOOK_ASKS}
    assert compute_clearing([], []) == Clearing(quantity_wh=0, price=None, fills={}, trades=[])


def test_1h_duplicate_order_id_is_rejected() -> None:
    with pytest.raises(InvalidTransaction, match="duplicate order id 'B1'"):
        compute_clearing([*BOOK_BIDS, Order("B1", 10, 700, 9)], BOOK_ASKS)


# --- edge cases ---------------------------------------------------------------------------------


def test_equal_bid_and_ask_price_trades_at_that_price() -> None:
    for rule in ("midpoint", "last_ask", "last_bid"):
        clearing = compute_clearing(
            [Order("b", 5, 500, 1)], [Order("a", 7, 500, 1)], price_rule=rule
        )
        assert (clearing.quantity_wh, clearing.price) == (5, 500)
        assert clearing.fills == {"b": 5, "a": 5}


def test_midpoint_floors_odd_sums_including_negative_prices() -> None:
    positive = compute_clearing([Order("b", 1, 531, 1)], [Order("a", 1, 530, 1)])
    assert positive.price == 530
    negative = compute_clearing([Order("b", 1, -10, 1)], [Order("a", 1, -13, 1)])
    assert negative.price == -12  # floor(-11.5)


def test_pro_rata_exact_tie_goes_to_lower_seq() -> None:
    # Three bids of 100 Wh at the marginal 500 share 200 Wh: 66 each, remainders all 2/3, so the
    # two leftover Wh go to the two lowest seqs whatever the listing order.
    bids = [Order("x", 100, 500, 9), Order("y", 100, 500, 3), Order("z", 100, 500, 5)]
    clearing = compute_clearing(bids, [Order("a", 200, 400, 1)], tie_rule="pro_rata")
    assert clearing.fills == {"y": 67, "z": 67, "x": 66, "a": 200}
    time = compute_clearing(bids, [Order("a", 200, 400, 1)], tie_rule="time")
    assert time.fills == {"y": 100, "z": 100, "x": 0, "a": 200}


def test_pro_rata_on_the_ask_side() -> None:
    asks = [Order("a1", 300, 400, 1), Order("a2", 100, 450, 2), Order("a3", 300, 450, 3)]
    clearing = compute_clearing([Order("b", 500, 460, 1)], asks, tie_rule="pro_rata")
    # a1 below the marginal 450 fills in full; a2 and a3 share 200 Wh in 1:3 proportion.
    assert clearing.fills == {"b": 500, "a1": 300, "a2": 50, "a3": 150}
    assert clearing.price == 455
    assert clearing.trades == [("b", "a1", 300), ("b", "a2", 50), ("b", "a3", 150)]


def test_equal_seqs_fall_back_to_order_id() -> None:
    bids = [Order("bz", 100, 500, 1), Order("ba", 100, 500, 1)]
    asks = [Order("a", 150, 400, 1)]
    time = compute_clearing(bids, asks)
    assert time.fills == {"ba": 100, "bz": 50, "a": 150}
    assert compute_clearing(list(reversed(bids)), asks) == time
    pro_rata = compute_clearing(bids, asks, tie_rule="pro_rata")
    assert pro_rata.fills == {"ba": 75, "bz": 75, "a": 150}
    odd = compute_clearing(bids, [Order("a", 151, 400, 1)], tie_rule="pro_rata")
    assert odd.fills == {"ba": 76, "bz": 75, "a": 151}


def test_large_int64_values_stay_exact() -> None:
    bids = [Order("b1", INT64_MAX, INT64_MAX, 0), Order("b2", INT64_MAX - 1, INT64_MAX - 1, 1)]
    asks = [Order("a1", INT64_MAX, INT64_MAX - 1, 0), Order("a2", INT64_MAX, INT64_MAX - 1, 1)]
    clearing = compute_clearing(bids, asks, tie_rule="pro_rata")
    assert clearing.quantity_wh == 2 * INT64_MAX - 1
    assert clearing.price == INT64_MAX - 1  # floor((2**64 - 3) / 2)
    # a1 and a2 share 2**64 - 3 Wh equally: one leftover Wh to the lower seq.
    assert clearing.fills["a1"] == INT64_MAX
    assert clearing.fills["a2"] == INT64_MAX - 1
    low = compute_clearing([Order("b", 1, INT64_MIN + 1, 0)], [Order("a", 1, INT64_MIN, 0)])
    assert low.price == INT64_MIN


def test_records_are_frozen_with_slots() -> None:
    order = Order("b", 1, 1, 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        order.qty_wh = 2  # type: ignore[misc]
    assert not hasattr(order, "__dict__")
    clearing = compute_clearing([order], [])
    with pytest.raises(dataclasses.FrozenInstanceError):
        clearing.price = 1  # type: ignore[misc]
    assert not hasattr(clearing, "__dict__")


def test_input_orders_are_not_reordered() -> None:
    bids = list(BOOK_BIDS)
    compute_clearing(bids, BOOK_ASKS, tie_rule="pro_rata")
    assert bids == BOOK_BIDS


# --- bad inputs ---------------------------------------------------------------------------------

GOOD_ASK = Order("a", 10, 100, 1)

BAD_ORDERS = [
    pytest.param(Order("b", 0, 100, 1), "qty_wh must be positive, got 0", id="zero-qty"),
    pytest.param(Order("b", -5, 100, 1), "qty_wh must be positive, got -5", id="negative-qty"),
    pytest.param(Order("b", True, 100, 1), "qty_wh must be an integer, got bool", id="bool-qty"),
    pytest.param(Order("b", 10, False, 1), "price must be an integer, got bool", id="bool-price"),
    pytest.param(Order("b", 10, 100, True), "seq must be an integer, got bool", id="bool-seq"),
    pytest.param(Order("b", 10.0, 100, 1), "qty_wh must be an integer, got float", id="float-qty"),  # type: ignore[arg-type]
    pytest.param(Order("b", 10, 99.5, 1), "price must be an integer, got float", id="float-price"),  # type: ignore[arg-type]
    pytest.param(Order("b", "10", 100, 1), "qty_wh must be an integer, got str", id="str-qty"),  # type: ignore[arg-type]
    pytest.param(Order("b", 10, 100, None), "seq must be an integer, got NoneType", id="none-seq"),  # type: ignore[arg-type]
    pytest.param(Order("b", 2**63, 100, 1), "qty_wh 9223372036854775808 is outside", id="qty-2^63"),
    pytest.param(
        Order("b", 10, -(2**63) - 1, 1), "price -9223372036854775809 is outside", id="price-low"
    ),
    pytest.param(Order("", 10, 100, 1), "order_id must be a non-empty string", id="empty-id"),
    pytest.param(Order(7, 10, 100, 1), "order_id must be a non-empty string, got 7", id="int-id"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("order", "message"), BAD_ORDERS)
def test_bad_bid_is_rejected(order: Order, message: str) -> None:
    with pytest.raises(InvalidTransaction, match=message):
        compute_clearing([order], [GOOD_ASK])


@pytest.mark.parametrize(("order", "message"), BAD_ORDERS)
def test_bad_ask_is_rejected_even_without_bids(order: Order, message: str) -> None:
    with pytest.raises(InvalidTransaction, match=message) as raised:
        compute_clearing([], [order])
    assert raised.value.message.startswith("ask")


def test_bad_order_on_the_unmatched_tail_is_still_rejected() -> None:
    with pytest.raises(InvalidTransaction, match="bid 'tail': qty_wh must be positive"):
        compute_clearing([Order("head", 10, 100, 1), Order("tail", 0, 1, 2)], [GOOD_ASK])


def test_order_id_shared_by_a_bid_and_an_ask_is_rejected() -> None:
    with pytest.raises(InvalidTransaction, match="duplicate order id 'a'"):
        compute_clearing([Order("a", 10, 100, 1)], [GOOD_ASK])


def test_non_order_items_and_non_sequences_are_rejected() -> None:
    with pytest.raises(InvalidTransaction, match="bid: expected an Order, got tuple"):
        compute_clearing([("b", 10, 100, 1)], [GOOD_ASK])  # type: ignore[list-item]
    with pytest.raises(InvalidTransaction, match="asks must be a sequence of Order, got str"):
        compute_clearing([], "a")  # type: ignore[arg-type]
    with pytest.raises(InvalidTransaction, match="bids must be a sequence of Order, got set"):
        compute_clearing({GOOD_ASK}, [])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"price_rule": "vol_max_avg"}, "unknown price_rule 'vol_max_avg'"),
        ({"price_rule": "MIDPOINT"}, "unknown price_rule 'MIDPOINT'"),
        ({"price_rule": None}, "unknown price_rule None"),
        ({"tie_rule": "pro-rata"}, "unknown tie_rule 'pro-rata'"),
        ({"tie_rule": 1}, "unknown tie_rule 1"),
    ],
)
def test_unknown_rule_is_rejected_even_on_an_empty_book(
    rules: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidTransaction, match=message):
        compute_clearing([], [], **rules)  # type: ignore[arg-type]


# --- reference implementations (slow, obvious) --------------------------------------------------


def reference_time_trades(
    bids: Sequence[Order], asks: Sequence[Order]
) -> list[tuple[str, str, int]]:
    """Match one Wh at a time, best unit against best unit, then merge runs of the same pair."""
    bid_units = [
        o
        for o in sorted(bids, key=lambda o: (-o.price, o.seq, o.order_id))
        for _ in range(o.qty_wh)
    ]
    ask_units = [
        o for o in sorted(asks, key=lambda o: (o.price, o.seq, o.order_id)) for _ in range(o.qty_wh)
    ]
    trades: list[tuple[str, str, int]] = []
    for bid, ask in zip(bid_units, ask_units, strict=False):
        if bid.price < ask.price:
            break
        if trades and trades[-1][:2] == (bid.order_id, ask.order_id):
            trades[-1] = (bid.order_id, ask.order_id, trades[-1][2] + 1)
        else:
            trades.append((bid.order_id, ask.order_id, 1))
    return trades


def reference_max_volume(bids: Sequence[Order], asks: Sequence[Order]) -> int:
    """The volume-maximising quantity max_p min(D(p), S(p)) over every quoted price."""
    prices = {o.price for o in (*bids, *asks)}
    return max(
        (
            min(
                sum(b.qty_wh for b in bids if b.price >= p),
                sum(a.qty_wh for a in asks if a.price <= p),
            )
            for p in prices
        ),
        default=0,
    )


def reference_pro_rata(level: Sequence[Order], total_wh: int) -> dict[str, int]:
    """Largest remainder with exact fractions."""
    level_wh = sum(o.qty_wh for o in level)
    exact = {o.order_id: Fraction(total_wh * o.qty_wh, level_wh) for o in level}
    shares = {oid: int(share) for oid, share in exact.items()}
    ranked = sorted(
        level, key=lambda o: (-(exact[o.order_id] - shares[o.order_id]), o.seq, o.order_id)
    )
    for o in ranked[: total_wh - sum(shares.values())]:
        shares[o.order_id] += 1
    return shares


# --- properties ---------------------------------------------------------------------------------


@st.composite
def books(
    draw: st.DrawFn, qty: st.SearchStrategy[int], price: st.SearchStrategy[int]
) -> tuple[list[Order], list[Order]]:
    """Up to 7 orders a side; narrow price and seq ranges so ties at every level are common."""

    def side(prefix: str) -> list[Order]:
        count = draw(st.integers(0, 7))
        return [
            Order(f"{prefix}{k}", draw(qty), draw(price), draw(st.integers(0, 4)))
            for k in range(count)
        ]

    return side("b"), side("a")


SMALL_BOOKS = books(st.integers(1, 40), st.integers(95, 105))
LARGE_BOOKS = books(
    st.integers(1, INT64_MAX),
    st.one_of(
        st.integers(INT64_MIN, INT64_MIN + 3),
        st.integers(-3, 3),
        st.integers(INT64_MAX - 3, INT64_MAX),
    ),
)
RULES = st.tuples(
    st.sampled_from(["midpoint", "last_ask", "last_bid"]), st.sampled_from(["time", "pro_rata"])
)


def check_invariants(bids: list[Order], asks: list[Order], clearing: Clearing) -> None:
    """Section 1.4 invariants 1-4 plus the shape of the result."""
    every = {o.order_id: o for o in (*bids, *asks)}
    assert set(clearing.fills) == set(every)
    assert sum(clearing.fills[o.order_id] for o in bids) == clearing.quantity_wh
    assert sum(clearing.fills[o.order_id] for o in asks) == clearing.quantity_wh
    for oid, filled in clearing.fills.items():
        assert 0 <= filled <= every[oid].qty_wh
    per_order = dict.fromkeys(every, 0)
    for buy, sell, qty in clearing.trades:
        assert qty > 0
        assert buy in {b.order_id for b in bids}
        assert sell in {a.order_id for a in asks}
        per_order[buy] += qty
        per_order[sell] += qty
    assert per_order == clearing.fills
    if clearing.quantity_wh == 0:
        assert clearing.price is None
        assert clearing.trades == []
    else:
        assert clearing.price is not None
        assert all(b.price >= clearing.price for b in bids if clearing.fills[b.order_id])
        assert all(a.price <= clearing.price for a in asks if clearing.fills[a.order_id])
    open_bids = [b.price for b in bids if clearing.fills[b.order_id] < b.qty_wh]
    open_asks = [a.price for a in asks if clearing.fills[a.order_id] < a.qty_wh]
    if open_bids and open_asks:
        assert max(open_bids) < min(open_asks)


@settings(max_examples=300)
@given(SMALL_BOOKS, RULES)
def test_invariants_hold_on_small_books(
    book: tuple[list[Order], list[Order]], rules: tuple[str, str]
) -> None:
    bids, asks = book
    check_invariants(
        bids, asks, compute_clearing(bids, asks, price_rule=rules[0], tie_rule=rules[1])
    )


@given(LARGE_BOOKS, RULES)
def test_invariants_hold_on_int64_books(
    book: tuple[list[Order], list[Order]], rules: tuple[str, str]
) -> None:
    bids, asks = book
    check_invariants(
        bids, asks, compute_clearing(bids, asks, price_rule=rules[0], tie_rule=rules[1])
    )


@settings(max_examples=200)
@given(SMALL_BOOKS)
def test_time_priority_matches_unit_by_unit_reference(
    book: tuple[list[Order], list[Order]],
) -> None:
    bids, asks = book
    clearing = compute_clearing(bids, asks, tie_rule="time")
    assert clearing.trades == reference_time_trades(bids, asks)
    assert clearing.quantity_wh == reference_max_volume(bids, asks)


@settings(max_examples=200)
@given(SMALL_BOOKS)
def test_pro_rata_matches_fraction_reference(book: tuple[list[Order], list[Order]]) -> None:
    bids, asks = book
    time = compute_clearing(bids, asks, tie_rule="time")
    pro_rata = compute_clearing(bids, asks, tie_rule="pro_rata")
    assert (pro_rata.quantity_wh, pro_rata.price) == (time.quantity_wh, time.price)
    if not time.trades:
        assert pro_rata == time
        return
    last_buy, last_sell, _ = time.trades[-1]
    for side, last_id, better in ((bids, last_buy, 1), (asks, last_sell, -1)):
        marginal = next(o.price for o in side if o.order_id == last_id)
        expected = {o.order_id: o.qty_wh for o in side if better * (o.price - marginal) > 0}
        level = [o for o in side if o.price == marginal]
        expected.update(reference_pro_rata(level, time.quantity_wh - sum(expected.values())))
        for o in side:
            assert pro_rata.fills[o.order_id] == expected.get(o.order_id, 0)


@given(st.one_of(SMALL_BOOKS, LARGE_BOOKS), RULES, st.data())
def test_result_does_not_depend_on_input_order(
    book: tuple[list[Order], list[Order]], rules: tuple[str, str], data: st.DataObject
) -> None:
    bids, asks = book
    first = compute_clearing(bids, asks, price_rule=rules[0], tie_rule=rules[1])
    again = compute_clearing(
        data.draw(st.permutations(bids)),
        data.draw(st.permutations(asks)),
        price_rule=rules[0],
        tie_rule=rules[1],
    )
    assert again == first
    assert list(again.fills.items()) == list(first.fills.items())


@given(st.one_of(SMALL_BOOKS, LARGE_BOOKS), st.sampled_from(["midpoint", "last_ask", "last_bid"]))
def test_tie_rules_agree_on_quantity_and_price(
    book: tuple[list[Order], list[Order]], price_rule: str
) -> None:
    bids, asks = book
    time = compute_clearing(bids, asks, price_rule=price_rule, tie_rule="time")
    pro_rata = compute_clearing(bids, asks, price_rule=price_rule, tie_rule="pro_rata")
    assert (time.quantity_wh, time.price) == (pro_rata.quantity_wh, pro_rata.price)
