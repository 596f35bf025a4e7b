"""What a site actually produces and consumes in each interval of the day, in Wh.

PV: the clear-sky bell (``shape``) scaled by the array's peak and performance ratio, dimmed by
the zone's clouds (``weather``) as they reach this roof, with a small site-level flicker. Load: the
household or business curve scaled and shifted per site, a mean-reverting noise, and discrete
events (washing machine, oven, kettle; an electric car on its wallbox). Every value stays within
the meter's limit: ``energy_wh * 4 <= max_power_w`` for a 900 s interval.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from gridledger.sim.participant import Site
from gridledger.sim.shape import (
    BUSINESS_CURVES,
    HOUSEHOLD_W,
    INTERVALS_PER_DAY,
    PPM,
    compute_clear_sky_ppm,
    compute_hourly_curve,
    compute_midpoint_s,
)
from gridledger.sim.stream import compute_random_walk, derive_rng

INTERVALS_PER_HOUR = 4  # energy_wh = average power_w / 4 over 900 s
MIN_LOAD_W = 60  # a meter never sees less than standby
APPLIANCE_FIRST, APPLIANCE_LAST = 26, 91  # 06:30 to 22:45: when people are awake


def compute_pv_wh(seed: int, site: Site, transmittance_ppm: Sequence[int]) -> list[int]:
    """PV energy per interval: zero at night, a bell with cloud dips by day."""
    participant = site.participant
    if participant.pv_peak_w == 0:
        return [0] * INTERVALS_PER_DAY
    rng = derive_rng(seed, "participant", participant.name, "pv")
    flicker = compute_random_walk(rng, INTERVALS_PER_DAY, step=1, bound=3, keep_pct=80)
    cap_wh = participant.pv_peak_w // INTERVALS_PER_HOUR
    result: list[int] = []
    for interval in range(INTERVALS_PER_DAY):
        clear = compute_clear_sky_ppm(compute_midpoint_s(interval) - site.pv_noon_shift_s)
        sun = transmittance_ppm[max(0, interval - site.cloud_lag)]
        energy_wh = (
            participant.pv_peak_w
            * clear
            * site.pv_performance_pct
            * sun
            * (100 + flicker[interval])
            // (PPM * 100 * PPM * 100 * INTERVALS_PER_HOUR)
        )
        result.append(min(cap_wh, energy_wh))
    return result


def compute_load_wh(seed: int, site: Site) -> list[int]:
    """Load energy per interval, from the site's curve, noise and appliance events."""
    participant = site.participant
    rng = derive_rng(seed, "participant", participant.name, "load")
    household = participant.profile == "household"
    noise_bps = compute_random_walk(
        rng, INTERVALS_PER_DAY, step=400 if household else 200, bound=1500, keep_pct=70
    )
    extra_w = _draw_appliances(rng) if household else [0] * INTERVALS_PER_DAY
    _add_ev_charging(site, extra_w)
    result: list[int] = []
    for interval in range(INTERVALS_PER_DAY):
        second = compute_midpoint_s(interval) + site.load_shift_s
        if household:
            base_w = compute_hourly_curve(HOUSEHOLD_W, second) * site.load_scale_pct // 100
        else:
            curve = BUSINESS_CURVES[participant.profile]
            # % of a peak of load_scale_pct x 100 W
            base_w = compute_hourly_curve(curve, second) * site.load_scale_pct
        power_w = base_w * (10_000 + noise_bps[interval]) // 10_000 + extra_w[interval]
        power_w = max(MIN_LOAD_W, min(participant.max_power_w, power_w))
        result.append(power_w // INTERVALS_PER_HOUR)
    return result


def _draw_appliances(rng: random.Random) -> list[int]:
    """A household's big appliances: 2 to 6 runs of 15-45 minutes at 0.8-2.5 kW on average."""
    extra_w = [0] * INTERVALS_PER_DAY
    for _ in range(rng.randint(2, 6)):
        start = rng.randint(APPLIANCE_FIRST, APPLIANCE_LAST)
        power_w = rng.randint(8, 25) * 100
        for interval in range(start, min(INTERVALS_PER_DAY, start + rng.randint(1, 3))):
            extra_w[interval] += power_w
    return extra_w


def _add_ev_charging(site: Site, extra_w: list[int]) -> None:
    """The car charges at a constant power for its session (cut at the end of the day)."""
    if site.ev_start < 0:
        return
    for interval in range(site.ev_start, min(INTERVALS_PER_DAY, site.ev_start + site.ev_intervals)):
        extra_w[interval] += site.ev_power_w
