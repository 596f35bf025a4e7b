"""Who takes part in the simulated market: households with rooftop PV (prosumers) and small
businesses without it (consumers).

A ``Participant`` is what the network sees: the name (also the label keys are derived from),
zone, meter and the meter's limits and start registers. A ``Site`` adds what only the simulator
knows, the traits that shape the participant's day (how big and how early its load is, whether it
charges an electric car, how its PV array is oriented, how it prices its orders).
"""

from __future__ import annotations

from dataclasses import dataclass

from gridledger.sim.stream import derive_rng

PROSUMER, CONSUMER = "prosumer", "consumer"
HOUSEHOLD_MAX_POWER_W = 13_800  # 60 A x 230 V single-phase service (domain report 4-D)
BUSINESS_MAX_POWER_W = 43_470  # 63 A x 3 x 230 V three-phase service
MIN_PV_PEAK_W, MAX_PV_PEAK_W = 3_000, 12_000
EV_SHARE_PCT = 25  # households that charge an electric car at home


@dataclass(frozen=True, slots=True)
class Participant:
    """A market participant and its meter, as registered on the network.

    ``profile`` says whose load curve it follows: ``household`` for every prosumer, ``shop`` or
    ``office`` for consumers.
    """

    name: str
    role: str
    zone: str
    meter: str
    direction: str
    pv_peak_w: int
    max_power_w: int
    register_start: dict[str, int]
    profile: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    """A participant and the private traits the simulator draws for it."""

    participant: Participant
    load_scale_pct: int  # household: % of the typical curve; business: peak load in W / 100
    load_shift_s: int  # earlier (<0) or later (>0) than the typical day
    pv_performance_pct: int  # inverter, wiring and heat losses: share of nameplate at full sun
    pv_noon_shift_s: int  # east (<0) or west (>0) facing roofs peak earlier or later
    cloud_lag: int  # intervals a zone's cloud takes to reach this roof
    ev_start: int  # interval the car starts charging; -1 without a car
    ev_intervals: int
    ev_power_w: int
    ask_markup: int  # CNY/MWh asked above the feed-in tariff
    bid_discount: int  # CNY/MWh bid below the retail tariff


def compute_name(role: str, number: int, count: int) -> str:
    """``prosumer-01``: numbered from 1, at least two digits, all of one role equally wide."""
    return f"{role}-{number:0{max(2, len(str(count)))}d}"


def draw_site(seed: int, role: str, name: str, zone: str) -> Site:
    """Draw one participant's meter, registers and traits from its own stream."""
    rng = derive_rng(seed, "participant", name, "setup")
    if role == PROSUMER:
        pv_peak_w = rng.randint(MIN_PV_PEAK_W // 100, MAX_PV_PEAK_W // 100) * 100
        profile, max_power_w = "household", HOUSEHOLD_MAX_POWER_W
        load_scale_pct = rng.randint(50, 150)
        register_start = {
            "export": rng.randint(1_000_000, 9_000_000),  # 1-9 MWh sold since installation
            "import": rng.randint(2_000_000, 9_000_000),
        }
    else:
        pv_peak_w = 0
        profile, max_power_w = rng.choice(("office", "shop")), BUSINESS_MAX_POWER_W
        load_scale_pct = rng.randint(30, 150)  # peak load 3-15 kW
        register_start = {"import": rng.randint(5_000_000, 30_000_000)}
    participant = Participant(
        name=name,
        role=role,
        zone=zone,
        meter=f"mtr-{name}",
        direction="both" if role == PROSUMER else "import",
        pv_peak_w=pv_peak_w,
        max_power_w=max_power_w,
        register_start=register_start,
        profile=profile,
    )
    has_ev = profile == "household" and rng.randint(1, 100) <= EV_SHARE_PCT
    # Half the car owners with PV charge at midday on their own surplus, the others after work.
    solar_charging = rng.randint(0, 1) == 1
    return Site(
        participant=participant,
        load_scale_pct=load_scale_pct,
        load_shift_s=rng.randint(-4, 4) * 900,
        pv_performance_pct=rng.randint(76, 86),
        pv_noon_shift_s=rng.randint(-3, 3) * 600,
        cloud_lag=rng.randint(0, 1),
        ev_start=(rng.randint(42, 50) if solar_charging else rng.randint(72, 88)) if has_ev else -1,
        ev_intervals=rng.randint(4, 10),
        ev_power_w=rng.choice((3_680, 3_680, 7_360)),  # 16 A or 32 A single-phase wallbox
        ask_markup=rng.randint(15, 90),
        bid_discount=rng.randint(25, 140),
    )
