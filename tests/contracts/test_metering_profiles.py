"""The compact ``profiles`` form of ``submit_readings``: the same readings as the ``readings``
form (same leaves, root and signatures, so the same records once stored), and every malformed
profile refused with a message that names it, changing nothing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger import codec, merkle
from gridledger.client.metering import (
    build_head_end_batch,
    build_meter_signed_batch,
    encode_profiles,
    make_reading,
)
from gridledger.contracts import metering
from gridledger.contracts.metering.reading import (
    INTERVAL_S,
    MAX_INTERVAL_START,
    MAX_READINGS,
    Reading,
    parse_submit_readings,
)
from gridledger.errors import InvalidTransaction
from tests.contracts.metering_support import (
    HEAD_END_KEY,
    METER_KEY,
    assert_ok,
    assert_rejected,
    hhmm,
    meter_args,
    metered_chain,
    submit,
)

series_readings = st.lists(
    st.tuples(
        st.sampled_from(["m1", "m-2", "x.3"]),
        st.sampled_from(["import", "export"]),
        st.integers(0, 2_000),
        st.integers(0, codec.INT_MAX),
    ),
    min_size=1,
    max_size=40,
).map(
    lambda rows: [
        make_reading(meter, channel, hhmm("00:00") + slot * INTERVAL_S, register)
        for meter, channel, slot, register in rows
    ]
)


@settings(max_examples=200, deadline=None)
@given(series_readings, st.booleans())
def test_profiles_parse_to_the_readings_of_the_readings_form(
    readings: list[Reading], signed: bool
) -> None:
    if signed:
        keys = {r.meter: METER_KEY for r in readings}
        long_form = build_meter_signed_batch(readings, keys)
        short_form = build_meter_signed_batch(readings, keys, compact=True)
    else:
        long_form = build_head_end_batch(readings, "he1", HEAD_END_KEY)
        short_form = build_head_end_batch(readings, "he1", HEAD_END_KEY, compact=True)
    assert "profiles" in short_form and "readings" not in short_form
    assert short_form["root"] == long_form["root"]
    expected, got = parse_submit_readings(long_form), parse_submit_readings(short_form)
    assert got.listed is None and got.profiles is not None
    assert got.readings == expected.readings
    assert got.count == expected.count == len(readings)
    assert (got.leaves, got.leaf_hashes, got.root) == (
        expected.leaves,
        expected.leaf_hashes,
        expected.root,
    )
    assert (got.head_end, got.head_end_signature) == (
        expected.head_end,
        expected.head_end_signature,
    )


def test_readings_with_pages_or_flags_stay_in_the_readings_form() -> None:
    paged = [make_reading("m1", "import", hhmm("00:00"), 5, page=1)]
    flagged = [make_reading("m1", "import", hhmm("00:00"), 5, error_flags="E")]
    for readings in (paged, flagged):
        assert encode_profiles(readings) is None
        args = build_head_end_batch(readings, "he1", HEAD_END_KEY, compact=True)
        assert "readings" in args and "profiles" not in args


def test_a_day_of_profiles_is_stored_as_the_readings_form_would_store_it() -> None:
    readings = [
        make_reading("m1", "import", hhmm("00:00") + i * INTERVAL_S, 1_000 + 100 * i)
        for i in range(8)
    ]
    forms = [
        build_meter_signed_batch(readings, {"m1": METER_KEY}, compact=c) for c in (False, True)
    ]
    assert len(codec.encode(forms[1])) < len(codec.encode(forms[0])) * 3 // 4
    stored = []
    for args in forms:
        chain = metered_chain()
        assert_ok(submit(chain, "submit_readings", args))
        state = chain.state
        records = [
            (
                metering.get_reading(state, "m1", r.interval_start),
                metering.get_interval(state, "m1", r.interval_start),
            )
            for r in readings
        ]
        for reading, _ in records:
            assert reading is not None
            del reading["tx_id"]  # the two transactions differ, their readings do not
        stored.append(records)
    assert stored[0] == stored[1]
    assert stored[1][3][1] == {
        "billable": True,
        "channel": "import",
        "energy_wh": 100,
        "flags": [],
        "interval_start": hhmm("00:45"),
        "meter": "m1",
        "rollover": False,
        "source": "actual",
    }


def _profile(**change: Any) -> dict[str, Any]:
    return {
        "meter": "m1",
        "channel": "import",
        "first_interval": hhmm("00:00"),
        "registers": [1_000, 1_100],
        **change,
    }


BAD_PROFILES = [
    ({"profiles": []}, "profiles must be a non-empty list"),
    ({"profiles": {"meter": "m1"}}, "profiles must be a non-empty list"),
    ({"profiles": ["m1"]}, "profile 0 must be an object"),
    ({"profiles": [_profile(), _profile(obis="1.8.0")]}, "profile 1 (readings from 2)"),
    ({"profiles": [_profile(channel=["import"])]}, "channel must be import or export"),
    ({"profiles": [_profile(meter="m 1")]}, "profile 0"),
    ({"profiles": [_profile(first_interval=hhmm("00:00") + 60)]}, "not aligned to 900 s"),
    ({"profiles": [_profile(first_interval=-900)]}, "first_interval must be between"),
    (
        {"profiles": [_profile(first_interval=MAX_INTERVAL_START // INTERVAL_S * INTERVAL_S)]},
        "last interval is after",
    ),
    ({"profiles": [_profile(registers=[])]}, "registers must be a list of 1 to 1000"),
    ({"profiles": [_profile(registers=[1, 2.5])]}, "registers[1] must be an integer"),
    ({"profiles": [_profile(registers=[1, True])]}, "registers[1] must be an integer"),
    ({"profiles": [_profile(registers=[-1])]}, "registers[0] must be an integer"),
    ({"profiles": [_profile(registers=[2**63])]}, "registers[0] must be an integer"),
    ({"profiles": [_profile(signatures=["00" * 64])]}, "as long as registers"),
    ({"profiles": [_profile(signatures=["00" * 64, "AB" * 64])]}, "signatures[1] must be 128"),
    (
        {"profiles": [_profile(registers=[1] * 600), _profile(registers=[1] * 401)]},
        f"more than {MAX_READINGS} readings",
    ),
    ({"profiles": [_profile()], "readings": []}, "exactly one of the two"),
    ({}, "exactly one of the two"),
]


@pytest.mark.parametrize(("args", "reason"), BAD_PROFILES)
def test_malformed_profiles_are_refused_with_a_reason(args: dict[str, Any], reason: str) -> None:
    full = {"root": merkle.root([b"x"]).hex(), **args}
    with pytest.raises(InvalidTransaction) as caught:
        parse_submit_readings(full)
    assert reason in caught.value.message


@pytest.mark.parametrize(("args", "reason"), BAD_PROFILES[:6])
def test_a_chain_refuses_malformed_profiles_and_changes_nothing(
    args: dict[str, Any], reason: str
) -> None:
    chain = metered_chain([meter_args("m2")])
    before = dict(chain.state.iter_prefix("metering/"))
    full = {"root": merkle.root([b"x"]).hex(), **args}
    assert_rejected(submit(chain, "submit_readings", full), "invalid_transaction", reason)
    assert dict(chain.state.iter_prefix("metering/")) == before


def test_a_profile_with_a_wrong_signature_is_refused_by_reading() -> None:
    readings = [
        make_reading("m1", "import", hhmm("00:00") + i * INTERVAL_S, 10 * i) for i in range(3)
    ]
    args = build_meter_signed_batch(readings, {"m1": METER_KEY}, compact=True)
    signatures = args["profiles"][0]["signatures"]
    signatures[1], signatures[2] = signatures[2], signatures[1]
    chain = metered_chain()
    before = dict(chain.state.iter_prefix("metering/"))
    assert_rejected(submit(chain, "submit_readings", args), "invalid_signature", "reading 1 (m1")
    assert dict(chain.state.iter_prefix("metering/")) == before
