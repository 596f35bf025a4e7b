"""Building and signing batches of interval readings for ``metering.submit_readings``, in the
two ways the contract accepts (docs/contracts/metering.md, "What is signed"):

- meter-signed: every reading carries its meter's Ed25519 signature over its leaf;
- head-end-signed: one signature of a registered head-end system over the batch's RFC 9162 root.

The bytes come from the contract's own encoders (``encode_reading_sign_bytes``,
``encode_batch_sign_bytes``, ``compute_batch_root``), and every batch is parsed by the contract's
parser before it is returned, so a batch this module builds is one the ledger reads the same way.
Used by the SDK, the CLI (``gridledger meter submit-readings``), the demo and the benchmarks::

    readings = [make_reading("m1", "import", 1_795_000_500, 12_345_820)]
    args = build_meter_signed_batch(readings, {"m1": meter_key})
    args = build_head_end_batch(readings, "he1", head_end_key)
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gridledger.contracts.metering import (
    compute_batch_root,
    encode_batch_sign_bytes,
    encode_reading_sign_bytes,
)
from gridledger.contracts.metering.reading import MAX_READINGS, Reading, parse_submit_readings
from gridledger.crypto import Signer
from gridledger.errors import DecodeError, GridledgerError, InvalidTransaction

INTERVAL_S = 900
CSV_COLUMNS = ("meter", "channel", "interval_start", "register_wh")
CSV_OPTIONAL = ("page", "error_flags")

__all__ = [
    "MAX_READINGS",
    "build_head_end_batch",
    "build_meter_signed_batch",
    "encode_profiles",
    "encode_reading_args",
    "iter_batches",
    "make_reading",
    "parse_readings_csv",
    "parse_time_s",
    "sign_reading",
]


def make_reading(
    meter: str,
    channel: str,
    interval_start: int,
    register_wh: int,
    *,
    page: int | None = None,
    error_flags: str = "",
) -> Reading:
    """An unsigned reading: the cumulative register at the end of the interval starting at
    ``interval_start`` (Unix seconds, a multiple of 900)."""
    return Reading(
        meter=meter,
        channel=channel,
        interval_start=interval_start,
        register_wh=register_wh,
        page=page,
        error_flags="".join(sorted(error_flags)),
        signature=None,
    )


def sign_reading(reading: Reading, meter_key: Signer) -> Reading:
    """The reading signed with its meter's device key."""
    signature = meter_key.sign(encode_reading_sign_bytes(reading.leaf))
    return dataclasses.replace(reading, signature=signature)


def encode_reading_args(reading: Reading) -> dict[str, Any]:
    """The reading as one item of ``submit_readings``'s ``readings`` list."""
    item: dict[str, Any] = {
        "meter": reading.meter,
        "channel": reading.channel,
        "interval_start": reading.interval_start,
        "register_wh": reading.register_wh,
    }
    if reading.page is not None:
        item["page"] = reading.page
    if reading.error_flags:
        item["error_flags"] = reading.error_flags
    if reading.signature is not None:
        item["signature"] = reading.signature.hex()
    return item


def build_meter_signed_batch(
    readings: Sequence[Reading], meter_keys: Mapping[str, Signer], *, compact: bool = False
) -> dict[str, Any]:
    """``submit_readings`` arguments with every reading signed by its meter's key. With
    ``compact``, the readings go as ``profiles`` when they can (see ``encode_profiles``)."""
    signed = []
    for reading in readings:
        key = meter_keys.get(reading.meter)
        if key is None:
            raise InvalidTransaction(f"no key given for meter {reading.meter}")
        signed.append(sign_reading(reading, key))
    return _checked({"readings": signed, "root": compute_batch_root(signed)}, compact=compact)


def build_head_end_batch(
    readings: Sequence[Reading], head_end: str, head_end_key: Signer, *, compact: bool = False
) -> dict[str, Any]:
    """``submit_readings`` arguments signed once, over the batch root, by a head-end system.
    With ``compact``, the readings go as ``profiles`` when they can (see ``encode_profiles``)."""
    root = compute_batch_root(list(readings))
    signature = head_end_key.sign(encode_batch_sign_bytes(head_end, root))
    return _checked(
        {"readings": list(readings), "root": root, "head_end": head_end, "signature": signature},
        compact=compact,
    )


def encode_profiles(readings: Sequence[Reading]) -> list[dict[str, Any]] | None:
    """The readings as ``submit_readings``'s compact ``profiles`` list, in the same order (so
    the same leaves and root): each run of one series over consecutive intervals becomes one
    profile. None when a reading has a page or error flags, which only the ``readings`` form
    carries, or when the batch mixes signed and unsigned readings."""
    if any(r.page is not None or r.error_flags for r in readings):
        return None
    if len({r.signature is None for r in readings}) > 1:
        return None
    profiles: list[dict[str, Any]] = []
    previous: Reading | None = None
    for reading in readings:
        if (
            previous is None
            or (reading.meter, reading.channel) != (previous.meter, previous.channel)
            or reading.interval_start != previous.interval_start + INTERVAL_S
        ):
            profile: dict[str, Any] = {
                "meter": reading.meter,
                "channel": reading.channel,
                "first_interval": reading.interval_start,
                "registers": [],
            }
            if reading.signature is not None:
                profile["signatures"] = []
            profiles.append(profile)
        profiles[-1]["registers"].append(reading.register_wh)
        if reading.signature is not None:
            profiles[-1]["signatures"].append(reading.signature.hex())
        previous = reading
    return profiles


def _checked(parts: dict[str, Any], *, compact: bool) -> dict[str, Any]:
    profiles = encode_profiles(parts["readings"]) if compact else None
    args: dict[str, Any] = (
        {"readings": [encode_reading_args(r) for r in parts["readings"]]}
        if profiles is None
        else {"profiles": profiles}
    )
    args["root"] = parts["root"].hex()
    if "head_end" in parts:
        args["head_end"] = parts["head_end"]
        args["signature"] = parts["signature"].hex()
    parse_submit_readings(args)  # the contract's own shape checks, before anything is sent
    return args


def iter_batches(readings: Sequence[Reading], size: int = MAX_READINGS) -> Iterator[list[Reading]]:
    """Consecutive slices of at most ``size`` readings (the contract takes 1 to 1,000)."""
    if not 1 <= size <= MAX_READINGS:
        raise ValueError(f"batch size must be 1 to {MAX_READINGS}")
    for first in range(0, len(readings), size):
        yield list(readings[first : first + size])


# -- CSV ---------------------------------------------------------------------------------------


def parse_time_s(text: str) -> int:
    """Unix seconds from digits, or from an ISO 8601 time (``2026-11-20T10:15Z``; a time
    without an offset is read as UTC)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise DecodeError(f"{text!r} is neither Unix seconds nor an ISO 8601 time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_readings_csv(text: str) -> list[Reading]:
    """Readings from CSV rows ``meter,channel,interval_start,register_wh`` (a header row naming
    these columns may come first, and may add ``page`` and ``error_flags``). They are returned
    sorted by interval, meter and channel: the contract takes each meter's readings in interval
    order."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(c.strip() for c in row)]
    if not rows:
        raise DecodeError("the CSV holds no readings")
    columns: tuple[str, ...] = CSV_COLUMNS
    if rows[0][0].strip().lower() == "meter":
        columns = tuple(c.strip().lower() for c in rows.pop(0))
        unknown = sorted(set(columns) - set(CSV_COLUMNS) - set(CSV_OPTIONAL))
        missing = sorted(set(CSV_COLUMNS) - set(columns))
        if unknown or missing:
            raise DecodeError(
                f"CSV header: columns must be {', '.join(CSV_COLUMNS)} (optionally "
                f"{', '.join(CSV_OPTIONAL)}); unknown: {', '.join(unknown) or 'none'}; "
                f"missing: {', '.join(missing) or 'none'}"
            )
    readings = [_reading_of_row(columns, row, n) for n, row in enumerate(rows, start=1)]
    return sorted(readings, key=lambda r: (r.interval_start, r.meter, r.channel))


def _reading_of_row(columns: tuple[str, ...], row: list[str], n: int) -> Reading:
    if len(row) != len(columns):
        raise DecodeError(f"CSV row {n}: {len(row)} fields, expected {len(columns)}")
    cells = {name: value.strip() for name, value in zip(columns, row, strict=True)}
    try:
        if not cells["register_wh"].isdigit():
            raise DecodeError(f"register_wh must be whole Wh, not {cells['register_wh']!r}")
        page = cells.get("page", "")
        if page and not page.isdigit():
            raise DecodeError(f"page must be a whole number, not {page!r}")
        start = parse_time_s(cells["interval_start"])
        if start % INTERVAL_S:
            raise DecodeError(f"interval_start {start} is not aligned to {INTERVAL_S} s")
        return make_reading(
            cells["meter"],
            cells["channel"],
            start,
            int(cells["register_wh"]),
            page=int(page) if page else None,
            error_flags=cells.get("error_flags", ""),
        )
    except GridledgerError as exc:
        raise DecodeError(f"CSV row {n}: {exc.message}") from exc
