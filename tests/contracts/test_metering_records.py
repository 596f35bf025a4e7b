"""The templated encoders of the records a readings batch writes (day-list entries, the spliced
day lists, latest-reading records) give the generic canonical encoder's bytes for every record
the contract can make, and refuse what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger import codec
from gridledger.contracts.metering.reading import INTERVAL_S, Profile, Reading, parse_reading
from gridledger.contracts.metering.submit import (
    DAY_S,
    _append_entries,
    encode_interval_entries,
    encode_last_record,
    encode_profile_entries,
    encode_reading_entry,
)
from gridledger.errors import DecodeError
from tests.contracts.test_metering_parse import valid_items

hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
heights = st.integers(1, codec.INT_MAX)
flag_sets = st.sets(st.sampled_from(["E", "t", "spike"])).map(sorted)
ids = st.text("ABCXYZabcxyz0189._:-", min_size=1, max_size=64)


@settings(max_examples=400, deadline=None)
@given(valid_items, hex64, st.integers(0, 999))
def test_reading_entry_is_canonical(item: dict[str, Any], root: str, index: int) -> None:
    reading = parse_reading(item, 0)
    signature = None if reading.signature is None else reading.signature.hex()
    slot = reading.interval_start % DAY_S // INTERVAL_S
    expected = codec.encode(
        [slot, reading.register_wh, reading.page, reading.error_flags, root, index, signature]
    )
    assert encode_reading_entry(reading, root, index) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 2**30).map(lambda n: n * INTERVAL_S),
    st.lists(st.integers(0, codec.INT_MAX), min_size=1, max_size=300),
    st.sampled_from(["actual", "estimated"]),
    flag_sets.map(tuple),
    st.booleans(),
)
def test_interval_entries_are_canonical_and_split_by_day(
    first: int, energies: list[int], source: str, flags: tuple[str, ...], rolled: bool
) -> None:
    expected: dict[int, list[bytes]] = {}
    for at, energy_wh in enumerate(energies):
        start = first + at * INTERVAL_S
        entry = [start % DAY_S // INTERVAL_S, energy_wh, source, list(flags), rolled]
        expected.setdefault(start - start % DAY_S, []).append(codec.encode(entry))
    chunks = encode_interval_entries("m-1", "export", first, energies, source, flags, rolled)
    assert [(c[0], c[1], c[2] - c[2] % DAY_S, c[3]) for c in chunks] == [
        ("m-1", "export", day, b",".join(entries)) for day, entries in expected.items()
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 2**30).map(lambda n: n * INTERVAL_S),
    st.lists(st.integers(0, codec.INT_MAX), min_size=1, max_size=300),
    st.booleans(),
    hex64,
    st.integers(0, 700),
)
def test_profile_entries_are_the_reading_entries_of_its_readings(
    first: int, registers: list[int], signed: bool, root: str, offset: int
) -> None:
    signatures = tuple(bytes([i % 256]) * 64 for i in range(len(registers))) if signed else None
    profile = Profile(
        meter="x.3",
        channel="import",
        first_interval=first,
        registers=tuple(registers),
        signatures=signatures,
        offset=offset,
    )
    expected: dict[int, list[bytes]] = {}
    for at, reading in enumerate(profile.readings()):
        day = reading.interval_start - reading.interval_start % DAY_S
        expected.setdefault(day, []).append(encode_reading_entry(reading, root, offset + at))
    chunks = list(encode_profile_entries(profile, root))
    assert [(c[0], c[1], c[2] - c[2] % DAY_S, c[3]) for c in chunks] == [
        ("x.3", "import", day, b",".join(entries)) for day, entries in expected.items()
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 95), min_size=1, max_size=3), max_size=4),
    st.lists(st.lists(st.integers(0, 95), min_size=1, max_size=3), min_size=1, max_size=4),
)
def test_appended_day_list_is_the_canonical_longer_list(
    stored: list[list[int]], added: list[list[int]]
) -> None:
    raw = None if not stored else codec.encode(stored)
    appended = _append_entries(raw, [codec.encode(entry) for entry in added])
    assert appended == codec.encode(stored + added)
    assert codec.decode(appended) == stored + added


@settings(max_examples=300, deadline=None)
@given(
    st.builds(
        lambda start, register, page, flags: _reading(
            interval_start=start, register_wh=register, page=page, error_flags=flags
        ),
        st.integers(0, 2**40),
        st.integers(0, codec.INT_MAX),
        st.none() | st.integers(0, 2**53),
        st.sampled_from(["", "E", "t", "Et"]),
    )
)
def test_last_record_is_canonical(last: Reading) -> None:
    expected = codec.encode(
        {
            "error_flags": last.error_flags,
            "interval_start": last.interval_start,
            "page": last.page,
            "register_wh": last.register_wh,
        }
    )
    assert encode_last_record(last) == expected


def _reading(**change: Any) -> Reading:
    fields: dict[str, Any] = {
        "meter": "m-1",
        "channel": "import",
        "interval_start": 900,
        "register_wh": 5,
        "page": None,
        "error_flags": "",
        "signature": None,
        **change,
    }
    return Reading(**fields)


@pytest.mark.parametrize(
    "encode",
    [
        lambda: encode_reading_entry(_reading(register_wh=2**63), "ab", 0),
        lambda: encode_reading_entry(_reading(register_wh=-(2**64)), "ab", 0),
        lambda: encode_reading_entry(_reading(page=2**70), "ab", 0),
        lambda: list(encode_interval_entries("m", "import", 0, [5, 2**64], "actual", (), False)),
        lambda: encode_last_record(_reading(interval_start=0, register_wh=2**63)),
    ],
    ids=["register", "negative register", "page", "energy", "last register"],
)
def test_integers_outside_64_bits_are_refused_as_the_generic_encoder_does(encode: Any) -> None:
    with pytest.raises(DecodeError, match="outside the signed 64-bit range"):
        encode()
