"""One simulated day of a local energy market: participants, their orders and their meters.

``generate_day`` is a pure function of its arguments: it submits nothing and reads no clock,
file or environment. It uses integer arithmetic only and seeded ``random.Random`` streams, so the
same arguments give the same ``Day`` (and ``digest``) in any process under any
``PYTHONHASHSEED``. A shorter day (``intervals < 96``) is the first intervals of the full one.

Units as in the domain report (section 0): energy in Wh per 900 s interval, prices in CNY/MWh.
Interval ``k`` covers ``[day_start_s + 900k, day_start_s + 900(k+1))``; ``day_start_s`` is a UTC
midnight that the generator treats as local midnight.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from gridledger import codec
from gridledger.sim.bidding import DayOrder, place_orders
from gridledger.sim.participant import CONSUMER, PROSUMER, Participant, compute_name, draw_site
from gridledger.sim.power import compute_load_wh, compute_pv_wh
from gridledger.sim.shape import DAY_S, INTERVAL_S, INTERVALS_PER_DAY
from gridledger.sim.summary import IntervalSummary, summarize
from gridledger.sim.weather import compute_transmittance_ppm

ZONE = re.compile(r"[a-z0-9_-]{1,32}")  # the market contract's zone names
MAX_PARTICIPANTS_PER_ROLE = 999
MAX_DAY_START_S = 10**11  # the market contract's bound on interval starts
MAX_SEED = 2**63 - 1  # the seed is part of the canonical (signed 64-bit) encoding


@dataclass(frozen=True, slots=True)
class Flow:
    """What a participant's meter measured in one interval (Wh)."""

    participant: str
    interval: int
    import_wh: int
    export_wh: int


@dataclass(frozen=True, slots=True)
class Day:
    """A generated day. ``orders`` are sorted by (interval, participant, side); ``flows`` hold
    one entry per participant per interval, sorted by (interval, participant)."""

    seed: int
    day_start_s: int
    participants: tuple[Participant, ...]
    orders: tuple[DayOrder, ...]
    flows: tuple[Flow, ...]

    @property
    def intervals(self) -> int:
        return len(self.flows) // len(self.participants)

    def interval_start_s(self, interval: int) -> int:
        return self.day_start_s + INTERVAL_S * interval

    def participant(self, name: str) -> Participant:
        for participant in self.participants:
            if participant.name == name:
                return participant
        raise ValueError(f"no participant named {name!r} in this day")

    def registers(self, participant: str, channel: str) -> list[int]:
        """``intervals + 1`` cumulative register values (Wh) of the participant's meter: at day
        start and at the end of each interval (97 for a full day)."""
        start = self.participant(participant).register_start
        if channel not in start:
            raise ValueError(f"meter of {participant} has no {channel!r} channel")
        values = [start[channel]]
        for flow in self.flows:
            if flow.participant == participant:
                delta = flow.import_wh if channel == "import" else flow.export_wh
                values.append(values[-1] + delta)
        return values

    def summary(self) -> tuple[IntervalSummary, ...]:
        """Per-interval totals of the orders and flows (see ``summary.summarize``)."""
        return summarize(self)

    def digest(self) -> str:
        """SHA-256 (hex) of the day's canonical JSON encoding: equal digests, equal days."""
        return hashlib.sha256(codec.encode(encode_day(self))).hexdigest()


def encode_day(day: Day) -> dict[str, Any]:
    """The day as a canonical-JSON-ready value (what ``Day.digest`` hashes)."""
    return {
        "seed": day.seed,
        "day_start_s": day.day_start_s,
        "participants": [
            {
                "name": p.name,
                "role": p.role,
                "zone": p.zone,
                "meter": p.meter,
                "direction": p.direction,
                "pv_peak_w": p.pv_peak_w,
                "max_power_w": p.max_power_w,
                "register_start": dict(p.register_start),
                "profile": p.profile,
            }
            for p in day.participants
        ],
        "orders": [[o.participant, o.interval, o.side, o.qty_wh, o.price] for o in day.orders],
        "flows": [[f.participant, f.interval, f.import_wh, f.export_wh] for f in day.flows],
    }


def generate_day(
    seed: int = 2026,
    *,
    day_start_s: int,
    prosumers: int = 36,
    consumers: int = 8,
    zones: tuple[str, ...] = ("north", "south"),
    intervals: int = 96,
) -> Day:
    """Generate the day; raises ValueError naming the argument when one is out of range.

    Participants are spread over ``zones`` round-robin in their numbering order.
    """
    verify_arguments(seed, day_start_s, prosumers, consumers, zones, intervals)
    sun = {zone: compute_transmittance_ppm(seed, zone) for zone in zones}
    roles = [(PROSUMER, prosumers), (CONSUMER, consumers)]
    sites = [
        draw_site(seed, role, compute_name(role, number, count), zones[(number - 1) % len(zones)])
        for role, count in roles
        for number in range(1, count + 1)
    ]
    flows: list[Flow] = []
    orders: list[DayOrder] = []
    for site in sites:
        name = site.participant.name
        pv_wh = compute_pv_wh(seed, site, sun[site.participant.zone])
        load_wh = compute_load_wh(seed, site)
        for interval in range(intervals):
            net = pv_wh[interval] - load_wh[interval]
            flows.append(Flow(name, interval, max(0, -net), max(0, net)))
        orders.extend(o for o in place_orders(seed, site, pv_wh, load_wh) if o.interval < intervals)
    return Day(
        seed=seed,
        day_start_s=day_start_s,
        participants=tuple(sorted((s.participant for s in sites), key=lambda p: p.name)),
        orders=tuple(sorted(orders, key=lambda o: (o.interval, o.participant, o.side))),
        flows=tuple(sorted(flows, key=lambda f: (f.interval, f.participant))),
    )


def verify_arguments(
    seed: object,
    day_start_s: object,
    prosumers: object,
    consumers: object,
    zones: object,
    intervals: object,
) -> None:
    """Raise ValueError naming the first argument that is out of range."""
    _verify_int("seed", seed, 0, MAX_SEED)
    if _verify_int("day_start_s", day_start_s, 0, MAX_DAY_START_S) % DAY_S != 0:
        raise ValueError(
            f"day_start_s must be a UTC midnight (a multiple of {DAY_S}), got {day_start_s}"
        )
    _verify_int("prosumers", prosumers, 1, MAX_PARTICIPANTS_PER_ROLE)
    _verify_int("consumers", consumers, 0, MAX_PARTICIPANTS_PER_ROLE)
    _verify_int("intervals", intervals, 1, INTERVALS_PER_DAY)
    if not isinstance(zones, tuple) or not zones:
        raise ValueError(f"zones must be a non-empty tuple of zone names, got {zones!r}")
    for zone in zones:
        if not isinstance(zone, str) or not ZONE.fullmatch(zone):
            raise ValueError(f"zone {zone!r} must be 1 to 32 of a-z 0-9 _ -")
    if len(set(zones)) != len(zones):
        raise ValueError(f"zones must not repeat, got {zones!r}")


def _verify_int(name: str, value: object, minimum: int, maximum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be in {minimum}..{maximum}, got {value}")
    return value
