"""Clouds over a market zone: the share of clear-sky sunlight that reaches the panels.

A zone is a neighbourhood: its prosumers see the same weather. Two things dim the sun:

- passing clouds: a handful of seeded cloud banks, each dimming the zone for 15 minutes to two
  hours with a ramp in and out (the edge of a cloud dims less than its core);
- haze: a slow random walk of a few per cent.

The result is correlated in time (a cloud shades several consecutive intervals), not white noise.
Prosumers additionally see a cloud up to one interval later than the zone (position in the zone).
"""

from __future__ import annotations

from gridledger.sim.shape import INTERVAL_S, INTERVALS_PER_DAY, PPM, SUNRISE_S, SUNSET_S
from gridledger.sim.stream import compute_random_walk, derive_rng

MIN_CLOUDS, MAX_CLOUDS = 2, 7
MIN_DEPTH_PCT, MAX_DEPTH_PCT = 15, 75  # share of sunlight a cloud's core blocks
MAX_HALF_WIDTH = 4  # intervals on either side of a cloud's core: up to 2 h 15 min in all
MAX_HAZE_PCT = 12


def compute_transmittance_ppm(seed: int, zone: str) -> tuple[int, ...]:
    """For each interval of the day, the ppm of clear-sky sunlight reaching the zone's panels."""
    rng = derive_rng(seed, "zone", zone, "weather")
    first_lit = SUNRISE_S // INTERVAL_S
    last_lit = SUNSET_S // INTERVAL_S
    clouds = [
        (
            rng.randint(first_lit, last_lit),  # interval of the cloud's core
            rng.randint(0, MAX_HALF_WIDTH),
            rng.randint(MIN_DEPTH_PCT, MAX_DEPTH_PCT),
        )
        for _ in range(rng.randint(MIN_CLOUDS, MAX_CLOUDS))
    ]
    haze = compute_random_walk(rng, INTERVALS_PER_DAY, step=2, bound=MAX_HAZE_PCT, keep_pct=90)
    result: list[int] = []
    for interval in range(INTERVALS_PER_DAY):
        ppm = PPM * (100 - abs(haze[interval])) // 100
        for core, half_width, depth_pct in clouds:
            distance = abs(interval - core)
            if distance <= half_width:
                dimming = depth_pct * (half_width + 1 - distance) // (half_width + 1)
                ppm = ppm * (100 - dimming) // 100
        result.append(ppm)
    return tuple(result)
