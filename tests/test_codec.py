"""Canonical JSON: the one encoding of everything gridledger signs or hashes."""

from __future__ import annotations

import datetime
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger import codec
from gridledger.errors import DecodeError

# -- encode ------------------------------------------------------------------------------------


def test_encode_sorts_keys_and_writes_no_whitespace() -> None:
    value = {"b": [1, 2, {"y": True, "x": None}], "a": "z", "c": {}}

    assert codec.encode(value) == b'{"a":"z","b":[1,2,{"x":null,"y":true}],"c":{}}'


def test_encode_sorts_keys_by_code_point() -> None:
    value = {"a": 1, "B": 2, "_": 3, "é": 4, "aa": 5, "A": 6}

    assert codec.encode(value) == '{"A":6,"B":2,"_":3,"a":1,"aa":5,"é":4}'.encode()


def test_encode_keeps_non_ascii_as_utf8() -> None:
    assert codec.encode("电网 ünïcödé 😀") == '"电网 ünïcödé 😀"'.encode()


def test_encode_escapes_only_quote_backslash_and_control_characters() -> None:
    assert codec.encode('q"b\\n\nt\tc\x01d\x7f/') == b'"q\\"b\\\\n\\nt\\tc\\u0001d\x7f/"'


def test_encode_writes_int64_bounds_exactly() -> None:
    assert codec.encode([codec.INT_MIN, 0, codec.INT_MAX]) == (
        b"[-9223372036854775808,0,9223372036854775807]"
    )


def test_encode_accepts_tuples_and_other_mappings() -> None:
    assert codec.encode(OrderedDict([("b", (1, 2)), ("a", 0)])) == b'{"a":0,"b":[1,2]}'


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1.0, id="float"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(2**63, id="int64-max-plus-one"),
        pytest.param(-(2**63) - 1, id="int64-min-minus-one"),
        pytest.param({1: "a"}, id="non-string-key"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param({"a"}, id="set"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param({"nested": [0.5]}, id="nested-float"),
        pytest.param(datetime.date(2026, 11, 24), id="date"),
    ],
)
def test_encode_refuses_values_without_canonical_form(value: Any) -> None:
    with pytest.raises(DecodeError):
        codec.encode(value)


def test_encode_refuses_nesting_deeper_than_the_limit() -> None:
    ok: Any = 0
    for _ in range(codec.MAX_DEPTH):
        ok = [ok]
    codec.encode(ok)

    with pytest.raises(DecodeError, match="deeper"):
        codec.encode([ok])


# -- decode: accepted --------------------------------------------------------------------------


def test_decode_returns_the_value_of_canonical_text() -> None:
    raw = '{"a":[1,-2,true,false,null],"b":{"c":"电网\\n"}}'.encode()

    assert codec.decode(raw) == {"a": [1, -2, True, False, None], "b": {"c": "电网\n"}}


def test_decode_accepts_str_as_well_as_bytes() -> None:
    assert codec.decode('{"a":1}') == {"a": 1}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"a": 1}', id="space-after-colon"),
        pytest.param('{"a":1, "b":2}', id="space-after-comma"),
        pytest.param(' {"a":1}', id="leading-space"),
        pytest.param('{"a":1}\n', id="trailing-newline"),
        pytest.param('{"b":2,"a":1}', id="unsorted-keys"),
        pytest.param('"\\u00e9"', id="escaped-non-ascii"),
        pytest.param('"\\/"', id="escaped-slash"),
        pytest.param('"\\ud83d\\ude00"', id="escaped-surrogate-pair"),
        pytest.param("-0", id="negative-zero"),
    ],
)
def test_decode_refuses_non_canonical_text_but_accepts_it_when_not_asked(text: str) -> None:
    with pytest.raises(DecodeError, match="canonical"):
        codec.decode(text.encode())

    value = codec.decode(text.encode(), canonical=False)

    assert value == json.loads(text)


# -- decode: refused in any mode ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"1.0", "not an integer", id="float"),
        pytest.param(b"[1e3]", "not an integer", id="exponent"),
        pytest.param(b"[1E3]", "not an integer", id="exponent-upper"),
        pytest.param(b"[-0.0]", "not an integer", id="negative-zero-float"),
        pytest.param(b"NaN", "NaN", id="nan"),
        pytest.param(b"[Infinity]", "Infinity", id="infinity"),
        pytest.param(b"[-Infinity]", "Infinity", id="minus-infinity"),
        pytest.param(b'{"a":1,"a":1}', "duplicate key", id="duplicate-key"),
        pytest.param(b'{"a":{"b":1,"b":2}}', "duplicate key", id="nested-duplicate-key"),
        pytest.param(b"9223372036854775808", "64-bit", id="int64-max-plus-one"),
        pytest.param(b"-9223372036854775809", "64-bit", id="int64-min-minus-one"),
        pytest.param(b"1" * 5000, "malformed", id="huge-integer-literal"),
        pytest.param(b'"\xff"', "not UTF-8", id="invalid-utf8"),
        pytest.param(b'"\xc3"', "not UTF-8", id="truncated-utf8"),
        pytest.param(b'"\xed\xa0\x80"', "not UTF-8", id="utf8-encoded-surrogate"),
        pytest.param(b'"\\ud800"', "surrogate", id="lone-high-surrogate"),
        pytest.param(b'["\\udc00"]', "surrogate", id="lone-low-surrogate"),
        pytest.param(b'{"\\ud800":1}', "surrogate", id="lone-surrogate-in-key"),
        pytest.param(b"", "malformed", id="empty"),
        pytest.param(b"{", "malformed", id="truncated"),
        pytest.param(b"[1,]", "malformed", id="trailing-comma"),
        pytest.param(b"'a'", "malformed", id="single-quotes"),
    ],
)
@pytest.mark.parametrize("canonical", [True, False], ids=["canonical", "lenient"])
def test_decode_refuses_values_outside_canonical_json(
    raw: bytes, reason: str, canonical: bool
) -> None:
    with pytest.raises(DecodeError, match=reason):
        codec.decode(raw, canonical=canonical)


def test_decode_accepts_int64_bounds() -> None:
    assert codec.decode(b"[-9223372036854775808,9223372036854775807]") == [
        codec.INT_MIN,
        codec.INT_MAX,
    ]


@pytest.mark.parametrize("canonical", [True, False], ids=["canonical", "lenient"])
def test_decode_refuses_nesting_deeper_than_the_limit(canonical: bool) -> None:
    depth = codec.MAX_DEPTH
    assert codec.decode(b"[" * depth + b"]" * depth, canonical=canonical) is not None

    with pytest.raises(DecodeError, match="deeper"):
        codec.decode(b"[" * (depth + 1) + b"]" * (depth + 1), canonical=canonical)
    with pytest.raises(DecodeError, match="deeper"):
        codec.decode(b'{"a":' * (depth + 1) + b"1" + b"}" * (depth + 1), canonical=canonical)


def test_decode_turns_recursion_overflow_into_decode_error() -> None:
    with pytest.raises(DecodeError, match="deep"):
        codec.decode(b"[" * 200_000 + b"]" * 200_000)


def test_decode_error_names_the_first_non_canonical_byte() -> None:
    with pytest.raises(DecodeError, match="at byte 5"):
        codec.decode(b'{"a": 1}')


# -- round trip --------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=codec.INT_MIN, max_value=codec.INT_MAX)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_encode_then_decode_round_trips(value: Any) -> None:
    raw = codec.encode(value)

    decoded = codec.decode(raw)

    assert decoded == value
    assert codec.encode(decoded) == raw  # also tells True from 1


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_decode_lenient_reads_any_json_layout_of_the_same_value(value: Any) -> None:
    loose = json.dumps(value, indent=2, ensure_ascii=True)

    assert codec.encode(codec.decode(loose.encode(), canonical=False)) == codec.encode(value)


# -- the writer agrees with Python's json module -------------------------------------------------

# The reference: the canonical form as Python's json module writes it.
REFERENCE = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


def reference_bytes(value: Any) -> bytes:
    return REFERENCE.encode(value).encode("utf-8")


def test_every_code_point_is_written_as_the_json_module_writes_it() -> None:
    # Each character both as a string and as a key beside another key, so that escaping and key
    # order are both compared; surrogates are not text and are refused (see above).
    chars = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(chars), 4096):
        chunk = chars[start : start + 4096]
        value = {"strings": chunk, "keys": {c: 0 for c in chunk} | {"m": 1}}
        assert codec.encode(value) == reference_bytes(value), f"chunk from {chunk[0]!r}"


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_generated_values_are_written_as_the_json_module_writes_them(value: Any) -> None:
    assert codec.encode(value) == reference_bytes(value)
    assert codec.encode_for_check(value) == reference_bytes(value)


def test_encode_for_check_refuses_what_json_cannot_express() -> None:
    @dataclass
    class Point:
        x: int

    for value in (Point(1), datetime.date(2026, 11, 24), b"bytes", {"a"}):
        with pytest.raises(DecodeError, match="cannot be encoded"):
            codec.encode_for_check(value)


# -- the fast path of canonical decoding ---------------------------------------------------------
# Canonical bytes are parsed by orjson and checked by the value walk and by re-encoding; anything
# unusual is decoded again by the careful path. The careful path is what decoding a str runs, so
# bytes and str must give the same value or the same error for every input.


def decode_outcome(data: bytes | str) -> tuple[str, Any]:
    try:
        return "value", codec.decode(data)
    except DecodeError as exc:
        return "error", exc.message


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'{"a":"1234567890123456789012345"}', id="long-digit-run-in-a-string"),
        pytest.param(b"[9223372036854775807,-9223372036854775808]", id="19-digit-bounds"),
        pytest.param(b"[9223372036854775808]", id="19-digit-out-of-range"),
        pytest.param(b"[123456789012345678]", id="18-digits"),
        pytest.param(b"[18446744073709551615]", id="uint64-max"),
        pytest.param(b"[18446744073709551616]", id="above-uint64"),
        pytest.param(b"[-9223372036854775809]", id="below-int64"),
        pytest.param(b"[1E400]", id="float-overflow"),
        pytest.param(b"[-0]", id="negative-zero"),
        pytest.param(b'["\\u0000",{"":null}]', id="escaped-nul-and-empty-key"),
        pytest.param(b"[1,]", id="trailing-comma"),
        pytest.param(b"[1.0]", id="float-that-re-encodes-alike"),
        pytest.param(b"[1e3]", id="exponent"),
        pytest.param(b'{"a":1,"a":1}', id="duplicate-key-with-same-value"),
        pytest.param(b'{"a":1,"a":2}', id="duplicate-key"),
        pytest.param(b'{"b":1,"a":2}', id="unsorted-keys"),
        pytest.param(b'["\\ud800"]', id="lone-surrogate"),
        pytest.param(b"[" * 33 + b"]" * 33, id="too-deep"),
        pytest.param(b"[NaN]", id="nan"),
        pytest.param(b"[true, 1]", id="whitespace"),
        pytest.param(b'"\\u00e9"', id="needless-escape"),
    ],
)
def test_decode_of_bytes_agrees_with_the_careful_path(raw: bytes) -> None:
    assert decode_outcome(raw) == decode_outcome(raw.decode("utf-8"))


# Canonical bytes of a value with a few bytes written over them somewhere: mostly malformed or
# non-canonical, now and then canonical still.
mutated_canonical_bytes = st.builds(
    lambda value, position, insert: _overwrite(codec.encode(value), position, insert),
    json_values,
    st.integers(min_value=0),
    st.binary(max_size=3),
)


def _overwrite(raw: bytes, position: int, insert: bytes) -> bytes:
    at = position % (len(raw) + 1)
    return raw[:at] + insert + raw[at + len(insert) :]


@settings(max_examples=300, deadline=None)
@given(mutated_canonical_bytes)
def test_decode_of_mutated_canonical_bytes_agrees_with_the_careful_path(mutated: bytes) -> None:
    try:
        text = mutated.decode("utf-8")
    except UnicodeDecodeError:
        return  # not text: bytes are refused before either path runs
    assert decode_outcome(mutated) == decode_outcome(text)


# -- the native fast path of the value walk ------------------------------------------------------
# gridledger_native.json_value_is_plain may only say "plain" for values the Python walk accepts;
# for every value it does not vouch for, the Python walk decides. Encoding and decoding must give
# the same bytes, values and errors with it and without it.

value_is_plain = codec._value_is_plain
needs_native = pytest.mark.skipif(value_is_plain is None, reason="gridledger_native is not built")


class Text(str):
    pass


class Number(int):
    pass


def python_walk_outcome(value: Any) -> str:
    try:
        codec._check_value(value, 0)
    except DecodeError as exc:
        return exc.message
    return "accepted"


def nested(depth: int, leaf: Any = 0) -> Any:
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


# Anything a caller might hand to encode: JSON values, and what has no canonical form or is
# accepted only by the Python walk's slow path (subclasses, other mappings and sequences).
any_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=4)
    | st.builds(Text, st.text(max_size=4))
    | st.builds(Number, st.integers(min_value=-(2**65), max_value=2**65))
    | st.binary(max_size=2),
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=4), children, max_size=4)
        | st.dictionaries(st.integers(0, 3), children, max_size=2)
        | st.dictionaries(st.text(max_size=4), children, max_size=3).map(OrderedDict)
    ),
    max_leaves=20,
)


@needs_native
@settings(max_examples=1000, deadline=None)
@given(any_values)
def test_native_walk_vouches_only_for_values_the_python_walk_accepts(value: Any) -> None:
    assert value_is_plain is not None
    if value_is_plain(value, codec.MAX_DEPTH):
        assert python_walk_outcome(value) == "accepted"


@needs_native
@settings(max_examples=300, deadline=None)
@given(json_values)
def test_native_walk_vouches_for_every_plain_json_value(value: Any) -> None:
    assert value_is_plain is not None
    assert value_is_plain(value, codec.MAX_DEPTH)


@needs_native
@pytest.mark.parametrize(
    ("value", "plain"),
    [
        pytest.param([codec.INT_MIN, codec.INT_MAX, True, False, None, ""], True, id="bounds"),
        pytest.param([codec.INT_MAX + 1], False, id="int64-max-plus-one"),
        pytest.param([codec.INT_MIN - 1], False, id="int64-min-minus-one"),
        pytest.param({"a": (1, [2, {"b": "c"}])}, True, id="tuple"),
        pytest.param({"a": [0.0]}, False, id="nested-float"),
        pytest.param({1: "a"}, False, id="int-key"),
        pytest.param({Text("a"): 1}, False, id="str-subclass-key"),
        pytest.param([Text("a")], False, id="str-subclass"),
        pytest.param([Number(1)], False, id="int-subclass"),
        pytest.param(OrderedDict(a=1), False, id="dict-subclass"),
        pytest.param([b"x"], False, id="bytes"),
        pytest.param({"a"}, False, id="set"),
        pytest.param(nested(codec.MAX_DEPTH), True, id="at-the-depth-limit"),
        pytest.param(nested(codec.MAX_DEPTH + 1), False, id="one-level-deeper"),
        pytest.param(nested(codec.MAX_DEPTH, leaf="deep"), True, id="string-leaf-at-the-limit"),
    ],
)
def test_native_walk_edges(value: Any, plain: bool) -> None:
    assert value_is_plain is not None
    assert value_is_plain(value, codec.MAX_DEPTH) is plain


def encode_outcome(value: Any) -> tuple[str, Any]:
    try:
        return "bytes", codec.encode(value)
    except DecodeError as exc:
        return "error", exc.message


def without_native_walk(outcome: Callable[[Any], tuple[str, Any]], arg: Any) -> tuple[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(codec, "_value_is_plain", None)
        return outcome(arg)


@settings(max_examples=500, deadline=None)
@given(any_values)
def test_encode_gives_the_same_bytes_or_error_without_the_native_walk(value: Any) -> None:
    assert encode_outcome(value) == without_native_walk(encode_outcome, value)


@settings(max_examples=300, deadline=None)
@given(mutated_canonical_bytes)
def test_decode_gives_the_same_value_or_error_without_the_native_walk(mutated: bytes) -> None:
    assert decode_outcome(mutated) == without_native_walk(decode_outcome, mutated)
