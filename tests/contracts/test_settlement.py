"""Settlement arithmetic against meters (pure functions of ``market.settlement``): the domain
report's vectors 1-F (min-of-two with pro-rata allocation) and 1-G (deviation-based), the edge
cases of the largest-remainder allocation, and hypothesis properties of ``compute_settlement``
(report 1.4 invariants 5 and 6, and the zero-sum of the money flows).

Units: Wh, CNY/MWh, µCNY (``Wh * CNY/MWh = µCNY``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.contracts.market.settlement import (
    Invoice,
    Metered,
    Settlement,
    TradeLine,
    compute_allocation,
    compute_deviation_settlement,
    compute_settlement,
)

RETAIL_TARIFF, FEED_IN_TARIFF = 600, 350  # CNY/MWh (report 1-F)

# -- vector 1-F --------------------------------------------------------------------------------

VECTOR_1F_TRADES = [
    TradeLine(buyer="B1", seller="S1", qty_wh=2000, price=540, fee=0),  # T1
    TradeLine(buyer="B2", seller="S1", qty_wh=1000, price=540, fee=0),  # T2
    TradeLine(buyer="B1", seller="S2", qty_wh=1500, price=540, fee=0),  # T3
]
VECTOR_1F_METERS = {
    "S1": Metered(import_wh=0, export_wh=2400),
    "S2": Metered(import_wh=0, export_wh=1800),
    "B1": Metered(import_wh=3000, export_wh=0),
    "B2": Metered(import_wh=1200, export_wh=0),
}


def settle_1f() -> Settlement:
    return compute_settlement(
        VECTOR_1F_TRADES,
        VECTOR_1F_METERS,
        retail_tariff=RETAIL_TARIFF,
        feed_in_tariff=FEED_IN_TARIFF,
    )


def invoices_by_party(settlement: Settlement) -> dict[str, Invoice]:
    return {invoice.participant: invoice for invoice in settlement.invoices}


def test_vector_1f_seller_and_buyer_allocations() -> None:
    assert compute_allocation([2000, 1000], 2400) == [1600, 800]  # S1 over T1, T2
    assert compute_allocation([1500], 1800) == [1500]  # S2 covers T3
    assert compute_allocation([2000, 1500], 3000) == [1714, 1286]  # B1: leftover Wh to T3
    assert compute_allocation([1000], 1200) == [1000]  # B2 covers T2


def test_vector_1f_settles_min_of_two_per_trade() -> None:
    result = settle_1f()
    assert [t.settled_wh for t in result.trades] == [1600, 800, 1286]
    assert [t.amount_ucny for t in result.trades] == [864_000, 432_000, 694_440]
    assert [t.fee_ucny for t in result.trades] == [0, 0, 0]
    assert [t.refund_ucny for t in result.trades] == [400 * 540, 200 * 540, 214 * 540]


def test_vector_1f_residuals_at_retail_and_feed_in_tariffs() -> None:
    invoices = invoices_by_party(settle_1f())
    residuals = {
        party: (i.retail_import_wh, i.retail_import_ucny, i.feed_in_wh, i.feed_in_ucny)
        for party, i in invoices.items()
    }
    assert residuals == {
        "B1": (114, 68_400, 0, 0),
        "B2": (400, 240_000, 0, 0),
        "S1": (0, 0, 0, 0),
        "S2": (0, 0, 514, 179_900),
    }


def test_vector_1f_invoices_and_nets() -> None:
    invoices = invoices_by_party(settle_1f())
    assert list(invoices) == ["B1", "B2", "S1", "S2"]  # sorted by participant
    b1 = invoices["B1"]
    assert (b1.contracted_buy_wh, b1.settled_buy_wh) == (3500, 2886)
    assert (b1.p2p_cost_ucny, b1.grid_fee_ucny, b1.p2p_revenue_ucny) == (1_558_440, 0, 0)
    nets = {party: invoice.net_ucny for party, invoice in invoices.items()}
    assert nets == {
        "B1": -(864_000 + 694_440 + 68_400),
        "B2": -(432_000 + 240_000),
        "S1": 864_000 + 432_000,
        "S2": 694_440 + 179_900,
    }
    assert not any(invoice.unmetered for invoice in invoices.values())


def test_vector_1f_every_meter_is_settled_plus_residual() -> None:
    for party, invoice in invoices_by_party(settle_1f()).items():
        meter = VECTOR_1F_METERS[party]
        assert meter.import_wh == invoice.settled_buy_wh + invoice.retail_import_wh
        assert meter.export_wh == invoice.settled_sell_wh + invoice.feed_in_wh


def test_grid_fee_is_paid_on_settled_energy_and_refunded_on_the_rest() -> None:
    trade = TradeLine(buyer="B", seller="S", qty_wh=1000, price=540, fee=15)
    meters = {"B": Metered(1000, 0), "S": Metered(0, 600)}
    result = compute_settlement([trade], meters, retail_tariff=600, feed_in_tariff=350)
    (settled,) = result.trades
    assert (settled.settled_wh, settled.amount_ucny, settled.fee_ucny) == (600, 324_000, 9_000)
    assert settled.refund_ucny == 400 * (540 + 15)
    buyer = invoices_by_party(result)["B"]
    assert (buyer.grid_fee_ucny, buyer.retail_import_wh) == (9_000, 400)


def test_settlement_requires_every_trade_party_to_be_metered() -> None:
    with pytest.raises(ValueError, match="S2"):
        compute_settlement(
            VECTOR_1F_TRADES,
            {p: m for p, m in VECTOR_1F_METERS.items() if p != "S2"},
            retail_tariff=RETAIL_TARIFF,
            feed_in_tariff=FEED_IN_TARIFF,
        )


def test_participant_without_trades_pays_retail_and_gets_feed_in() -> None:
    meters = {"P": Metered(import_wh=250, export_wh=100)}
    result = compute_settlement([], meters, retail_tariff=600, feed_in_tariff=350)
    (invoice,) = result.invoices
    assert (invoice.retail_import_ucny, invoice.feed_in_ucny) == (150_000, 35_000)
    assert invoice.net_ucny == 35_000 - 150_000


def test_unmetered_buyer_settles_nothing_and_is_refunded() -> None:
    trade = TradeLine(buyer="B", seller="S", qty_wh=1000, price=540, fee=15)
    meters = {"B": Metered(None, None), "S": Metered(0, 1000)}
    result = compute_settlement([trade], meters, retail_tariff=600, feed_in_tariff=350)
    assert result.trades[0].settled_wh == 0
    assert result.trades[0].refund_ucny == 1000 * 555
    invoices = invoices_by_party(result)
    assert invoices["B"].unmetered
    assert (invoices["B"].retail_import_wh, invoices["B"].net_ucny) == (0, 0)
    assert (invoices["S"].feed_in_wh, invoices["S"].unmetered) == (1000, False)


# -- vector 1-G ------------------------------------------------------------------------------


def test_vector_1g_deviation_settlement() -> None:
    """10 kWh at 6 per kWh, integerised x1000: 10,000 Wh at 6,000 per MWh, so every amount is
    in micro-units (52 = 52,000,000)."""
    result = compute_deviation_settlement(
        contracted_wh=10_000,
        price=6_000,
        consumed_wh=8_000,
        generated_wh=7_000,
        buyer_utility_export_price=4_000,
        seller_utility_import_price=8_000,
    )
    assert result.buyer_pays == 52_000_000
    assert result.seller_gets == 36_000_000
    assert result.seller_utility_gets == 24_000_000
    assert result.buyer_utility_pays == 8_000_000
    assert result.balance == 0  # 52 - 36 - 24 + 8


def test_deviation_settlement_ignores_over_delivery() -> None:
    result = compute_deviation_settlement(
        contracted_wh=10_000,
        price=6_000,
        consumed_wh=12_000,
        generated_wh=10_500,
        buyer_utility_export_price=4_000,
        seller_utility_import_price=8_000,
    )
    assert (result.buyer_pays, result.seller_gets) == (60_000_000, 60_000_000)
    assert (result.seller_utility_gets, result.buyer_utility_pays) == (0, 0)


@given(
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=1, max_value=10**6),
    st.integers(min_value=0, max_value=2 * 10**6),
    st.integers(min_value=0, max_value=2 * 10**6),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=10**6),
)
def test_deviation_settlement_is_zero_sum(
    contracted: int, price: int, consumed: int, generated: int, export: int, import_: int
) -> None:
    result = compute_deviation_settlement(
        contracted_wh=contracted,
        price=price,
        consumed_wh=consumed,
        generated_wh=generated,
        buyer_utility_export_price=export,
        seller_utility_import_price=import_,
    )
    assert result.balance == 0
    assert result.seller_utility_gets >= 0 and result.buyer_utility_pays >= 0


# -- compute_allocation ------------------------------------------------------------------------


def test_allocation_in_full_when_the_meter_covers_exactly() -> None:
    assert compute_allocation([2000, 1000, 500], 3500) == [2000, 1000, 500]


def test_allocation_never_exceeds_the_trades_when_the_meter_is_higher() -> None:
    assert compute_allocation([2000, 1000], 10_000) == [2000, 1000]


def test_allocation_of_a_zero_meter_is_zero() -> None:
    assert compute_allocation([2000, 1000], 0) == [0, 0]


def test_allocation_without_a_reading_is_zero() -> None:
    assert compute_allocation([2000, 1000], None) == [0, 0]


def test_allocation_of_no_trades_is_empty() -> None:
    assert compute_allocation([], 500) == []
    assert compute_allocation([], None) == []


def test_allocation_ties_go_to_the_lower_index() -> None:
    assert compute_allocation([1, 1, 1], 2) == [1, 1, 0]
    assert compute_allocation([1000, 1000], 1) == [1, 0]
    assert compute_allocation([1, 2, 1], 2) == [1, 1, 0]  # remainders 2, 0, 2: index 0 wins


def test_allocation_leftover_goes_to_the_largest_remainder_first() -> None:
    # exact shares 5/7 * (1, 2, 4) = 0.71, 1.43, 2.86 -> floors 0, 1, 2, leftover 2: to .86, .71
    assert compute_allocation([1, 2, 4], 5) == [1, 1, 3]


def reference_allocation(quantities: Sequence[int], metered_wh: int) -> list[int]:
    """The slow, obvious largest remainder over Fractions."""
    total = sum(quantities)
    if metered_wh >= total:
        return list(quantities)
    exact = [Fraction(q * metered_wh, total) for q in quantities]
    shares = [int(x) for x in exact]
    ranked = sorted(range(len(quantities)), key=lambda i: (shares[i] - exact[i], i))
    for i in ranked[: metered_wh - sum(shares)]:
        shares[i] += 1
    return shares


@given(
    st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=12),
    st.integers(min_value=0, max_value=2 * 10**7),
)
def test_allocation_matches_the_reference(quantities: list[int], metered_wh: int) -> None:
    shares = compute_allocation(quantities, metered_wh)
    assert shares == reference_allocation(quantities, metered_wh)
    assert sum(shares) == min(metered_wh, sum(quantities))
    assert all(0 <= s <= q for s, q in zip(shares, quantities, strict=True))


# -- properties of compute_settlement ----------------------------------------------------------

PARTIES = ("p0", "p1", "p2", "p3", "p4")
CHANNEL = st.one_of(st.none(), st.integers(min_value=0, max_value=20_000))


@st.composite
def intervals(draw: st.DrawFn) -> tuple[list[TradeLine], dict[str, Metered]]:
    """Trades among a few parties (a prosumer may trade with itself, as the clearing allows),
    and a reading or None per channel for every party."""
    party = st.sampled_from(PARTIES)
    trades = draw(
        st.lists(
            st.builds(
                TradeLine,
                buyer=party,
                seller=party,
                qty_wh=st.integers(min_value=1, max_value=8_000),
                price=st.integers(min_value=1, max_value=1_000),
                fee=st.integers(min_value=0, max_value=50),
            ),
            max_size=10,
        )
    )
    metered = {p: Metered(draw(CHANNEL), draw(CHANNEL)) for p in PARTIES}
    return trades, metered


def settle(trades: Sequence[TradeLine], metered: Mapping[str, Metered]) -> Settlement:
    return compute_settlement(
        trades, metered, retail_tariff=RETAIL_TARIFF, feed_in_tariff=FEED_IN_TARIFF
    )


@settings(max_examples=100)
@given(intervals())
def test_settled_never_exceeds_the_contract(
    case: tuple[list[TradeLine], dict[str, Metered]],
) -> None:
    trades, metered = case
    result = settle(trades, metered)
    for trade, outcome in zip(trades, result.trades, strict=True):
        assert 0 <= outcome.settled_wh <= trade.qty_wh


@settings(max_examples=100)
@given(intervals())
def test_settled_never_exceeds_either_meter(
    case: tuple[list[TradeLine], dict[str, Metered]],
) -> None:
    trades, metered = case
    result = settle(trades, metered)
    for party, meter in metered.items():
        sold = sum(
            r.settled_wh for t, r in zip(trades, result.trades, strict=True) if t.seller == party
        )
        bought = sum(
            r.settled_wh for t, r in zip(trades, result.trades, strict=True) if t.buyer == party
        )
        assert sold <= (meter.export_wh or 0)
        assert bought <= (meter.import_wh or 0)


@settings(max_examples=100)
@given(intervals())
def test_every_meter_is_settled_plus_a_non_negative_residual(
    case: tuple[list[TradeLine], dict[str, Metered]],
) -> None:
    trades, metered = case
    for invoice in settle(trades, metered).invoices:
        meter = metered[invoice.participant]
        assert invoice.retail_import_wh >= 0 and invoice.feed_in_wh >= 0
        if meter.import_wh is None:
            assert (invoice.settled_buy_wh, invoice.retail_import_wh) == (0, 0)
        else:
            assert meter.import_wh == invoice.settled_buy_wh + invoice.retail_import_wh
        if meter.export_wh is None:
            assert (invoice.settled_sell_wh, invoice.feed_in_wh) == (0, 0)
        else:
            assert meter.export_wh == invoice.settled_sell_wh + invoice.feed_in_wh


@settings(max_examples=100)
@given(intervals())
def test_each_trade_escrow_splits_exactly_into_amount_fee_and_refund(
    case: tuple[list[TradeLine], dict[str, Metered]],
) -> None:
    trades, metered = case
    result = settle(trades, metered)
    for trade, outcome in zip(trades, result.trades, strict=True):
        assert outcome.amount_ucny == outcome.settled_wh * trade.price
        assert outcome.fee_ucny == outcome.settled_wh * trade.fee
        assert outcome.amount_ucny + outcome.fee_ucny + outcome.refund_ucny == trade.qty_wh * (
            trade.price + trade.fee
        )
        assert outcome.refund_ucny >= 0


@settings(max_examples=100)
@given(intervals())
def test_money_is_zero_sum_over_participants_retailer_and_fee_account(
    case: tuple[list[TradeLine], dict[str, Metered]],
) -> None:
    trades, metered = case
    invoices = settle(trades, metered).invoices
    assert sum(i.p2p_cost_ucny for i in invoices) == sum(i.p2p_revenue_ucny for i in invoices)
    retailer_net = sum(i.retail_import_ucny for i in invoices) - sum(
        i.feed_in_ucny for i in invoices
    )
    fees = sum(i.grid_fee_ucny for i in invoices)
    assert sum(i.net_ucny for i in invoices) + retailer_net + fees == 0


@settings(max_examples=100)
@given(intervals())
def test_unmetered_channels_settle_nothing(
    case: tuple[list[TradeLine], dict[str, Metered]],
) -> None:
    trades, metered = case
    result = settle(trades, metered)
    for trade, outcome in zip(trades, result.trades, strict=True):
        if metered[trade.buyer].import_wh is None or metered[trade.seller].export_wh is None:
            assert outcome.settled_wh == 0
            assert outcome.refund_ucny == trade.qty_wh * (trade.price + trade.fee)
    for invoice in result.invoices:
        if metered[invoice.participant] == Metered(None, None):
            assert invoice.unmetered
            assert (invoice.settled_buy_wh, invoice.settled_sell_wh, invoice.net_ucny) == (0, 0, 0)


@settings(max_examples=100)
@given(intervals(), st.permutations(PARTIES))
def test_result_does_not_depend_on_the_order_of_the_metered_mapping(
    case: tuple[list[TradeLine], dict[str, Metered]], names: list[str]
) -> None:
    trades, metered = case
    shuffled = {name: metered[name] for name in names}
    assert settle(trades, shuffled) == settle(trades, metered)


@settings(max_examples=100)
@given(intervals())
def test_meters_that_match_the_contracts_settle_every_trade_in_full(
    case: tuple[list[TradeLine], dict[str, Metered]],
) -> None:
    trades, _ = case
    exact = {
        p: Metered(
            sum(t.qty_wh for t in trades if t.buyer == p),
            sum(t.qty_wh for t in trades if t.seller == p),
        )
        for p in PARTIES
    }
    result = settle(trades, exact)
    assert [r.settled_wh for r in result.trades] == [t.qty_wh for t in trades]
    assert all(r.refund_ucny == 0 for r in result.trades)
    assert all(i.retail_import_wh == i.feed_in_wh == 0 for i in result.invoices)
