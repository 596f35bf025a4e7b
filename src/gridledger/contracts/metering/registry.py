"""The meter and head-end registry of the ``metering`` contract.

The grid company registers every meter (owner account, device key, direction, zone, the limits
its readings are checked against) and every head-end system (the collection system that may sign
whole batches of readings). Only an admin account of an organization with the genesis role
``operator`` may change the registry: a meter's owner cannot rotate its key or retire it, because
the key is installed in the device by the operator's field staff and the owner is the party whose
bill the readings drive.

Keys are Ed25519 (RFC 8032). A rotation keeps the old keys in ``key_history`` so readings signed
before it can still be checked by anyone holding the record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridledger.contracts import identity
from gridledger.contracts.args import require_fields, take_address, take_hex32, take_int, take_str
from gridledger.errors import Conflict, InvalidTransaction, NotFound, Unauthorized
from gridledger.ledger.context import TxContext
from gridledger.ledger.state import State

# -- constants ---------------------------------------------------------------------------------

DIRECTIONS = ("both", "export", "import")
CHANNELS = {"import": ("import",), "export": ("export",), "both": ("export", "import")}
ACTIVE, RETIRED = "active", "retired"
DEFAULT_REGISTER_BITS = 32
OPERATOR_ORG_ROLE = "operator"  # the organizations whose admins manage meters and head-ends
MIN_REGISTER_BITS, MAX_REGISTER_BITS = 8, 62  # 2**62 + a delta stays inside signed 64-bit JSON
MAX_POWER_W = 10**9  # 1 GW: far above any single metering point
ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# -- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterMeter:
    meter: str
    owner: str
    public_key: str
    direction: str
    zone: str
    max_power_w: int
    register_bits: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterHeadEnd:
    head_end: str
    public_key: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateKey:
    kind: str  # "meter" or "head_end"
    target: str
    public_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RetireMeter:
    meter: str
    reason: str


# -- predicates --------------------------------------------------------------------------------


def verify_operator(ctx: TxContext) -> None:
    if not identity.is_admin_of_role(ctx.state, ctx.sender, OPERATOR_ORG_ROLE):
        raise Unauthorized(
            f"sender {ctx.sender} is not an admin of a grid operator organization; only the "
            "operator manages meters and head-end systems"
        )


# -- readers -----------------------------------------------------------------------------------


def meter_key(meter_id: str) -> str:
    return f"metering/meter/{meter_id}"


def head_end_key(head_end_id: str) -> str:
    return f"metering/head_end/{head_end_id}"


def get_meter(state: State, meter_id: str) -> dict[str, Any] | None:
    meter: dict[str, Any] | None = state.get_json(meter_key(meter_id))
    return meter


def get_head_end(state: State, head_end_id: str) -> dict[str, Any] | None:
    head_end: dict[str, Any] | None = state.get_json(head_end_key(head_end_id))
    return head_end


# -- parsing -----------------------------------------------------------------------------------


def take_id(args: Mapping[str, Any], name: str) -> str:
    value = take_str(args, name, max_chars=64)
    if not ID_PATTERN.fullmatch(value):
        raise InvalidTransaction(f"{name} must be 1 to 64 of A-Z a-z 0-9 . _ : -, not {value!r}")
    return value


def parse_register_meter(args: Mapping[str, Any]) -> RegisterMeter:
    required = frozenset({"meter", "owner", "public_key", "direction", "zone", "max_power_w"})
    require_fields(args, required, frozenset({"register_bits"}))
    direction = args.get("direction")
    if direction not in DIRECTIONS:
        raise InvalidTransaction(f"direction must be one of {', '.join(DIRECTIONS)}")
    bits = (
        take_int(args, "register_bits", minimum=MIN_REGISTER_BITS, maximum=MAX_REGISTER_BITS)
        if "register_bits" in args
        else DEFAULT_REGISTER_BITS
    )
    return RegisterMeter(
        meter=take_id(args, "meter"),
        owner=take_address(args, "owner"),
        public_key=take_hex32(args, "public_key"),
        direction=str(direction),
        zone=take_id(args, "zone"),
        max_power_w=take_int(args, "max_power_w", minimum=1, maximum=MAX_POWER_W),
        register_bits=bits,
    )


def parse_register_head_end(args: Mapping[str, Any]) -> RegisterHeadEnd:
    require_fields(args, frozenset({"head_end", "public_key"}), frozenset({"name"}))
    return RegisterHeadEnd(
        head_end=take_id(args, "head_end"),
        public_key=take_hex32(args, "public_key"),
        name=take_str(args, "name", max_chars=200, min_chars=0) if "name" in args else "",
    )


def parse_rotate_meter_key(args: Mapping[str, Any]) -> RotateKey:
    require_fields(args, frozenset({"meter", "public_key"}))
    return RotateKey(
        kind="meter", target=take_id(args, "meter"), public_key=take_hex32(args, "public_key")
    )


def parse_rotate_head_end_key(args: Mapping[str, Any]) -> RotateKey:
    require_fields(args, frozenset({"head_end", "public_key"}))
    return RotateKey(
        kind="head_end",
        target=take_id(args, "head_end"),
        public_key=take_hex32(args, "public_key"),
    )


def parse_retire_meter(args: Mapping[str, Any]) -> RetireMeter:
    require_fields(args, frozenset({"meter"}), frozenset({"reason"}))
    return RetireMeter(
        meter=take_id(args, "meter"),
        reason=take_str(args, "reason", max_chars=500, min_chars=0) if "reason" in args else "",
    )


# -- processing --------------------------------------------------------------------------------


def check_register_meter(ctx: TxContext, msg: RegisterMeter) -> None:
    verify_operator(ctx)
    if get_meter(ctx.state, msg.meter) is not None:
        raise Conflict(f"meter {msg.meter} is already registered")


def apply_register_meter(ctx: TxContext, msg: RegisterMeter) -> None:
    meter = {
        "direction": msg.direction,
        "id": msg.meter,
        "key_history": [{"from_height": ctx.env.height, "public_key": msg.public_key}],
        "max_power_w": msg.max_power_w,
        "owner": msg.owner,
        "public_key": msg.public_key,
        "register_bits": msg.register_bits,
        "registered_by": ctx.sender,
        "registered_height": ctx.env.height,
        "retired_height": None,
        "retired_reason": "",
        "status": ACTIVE,
        "zone": msg.zone,
    }
    ctx.state.put_json(meter_key(msg.meter), meter)
    ctx.state.put(f"metering/by_owner/{msg.owner}/{msg.meter}", b"")
    ctx.emit("metering.meter_registered", meter=msg.meter, owner=msg.owner, zone=msg.zone)


def check_register_head_end(ctx: TxContext, msg: RegisterHeadEnd) -> None:
    verify_operator(ctx)
    if get_head_end(ctx.state, msg.head_end) is not None:
        raise Conflict(f"head-end system {msg.head_end} is already registered")


def apply_register_head_end(ctx: TxContext, msg: RegisterHeadEnd) -> None:
    head_end = {
        "id": msg.head_end,
        "key_history": [{"from_height": ctx.env.height, "public_key": msg.public_key}],
        "name": msg.name,
        "public_key": msg.public_key,
        "registered_by": ctx.sender,
        "registered_height": ctx.env.height,
        "status": ACTIVE,
    }
    ctx.state.put_json(head_end_key(msg.head_end), head_end)
    ctx.emit("metering.head_end_registered", head_end=msg.head_end)


def _rotation_target(ctx: TxContext, msg: RotateKey) -> tuple[str, dict[str, Any]]:
    key = meter_key(msg.target) if msg.kind == "meter" else head_end_key(msg.target)
    record: dict[str, Any] | None = ctx.state.get_json(key)
    word = "meter" if msg.kind == "meter" else "head-end system"
    if record is None:
        raise NotFound(f"{word} {msg.target} is not registered")
    if record["status"] != ACTIVE:
        raise Conflict(f"{word} {msg.target} is {record['status']}; its key cannot change")
    if record["public_key"] == msg.public_key:
        raise Conflict(f"{word} {msg.target} already uses key {msg.public_key}")
    return key, record


def check_rotate_key(ctx: TxContext, msg: RotateKey) -> None:
    verify_operator(ctx)
    _rotation_target(ctx, msg)


def apply_rotate_key(ctx: TxContext, msg: RotateKey) -> None:
    key, record = _rotation_target(ctx, msg)
    history = [
        *record["key_history"],
        {"from_height": ctx.env.height, "public_key": msg.public_key},
    ]
    ctx.state.put_json(key, {**record, "key_history": history, "public_key": msg.public_key})
    ctx.emit("metering.key_rotated", kind=msg.kind, target=msg.target, public_key=msg.public_key)


def check_retire_meter(ctx: TxContext, msg: RetireMeter) -> None:
    verify_operator(ctx)
    meter = get_meter(ctx.state, msg.meter)
    if meter is None:
        raise NotFound(f"meter {msg.meter} is not registered")
    if meter["status"] == RETIRED:
        raise Conflict(f"meter {msg.meter} is already retired")


def apply_retire_meter(ctx: TxContext, msg: RetireMeter) -> None:
    meter = get_meter(ctx.state, msg.meter)
    if meter is None:  # check_ ran first; kept for the type checker
        raise NotFound(f"meter {msg.meter} is not registered")
    retired = {
        **meter,
        "retired_height": ctx.env.height,
        "retired_reason": msg.reason,
        "status": RETIRED,
    }
    ctx.state.put_json(meter_key(msg.meter), retired)
    ctx.emit("metering.meter_retired", meter=msg.meter, reason=msg.reason)
