"""The day generator: deterministic, physically plausible, and shaped like a local market."""

from __future__ import annotations

import ast
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gridledger.contracts.clearing import Order, compute_clearing
from gridledger.sim import (
    FEED_IN_TARIFF,
    RETAIL_TARIFF,
    Day,
    format_summary,
    generate_day,
)
from gridledger.sim.weather import compute_transmittance_ppm

DAY_START = 1_782_864_000  # 2026-07-01 00:00 UTC
SIM_SOURCE = Path(__file__).parents[2] / "src" / "gridledger" / "sim"
# Pinned so that any change to the generated day is a deliberate one (update it then).
DIGEST_2026 = "36efbeecc77890effa1e5e99116393d68a17218c9bdf96cbcd0e08c0638331ce"


@pytest.fixture(scope="module")
def day() -> Day:
    return generate_day(2026, day_start_s=DAY_START)


def _interval(hour: int, minute: int = 0) -> int:
    return (hour * 3600 + minute * 60) // 900


def _books(day: Day) -> dict[int, tuple[list[int], list[int]]]:
    """interval -> (bid prices, ask prices)."""
    books: dict[int, tuple[list[int], list[int]]] = {k: ([], []) for k in range(day.intervals)}
    for order in day.orders:
        books[order.interval][0 if order.side == "buy" else 1].append(order.price)
    return books


# -- determinism -----------------------------------------------------------------------------


def test_same_arguments_give_the_same_day(day: Day) -> None:
    again = generate_day(2026, day_start_s=DAY_START)
    assert again == day
    assert again.digest() == day.digest()
    assert len(day.digest()) == 64


def test_digest_is_pinned(day: Day) -> None:
    assert day.digest() == DIGEST_2026, "the generated day changed; update DIGEST_2026 on purpose"


def test_digest_does_not_depend_on_the_process_or_hash_seed(day: Day) -> None:
    code = (
        "from gridledger.sim import generate_day;"
        f"print(generate_day(2026, day_start_s={DAY_START}).digest())"
    )
    digests = []
    for hash_seed in ("0", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        digests.append(result.stdout.strip())
    assert digests == [day.digest(), day.digest()]


def test_another_seed_gives_another_day(day: Day) -> None:
    other = generate_day(2027, day_start_s=DAY_START)
    assert other.digest() != day.digest()
    assert other.flows != day.flows  # the data differ, not only the seed field
    assert other.orders != day.orders


def test_another_day_start_moves_times_only(day: Day) -> None:
    later = generate_day(2026, day_start_s=DAY_START + 86_400)
    assert later.digest() != day.digest()
    assert later.flows == day.flows
    assert later.interval_start_s(95) == DAY_START + 86_400 + 95 * 900


def test_shorter_day_is_the_start_of_the_full_day(day: Day) -> None:
    short = generate_day(2026, day_start_s=DAY_START, intervals=40)
    assert short.intervals == 40
    assert short.flows == tuple(f for f in day.flows if f.interval < 40)
    assert short.orders == tuple(o for o in day.orders if o.interval < 40)
    assert len(short.registers("prosumer-01", "export")) == 41


def test_adding_participants_leaves_the_others_unchanged(day: Day) -> None:
    bigger = generate_day(2026, day_start_s=DAY_START, prosumers=40)
    assert bigger.participant("prosumer-05") == day.participant("prosumer-05")
    assert [f for f in bigger.flows if f.participant == "prosumer-05"] == [
        f for f in day.flows if f.participant == "prosumer-05"
    ]


def test_generator_uses_integer_arithmetic_and_seeded_streams_only() -> None:
    # runner.py is the driver that talks to a node (wall clock, real seconds), not the generator
    for path in sorted(p for p in SIM_SOURCE.glob("*.py") if p.name != "runner.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.name}:{getattr(node, 'lineno', '?')}"
            assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), where
            assert not isinstance(node, ast.Div), f"true division at {where}"
            if isinstance(node, ast.Name):
                assert node.id not in {"float", "hash"}, where
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert "math" not in names, where
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "random"
            ):
                assert node.attr == "Random", f"global random.{node.attr} at {where}"


# -- participants and meters -----------------------------------------------------------------


def test_participants_are_named_zoned_and_metered(day: Day) -> None:
    names = [p.name for p in day.participants]
    assert names == sorted(names)
    assert len(names) == 44 == len(set(names))
    prosumers = [p for p in day.participants if p.role == "prosumer"]
    consumers = [p for p in day.participants if p.role == "consumer"]
    assert (len(prosumers), len(consumers)) == (36, 8)
    assert prosumers[0].name == "prosumer-01" and consumers[-1].name == "consumer-08"
    assert {p.zone for p in day.participants} == {"north", "south"}
    assert day.participant("prosumer-01").zone == "north"
    assert day.participant("prosumer-02").zone == "south"
    for p in prosumers:
        assert p.direction == "both" and p.profile == "household"
        assert 3_000 <= p.pv_peak_w <= 12_000
        assert sorted(p.register_start) == ["export", "import"]
    for p in consumers:
        assert p.direction == "import" and p.pv_peak_w == 0 and p.profile in {"shop", "office"}
        assert sorted(p.register_start) == ["import"]
    for p in day.participants:
        assert p.meter == f"mtr-{p.name}"
        for value in p.register_start.values():
            assert 1_000_000 <= value < 2**32


def test_flows_cover_every_participant_and_interval_in_order(day: Day) -> None:
    assert len(day.flows) == 44 * 96
    keys = [(f.interval, f.participant) for f in day.flows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    for flow in day.flows:
        assert flow.import_wh >= 0 and flow.export_wh >= 0
        assert flow.import_wh == 0 or flow.export_wh == 0  # the net of PV and load per interval


def test_registers_never_decrease_and_add_up_the_flows(day: Day) -> None:
    for participant in day.participants:
        for channel in participant.register_start:
            registers = day.registers(participant.name, channel)
            assert len(registers) == 97
            assert registers[0] == participant.register_start[channel]
            deltas = [
                f.import_wh if channel == "import" else f.export_wh
                for f in day.flows
                if f.participant == participant.name
            ]
            assert [b - a for a, b in itertools.pairwise(registers)] == deltas
            assert all(d >= 0 for d in deltas)
            assert registers[-1] < 2**32


def test_no_interval_exceeds_the_meter_limit(day: Day) -> None:
    limits = {p.name: p.max_power_w for p in day.participants}
    for flow in day.flows:
        for energy_wh in (flow.import_wh, flow.export_wh):
            assert energy_wh * 3600 <= limits[flow.participant] * 900
    for order in day.orders:
        assert order.qty_wh * 3600 <= limits[order.participant] * 900


def test_registers_reject_unknown_participant_or_channel(day: Day) -> None:
    with pytest.raises(ValueError, match="no participant named"):
        day.registers("prosumer-99", "import")
    with pytest.raises(ValueError, match="no 'export' channel"):
        day.registers("consumer-01", "export")


# -- physics ---------------------------------------------------------------------------------


def test_pv_is_zero_at_night_and_peaks_around_midday(day: Day) -> None:
    def export_wh(first: int, last: int) -> int:
        return sum(f.export_wh for f in day.flows if first <= f.interval < last)

    assert export_wh(_interval(0), _interval(4)) == 0
    assert export_wh(_interval(20), _interval(24)) == 0
    assert export_wh(_interval(10), _interval(14)) > 500_000  # > 500 kWh from 36 roofs
    totals = [0] * 96
    for flow in day.flows:
        totals[flow.interval] += flow.export_wh
    assert _interval(10) <= totals.index(max(totals)) < _interval(15)


def test_consumers_never_export(day: Day) -> None:
    consumers = {p.name for p in day.participants if p.role == "consumer"}
    assert all(f.export_wh == 0 for f in day.flows if f.participant in consumers)
    assert all(f.import_wh > 0 for f in day.flows if f.participant in consumers)


def test_household_load_has_morning_and_evening_peaks(day: Day) -> None:
    households = {p.name for p in day.participants if p.role == "prosumer"}
    imports = [0] * 96
    for flow in day.flows:
        if flow.participant in households:
            imports[flow.interval] += flow.import_wh
    night = sum(imports[_interval(2) : _interval(4)])
    evening = sum(imports[_interval(19) : _interval(21)])
    assert evening > 3 * night  # (at night import is the whole load; in the evening too)


@pytest.mark.parametrize("seed", [2026, 1, 7])
def test_clouds_pass_rather_than_flicker(seed: int) -> None:
    # For white noise, squared steps average twice the variance; for passing clouds, much less.
    for zone in ("north", "south"):
        sun = compute_transmittance_ppm(seed, zone)[_interval(5, 30) : _interval(19, 30)]
        mean = sum(sun) // len(sun)
        steps = sum((b - a) ** 2 for a, b in itertools.pairwise(sun))
        spread = sum((x - mean) ** 2 for x in sun)
        assert spread > 0 and steps * 100 < spread * 150, (zone, steps, spread)
        assert min(sun) < 900_000  # at least one real cloud


# -- orders ----------------------------------------------------------------------------------


def test_orders_are_sorted_bounded_and_one_per_participant_interval(day: Day) -> None:
    keys = [(o.interval, o.participant, o.side) for o in day.orders]
    assert keys == sorted(keys)
    assert len({(o.interval, o.participant) for o in day.orders}) == len(day.orders)
    assert (FEED_IN_TARIFF, RETAIL_TARIFF) == (350, 600)
    for order in day.orders:
        assert order.side in {"buy", "sell"}
        assert 50 <= order.qty_wh <= 10**9
        assert FEED_IN_TARIFF <= order.price <= RETAIL_TARIFF


def test_consumers_never_sell(day: Day) -> None:
    consumers = {p.name for p in day.participants if p.role == "consumer"}
    assert {o.side for o in day.orders if o.participant in consumers} == {"buy"}


def test_night_intervals_have_buyers_and_no_sellers(day: Day) -> None:
    books = _books(day)
    for interval in [*range(_interval(0), _interval(5)), *range(_interval(20), 96)]:
        bids, asks = books[interval]
        assert asks == [], interval
        assert len(bids) > 30, interval


def test_midday_books_cross(day: Day) -> None:
    books = _books(day)
    for interval in range(_interval(10), _interval(14)):
        bids, asks = books[interval]
        assert len(bids) >= 8 and len(asks) >= 20, interval
        assert max(bids) >= min(asks), interval


def test_orders_follow_forecasts_not_meters(day: Day) -> None:
    measured = {(f.participant, f.interval): f for f in day.flows}
    ratios = []
    for order in day.orders:
        flow = measured[(order.participant, order.interval)]
        actual_wh = flow.export_wh if order.side == "sell" else flow.import_wh
        if actual_wh >= 1000:
            ratios.append(order.qty_wh * 1000 // actual_wh)
    assert len(ratios) > 500
    exact = sum(1 for r in ratios if r == 1000)
    assert exact < len(ratios) // 20  # contracts rarely match delivery
    mean_deviation = sum(abs(r - 1000) for r in ratios) // len(ratios)
    assert 30 <= mean_deviation <= 150  # a few to 15 per cent, in permille
    assert min(ratios) >= 500 and max(ratios) <= 1600


# -- summary ---------------------------------------------------------------------------------


def test_summary_adds_up_orders_and_flows(day: Day) -> None:
    rows = day.summary()
    assert [r.interval for r in rows] == list(range(96))
    assert sum(r.buy_orders + r.sell_orders for r in rows) == len(day.orders)
    sells = sum(o.qty_wh for o in day.orders if o.side == "sell")
    assert sum(r.forecast_sell_wh for r in rows) == sells
    assert sum(r.import_wh for r in rows) == sum(f.import_wh for f in day.flows)
    assert sum(r.export_wh for r in rows) == sum(f.export_wh for f in day.flows)
    crossing = [r.interval for r in rows if r.is_crossing]
    assert set(range(_interval(10), _interval(14))) <= set(crossing)
    assert not set(crossing) & set(range(_interval(5))) and not rows[95].is_crossing
    text = format_summary(rows)
    assert len(text.splitlines()) == 98 and text.splitlines()[-1].startswith("total: ")


def test_summary_volume_is_what_the_market_contract_clears(day: Day) -> None:
    rows = day.summary()
    for interval in (_interval(6, 30), _interval(12), _interval(17), _interval(22)):
        book = [o for o in day.orders if o.interval == interval]
        bids = [
            Order(f"{o.participant}", o.qty_wh, o.price, n)
            for n, o in enumerate(book)
            if o.side == "buy"
        ]
        asks = [
            Order(f"{o.participant}", o.qty_wh, o.price, n)
            for n, o in enumerate(book)
            if o.side == "sell"
        ]
        assert compute_clearing(bids, asks).quantity_wh == rows[interval].matchable_wh
    assert rows[_interval(12)].matchable_wh > 0 and rows[_interval(22)].matchable_wh == 0


# -- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"day_start_s": DAY_START + 900}, "day_start_s must be a UTC midnight"),
        ({"day_start_s": -86_400}, "day_start_s must be in"),
        ({"day_start_s": "0"}, "day_start_s must be an integer"),
        ({"prosumers": 0}, "prosumers must be in 1"),
        ({"prosumers": True}, "prosumers must be an integer"),
        ({"consumers": -1}, "consumers must be in 0"),
        ({"intervals": 0}, "intervals must be in 1..96"),
        ({"intervals": 97}, "intervals must be in 1..96"),
        ({"zones": ()}, "zones must be a non-empty tuple"),
        ({"zones": ["north"]}, "zones must be a non-empty tuple"),
        ({"zones": ("North",)}, "zone 'North' must be"),
        ({"zones": ("east side",)}, "zone 'east side' must be"),
        ({"zones": ("z" * 33,)}, "must be 1 to 32"),
        ({"zones": ("north", "north")}, "zones must not repeat"),
        ({"seed": -1}, "seed must be in 0"),
        ({"seed": 2**63}, "seed must be in 0"),
    ],
)
def test_bad_arguments_raise_value_error(arguments: dict[str, object], message: str) -> None:
    full: dict[str, object] = {"seed": 2026, "day_start_s": DAY_START, **arguments}
    with pytest.raises(ValueError, match=message):
        generate_day(**full)  # type: ignore[arg-type]


def test_small_and_single_zone_days_work() -> None:
    small = generate_day(5, day_start_s=0, prosumers=1, consumers=0, zones=("z1",), intervals=1)
    assert len(small.participants) == 1 and len(small.flows) == 1
    assert (
        small.registers("prosumer-01", "import")[1] >= small.registers("prosumer-01", "import")[0]
    )
