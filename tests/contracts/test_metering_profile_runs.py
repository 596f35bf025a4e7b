"""A profile planned as one run stores what the same readings store when checked one by one.

``compute_plan`` takes a shortcut for a profile whose readings all pass plainly and falls back
to reading-by-reading checks for anything else. Each generated batch is submitted twice, to two
chains: as ``profiles`` (the shortcut where it applies) and as ``readings`` (always reading by
reading). The series are random walks that now and then go backwards (a rollover, plausible or
not), jump (a spike), skip intervals (a gap, estimated or not), repeat an interval (a
duplicate), end after the block's grid time, overflow a narrow register or carry a wrong
signature; both chains must give the same result, the same error naming the same reading, and
the same stored records.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.client.metering import build_head_end_batch, build_meter_signed_batch, make_reading
from gridledger.contracts.metering.reading import INTERVAL_S, Reading
from gridledger.ledger.transition import BlockResult
from tests.chain import Chain
from tests.contracts.metering_support import (
    DAY,
    HEAD_END_KEY,
    METER_2_KEY,
    METER_KEY,
    meter_args,
    metered_chain,
    submit,
)

KEYS = {"m1": METER_KEY, "m2": METER_2_KEY}
# m1: 13.8 kW, 32-bit register, so at most 3,450 Wh an interval; m2: a 16-bit register that
# rolls over at 65,536 Wh, 300 kW (75,000 Wh an interval)
METERS = [meter_args("m2", METER_2_KEY, register_bits=16, max_power_w=300_000)]

STEPS = {
    "plain": lambda n: n % 3_000,
    "spike": lambda n: 3_451 + n,  # above m1's 3,450 Wh an interval; plain or a wrap for m2
    "back": lambda n: -1 - n,  # a refusal for m1, a plausible rollover for m2 mostly
}
steps = st.builds(
    lambda kind, n: STEPS[kind](n),
    st.sampled_from(["plain"] * 5 + ["spike", "back"]),
    st.integers(0, 70_000),
)
runs = st.tuples(
    st.sampled_from(["m1", "m2"]),
    st.sampled_from([0] * 4 + [1, 2, 5, 9, -1, -3]),  # skip: continue, a gap, or go back
    st.lists(steps, min_size=1, max_size=10),
    st.integers(0, 70_000),  # first register
)


def _readings(
    batch: list[tuple[str, int, list[int], int]], next_slot: dict[str, int]
) -> list[Reading]:
    """The batch's runs, each starting ``skip`` intervals after its meter's last one (from
    DAY 00:00; the chain's grid time is about 11 h in, so a long series runs past it)."""
    readings = []
    for meter, skip, walk, first_register in batch:
        slot, register = max(0, next_slot.get(meter, 0) + skip), first_register
        for step in walk:
            # m2 wraps at 70,000: past 65,535 it does not fit m2's 16 bits
            register = (register + step) % 70_000 if meter == "m2" else max(0, register + step)
            readings.append(make_reading(meter, "import", DAY + slot * INTERVAL_S, register))
            slot += 1
        next_slot[meter] = slot
    return readings


def _forged(args: dict[str, Any], at: int) -> None:
    """Swap the signature of reading ``at`` with the next one's, in either form."""
    if "readings" in args:
        items = args["readings"]
        items[at]["signature"], items[at + 1]["signature"] = (
            items[at + 1]["signature"],
            items[at]["signature"],
        )
        return
    flat = [(p, i) for p in args["profiles"] for i in range(len(p["registers"]))]
    (p1, i1), (p2, i2) = flat[at], flat[at + 1]
    p1["signatures"][i1], p2["signatures"][i2] = p2["signatures"][i2], p1["signatures"][i1]


def _records(chain: Chain) -> dict[str, Any]:
    """Everything the batches stored, but the batch records' transaction ids (the two forms
    are different transactions over the same leaves)."""
    stored: dict[str, Any] = {}
    for key, value in chain.state.iter_prefix("metering/"):
        stored[key] = value
        if key.startswith("metering/batch/"):
            stored[key] = {k: v for k, v in chain.state.get_json(key).items() if k != "tx_id"}
    return stored


def _outcome(result: BlockResult) -> list[tuple[int, str, str, list[Any]]]:
    return [(r.code, r.error, r.log, [e.to_json() for e in r.events]) for r in result.tx_results]


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.lists(runs, min_size=1, max_size=4), min_size=1, max_size=4),
    st.booleans(),
    st.none() | st.integers(0, 40),
)
def test_profiles_and_readings_forms_check_and_store_alike(
    batches: list[list[tuple[str, int, list[int], int]]], signed: bool, forge_at: int | None
) -> None:
    by_profiles, by_readings = metered_chain(METERS), metered_chain(METERS)
    next_slot: dict[str, int] = {}
    for number, batch in enumerate(batches):
        readings = _readings(batch, next_slot)
        results = []
        for chain, compact in ((by_profiles, True), (by_readings, False)):
            if signed:
                args = build_meter_signed_batch(readings, KEYS, compact=compact)
                if forge_at is not None and number == 0 and forge_at + 1 < len(readings):
                    _forged(args, forge_at)
            else:
                args = build_head_end_batch(readings, "he1", HEAD_END_KEY, compact=compact)
            assert ("profiles" in args) == compact
            results.append(_outcome(submit(chain, "submit_readings", args)))
        assert results[0] == results[1]
    assert _records(by_profiles) == _records(by_readings)
