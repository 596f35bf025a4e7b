"""A seeded, deterministic simulator of one day of a local energy market (issue 5).

The generator is pure: it builds participants, their orders (placed from forecasts) and what
their meters measure (``day.generate_day``). ``runner.DayRunner``, the driver that registers,
submits and settles them through a node's API, is the one module here that is not.
"""

from __future__ import annotations

from gridledger.sim.bidding import FEED_IN_TARIFF, MIN_ORDER_WH, RETAIL_TARIFF, DayOrder
from gridledger.sim.day import Day, Flow, encode_day, generate_day
from gridledger.sim.participant import Participant
from gridledger.sim.summary import IntervalSummary, format_summary, summarize

__all__ = [
    "FEED_IN_TARIFF",
    "MIN_ORDER_WH",
    "RETAIL_TARIFF",
    "Day",
    "DayOrder",
    "Flow",
    "IntervalSummary",
    "Participant",
    "encode_day",
    "format_summary",
    "generate_day",
    "summarize",
]
