"""Per-interval totals of a generated day, for people: what was offered, what was measured.

``matchable_wh`` is the volume a uniform-price double auction of the interval's book would clear
if the market had one zone and no grid fees: the largest ``min(demand(p), supply(p))`` over the
order prices ``p``, with demand the bids at ``p`` or above and supply the asks at ``p`` or below.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gridledger.sim.bidding import DayOrder
    from gridledger.sim.day import Day


@dataclass(frozen=True, slots=True, kw_only=True)
class IntervalSummary:
    interval: int
    start_s: int
    buy_orders: int
    sell_orders: int
    forecast_buy_wh: int  # sum of buy order quantities
    forecast_sell_wh: int  # sum of sell order quantities
    best_bid: int | None  # highest buy price, CNY/MWh
    best_ask: int | None  # lowest sell price, CNY/MWh
    matchable_wh: int
    import_wh: int  # measured by all meters
    export_wh: int

    @property
    def is_crossing(self) -> bool:
        """Some bid price is at or above some ask price: the interval will trade."""
        return (
            self.best_bid is not None
            and self.best_ask is not None
            and self.best_bid >= self.best_ask
        )


def compute_matchable_wh(orders: Sequence[DayOrder]) -> int:
    """Volume a single-zone, fee-free uniform-price auction of ``orders`` would clear."""
    bids = [(o.price, o.qty_wh) for o in orders if o.side == "buy"]
    asks = [(o.price, o.qty_wh) for o in orders if o.side == "sell"]
    best = 0
    for price in sorted({o.price for o in orders}):
        demand = sum(qty for bid, qty in bids if bid >= price)
        supply = sum(qty for ask, qty in asks if ask <= price)
        best = max(best, min(demand, supply))
    return best


def summarize(day: Day) -> tuple[IntervalSummary, ...]:
    """One row per interval of ``day``."""
    by_interval: list[list[DayOrder]] = [[] for _ in range(day.intervals)]
    for order in day.orders:
        by_interval[order.interval].append(order)
    imports = [0] * day.intervals
    exports = [0] * day.intervals
    for flow in day.flows:
        imports[flow.interval] += flow.import_wh
        exports[flow.interval] += flow.export_wh
    rows: list[IntervalSummary] = []
    for interval, orders in enumerate(by_interval):
        buys = [o for o in orders if o.side == "buy"]
        sells = [o for o in orders if o.side == "sell"]
        rows.append(
            IntervalSummary(
                interval=interval,
                start_s=day.interval_start_s(interval),
                buy_orders=len(buys),
                sell_orders=len(sells),
                forecast_buy_wh=sum(o.qty_wh for o in buys),
                forecast_sell_wh=sum(o.qty_wh for o in sells),
                best_bid=max((o.price for o in buys), default=None),
                best_ask=min((o.price for o in sells), default=None),
                matchable_wh=compute_matchable_wh(orders),
                import_wh=imports[interval],
                export_wh=exports[interval],
            )
        )
    return tuple(rows)


def _kwh(energy_wh: int) -> str:
    return f"{energy_wh // 1000}.{energy_wh % 1000 // 100}"


def format_summary(rows: Sequence[IntervalSummary]) -> str:
    """A fixed-width table (kWh to one decimal), one line per interval and a totals line."""
    lines = [
        "  #  time  buys sells  buy_kWh sell_kWh  bid  ask match_kWh  imp_kWh  exp_kWh",
    ]
    for row in rows:
        second = row.start_s % 86_400
        lines.append(
            f"{row.interval:3d} {second // 3600:02d}:{second % 3600 // 60:02d}"
            f" {row.buy_orders:5d} {row.sell_orders:5d}"
            f" {_kwh(row.forecast_buy_wh):>8} {_kwh(row.forecast_sell_wh):>8}"
            f" {'-' if row.best_bid is None else row.best_bid:>4}"
            f" {'-' if row.best_ask is None else row.best_ask:>4}"
            f" {_kwh(row.matchable_wh):>9} {_kwh(row.import_wh):>8} {_kwh(row.export_wh):>8}"
        )
    orders = sum(r.buy_orders + r.sell_orders for r in rows)
    crossing = sum(1 for r in rows if r.is_crossing)
    lines.append(
        f"total: {orders} orders ({sum(r.buy_orders for r in rows)} buy,"
        f" {sum(r.sell_orders for r in rows)} sell), {crossing} crossing intervals;"
        f" offered buy {_kwh(sum(r.forecast_buy_wh for r in rows))} kWh,"
        f" sell {_kwh(sum(r.forecast_sell_wh for r in rows))} kWh,"
        f" matchable {_kwh(sum(r.matchable_wh for r in rows))} kWh;"
        f" measured import {_kwh(sum(r.import_wh for r in rows))} kWh,"
        f" export {_kwh(sum(r.export_wh for r in rows))} kWh"
    )
    return "\n".join(lines)
