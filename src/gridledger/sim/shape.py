"""Integer shapes of a summer day: the clear-sky PV bell and typical load curves.

The generator must give the same day in every process, so nothing here uses floats (not even
``math.sin``): the PV bell is an integer polynomial of the second of the day and load curves are
hourly tables interpolated linearly with floor division. Fractions are parts per million (ppm) or
per cent, named as such.

Time of day is the second since ``day_start_s``; the day starts at UTC midnight and is treated as
local time (a simplification: a real site would shift the curves by its UTC offset).
"""

from __future__ import annotations

from collections.abc import Sequence

PPM = 1_000_000
DAY_S = 86_400
INTERVAL_S = 900
INTERVALS_PER_DAY = DAY_S // INTERVAL_S

# A northern-hemisphere summer day at mid latitude: PV produces from about 05:30 to 19:30.
SUNRISE_S = 5 * 3600 + 30 * 60
SUNSET_S = 19 * 3600 + 30 * 60

# Average power (W) of a typical household at each full hour, summer: a night base of fridge and
# standby, a morning peak, cooking at noon, air conditioning in the afternoon and the evening peak.
HOUSEHOLD_W = (
    380, 330, 300, 290, 290, 320, 520, 900, 820, 600, 520, 620,
    700, 650, 600, 580, 620, 900, 1400, 1700, 1750, 1500, 1000, 600,
)  # fmt: skip

# Share (%) of a business's peak load at each full hour: refrigeration all night, open 09-21.
SHOP_PCT = (
    15, 15, 14, 14, 14, 15, 18, 30, 55, 90, 96, 98,
    100, 100, 100, 98, 96, 94, 92, 88, 80, 55, 25, 18,
)  # fmt: skip

# Share (%) of a small office's peak load: standby at night, 08-18 with a lunch dip.
OFFICE_PCT = (
    10, 10, 10, 10, 10, 10, 12, 30, 80, 100, 100, 95,
    75, 95, 100, 100, 95, 75, 45, 25, 15, 12, 10, 10,
)  # fmt: skip

BUSINESS_CURVES = {"shop": SHOP_PCT, "office": OFFICE_PCT}


def compute_midpoint_s(interval: int) -> int:
    """Second of the day at the middle of ``interval``: the point each interval is sampled at."""
    return INTERVAL_S * interval + INTERVAL_S // 2


def compute_clear_sky_ppm(second: int) -> int:
    """PV output under a clear sky as ppm of the array's peak, at ``second`` of the day.

    With ``x`` the share of daylight gone, ``p = 4x(1-x)`` is a parabola from 0 at sunrise to 1
    at solar noon. Clear-sky output rises more slowly than that at dawn (low sun, long air path),
    so the bell is the mean of ``p`` and ``p²``: within a few per cent of ``sin(pi x)^1.5``.
    """
    if not SUNRISE_S < second < SUNSET_S:
        return 0
    length = SUNSET_S - SUNRISE_S
    since = second - SUNRISE_S
    parabola = 4 * PPM * since * (length - since) // (length * length)
    return (parabola + parabola * parabola // PPM) // 2


def compute_hourly_curve(table: Sequence[int], second: int) -> int:
    """Value of a 24-entry hourly table at ``second`` of the day, linear between full hours
    (wrapping from 23:00 to the next midnight)."""
    second %= DAY_S
    hour, into = divmod(second, 3600)
    after = table[(hour + 1) % 24]
    return (table[hour] * (3600 - into) + after * into) // 3600
