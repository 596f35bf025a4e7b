"""The templated encoders of the records a readings batch writes give the generic canonical
encoder's bytes for every record the contract can make, and refuse what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger import codec
from gridledger.contracts.metering.reading import Reading, parse_reading
from gridledger.contracts.metering.submit import (
    _reading_record,
    encode_interval_record,
    encode_last_record,
    encode_reading_record,
)
from gridledger.errors import DecodeError
from tests.contracts.test_metering_parse import valid_items

hex64 = st.binary(min_size=32, max_size=32).map(bytes.hex)
heights = st.integers(1, codec.INT_MAX)
flag_sets = st.sets(st.sampled_from(["E", "t", "spike"])).map(sorted)
ids = st.text("ABCXYZabcxyz0189._:-", min_size=1, max_size=64)


@settings(max_examples=400, deadline=None)
@given(valid_items, hex64, st.integers(0, 999), heights, hex64)
def test_reading_record_is_canonical(
    item: dict[str, Any], root: str, index: int, height: int, tx_id: str
) -> None:
    reading = parse_reading(item, 0)
    expected = codec.encode(_reading_record(reading, root, index, height, tx_id))
    assert encode_reading_record(reading, root, index, height, tx_id) == expected


@settings(max_examples=400, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "billable": st.booleans(),
            "channel": st.sampled_from(["import", "export"]),
            "energy_wh": st.integers(0, codec.INT_MAX),
            "flags": flag_sets,
            "interval_start": st.integers(0, 2**40),
            "meter": ids,
            "rollover": st.booleans(),
            "source": st.sampled_from(["actual", "estimated"]),
        }
    )
)
def test_interval_record_is_canonical(record: dict[str, Any]) -> None:
    assert encode_interval_record(record) == codec.encode(record)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            "error_flags": st.sampled_from(["", "E", "t", "Et"]),
            "interval_start": st.integers(0, 2**40),
            "page": st.none() | st.integers(0, 2**53),
            "register_wh": st.integers(0, codec.INT_MAX),
        }
    )
)
def test_last_record_is_canonical(last: dict[str, Any]) -> None:
    assert encode_last_record(last) == codec.encode(last)


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
        lambda: encode_reading_record(_reading(), "ab", 0, 2**63, "cd"),
        lambda: encode_reading_record(_reading(register_wh=-(2**64)), "ab", 0, 1, "cd"),
        lambda: encode_reading_record(_reading(page=2**70), "ab", 0, 1, "cd"),
        lambda: encode_interval_record(
            {
                "billable": True,
                "channel": "import",
                "energy_wh": 2**64,
                "flags": [],
                "interval_start": 0,
                "meter": "m",
                "rollover": False,
                "source": "actual",
            }
        ),
        lambda: encode_last_record(
            {"error_flags": "", "interval_start": 0, "page": None, "register_wh": 2**63}
        ),
    ],
    ids=["height", "register", "page", "energy", "last register"],
)
def test_integers_outside_64_bits_are_refused_as_the_generic_encoder_does(encode: Any) -> None:
    with pytest.raises(DecodeError, match="outside the signed 64-bit range"):
        encode()
