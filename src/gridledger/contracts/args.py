"""Parsing contract arguments into checked values ("parse, don't validate").

Each ``take_*`` reads one field of a method's ``args`` object and returns it checked, or raises
InvalidTransaction naming the field and what was wrong with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridledger import codec
from gridledger.crypto import is_address
from gridledger.errors import InvalidTransaction, Oversized

HEX = frozenset("0123456789abcdef")


def require_fields(
    args: Mapping[str, Any], required: frozenset[str], optional: frozenset[str] = frozenset()
) -> None:
    missing = sorted(required - set(args))
    if missing:
        raise InvalidTransaction(f"missing argument(s): {', '.join(missing)}")
    unknown = sorted(set(args) - required - optional)
    if unknown:
        raise InvalidTransaction(f"unknown argument(s): {', '.join(unknown)}")


def take_str(args: Mapping[str, Any], name: str, *, max_chars: int, min_chars: int = 1) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise InvalidTransaction(f"{name} must be a string")
    if not min_chars <= len(value) <= max_chars:
        raise InvalidTransaction(
            f"{name} must have {min_chars} to {max_chars} characters, not {len(value)}"
        )
    return value


def take_int(args: Mapping[str, Any], name: str, *, minimum: int, maximum: int) -> int:
    value = args.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTransaction(f"{name} must be an integer")
    if not minimum <= value <= maximum:
        raise InvalidTransaction(f"{name} must be between {minimum} and {maximum}, not {value}")
    return value


def take_hex32(args: Mapping[str, Any], name: str) -> str:
    """A SHA-256 digest or Merkle root: 64 lowercase hex characters."""
    value = args.get(name)
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= HEX:
        raise InvalidTransaction(f"{name} must be 64 lowercase hex characters (a SHA-256 digest)")
    return value


def take_address(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not is_address(value):
        raise InvalidTransaction(f"{name} must be an address (gl + 40 hex characters)")
    return str(value)


def take_name_list(
    args: Mapping[str, Any],
    name: str,
    *,
    max_items: int,
    min_items: int = 0,
    addresses: bool = False,
) -> tuple[str, ...]:
    value = args.get(name)
    if not isinstance(value, list) or not min_items <= len(value) <= max_items:
        raise InvalidTransaction(f"{name} must be a list of {min_items} to {max_items} items")
    for item in value:
        if addresses and not is_address(item):
            raise InvalidTransaction(f"{name}: {item!r} is not an address")
        if not isinstance(item, str) or not item:
            raise InvalidTransaction(f"{name}: every item must be a non-empty string")
    if len(set(value)) != len(value):
        raise InvalidTransaction(f"{name} lists the same item twice")
    return tuple(value)


def take_object(
    args: Mapping[str, Any], name: str, *, max_bytes: int, max_depth: int
) -> dict[str, Any]:
    """A free-form object, limited in size and in nesting (it is nested again in log entries and
    certificates, which must stay within the codec's depth limit)."""
    value = args.get(name, {})
    if not isinstance(value, dict):
        raise InvalidTransaction(f"{name} must be an object")
    if not value:
        return value
    size = len(codec.encode(value))
    if size > max_bytes:
        raise Oversized(f"{name} is {size} bytes as canonical JSON; the limit is {max_bytes}")
    depth = compute_depth(value)
    if depth > max_depth:
        raise Oversized(f"{name} is nested {depth} levels deep; the limit is {max_depth}")
    return value


def compute_depth(value: Any) -> int:
    """Levels of objects and arrays: 0 for a scalar, 1 for ``{}`` or ``[1]``."""
    if isinstance(value, dict):
        return 1 + max(map(compute_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(compute_depth, value), default=0)
    return 0
