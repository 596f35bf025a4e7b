"""The metering worked examples of the domain report (section 4.5, 4-A to 4-F), run through the
real state transition: pre-state → readings → derived intervals."""

from __future__ import annotations

import pytest

from gridledger.contracts import metering
from gridledger.contracts.metering.reading import (
    compute_interval_energies,
    compute_register_delta,
    compute_register_mwh,
)
from gridledger.errors import InvalidTransaction
from tests.contracts.metering_support import (
    METER_2_KEY,
    assert_ok,
    assert_rejected,
    hhmm,
    meter_args,
    metered_chain,
    reading,
    submit_readings,
)

# A reading is the register at the END of the interval [interval_start, interval_start + 900):
# the report's register read at 00:15 is the reading of the interval starting 00:00.

VECTOR_4A = [  # (interval start, register Wh at its end); 00:30-00:45 is missing
    ("-00:15", 12_345_000),
    ("00:00", 12_345_820),
    ("00:15", 12_346_710),
    ("00:45", 12_348_250),
    ("01:00", 12_349_000),
]


def energies(chain: object, starts: list[str]) -> list[tuple[int | None, str]]:
    state = chain.state  # type: ignore[attr-defined]
    out = []
    for start in starts:
        record = metering.get_interval(state, "m1", hhmm(start))
        out.append((None, "") if record is None else (record["energy_wh"], record["source"]))
    return out


def test_4a_missing_read_is_interpolated_point_to_point() -> None:
    chain = metered_chain()
    result = submit_readings(chain, [reading("m1", hhmm(t), wh) for t, wh in VECTOR_4A])
    assert_ok(result)

    assert energies(chain, ["00:00", "00:15", "00:30", "00:45", "01:00"]) == [
        (820, "actual"),
        (890, "actual"),
        (770, "estimated"),
        (770, "estimated"),
        (750, "actual"),
    ]
    total = sum(
        metering.get_interval_energy(chain.state, "m1", hhmm(t)) or 0
        for t in ["00:00", "00:15", "00:30", "00:45", "01:00"]
    )
    assert total == 4_000 == 12_349_000 - 12_345_000
    gap = metering.get_gap(chain.state, "m1", hhmm("00:30"))
    assert gap is not None
    assert (gap["missing"], gap["delta_wh"], gap["estimated"]) == (1, 1_540, True)
    assert [e.type for e in result.tx_results[0].events] == [
        "metering.gap",
        "metering.readings_accepted",
    ]
    assert metering.get_interval(chain.state, "m1", hhmm("-00:15")) is None  # the baseline


def test_4a_odd_split_gives_the_remainder_to_the_later_interval() -> None:
    chain = metered_chain()
    vector = [(t, 12_346_709 if t == "00:15" else wh) for t, wh in VECTOR_4A]
    assert_ok(submit_readings(chain, [reading("m1", hhmm(t), wh) for t, wh in vector]))

    assert energies(chain, ["00:15", "00:30", "00:45"]) == [
        (889, "actual"),
        (770, "estimated"),
        (771, "estimated"),
    ]


def test_4b_platform_uses_the_4a_convention_not_flat_line_time_order() -> None:
    # 4-B: 1,540 Wh over 2 missing intervals is 770 each under either convention; for 1,541
    # the report's flat-line rule would give 771, 770. gridledger chose one convention (4-A).
    assert compute_interval_energies(1_540, 2) == [770, 770]
    assert compute_interval_energies(1_541, 2) == [770, 771]
    assert sum(compute_interval_energies(4_000 - 2_460, 2)) == 1_540


def test_4c_rollover_of_a_32_bit_register_is_accepted_when_plausible() -> None:
    assert compute_register_delta(4_294_966_000, 1_200, 32) == (2_496, True)
    chain = metered_chain()
    readings = [reading("m1", hhmm("00:00"), 4_294_966_000), reading("m1", hhmm("00:15"), 1_200)]
    assert_ok(submit_readings(chain, readings))

    record = metering.get_interval(chain.state, "m1", hhmm("00:15"))
    assert record is not None
    assert (record["energy_wh"], record["rollover"], record["billable"]) == (2_496, True, True)


@pytest.mark.parametrize(("max_power_w", "accepted"), [(9_984, True), (9_983, False)])
def test_4c_rollover_is_rejected_above_max_power(max_power_w: int, accepted: bool) -> None:
    # 2,496 Wh in 900 s needs at least 9,984 W.
    chain = metered_chain([meter_args("m2", METER_2_KEY, max_power_w=max_power_w)])
    readings = [
        reading("m2", hhmm("00:00"), 4_294_966_000, key=METER_2_KEY),
        reading("m2", hhmm("00:15"), 1_200, key=METER_2_KEY),
    ]
    result = submit_readings(chain, readings)
    if accepted:
        assert_ok(result)
    else:
        assert_rejected(result, "rule_violation", "reading 1 (m2 import", "register decreased")


@pytest.mark.parametrize(("energy_wh", "billable"), [(3_450, True), (3_451, False), (5_000, False)])
def test_4d_spike_above_max_power_is_flagged_not_billable(energy_wh: int, billable: bool) -> None:
    chain = metered_chain()  # 13,800 W: at most 3,450 Wh per 15 minutes
    readings = [
        reading("m1", hhmm("00:00"), 100_000),
        reading("m1", hhmm("00:15"), 100_000 + energy_wh),
    ]
    result = submit_readings(chain, readings)
    assert_ok(result)

    record = metering.get_interval(chain.state, "m1", hhmm("00:15"))
    assert record is not None
    assert record["energy_wh"] == energy_wh
    assert record["billable"] is billable
    assert record["flags"] == ([] if billable else ["spike"])
    expected = energy_wh if billable else None
    assert metering.get_interval_energy(chain.state, "m1", hhmm("00:15")) == expected
    spikes = [e for e in result.tx_results[0].events if e.type == "metering.spike"]
    assert len(spikes) == (0 if billable else 1)


def test_4e_scaler_normalises_to_mwh() -> None:
    assert compute_register_mwh(1_234_567, -1) == 123_456_700
    assert compute_register_mwh(1_234_567, 0) == 1_234_567_000
    with pytest.raises(InvalidTransaction, match="below -3"):
        compute_register_mwh(1, -4)


def test_4f_contiguous_pages_are_accepted() -> None:
    chain = metered_chain()
    pages = [(41, "00:00"), (42, "00:15"), (43, "00:30")]
    assert_ok(submit_readings(chain, [reading("m1", hhmm(t), 1_000 + p, page=p) for p, t in pages]))
    assert metering.get_reading(chain.state, "m1", hhmm("00:30"))["page"] == 43  # type: ignore[index]


def test_4f_pagination_gap_is_rejected() -> None:
    chain = metered_chain()
    pages = [(41, "00:00"), (43, "00:15")]
    result = submit_readings(chain, [reading("m1", hhmm(t), 1_000 + p, page=p) for p, t in pages])
    assert_rejected(result, "rule_violation", "reading 1 (m1 import", "page gap", "page 42")


def test_4f_page_from_another_meter_is_rejected() -> None:
    # Serial mismatch: page 42 claims meter m1 but was signed by meter m2's device key.
    chain = metered_chain([meter_args("m2", METER_2_KEY)])
    readings = [
        reading("m1", hhmm("00:00"), 1_000, page=41),
        reading("m1", hhmm("00:15"), 1_100, page=42, key=METER_2_KEY),
    ]
    assert_rejected(submit_readings(chain, readings), "invalid_signature", "reading 1 (m1")


def test_4f_error_flag_e_makes_the_energy_not_billable() -> None:
    chain = metered_chain()
    readings = [
        reading("m1", hhmm("00:00"), 1_000, page=41),
        reading("m1", hhmm("00:15"), 1_100, page=42, error_flags="E"),
        reading("m1", hhmm("00:30"), 1_150, page=43),
    ]
    assert_ok(submit_readings(chain, readings))

    flagged = metering.get_interval(chain.state, "m1", hhmm("00:15"))
    assert flagged is not None
    assert (flagged["energy_wh"], flagged["flags"], flagged["billable"]) == (100, ["E"], False)
    assert metering.get_interval_energy(chain.state, "m1", hhmm("00:15")) is None
    # the next interval starts from the flagged register, so it is not billable either
    assert metering.get_interval_energy(chain.state, "m1", hhmm("00:30")) is None
