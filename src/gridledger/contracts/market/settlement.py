"""Settlement arithmetic: trades against meters, residuals against the retailer (pure functions).

Min-of-two with pro-rata allocation (domain report 1-F, after [S14]):

1. Each seller's metered export is allocated over its sell trades: in full if it covers them all,
   otherwise in proportion to their quantities, by largest remainder (ties to the earlier trade).
   Each buyer's metered import is allocated over its buy trades the same way.
2. A trade settles ``min(seller allocation, buyer allocation)`` Wh; the buyer pays that at the
   clearing price plus the grid fee, and the undelivered rest of the trade's escrow goes back.
3. What a meter measured beyond its settled trades is the residual: import bought from the
   retailer at the retail tariff, export sold to it at the feed-in tariff. For every meter,
   ``metered = Σ settled + residual`` with ``residual ≥ 0`` (report 1.4, invariant 6).

A participant whose meter has no billable reading for the interval (``None``) settles nothing
against it and gets no residual on that channel; its invoice is marked ``unmetered`` so the
retailer can bill an estimate off the ledger.

``compute_deviation_settlement`` is the report's deviation-based alternative (1-G), kept as a
pure function for comparison: the ledger's market settles by min-of-two.

Units: Wh, CNY/MWh, µCNY. Every product ``Wh * CNY/MWh`` is an exact µCNY amount; the only
rounding is the largest-remainder split of a meter's Wh over its trades.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TradeLine:
    """A cleared trade, as settlement needs it."""

    buyer: str
    seller: str
    qty_wh: int
    price: int  # CNY/MWh
    fee: int  # CNY/MWh, paid by the buyer


@dataclass(frozen=True, slots=True)
class Metered:
    """One participant's billable energy in the interval, per channel (None = no reading)."""

    import_wh: int | None
    export_wh: int | None


@dataclass(frozen=True, slots=True)
class TradeSettlement:
    settled_wh: int
    amount_ucny: int  # to the seller
    fee_ucny: int  # to the fee account
    refund_ucny: int  # back to the buyer, of the trade's escrow


@dataclass(frozen=True, slots=True)
class Invoice:
    """One participant's bill for one interval. ``net_ucny`` > 0: the participant receives."""

    participant: str
    metered_import_wh: int | None
    metered_export_wh: int | None
    contracted_buy_wh: int
    contracted_sell_wh: int
    settled_buy_wh: int
    settled_sell_wh: int
    p2p_cost_ucny: int
    grid_fee_ucny: int
    p2p_revenue_ucny: int
    retail_import_wh: int
    retail_import_ucny: int
    feed_in_wh: int
    feed_in_ucny: int

    @property
    def net_ucny(self) -> int:
        return (
            self.p2p_revenue_ucny
            + self.feed_in_ucny
            - self.p2p_cost_ucny
            - self.grid_fee_ucny
            - self.retail_import_ucny
        )

    @property
    def unmetered(self) -> bool:
        return self.metered_import_wh is None or self.metered_export_wh is None


@dataclass(frozen=True, slots=True)
class Settlement:
    trades: list[TradeSettlement]  # in the order of the input trades
    invoices: list[Invoice]  # by participant id


def compute_allocation(quantities: Sequence[int], metered_wh: int | None) -> list[int]:
    """Split ``metered_wh`` over trades of ``quantities``: each trade in full when the meter
    covers them all, else pro rata by largest remainder, ties to the lower index. None → zeros."""
    total = sum(quantities)
    if metered_wh is None or total == 0:
        return [0] * len(quantities)
    if metered_wh >= total:
        return list(quantities)
    shares = [q * metered_wh // total for q in quantities]
    remainders = [q * metered_wh % total for q in quantities]
    leftover = metered_wh - sum(shares)
    order = sorted(range(len(quantities)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        shares[i] += 1
    return shares


def compute_settlement(
    trades: Sequence[TradeLine],
    metered: Mapping[str, Metered],
    *,
    retail_tariff: int,
    feed_in_tariff: int,
) -> Settlement:
    """Settle an interval's trades against ``metered`` (every participant to invoice, and every
    trade party, by id) at the given tariffs (CNY/MWh)."""
    missing = sorted(({t.buyer for t in trades} | {t.seller for t in trades}) - set(metered))
    if missing:
        raise ValueError(f"no metered energy given for trade parties {', '.join(missing)}")
    seller_alloc = _allocate(trades, metered, selling=True)
    buyer_alloc = _allocate(trades, metered, selling=False)
    settled = [min(s, b) for s, b in zip(seller_alloc, buyer_alloc, strict=True)]
    results = [
        TradeSettlement(
            settled_wh=wh,
            amount_ucny=wh * t.price,
            fee_ucny=wh * t.fee,
            refund_ucny=(t.qty_wh - wh) * (t.price + t.fee),
        )
        for t, wh in zip(trades, settled, strict=True)
    ]
    invoices = [
        _invoice(p, metered[p], trades, results, retail_tariff, feed_in_tariff)
        for p in sorted(metered)
    ]
    return Settlement(trades=results, invoices=invoices)


def _allocate(
    trades: Sequence[TradeLine], metered: Mapping[str, Metered], *, selling: bool
) -> list[int]:
    by_party: dict[str, list[int]] = {}
    for i, trade in enumerate(trades):
        by_party.setdefault(trade.seller if selling else trade.buyer, []).append(i)
    alloc = [0] * len(trades)
    for party in sorted(by_party):
        indexes = by_party[party]
        meter = metered[party].export_wh if selling else metered[party].import_wh
        shares = compute_allocation([trades[i].qty_wh for i in indexes], meter)
        for i, share in zip(indexes, shares, strict=True):
            alloc[i] = share
    return alloc


def _invoice(
    party: str,
    meter: Metered,
    trades: Sequence[TradeLine],
    results: Sequence[TradeSettlement],
    retail_tariff: int,
    feed_in_tariff: int,
) -> Invoice:
    buys = [(t, r) for t, r in zip(trades, results, strict=True) if t.buyer == party]
    sells = [(t, r) for t, r in zip(trades, results, strict=True) if t.seller == party]
    settled_buy = sum(r.settled_wh for _, r in buys)
    settled_sell = sum(r.settled_wh for _, r in sells)
    retail_wh = meter.import_wh - settled_buy if meter.import_wh is not None else 0
    feed_in_wh = meter.export_wh - settled_sell if meter.export_wh is not None else 0
    return Invoice(
        participant=party,
        metered_import_wh=meter.import_wh,
        metered_export_wh=meter.export_wh,
        contracted_buy_wh=sum(t.qty_wh for t, _ in buys),
        contracted_sell_wh=sum(t.qty_wh for t, _ in sells),
        settled_buy_wh=settled_buy,
        settled_sell_wh=settled_sell,
        p2p_cost_ucny=sum(r.amount_ucny for _, r in buys),
        grid_fee_ucny=sum(r.fee_ucny for _, r in buys),
        p2p_revenue_ucny=sum(r.amount_ucny for _, r in sells),
        retail_import_wh=retail_wh,
        retail_import_ucny=retail_wh * retail_tariff,
        feed_in_wh=feed_in_wh,
        feed_in_ucny=feed_in_wh * feed_in_tariff,
    )


# -- the deviation-based alternative (report 1-G) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviationSettlement:
    buyer_pays: int
    seller_gets: int
    seller_utility_gets: int  # for the energy the seller failed to deliver
    buyer_utility_pays: int  # for the contracted energy the buyer did not take

    @property
    def balance(self) -> int:
        """Zero when the four flows are consistent: what comes in equals what goes out."""
        return (
            self.buyer_pays - self.seller_gets - self.seller_utility_gets + self.buyer_utility_pays
        )


def compute_deviation_settlement(
    *,
    contracted_wh: int,
    price: int,
    consumed_wh: int,
    generated_wh: int,
    buyer_utility_export_price: int,
    seller_utility_import_price: int,
) -> DeviationSettlement:
    """Settle one trade by deviations ([S14], report 1-G): the buyer pays the contract less its
    under-consumption sold back at the buyer utility's export price; the seller gets the contract
    less its under-generation bought in at the seller utility's import price. Over-consumption and
    over-generation are ordinary retail import and feed-in, billed apart, so deviations count only
    when short of the contract. Amounts are ``Wh * price`` in the price's micro-unit."""
    under_used = max(0, contracted_wh - consumed_wh)
    under_made = max(0, contracted_wh - generated_wh)
    contract = contracted_wh * price
    return DeviationSettlement(
        buyer_pays=contract - under_used * buyer_utility_export_price,
        seller_gets=contract - under_made * seller_utility_import_price,
        seller_utility_gets=under_made * seller_utility_import_price,
        buyer_utility_pays=under_used * buyer_utility_export_price,
    )
