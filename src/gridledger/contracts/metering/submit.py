"""``submit_readings``: a batch of interval readings, checked reading by reading, then turned
into per-interval energy for settlement.

Checks, for each reading in batch order (the first failure rejects the whole batch and names
the reading): the meter is registered, active and measures the channel; the interval has ended
by the block's time; the register fits the meter's register width; the meter's signature (when
the reading carries one); the interval is later than the meter's latest reading on the channel
(the same interval is a duplicate); OCMF-style page continuity when pages are used; and a
register below the previous one is accepted only as one plausible rollover at
``2**register_bits`` (domain report 4.4 invariant 1).

Gaps are not rejected: a ``gap`` record is stored and, when at most
``MAX_ESTIMATED_GAP_INTERVALS`` intervals are missing (≤ 1 h, point-to-point estimation), the
register difference is split linearly over the missing intervals and the current one, each
marked ``estimated``. Longer gaps keep their register difference in the gap record only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gridledger import codec
from gridledger.contracts.metering.reading import (
    INTERVAL_S,
    Reading,
    SubmitReadings,
    compute_interval_energies,
    compute_register_delta,
    encode_batch_sign_bytes,
    encode_reading_leaf,
    encode_reading_sign_bytes,
    is_plausible_energy,
)
from gridledger.contracts.metering.registry import ACTIVE, CHANNELS, get_head_end, get_meter
from gridledger.crypto import ED25519, VERIFIED
from gridledger.errors import (
    Conflict,
    GridledgerError,
    InvalidSignature,
    NotFound,
    RuleViolation,
)
from gridledger.ledger.context import BlockEnv, TxContext
from gridledger.ledger.gridclock import read_grid_time_ms
from gridledger.ledger.state import State
from gridledger.merkle.tree import HASH_SIZE, inclusion_proof_from_hashes

# -- constants ---------------------------------------------------------------------------------

MAX_ESTIMATED_GAP_INTERVALS = 4  # point-to-point estimation only for gaps of ≤ 1 hour [S77]
ACTUAL, ESTIMATED = "actual", "estimated"
SPIKE = "spike"  # above max_power_w * 900 s (domain report 4-D)

# -- readers -----------------------------------------------------------------------------------


def _series(meter_id: str, channel: str, interval_start: int) -> str:
    return f"{meter_id}/{channel}/{interval_start:012d}"


def reading_key(meter_id: str, channel: str, interval_start: int) -> str:
    return f"metering/reading/{_series(meter_id, channel, interval_start)}"


def interval_key(meter_id: str, channel: str, interval_start: int) -> str:
    return f"metering/interval/{_series(meter_id, channel, interval_start)}"


def gap_key(meter_id: str, channel: str, first_missing: int) -> str:
    return f"metering/gap/{_series(meter_id, channel, first_missing)}"


def last_key(meter_id: str, channel: str) -> str:
    return f"metering/last/{meter_id}/{channel}"


def batch_key(root_hex: str) -> str:
    return f"metering/batch/{root_hex}"


def leaves_key(root_hex: str) -> str:
    return f"metering/leaves/{root_hex}"


def get_reading(
    state: State, meter_id: str, interval_start: int, channel: str | None = None
) -> dict[str, Any] | None:
    series = _channel_of(state, meter_id, channel)
    value: dict[str, Any] | None = state.get_json(reading_key(meter_id, series, interval_start))
    return value


def get_interval(
    state: State, meter_id: str, interval_start: int, channel: str | None = None
) -> dict[str, Any] | None:
    """The derived interval record: energy, source, flags and whether it is billable."""
    series = _channel_of(state, meter_id, channel)
    value: dict[str, Any] | None = state.get_json(interval_key(meter_id, series, interval_start))
    return value


def get_interval_energy(
    state: State, meter_id: str, interval_start: int, channel: str | None = None
) -> int | None:
    """Billable Wh of the interval starting at ``interval_start`` (actual or estimated), or None
    when there is no derived energy or it is not billable (spike, OCMF error flag)."""
    record = get_interval(state, meter_id, interval_start, channel)
    if record is None or not record["billable"]:
        return None
    return int(record["energy_wh"])


def get_gap(
    state: State, meter_id: str, first_missing: int, channel: str | None = None
) -> dict[str, Any] | None:
    series = _channel_of(state, meter_id, channel)
    value: dict[str, Any] | None = state.get_json(gap_key(meter_id, series, first_missing))
    return value


def get_batch(state: State, root_hex: str) -> dict[str, Any] | None:
    value: dict[str, Any] | None = state.get_json(batch_key(root_hex))
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadingProof:
    """An RFC 9162 inclusion path of one reading's leaf under its batch root."""

    leaf: bytes
    index: int
    size: int
    path: tuple[bytes, ...]
    root: bytes


def compute_reading_proof(
    state: State, meter_id: str, interval_start: int, channel: str | None = None
) -> ReadingProof:
    reading = get_reading(state, meter_id, interval_start, channel)
    if reading is None:
        raise NotFound(f"no reading of meter {meter_id} for interval {interval_start}")
    packed = state.get(leaves_key(reading["batch"])) or b""
    hashes = [packed[i : i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE)]
    index = int(reading["index"])
    leaf = encode_reading_leaf(
        Reading(
            meter=reading["meter"],
            channel=reading["channel"],
            interval_start=int(reading["interval_start"]),
            register_wh=int(reading["register_wh"]),
            page=reading["page"],
            error_flags=reading["error_flags"],
            signature=None,
        )
    )
    return ReadingProof(
        leaf=leaf,
        index=index,
        size=len(hashes),
        path=tuple(inclusion_proof_from_hashes(hashes, index)),
        root=bytes.fromhex(reading["batch"]),
    )


def _channel_of(state: State, meter_id: str, channel: str | None) -> str:
    """The channel asked for, or the meter's only one."""
    if channel is not None:
        return channel
    meter = get_meter(state, meter_id)
    if meter is None:
        raise NotFound(f"meter {meter_id} is not registered")
    channels = CHANNELS[meter["direction"]]
    if len(channels) != 1:
        raise RuleViolation(f"meter {meter_id} measures both directions; name the channel")
    return channels[0]


# -- processing --------------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    """Everything a batch will write, computed once by the checks and again by apply."""

    gaps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    intervals: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    last: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def compute_plan(state: State, env: BlockEnv, msg: SubmitReadings, *, verify: bool) -> Plan:
    """The batch's checks, reading by reading; raises the first failure, else what to write."""
    if get_batch(state, msg.root.hex()) is not None:
        raise Conflict(f"batch {msg.root.hex()} was already submitted")
    if msg.head_end is not None and verify:
        _verify_head_end(state, msg)
    plan = Plan()
    now_s = read_grid_time_ms(state, env) // 1000
    for index, (reading, leaf) in enumerate(zip(msg.readings, msg.leaves, strict=True)):
        try:
            _plan_reading(state, now_s, plan, reading, leaf, verify=verify)
        except GridledgerError as exc:
            where = f"{reading.meter} {reading.channel} {reading.interval_start}"
            raise type(exc)(f"reading {index} ({where}): {exc.message}") from exc
    return plan


def _verify_head_end(state: State, msg: SubmitReadings) -> None:
    head_end_id = msg.head_end or ""
    head_end = get_head_end(state, head_end_id)
    if head_end is None:
        raise NotFound(f"head-end system {head_end_id} is not registered")
    if head_end["status"] != ACTIVE:
        raise RuleViolation(f"head-end system {head_end_id} is {head_end['status']}")
    message = encode_batch_sign_bytes(head_end_id, msg.root)
    try:
        VERIFIED.verify(
            ED25519, bytes.fromhex(head_end["public_key"]), message, msg.head_end_signature or b""
        )
    except InvalidSignature as exc:
        raise InvalidSignature(
            f"batch signature of head-end system {head_end_id} does not verify: {exc.message}"
        ) from exc


def _plan_reading(
    state: State, now_s: int, plan: Plan, reading: Reading, leaf: bytes, *, verify: bool
) -> None:
    meter = get_meter(state, reading.meter)
    if meter is None:
        raise NotFound(f"meter {reading.meter} is not registered")
    if meter["status"] != ACTIVE:
        raise RuleViolation(f"meter {reading.meter} is {meter['status']}; it takes no readings")
    if reading.channel not in CHANNELS[meter["direction"]]:
        raise RuleViolation(f"meter {reading.meter} measures {meter['direction']} only")
    if reading.interval_start + INTERVAL_S > now_s:
        raise RuleViolation(f"the interval has not ended by the block's grid time ({now_s} s)")
    if reading.register_wh >= 1 << meter["register_bits"]:
        raise RuleViolation(
            f"register {reading.register_wh} does not fit the meter's {meter['register_bits']} bits"
        )
    if verify and reading.signature is not None:
        message = encode_reading_sign_bytes(leaf)
        VERIFIED.verify(ED25519, bytes.fromhex(meter["public_key"]), message, reading.signature)
    series = (reading.meter, reading.channel)
    last = plan.last.get(series) or state.get_json(last_key(*series))
    if last is not None:
        _plan_energy(plan, meter, reading, last)
    plan.last[series] = {
        "error_flags": reading.error_flags,
        "interval_start": reading.interval_start,
        "page": reading.page,
        "register_wh": reading.register_wh,
    }


def _plan_energy(plan: Plan, meter: dict[str, Any], reading: Reading, last: dict[str, Any]) -> None:
    previous_start = int(last["interval_start"])
    if reading.interval_start == previous_start:
        raise Conflict("the meter already has a reading for this interval")
    if reading.interval_start < previous_start:
        raise RuleViolation(
            f"the meter's latest reading is for interval {previous_start}; readings must come in "
            "interval order"
        )
    if last["page"] is not None and reading.page != last["page"] + 1:
        raise RuleViolation(
            f"page gap: the meter's last page is {last['page']}, so this reading must be page "
            f"{last['page'] + 1}, not {reading.page}"
        )
    elapsed = reading.interval_start - previous_start
    delta, rolled = compute_register_delta(
        last["register_wh"], reading.register_wh, meter["register_bits"]
    )
    if rolled and not is_plausible_energy(delta, meter["max_power_w"], elapsed):
        raise RuleViolation(
            f"register decreased from {last['register_wh']} to {reading.register_wh}; a "
            f"rollover would mean {delta} Wh in {elapsed} s, above max_power_w "
            f"{meter['max_power_w']}"
        )
    missing = elapsed // INTERVAL_S - 1
    flags = sorted(set(last["error_flags"]) | set(reading.error_flags))
    if missing:
        _plan_gap(plan, reading, previous_start, missing, delta)
    if missing > MAX_ESTIMATED_GAP_INTERVALS:
        return
    source = ESTIMATED if missing else ACTUAL
    energies = compute_interval_energies(delta, missing + 1)
    for step, energy_wh in enumerate(energies, start=1):
        start = previous_start + step * INTERVAL_S
        _plan_interval(plan, meter, reading, start, energy_wh, source, flags, rolled)


def _plan_gap(plan: Plan, reading: Reading, previous_start: int, missing: int, delta: int) -> None:
    first_missing = previous_start + INTERVAL_S
    gap = {
        "channel": reading.channel,
        "delta_wh": delta,
        "estimated": missing <= MAX_ESTIMATED_GAP_INTERVALS,
        "first_missing": first_missing,
        "meter": reading.meter,
        "missing": missing,
        "next_reading": reading.interval_start,
        "previous_reading": previous_start,
    }
    plan.gaps.append((gap_key(reading.meter, reading.channel, first_missing), gap))
    plan.events.append(("metering.gap", gap))


def _plan_interval(
    plan: Plan,
    meter: dict[str, Any],
    reading: Reading,
    start: int,
    energy_wh: int,
    source: str,
    error_flags: list[str],
    rolled: bool,
) -> None:
    flags = list(error_flags)
    if not is_plausible_energy(energy_wh, meter["max_power_w"], INTERVAL_S):
        flags.append(SPIKE)
        plan.events.append(
            (
                "metering.spike",
                {"meter": reading.meter, "interval_start": start, "energy_wh": energy_wh},
            )
        )
    record = {
        "billable": not flags,
        "channel": reading.channel,
        "energy_wh": energy_wh,
        "flags": sorted(flags),
        "interval_start": start,
        "meter": reading.meter,
        "rollover": rolled,
        "source": source,
    }
    plan.intervals.append((interval_key(reading.meter, reading.channel, start), record))


_PLAN = "metering.plan"


def check_submit_readings(ctx: TxContext, msg: SubmitReadings) -> None:
    ctx.memo[_PLAN] = compute_plan(ctx.state, ctx.env, msg, verify=True)


def apply_submit_readings(ctx: TxContext, msg: SubmitReadings) -> None:
    plan = ctx.memo.pop(_PLAN, None)
    if not isinstance(plan, Plan):  # apply called without check on this context
        plan = compute_plan(ctx.state, ctx.env, msg, verify=True)
    root_hex = msg.root.hex()
    log_index = ctx.append_log("metering.submit_readings")
    tx_id = ctx.tx.tx_id.hex()
    put = ctx.state.put
    height = ctx.env.height
    for index, reading in enumerate(msg.readings):
        key = reading_key(reading.meter, reading.channel, reading.interval_start)
        put(key, encode_reading_record(reading, root_hex, index, height, tx_id))
    put(leaves_key(root_hex), b"".join(msg.leaf_hashes))
    for key, value in plan.gaps:
        ctx.state.put_json(key, value)
    for key, record in plan.intervals:
        put(key, encode_interval_record(record))
    for (meter_id, channel), last in sorted(plan.last.items()):
        put(last_key(meter_id, channel), encode_last_record(last))
    batch = {
        "count": len(msg.readings),
        "head_end": msg.head_end,
        "height": ctx.env.height,
        "log_index": log_index,
        "root": root_hex,
        "submitter": ctx.sender,
        "time_ms": ctx.env.time_ms,
        "tx_id": tx_id,
    }
    ctx.state.put_json(batch_key(root_hex), batch)
    for type_, attributes in plan.events:
        ctx.emit(type_, **attributes)
    ctx.emit(
        "metering.readings_accepted",
        root=root_hex,
        count=len(msg.readings),
        head_end=msg.head_end,
        log_index=log_index,
    )


# -- record encoding -----------------------------------------------------------------------------
#
# A batch writes three records per reading. Their canonical JSON is written from templates, not by
# the generic encoder: every string in them needs no escaping (meter ids match
# ``[A-Za-z0-9._:-]``, channels are ``import``/``export``, flags are letters, hashes are hex), so
# the canonical text is the template, once every integer is in the signed 64-bit range (else the
# generic encoder is called, and refuses). Tests compare both encoders over generated records.


def _fits(*numbers: int) -> bool:
    return all(codec.INT_MIN <= n <= codec.INT_MAX for n in numbers)


def _json_int_or_null(value: int | None) -> str:
    return "null" if value is None else str(value)


def encode_reading_record(
    reading: Reading, root_hex: str, index: int, height: int, tx_id_hex: str
) -> bytes:
    """Canonical JSON of a stored reading: ``{"batch","channel","error_flags","height",
    "index","interval_start","meter","page","register_wh","signature","tx_id"}``."""
    page = reading.page
    if not _fits(height, index, reading.interval_start, reading.register_wh, page or 0):
        return codec.encode(_reading_record(reading, root_hex, index, height, tx_id_hex))
    signature = "null" if reading.signature is None else f'"{reading.signature.hex()}"'
    return (
        f'{{"batch":"{root_hex}","channel":"{reading.channel}",'
        f'"error_flags":"{reading.error_flags}","height":{height},"index":{index},'
        f'"interval_start":{reading.interval_start},"meter":"{reading.meter}",'
        f'"page":{_json_int_or_null(page)},"register_wh":{reading.register_wh},'
        f'"signature":{signature},"tx_id":"{tx_id_hex}"}}'
    ).encode("ascii")


def _reading_record(
    reading: Reading, root_hex: str, index: int, height: int, tx_id_hex: str
) -> dict[str, Any]:
    """The stored reading as a value (what ``encode_reading_record`` writes)."""
    return {
        "batch": root_hex,
        "channel": reading.channel,
        "error_flags": reading.error_flags,
        "height": height,
        "index": index,
        "interval_start": reading.interval_start,
        "meter": reading.meter,
        "page": reading.page,
        "register_wh": reading.register_wh,
        "signature": None if reading.signature is None else reading.signature.hex(),
        "tx_id": tx_id_hex,
    }


def encode_interval_record(record: dict[str, Any]) -> bytes:
    """Canonical JSON of an interval record made by ``_plan_interval``."""
    energy_wh, start = record["energy_wh"], record["interval_start"]
    if not _fits(energy_wh, start):
        return codec.encode(record)
    flags = ",".join(f'"{flag}"' for flag in record["flags"])
    return (
        f'{{"billable":{"true" if record["billable"] else "false"},'
        f'"channel":"{record["channel"]}","energy_wh":{energy_wh},"flags":[{flags}],'
        f'"interval_start":{start},"meter":"{record["meter"]}",'
        f'"rollover":{"true" if record["rollover"] else "false"},"source":"{record["source"]}"}}'
    ).encode("ascii")


def encode_last_record(last: dict[str, Any]) -> bytes:
    """Canonical JSON of a series' latest reading (``metering/last/...``)."""
    start, register, page = last["interval_start"], last["register_wh"], last["page"]
    if not _fits(start, register, page or 0):
        return codec.encode(last)
    return (
        f'{{"error_flags":"{last["error_flags"]}","interval_start":{start},'
        f'"page":{_json_int_or_null(page)},"register_wh":{register}}}'
    ).encode("ascii")
