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

Readings and derived intervals are stored per series and UTC day (see the readers below).
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridledger import codec
from gridledger.contracts.metering.reading import (
    INTERVAL_S,
    Profile,
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
#
# Readings and derived intervals are kept per series and UTC day, as a meter's 96-point daily
# curve (``metering/readings/...`` and ``metering/intervals/...``): a head-end system collects a
# day's load profiles at once, and one record per day costs the store a row per 96 readings
# instead of two rows per reading. Each record is a canonical JSON list of entries in interval
# order; a series only moves forward, so a batch appends to a day's lists.

DAY_S = 86_400
SLOTS_PER_DAY = DAY_S // INTERVAL_S


def _day_suffix(meter_id: str, channel: str, day_start: int) -> str:
    return f"{meter_id}/{channel}/{day_start:012d}"


def readings_key(meter_id: str, channel: str, day_start: int) -> str:
    """The day's readings: ``[[slot, register_wh, page, error_flags, batch, index, signature],
    ...]`` by slot (the interval's number in the UTC day, 0-95)."""
    return f"metering/readings/{_day_suffix(meter_id, channel, day_start)}"


def intervals_key(meter_id: str, channel: str, day_start: int) -> str:
    """The day's derived intervals: ``[[slot, energy_wh, source, flags, rollover], ...]``."""
    return f"metering/intervals/{_day_suffix(meter_id, channel, day_start)}"


def gap_key(meter_id: str, channel: str, first_missing: int) -> str:
    return f"metering/gap/{meter_id}/{channel}/{first_missing:012d}"


def last_key(meter_id: str, channel: str) -> str:
    return f"metering/last/{meter_id}/{channel}"


def batch_key(root_hex: str) -> str:
    return f"metering/batch/{root_hex}"


def leaves_key(root_hex: str) -> str:
    return f"metering/leaves/{root_hex}"


def _find_entry(
    state: State, day_key: Callable[[str, str, int], str], meter_id: str, channel: str, start: int
) -> list[Any] | None:
    """The entry of the interval starting at ``start`` in the series' day list under
    ``day_key`` (``readings_key`` or ``intervals_key``)."""
    if start % INTERVAL_S:
        return None
    entries: list[list[Any]] | None = state.get_json(
        day_key(meter_id, channel, start - start % DAY_S)
    )
    if not entries:
        return None
    slot = start % DAY_S // INTERVAL_S
    at = bisect.bisect_left(entries, slot, key=lambda entry: entry[0])
    if at < len(entries) and entries[at][0] == slot:
        return entries[at]
    return None


def get_reading(
    state: State, meter_id: str, interval_start: int, channel: str | None = None
) -> dict[str, Any] | None:
    """``{batch, channel, error_flags, height, index, interval_start, meter, page,
    register_wh, signature, tx_id}``, or None."""
    series = _channel_of(state, meter_id, channel)
    entry = _find_entry(state, readings_key, meter_id, series, interval_start)
    if entry is None:
        return None
    _, register_wh, page, error_flags, root_hex, index, signature = entry
    batch = get_batch(state, root_hex) or {}
    return {
        "batch": root_hex,
        "channel": series,
        "error_flags": error_flags,
        "height": batch.get("height"),
        "index": index,
        "interval_start": interval_start,
        "meter": meter_id,
        "page": page,
        "register_wh": register_wh,
        "signature": signature,
        "tx_id": batch.get("tx_id"),
    }


def get_interval(
    state: State, meter_id: str, interval_start: int, channel: str | None = None
) -> dict[str, Any] | None:
    """The derived interval record ``{billable, channel, energy_wh, flags, interval_start,
    meter, rollover, source}``: energy, source, flags and whether it is billable."""
    series = _channel_of(state, meter_id, channel)
    entry = _find_entry(state, intervals_key, meter_id, series, interval_start)
    if entry is None:
        return None
    _, energy_wh, source, flags, rollover = entry
    return {
        "billable": not flags,
        "channel": series,
        "energy_wh": energy_wh,
        "flags": list(flags),
        "interval_start": interval_start,
        "meter": meter_id,
        "rollover": rollover,
        "source": source,
    }


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
    """Everything a batch will write besides its readings, computed by the checks."""

    gaps: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # runs of derived intervals, in batch order: (meter, channel, first interval_start,
    # [energy_wh of each consecutive interval], source, flags, rollover)
    intervals: list[tuple[str, str, int, list[int], str, tuple[str, ...], bool]] = field(
        default_factory=list
    )
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    last: dict[tuple[str, str], Reading] = field(default_factory=dict)  # each series' latest
    ends_by_s: int = 0  # the end of the batch's latest interval: grid time must have reached it
    reads: dict[str, bytes | None] = field(default_factory=dict)  # what the checks read


def _read_last(state: State, series: tuple[str, str]) -> Reading | None:
    """The series' latest stored reading (the ``metering/last/...`` record), unsigned."""
    value = state.get_json(last_key(*series))
    if value is None:
        return None
    return Reading(
        meter=series[0],
        channel=series[1],
        interval_start=int(value["interval_start"]),
        register_wh=int(value["register_wh"]),
        page=value["page"],
        error_flags=value["error_flags"],
        signature=None,
    )


@dataclass(slots=True)
class _Series:
    """Where the checks stand: the series being read, its meter and its latest reading."""

    key: tuple[str, str] | None = None
    meter: dict[str, Any] = field(default_factory=dict)
    public_key: bytes = b""
    last: Reading | None = None


def compute_plan(state: State, env: BlockEnv, msg: SubmitReadings, *, verify: bool) -> Plan:
    """The batch's checks, reading by reading; raises the first failure, else what to write.

    A batch usually holds runs of one series (a meter's load profile), so the meter and its
    latest reading are looked up once per run. A profile whose readings all pass plainly
    (ended, fitting, signed, no gap inside, no decrease, no spike) is planned as one run
    (``_plan_profile``); anything else goes reading by reading in batch order, which decides
    and names the first failure (tests compare the two on generated batches)."""
    if get_batch(state, msg.root.hex()) is not None:
        raise Conflict(f"batch {msg.root.hex()} was already submitted")
    if msg.head_end is not None and verify:
        _verify_head_end(state, msg)
    plan = Plan()
    now_s = read_grid_time_ms(state, env) // 1000
    series = _Series()
    if msg.profiles is None:
        _plan_readings(state, plan, series, msg.readings, msg.leaves, 0, now_s, verify=verify)
        ends = max((r.interval_start for r in msg.readings), default=0)
    else:
        for profile in msg.profiles:
            if not _plan_profile(state, plan, series, profile, msg.leaves, now_s, verify=verify):
                readings = profile.readings()
                _plan_readings(
                    state, plan, series, readings, msg.leaves, profile.offset, now_s, verify=verify
                )
        ends = max((p.last_interval for p in msg.profiles), default=0)
    if series.key is not None and series.last is not None:
        plan.last[series.key] = series.last
    plan.ends_by_s = ends + INTERVAL_S
    return plan


def _enter_series(state: State, plan: Plan, series: _Series, reading: Reading) -> None:
    """Move the checks to ``reading``'s series when it is another one."""
    key = (reading.meter, reading.channel)
    if key == series.key:
        return
    if series.key is not None and series.last is not None:
        plan.last[series.key] = series.last
    series.key = key
    series.meter = _check_meter(state, reading)
    series.public_key = bytes.fromhex(series.meter["public_key"])
    series.last = plan.last.get(key) or _read_last(state, key)


def _plan_readings(
    state: State,
    plan: Plan,
    series: _Series,
    readings: Sequence[Reading],
    leaves: Sequence[bytes],
    offset: int,
    now_s: int,
    *,
    verify: bool,
) -> None:
    """Each reading's checks in order; the first failure is raised naming the reading."""
    for index, reading in enumerate(readings, start=offset):
        try:
            _enter_series(state, plan, series, reading)
            meter = series.meter
            if reading.interval_start + INTERVAL_S > now_s:
                raise RuleViolation(
                    f"the interval has not ended by the block's grid time ({now_s} s)"
                )
            if reading.register_wh >= 1 << meter["register_bits"]:
                raise RuleViolation(
                    f"register {reading.register_wh} does not fit the meter's "
                    f"{meter['register_bits']} bits"
                )
            if verify and reading.signature is not None:
                message = encode_reading_sign_bytes(leaves[index])
                VERIFIED.verify(ED25519, series.public_key, message, reading.signature)
            if series.last is not None:
                _plan_energy(plan, meter, reading, series.last)
            series.last = reading
        except GridledgerError as exc:
            where = f"{reading.meter} {reading.channel} {reading.interval_start}"
            raise type(exc)(f"reading {index} ({where}): {exc.message}") from exc


def _plan_profile(
    state: State,
    plan: Plan,
    series: _Series,
    profile: Profile,
    leaves: Sequence[bytes],
    now_s: int,
    *,
    verify: bool,
) -> bool:
    """Plan a whole profile as one run when every reading passes plainly; else change nothing
    but the series and return False, for ``_plan_readings`` to decide reading by reading.

    Plainly: the last interval has ended, the highest register fits, every signature verifies,
    the first reading follows the series' latest as ``_plan_energy`` accepts it, and each later
    one is the next interval with a register no lower and an energy no spike."""
    first = profile.reading(0)
    try:
        _enter_series(state, plan, series, first)
    except GridledgerError as exc:
        where = f"{first.meter} {first.channel} {first.interval_start}"
        raise type(exc)(f"reading {profile.offset} ({where}): {exc.message}") from exc
    meter, registers = series.meter, profile.registers
    if profile.last_interval + INTERVAL_S > now_s or max(registers) >> meter["register_bits"]:
        return False
    if verify and profile.signatures is not None:
        public_key, at = series.public_key, profile.offset
        try:
            for leaf, signature in zip(
                leaves[at : at + len(registers)], profile.signatures, strict=True
            ):
                message = encode_reading_sign_bytes(leaf)
                VERIFIED.verify(ED25519, public_key, message, signature)
        except GridledgerError:
            return False
    energies = list(map(operator.sub, registers[1:], registers))
    if energies and (
        min(energies) < 0
        or not is_plausible_energy(max(energies), meter["max_power_w"], INTERVAL_S)
    ):
        return False
    first_plan = Plan()
    if series.last is not None:
        try:
            _plan_energy(first_plan, meter, first, series.last)
        except GridledgerError:
            return False
    plan.gaps.extend(first_plan.gaps)
    plan.events.extend(first_plan.events)
    plan.intervals.extend(first_plan.intervals)
    if energies:
        start = profile.first_interval + INTERVAL_S
        plan.intervals.append((first.meter, first.channel, start, energies, ACTUAL, (), False))
    series.last = profile.reading(len(registers) - 1)
    return True


def _check_meter(state: State, reading: Reading) -> dict[str, Any]:
    meter = get_meter(state, reading.meter)
    if meter is None:
        raise NotFound(f"meter {reading.meter} is not registered")
    if meter["status"] != ACTIVE:
        raise RuleViolation(f"meter {reading.meter} is {meter['status']}; it takes no readings")
    if reading.channel not in CHANNELS[meter["direction"]]:
        raise RuleViolation(f"meter {reading.meter} measures {meter['direction']} only")
    return meter


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


def _plan_energy(plan: Plan, meter: dict[str, Any], reading: Reading, last: Reading) -> None:
    previous_start = last.interval_start
    if reading.interval_start == previous_start:
        raise Conflict("the meter already has a reading for this interval")
    if reading.interval_start < previous_start:
        raise RuleViolation(
            f"the meter's latest reading is for interval {previous_start}; readings must come in "
            "interval order"
        )
    if last.page is not None and reading.page != last.page + 1:
        raise RuleViolation(
            f"page gap: the meter's last page is {last.page}, so this reading must be page "
            f"{last.page + 1}, not {reading.page}"
        )
    elapsed = reading.interval_start - previous_start
    delta, rolled = compute_register_delta(
        last.register_wh, reading.register_wh, meter["register_bits"]
    )
    max_power_w = meter["max_power_w"]
    if rolled and not is_plausible_energy(delta, max_power_w, elapsed):
        raise RuleViolation(
            f"register decreased from {last.register_wh} to {reading.register_wh}; a "
            f"rollover would mean {delta} Wh in {elapsed} s, above max_power_w {max_power_w}"
        )
    missing = elapsed // INTERVAL_S - 1
    error_flags: tuple[str, ...] = ()
    if last.error_flags or reading.error_flags:
        error_flags = tuple(sorted(set(last.error_flags) | set(reading.error_flags)))
    if missing:
        _plan_gap(plan, reading, previous_start, missing, delta)
    if missing > MAX_ESTIMATED_GAP_INTERVALS:
        return
    source = ESTIMATED if missing else ACTUAL
    energies = compute_interval_energies(delta, missing + 1) if missing else (delta,)
    for step, energy_wh in enumerate(energies, start=1):
        start = previous_start + step * INTERVAL_S
        flags = error_flags
        if not is_plausible_energy(energy_wh, max_power_w, INTERVAL_S):
            flags = tuple(sorted((*error_flags, SPIKE)))
            plan.events.append(
                (
                    "metering.spike",
                    {"meter": reading.meter, "interval_start": start, "energy_wh": energy_wh},
                )
            )
        plan.intervals.append(
            (reading.meter, reading.channel, start, [energy_wh], source, flags, rolled)
        )


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


_PLAN = "metering.plan"


def check_submit_readings(ctx: TxContext, msg: SubmitReadings) -> None:
    """The plan CheckTx computed for these bytes when it still holds, else a new one.

    A plan is a function of the message, the bytes of the keys it read and, through the
    "interval has ended" check, the block's grid time: so it holds when every key it read
    is unchanged and the grid time has reached the end of the batch's latest interval."""
    earlier = ctx.check_tx_memo.get(_PLAN)
    if (
        isinstance(earlier, Plan)
        and earlier.ends_by_s <= read_grid_time_ms(ctx.state, ctx.env) // 1000
        and ctx.state.reads_unchanged(earlier.reads)
    ):
        ctx.memo[_PLAN] = earlier
        return
    with ctx.state.recording_reads() as reads:
        plan = compute_plan(ctx.state, ctx.env, msg, verify=True)
    plan.reads = reads
    ctx.memo[_PLAN] = plan


def apply_submit_readings(ctx: TxContext, msg: SubmitReadings) -> None:
    plan = ctx.memo.pop(_PLAN, None)
    if not isinstance(plan, Plan):  # apply called without check on this context
        plan = compute_plan(ctx.state, ctx.env, msg, verify=True)
    root_hex = msg.root.hex()
    log_index = ctx.append_log("metering.submit_readings")
    state = ctx.state
    if msg.profiles is None:
        entries = (
            (r.meter, r.channel, r.interval_start, encode_reading_entry(r, root_hex, i))
            for i, r in enumerate(msg.readings)
        )
    else:
        entries = (chunk for p in msg.profiles for chunk in encode_profile_entries(p, root_hex))
    _append_to_days(state, readings_key, entries)
    _append_to_days(
        state,
        intervals_key,
        (chunk for run in plan.intervals for chunk in encode_interval_entries(*run)),
    )
    state.put(leaves_key(root_hex), msg.leaf_hashes)
    for key, value in plan.gaps:
        state.put_json(key, value)
    for (meter_id, channel), last in sorted(plan.last.items()):
        state.put(last_key(meter_id, channel), encode_last_record(last))
    tx_id = ctx.tx.tx_id.hex()
    batch = {
        "count": msg.count,
        "head_end": msg.head_end,
        "height": ctx.env.height,
        "log_index": log_index,
        "root": root_hex,
        "submitter": ctx.sender,
        "time_ms": ctx.env.time_ms,
        "tx_id": tx_id,
    }
    state.put_json(batch_key(root_hex), batch)
    for type_, attributes in plan.events:
        ctx.emit(type_, **attributes)
    ctx.emit(
        "metering.readings_accepted",
        root=root_hex,
        count=msg.count,
        head_end=msg.head_end,
        log_index=log_index,
    )


# -- record encoding -----------------------------------------------------------------------------
#
# The day lists and the latest-reading records are written from templates, not by the generic
# canonical encoder: every string in them needs no escaping (meter ids match ``[A-Za-z0-9._:-]``,
# channels are ``import``/``export``, flags are letters, hashes are hex) and every integer is
# bounded by parsing (registers and energies below 2**63, pages at most 2**53), so the canonical
# text is the template. A value outside the signed 64-bit range still goes to the generic
# encoder, which refuses it. Tests compare both encoders over generated entries.


def _fits(*numbers: int) -> bool:
    return min(numbers) >= codec.INT_MIN and max(numbers) <= codec.INT_MAX


def _json_int_or_null(value: int | None) -> str:
    return "null" if value is None else str(value)


def _append_to_days(
    state: State,
    day_key: Callable[[str, str, int], str],
    chunks: Iterable[tuple[str, str, int, bytes]],
) -> None:
    """Append each chunk ``(meter, channel, interval_start, entries)`` (canonical JSON entries
    of one day, joined by commas) to its series' day list under ``day_key``
    (``readings_key`` or ``intervals_key``), one write per day list."""
    by_key: dict[str, list[bytes]] = {}
    day_of_list: tuple[str, str, int] | None = None
    listed: list[bytes] = []
    for meter_id, channel, start, chunk in chunks:
        day = (meter_id, channel, start - start % DAY_S)
        if day != day_of_list:  # chunks come in runs of one series and day
            day_of_list = day
            listed = by_key.setdefault(day_key(*day), [])
        listed.append(chunk)
    for key, listed in by_key.items():
        state.put(key, _append_entries(state.get(key), listed))


def _append_entries(stored: bytes | None, entries: list[bytes]) -> bytes:
    """A day list with ``entries`` (canonical JSON, later slots) appended: the canonical JSON of
    the longer list, without decoding the stored one."""
    joined = b",".join(entries)
    if stored is None or stored == b"[]":
        return b"[" + joined + b"]"
    return stored[:-1] + b"," + joined + b"]"


def encode_reading_entry(reading: Reading, root_hex: str, index: int) -> bytes:
    """Canonical JSON of a reading's day-list entry:
    ``[slot, register_wh, page, error_flags, batch, index, signature]``."""
    slot = reading.interval_start % DAY_S // INTERVAL_S
    page = reading.page
    signature = None if reading.signature is None else reading.signature.hex()
    if not _fits(reading.register_wh, page or 0, index):
        return codec.encode(
            [slot, reading.register_wh, page, reading.error_flags, root_hex, index, signature]
        )
    signed = "null" if signature is None else f'"{signature}"'
    return (
        f'[{slot},{reading.register_wh},{_json_int_or_null(page)},"{reading.error_flags}",'
        f'"{root_hex}",{index},{signed}]'
    ).encode("ascii")


def _day_runs(first_start: int, count: int) -> Iterable[tuple[int, int, int]]:
    """Split ``count`` consecutive intervals from ``first_start`` by UTC day: for each day,
    ``(interval_start, first slot, how many)``."""
    at = 0
    while at < count:
        start = first_start + at * INTERVAL_S
        slot = start % DAY_S // INTERVAL_S
        taken = min(count - at, SLOTS_PER_DAY - slot)
        yield start, slot, taken
        at += taken


def encode_profile_entries(
    profile: Profile, root_hex: str
) -> Iterable[tuple[str, str, int, bytes]]:
    """The day-list entries of a profile's readings (``encode_reading_entry`` of each), as
    ``_append_to_days`` chunks: the profile's registers fit 64 bits (parsing bounds them), it
    has no page and no flags, so one template serves every entry."""
    registers = profile.registers
    signed = (
        ["null"] * len(registers)
        if profile.signatures is None
        else [f'"{signature.hex()}"' for signature in profile.signatures]
    )
    middle = f',null,"","{root_hex}",'
    at = 0
    for start, slot, taken in _day_runs(profile.first_interval, len(registers)):
        index = profile.offset + at
        text = ",".join(
            f"[{slot + k},{registers[at + k]}{middle}{index + k},{signed[at + k]}]"
            for k in range(taken)
        )
        yield profile.meter, profile.channel, start, text.encode("ascii")
        at += taken


def encode_interval_entries(
    meter_id: str,
    channel: str,
    first_start: int,
    energies: list[int],
    source: str,
    flags: tuple[str, ...],
    rolled: bool,
) -> Iterable[tuple[str, str, int, bytes]]:
    """The day-list entries ``[slot, energy_wh, source, flags, rollover]`` of a run of
    consecutive derived intervals, as ``_append_to_days`` chunks."""
    if not _fits(*energies):
        for at, energy_wh in enumerate(energies):
            start = first_start + at * INTERVAL_S
            entry = [start % DAY_S // INTERVAL_S, energy_wh, source, list(flags), rolled]
            yield meter_id, channel, start, codec.encode(entry)
        return
    listed = ",".join(f'"{flag}"' for flag in flags)
    tail = f',"{source}",[{listed}],{"true" if rolled else "false"}]'
    at = 0
    for start, slot, taken in _day_runs(first_start, len(energies)):
        text = ",".join(f"[{slot + k},{energies[at + k]}{tail}" for k in range(taken))
        yield meter_id, channel, start, text.encode("ascii")
        at += taken


def encode_last_record(last: Reading) -> bytes:
    """Canonical JSON of a series' latest reading (``metering/last/...``):
    ``{"error_flags","interval_start","page","register_wh"}``."""
    record = {
        "error_flags": last.error_flags,
        "interval_start": last.interval_start,
        "page": last.page,
        "register_wh": last.register_wh,
    }
    if not _fits(last.interval_start, last.register_wh, last.page or 0):
        return codec.encode(record)
    return (
        f'{{"error_flags":"{last.error_flags}","interval_start":{last.interval_start},'
        f'"page":{_json_int_or_null(last.page)},"register_wh":{last.register_wh}}}'
    ).encode("ascii")
