"""Forecasts and the orders a participant places from them.

Orders are placed before delivery, so they come from a forecast, not from what the meter will
measure: each of PV and load is forecast as the actual value times a seeded error of about
±10-15 % that drifts slowly through the day (a forecast that misses a cloud misses it for a
while). Delivery therefore deviates from the contracts, as it does in reality.

From its forecast net position a prosumer sells a surplus or buys a deficit; a consumer buys
its load. Nobody trades below ``MIN_ORDER_WH``. Prices sit between the two prices everyone can
always get from the grid: sellers ask a seeded markup above the feed-in tariff (what the grid
would pay them), buyers bid a seeded discount below the retail tariff (what the grid would charge
them), each with a small per-interval spread. So whenever both sides are present the book
crosses, and at night, with no PV, there are only buyers and no trade.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from gridledger.sim.participant import Site
from gridledger.sim.stream import compute_random_walk, derive_rng

FEED_IN_TARIFF = 350  # CNY/MWh the grid pays for exported PV (about the coal benchmark price)
RETAIL_TARIFF = 600  # CNY/MWh a household pays the grid for imported energy
MIN_ORDER_WH = 50
FORECAST_ERROR_BPS = 1500  # forecasts are off by at most ±15 %
PRICE_SPREAD = 12  # CNY/MWh of per-interval jitter around a participant's usual price
BUY, SELL = "buy", "sell"


@dataclass(frozen=True, slots=True)
class DayOrder:
    """A limit order for one interval: ``qty_wh`` at ``price`` CNY/MWh or better."""

    participant: str
    interval: int  # 0..95
    side: str  # "buy" | "sell"
    qty_wh: int
    price: int  # CNY/MWh


def compute_forecast(rng: random.Random, actual_wh: Sequence[int]) -> list[int]:
    """``actual * (1 + error)`` with a slowly drifting error within ±``FORECAST_ERROR_BPS``."""
    error_bps = compute_random_walk(
        rng, len(actual_wh), step=700, bound=FORECAST_ERROR_BPS, keep_pct=85
    )
    return [
        energy_wh * (10_000 + error) // 10_000
        for energy_wh, error in zip(actual_wh, error_bps, strict=True)
    ]


def place_orders(
    seed: int, site: Site, pv_wh: Sequence[int], load_wh: Sequence[int]
) -> list[DayOrder]:
    """The site's orders for the day, one per interval at most, from forecasts of its PV and
    load."""
    name = site.participant.name
    rng = derive_rng(seed, "participant", name, "forecast")
    net_wh = [
        pv - load
        for pv, load in zip(
            compute_forecast(rng, pv_wh), compute_forecast(rng, load_wh), strict=True
        )
    ]
    prices = derive_rng(seed, "participant", name, "price")
    max_qty_wh = site.participant.max_power_w // 4  # what the meter can carry in 900 s
    orders: list[DayOrder] = []
    for interval, net in enumerate(net_wh):
        jitter = prices.randint(-PRICE_SPREAD, PRICE_SPREAD)  # drawn every interval: stable
        if abs(net) < MIN_ORDER_WH:
            continue
        if net > 0:
            side, price = SELL, FEED_IN_TARIFF + site.ask_markup + jitter
        else:
            side, price = BUY, RETAIL_TARIFF - site.bid_discount + jitter
        price = max(FEED_IN_TARIFF, min(RETAIL_TARIFF, price))
        orders.append(DayOrder(name, interval, side, min(abs(net), max_qty_wh), price))
    return orders
