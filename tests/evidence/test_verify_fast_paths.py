"""The verifier's fast paths decide exactly as the slow, obvious checks they stand in for.

- ``_hex`` and ``_hashes`` (bytes.fromhex with a round trip) against the lowercase-hex regular
  expression they replaced;
- ``_compare_record`` (Python ``==`` plus a same-type walk, then canonical JSON) against comparing
  canonical JSON alone, for values Python calls equal although their JSON differs.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridledger import codec
from gridledger.errors import InvalidProof
from gridledger.evidence.verify import _compare_record, _hashes, _hex

LOWER_HEX = re.compile("(?:[0-9a-f]{2})*")
# Hex digits of both cases, whitespace bytes.fromhex skips, and look-alikes outside ASCII.
HEXISH = st.text(alphabet="0123456789abcdefABCDEF \t\n\x0b\x0c\r\u0663\uff41g", max_size=70)


def reference_hex(value: Any) -> bytes | None:
    if type(value) is not str or LOWER_HEX.fullmatch(value) is None:
        return None
    return bytes.fromhex(value)


def reference_hashes(values: Any) -> list[bytes] | None:
    if type(values) is not list or any(type(v) is not str or len(v) != 64 for v in values):
        return None
    raws = [reference_hex(v) for v in values]
    return None if None in raws else [r for r in raws if r is not None]


def outcome(check: Any, *args: Any) -> Any:
    try:
        return check(*args)
    except InvalidProof as exc:
        assert exc.message
        return None


@given(HEXISH)
def test_hex_accepts_exactly_lowercase_hex(value: str) -> None:
    assert outcome(_hex, value, "value") == reference_hex(value)


@given(st.lists(st.one_of(HEXISH, st.sampled_from(["ab" * 32, "AB" * 32, "ab" * 31 + " a"]))))
def test_hashes_accepts_exactly_lists_of_lowercase_32_byte_hex(values: list[str]) -> None:
    padded = [v if len(v) % 64 == 0 else (v * 64)[:64] for v in values]

    assert outcome(_hashes, padded, "path") == reference_hashes(padded)


@pytest.mark.parametrize("value", [b"ab", ["ab"], 171, None, "ab\n"])
def test_hex_refuses_what_is_not_a_hex_string(value: Any) -> None:
    assert outcome(_hex, value, "value") is None


class Text(str):
    pass


RECORD = {
    "count": 1,
    "history": [{"action": "record", "height": 7, "org": ""}],
    "metadata": {"pages": 12, "signed": True},
    "parties": ["gl01", "gl02"],
}


@pytest.mark.parametrize(
    ("given", "same_json"),
    [
        pytest.param(RECORD, True, id="identical"),
        pytest.param(dict(reversed(RECORD.items())), True, id="keys-in-another-order"),
        pytest.param({**RECORD, "parties": ("gl01", "gl02")}, True, id="tuple-for-list"),
        pytest.param({**RECORD, "parties": [Text("gl01"), "gl02"]}, True, id="str-subclass"),
        pytest.param({**RECORD, "count": True}, False, id="true-for-1"),
        pytest.param({**RECORD, "count": 1.0}, False, id="float-for-int"),
        pytest.param({**RECORD, "metadata": {"pages": 12, "signed": 1}}, False, id="1-for-true"),
        pytest.param(
            {**RECORD, "history": [{"action": "record", "height": 7.0, "org": ""}]},
            False,
            id="nested-float",
        ),
        pytest.param({**RECORD, "count": 2}, False, id="other-value"),
        pytest.param({**RECORD, "extra": 1}, False, id="extra-field"),
    ],
)
def test_compare_record_decides_as_canonical_json_does(given: Any, same_json: bool) -> None:
    reference = codec.encode_for_check(given) == codec.encode_for_check(RECORD)

    assert reference == same_json
    assert compare_accepts(given) == same_json


def compare_accepts(given: Any) -> bool:
    try:
        _compare_record(given, RECORD)
    except InvalidProof as exc:
        assert "record" in exc.message
        return False
    return True
