"""Canonical JSON: the one encoding of everything gridledger signs or hashes.

The canonical form of a value is its JSON text with

- object keys sorted by Unicode code point, no duplicate keys, keys are strings;
- no whitespace outside strings (separators ``,`` and ``:``);
- UTF-8, non-ASCII characters written as themselves, only ``"``, ``\\`` and control characters
  escaped (as ``\\"``, ``\\\\``, ``\\n``... or ``\\u00XX``);
- numbers are integers in the signed 64-bit range, written in decimal without sign for
  non-negative values and without leading zeros; floats, exponents, NaN and Infinity are refused;
- ``true``, ``false``, ``null`` as usual.

Courts and people can read it; every implementation that follows these rules produces the same
bytes for the same value. The rules are those of RFC 8785 (JCS) restricted to integers, except that
keys sort by code point rather than UTF-16 unit (identical for all keys in the Basic Multilingual
Plane).

The bytes are written by orjson with sorted keys, after our own walk of the value (which refuses
what has no canonical form); orjson writes exactly what Python's ``json`` module writes with
``sort_keys=True, separators=(",", ":"), ensure_ascii=False``, about ten times faster, and
``tests/test_codec.py`` checks that agreement over every code point and generated values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from gridledger.errors import DecodeError
from gridledger.native import load_native_function

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_DEPTH = 32

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NON_BRACKET_BYTES = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST_PAIR = re.compile(rb"\[\]|\{\}")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_NOT_FAST = object()
# Sorted keys; dataclasses and datetimes are refused (raise) as Python's json refuses them,
# instead of being written in orjson's own way. Subclasses of dict, list, str and int are
# written as their base type, as json writes them.
_DUMPS_OPTIONS = (
    orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)
_SURROGATE = re.compile("[\ud800-\udfff]")
# gridledger_native's yes for plain values (native/src/json_walk.rs), None where not built.
_value_is_plain: Callable[[Any, int], bool] | None = load_native_function("json_value_is_plain")


def encode(value: Any) -> bytes:
    """Canonical JSON bytes of ``value``; raises DecodeError for anything not representable."""
    # The walk is needed: it refuses floats, integers outside int64, non-string keys and nesting
    # deeper than decode accepts, none of which the writer refuses.
    _check_json_value(value)
    return encode_for_check(value)


def encode_for_check(value: Any) -> bytes:
    """Canonical JSON bytes without the value walk, only for bytes that are then compared with
    a hash, proof or signature (as a verifier does): a value with no canonical form (a float, a
    non-string key) encodes to bytes that simply fail that comparison. Raises DecodeError for
    values JSON cannot express at all."""
    try:
        return orjson.dumps(value, option=_DUMPS_OPTIONS)
    except TypeError as exc:  # orjson.JSONEncodeError, e.g. a lone surrogate
        raise DecodeError(f"value cannot be encoded as canonical JSON: {exc}") from exc


def decode(data: bytes | str, *, canonical: bool = True) -> Any:
    """Parse JSON text, refusing floats, NaN, duplicate keys and out-of-range integers.

    With ``canonical=True`` (the default) the input must also be byte-for-byte canonical, so a
    signature or hash over it means exactly one value.
    """
    if isinstance(data, str):
        text = data
        raw = None
    else:
        raw = bytes(data)
        if canonical:
            value = _decode_canonical_fast(raw)
            if value is not _NOT_FAST:
                return value
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"not UTF-8 at byte {exc.start}") from exc
    return _decode_careful(text, raw, canonical=canonical)


def _decode_careful(text: str, raw: bytes | None, *, canonical: bool) -> Any:
    """``decode`` checking as it parses: each refusal names what was wrong."""
    try:
        value = json.loads(
            text,
            object_pairs_hook=_object_without_duplicates,
            parse_float=_refuse_float,
            parse_int=_parse_int,
            parse_constant=_refuse_constant,
        )
    except DecodeError:
        raise
    except RecursionError as exc:
        raise DecodeError("JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise DecodeError(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except ValueError as exc:  # e.g. an integer literal with thousands of digits
        raise DecodeError(f"malformed JSON: {exc}") from exc
    # Floats and integer range were checked while parsing; only depth is left, and a text with
    # at most MAX_DEPTH brackets cannot nest deeper than that.
    if text.count("{") + text.count("[") > MAX_DEPTH and _max_depth(text, raw) > MAX_DEPTH:
        raise DecodeError(f"JSON nested deeper than {MAX_DEPTH} levels")
    # A lone surrogate can only come from a \uD800-\uDFFF escape (UTF-8 input cannot carry
    # one), so without such an escape a non-canonical decode need not re-encode.
    if not canonical and _SURROGATE_ESCAPE.search(text) is None:
        return value
    try:
        expected = orjson.dumps(value, option=_DUMPS_OPTIONS)
    except TypeError as exc:  # a parsed value orjson cannot write holds a lone surrogate
        # json writes it into a str without complaint: the first one in canonical order.
        found = _SURROGATE.search(json.dumps(value, ensure_ascii=False, sort_keys=True))
        raise DecodeError(
            f"JSON string holds a lone surrogate (U+{ord(found.group()):04X}), which is not "
            "Unicode text"
            if found
            else f"value cannot be encoded as canonical JSON: {exc}"
        ) from exc
    if canonical:
        given = raw if raw is not None else text.encode("utf-8", "surrogatepass")
        if given != expected:
            raise DecodeError(
                f"JSON is not in canonical form (first difference at byte "
                f"{_first_difference(given, expected)}; expected sorted keys, no "
                "whitespace, minimal escapes)"
            )
    return value


def _decode_canonical_fast(raw: bytes) -> Any:
    """The value of canonical JSON bytes, or ``_NOT_FAST`` to take the careful path.

    The careful path calls back into Python for every object (duplicate keys), every number
    (floats, range) and checks depth and Unicode apart; here orjson parses, our value walk
    refuses floats, integers out of range and deep nesting, and equality with the canonical
    re-encoding stands in for the rest: a duplicate key re-encodes shorter, and any other
    difference from canonical form (layout, escapes, order) shows. Whatever orjson refuses (not
    UTF-8, a lone surrogate, malformed text) and anything the walk or the comparison does not
    pass goes to the careful path, which accepts or refuses exactly as before, with its own
    message: bytes the fast path accepts are the canonical encoding of the value it returns, so
    the careful path would accept them too."""
    try:
        value = orjson.loads(raw)
        _check_json_value(value)
        if orjson.dumps(value, option=_DUMPS_OPTIONS) != raw:
            return _NOT_FAST
    except (DecodeError, ValueError, TypeError, RecursionError):  # JSONDecodeError: ValueError
        return _NOT_FAST
    return value


def _max_depth(text: str, raw: bytes | None) -> int:
    """Deepest nesting of objects and arrays in a JSON text that parsed.

    Fast bound first: every bracket byte kept (UTF-8 multi-byte sequences hold no ASCII bytes),
    innermost pairs peeled one level per pass. Brackets inside strings can only raise that bound,
    so only when it is over the limit are strings removed and the count redone."""
    data = raw if raw is not None else text.encode("utf-8", "surrogatepass")
    depth = _peel(data.translate(None, _NON_BRACKET_BYTES))
    if depth <= MAX_DEPTH:
        return depth
    return _peel(
        _STRING.sub("", text).encode("utf-8", "surrogatepass").translate(None, _NON_BRACKET_BYTES)
    )


def _peel(brackets: bytes) -> int:
    depth = 0
    while brackets and depth <= MAX_DEPTH:
        brackets = _INNERMOST_PAIR.sub(b"", brackets)
        depth += 1
    return depth


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DecodeError(f"duplicate key {key!r} in JSON object")
        obj[key] = value
    return obj


def _parse_int(text: str) -> int:
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise DecodeError(f"integer {text} is outside the signed 64-bit range")
    return value


def _refuse_float(text: str) -> Any:
    raise DecodeError(f"number {text} is not an integer; amounts are integers in the smallest unit")


def _refuse_constant(text: str) -> Any:
    raise DecodeError(f"{text} is not allowed in canonical JSON")


def _check_json_value(value: Any) -> None:
    """Raise DecodeError unless ``value`` has a canonical JSON form: no floats, integers within
    int64, string keys, at most MAX_DEPTH levels of nesting. The native module answers the
    common case (plain dicts, lists, strings and integers) in one call; anything it is not sure
    of, including every value to refuse, is walked here in Python."""
    if _value_is_plain is None or not _value_is_plain(value, MAX_DEPTH):
        _check_value(value, 0)


def _check_value(value: Any, depth: int) -> None:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return
    if kind is int:
        if not INT_MIN <= value <= INT_MAX:
            raise DecodeError(f"integer {value} is outside the signed 64-bit range")
        return
    if depth >= MAX_DEPTH:
        raise DecodeError(f"JSON nested deeper than {MAX_DEPTH} levels")
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise DecodeError(f"object key {key!r} is not a string")
            if type(item) is not str:  # strings, most leaves, need no call
                _check_value(item, depth + 1)
        return
    if kind is list or kind is tuple:
        for item in value:
            if type(item) is not str:
                _check_value(item, depth + 1)
        return
    _check_unusual_value(value, depth)


def _check_unusual_value(value: Any, depth: int) -> None:
    """Subclasses and other mappings/sequences: the slow path."""
    if isinstance(value, float):
        raise DecodeError(f"number {value!r} is a float; only integers are allowed")
    if isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        _check_value(int(value), depth)
        return
    if isinstance(value, Mapping):
        _check_value(dict(value), depth)
        return
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        _check_value(list(value), depth)
        return
    raise DecodeError(f"value of type {type(value).__name__} cannot be encoded as JSON")


def _first_difference(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))
