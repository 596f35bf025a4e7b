"""The readings parser's quick path for plainly valid readings agrees with the field-by-field
path: same Reading for everything it accepts, and every reading the full path refuses is refused
with the full path's message. The templated leaf equals the canonical encoder's."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger import codec
from gridledger.contracts.metering.reading import (
    INTERVAL_S,
    MAX_INTERVAL_START,
    MAX_PAGE,
    _encode_parsed_leaf,
    _parse_plain_reading,
    encode_reading_leaf,
    parse_reading,
)
from gridledger.errors import InvalidTransaction

ID_CHARS = "ABCXYZabcxyz0189._:-"

valid_items = st.fixed_dictionaries(
    {
        "meter": st.text(ID_CHARS, min_size=1, max_size=64),
        "channel": st.sampled_from(["import", "export"]),
        "interval_start": st.integers(0, MAX_INTERVAL_START // INTERVAL_S).map(
            lambda k: k * INTERVAL_S
        ),
        "register_wh": st.integers(0, codec.INT_MAX),
    },
    optional={
        "page": st.integers(0, MAX_PAGE),
        "error_flags": st.sampled_from(["", "E", "t", "Et", "tE"]),
        "signature": st.binary(min_size=64, max_size=64).map(bytes.hex),
    },
)

# Values that are wrong for some field in some way: wrong types, ranges, forms.
odd_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.text(max_size=70),
    st.sampled_from(["EE", "x", "Ett", "A" * 128, "ab" * 64, "AB" * 64, "import ", "m 1"]),
    st.lists(st.integers(), max_size=2),
)


def _slow(item: Any) -> Any:
    """What the field-by-field path makes of ``item``: a Reading or the error message."""
    try:
        return parse_reading(dict(item) if isinstance(item, dict) else item, 0)
    except InvalidTransaction as exc:
        return exc.message


@settings(max_examples=400, deadline=None)
@given(valid_items)
def test_quick_path_parses_valid_readings_like_the_full_path(item: dict[str, Any]) -> None:
    quick = _parse_plain_reading(item)
    assert quick is not None
    assert quick == parse_reading(item, 0)
    assert (
        _encode_parsed_leaf(quick)
        == encode_reading_leaf(quick)
        == codec.encode(
            {
                "channel": quick.channel,
                "error_flags": quick.error_flags,
                "interval_start": quick.interval_start,
                "meter": quick.meter,
                "page": quick.page,
                "register_wh": quick.register_wh,
            }
        )
    )


@settings(max_examples=600, deadline=None)
@given(
    valid_items,
    st.sampled_from(
        ["meter", "channel", "interval_start", "register_wh", "page", "error_flags", "signature"]
    ),
    odd_values,
)
def test_quick_path_never_accepts_what_the_full_path_refuses(
    item: dict[str, Any], field: str, value: Any
) -> None:
    item = {**item, field: value}
    quick = _parse_plain_reading(item)
    try:
        full = parse_reading(item, 0)
    except InvalidTransaction:
        assert quick is None
        return
    assert quick is None or quick == full


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"interval_start": 901}, "not aligned"),
        ({"interval_start": True}, "interval_start must be an integer"),
        ({"register_wh": -1}, "register_wh must be between"),
        ({"channel": "both"}, "channel must be import or export"),
        ({"meter": "m 1"}, "meter must be 1 to 64 of"),
        ({"error_flags": "EE"}, "error_flags may hold E and t"),
        ({"page": None}, "page must be an integer"),
        ({"signature": "AB" * 64}, "signature must be 128 lowercase hex"),
        ({"extra": 1}, "unknown argument(s): extra"),
    ],
)
def test_bad_readings_get_the_full_paths_message(change: dict[str, Any], message: str) -> None:
    item = {"meter": "m1", "channel": "import", "interval_start": 900, "register_wh": 5, **change}
    assert _parse_plain_reading(item) is None
    with pytest.raises(InvalidTransaction, match="reading 0: ") as raised:
        parse_reading(item, 0)
    assert message in raised.value.message


def test_missing_field_is_named() -> None:
    item = {"meter": "m1", "channel": "import", "interval_start": 900}
    assert _slow(item) == "reading 0: missing argument(s): register_wh"
