"""Properties of the metering arithmetic, beyond the worked examples: energy is conserved
through gaps and rollovers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger import codec
from gridledger.contracts import metering
from gridledger.contracts.metering.reading import compute_interval_energies, compute_register_delta
from tests.contracts.metering_support import (
    hhmm,
    meter_args,
    metered_chain,
    reading,
    submit_readings,
)


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=50))
def test_interval_shares_sum_to_the_register_difference(delta: int, intervals: int) -> None:
    shares = compute_interval_energies(delta, intervals)
    assert len(shares) == intervals
    assert sum(shares) == delta
    assert max(shares) - min(shares) <= 1
    assert min(shares) >= 0


@given(
    st.integers(min_value=8, max_value=62).flatmap(
        lambda bits: st.tuples(
            st.just(bits),
            st.integers(min_value=0, max_value=2**bits - 1),
            st.integers(min_value=0, max_value=2**bits - 1),
        )
    )
)
def test_register_delta_undoes_the_wrap(case: tuple[int, int, int]) -> None:
    bits, start, increase = case
    delta, rolled = compute_register_delta(start, (start + increase) % 2**bits, bits)
    assert delta == increase
    assert rolled == (start + increase >= 2**bits)


BITS = 16  # a small register, so that sequences roll over


@settings(max_examples=25, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**BITS - 1),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=3_450), st.booleans()),
        min_size=1,
        max_size=30,
    ),
)
def test_derived_energy_sums_to_the_true_consumption(
    start_wh: int, steps: list[tuple[int, bool]]
) -> None:
    """Σ derived interval energy + Σ unestimated gap differences = true consumption from the
    first reading to the last, whatever the gaps and rollovers; and every interval read on both
    sides gets exactly its true energy."""
    chain = metered_chain([meter_args("m2", register_bits=BITS)], head_end=True)
    first = hhmm("00:00")
    registers, readings, present = start_wh, [reading("m2", first, start_wh, key=None)], [first]
    for i, (increase, read) in enumerate(steps, start=1):
        registers = (registers + increase) % 2**BITS
        if read or i == len(steps):
            start = first + 900 * i
            readings.append(reading("m2", start, registers, key=None))
            present.append(start)
    result = submit_readings(chain, readings, head_end="he1")
    assert result.tx_results[0].code == 0, result.tx_results[0].log

    state = chain.state
    derived = 0
    for i in range(1, len(steps) + 1):
        record = metering.get_interval(state, "m2", first + 900 * i)
        derived += record["energy_wh"] if record is not None else 0
        if record is not None and record["source"] == "actual":
            assert record["energy_wh"] == steps[i - 1][0]
    unestimated = sum(
        gap["delta_wh"]
        for _, raw in state.iter_prefix("metering/gap/m2/")
        if not (gap := codec.decode(raw))["estimated"]
    )
    assert derived + unestimated == sum(increase for increase, _ in steps)
