"""The metering workload of ``gridledger bench readings``: meters, their register series, and
every transaction of a run, signed before any timing.

Each meter (import channel, 13.8 kW, 32-bit register) has a series of consecutive 900 s
intervals ending with the last interval that has already ended, and a register that grows by a
seeded random 0-900 Wh per interval. The series is cut in two: the earlier half is sent
meter-signed (every reading signed with its meter's device key, the leaf under
``encode_reading_sign_bytes``), the later half head-end-signed (one signature of the head-end
system over the batch root, ``encode_batch_sign_bytes``). A batch holds the whole half-series of
each meter in it, as a head-end system sends a day's load profiles, so no two transactions touch
the same meter in the same mode and they may commit in any order. Batches are built by the SDK
(``gridledger.client.metering``) in the compact ``profiles`` form: one profile per meter.

Everything is signed by the operator's admin key from the network directory (it registers the
meters and the head-end system and relays the batches).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gridledger.client.metering import build_head_end_batch, build_meter_signed_batch, make_reading
from gridledger.contracts.metering.reading import INTERVAL_S, MAX_READINGS
from gridledger.crypto import PrivateKey
from gridledger.errors import GridledgerError
from gridledger.ledger.tx import TxBody, sign_transaction

METER_SIGNED, HEAD_END_SIGNED = "meter-signed", "head-end"
HEAD_END = "hes-bench"
ZONE = "zone-a"
MAX_POWER_W = 13_800  # 60 A x 230 V: at most 3,450 Wh in one interval
MAX_INTERVAL_WH = 900
EXPIRY_HEIGHT = 5_000
SEED = 20_260_515


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    raw: bytes  # the signed submit_readings transaction
    root: str  # the batch root (hex), the key of its record once stored
    readings: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Workload:
    chain_id: str
    meters: tuple[str, ...]
    registrations: tuple[bytes, ...]  # every register_meter, then register_head_end
    modes: tuple[tuple[str, tuple[Batch, ...]], ...]  # meter-signed first: its intervals are older
    last_reading: dict[str, tuple[int, int]]  # meter -> (interval_start, register_wh)

    @property
    def readings(self) -> int:
        return sum(b.readings for _, batches in self.modes for b in batches)


def meter_key(meter: str) -> PrivateKey:
    return PrivateKey.from_seed(hashlib.sha256(f"gridledger-bench/meter/{meter}".encode()).digest())


def head_end_key() -> PrivateKey:
    return PrivateKey.from_seed(hashlib.sha256(b"gridledger-bench/head-end").digest())


def compute_series_lengths(meters: int, readings: int, batch_size: int) -> list[int]:
    """Readings per meter in one mode (``readings`` spread as evenly as possible). Raises
    ``GridledgerError`` for counts out of range or a series that does not fit one batch."""
    if meters < 1 or readings < 1:
        raise GridledgerError("--meters and --readings must be at least 1")
    if not 1 <= batch_size <= MAX_READINGS:
        raise GridledgerError(f"--batch-size must be 1 to {MAX_READINGS} (the contract's limit)")
    lengths = [readings // meters + (1 if i < readings % meters else 0) for i in range(meters)]
    if lengths[0] > batch_size:
        raise GridledgerError(
            f"{lengths[0]} readings per meter do not fit a batch of {batch_size}: a meter's "
            "series goes in one batch, so raise --meters or --batch-size"
        )
    return lengths


ENDED_MARGIN_S = 3600


def prepare_workload(
    *,
    chain_id: str,
    admin: PrivateKey,
    meters: int,
    readings: int,
    batch_size: int,
    now_s: int,
    head_end_readings: int | None = None,
) -> Workload:
    """``readings`` meter-signed readings, then ``head_end_readings`` (default: as many)
    head-end-signed ones, over ``meters`` meters, ``batch_size`` at most per transaction, every
    interval ended an hour before ``now_s``: CheckTx judges "has the interval ended" by the last
    block's time, and without traffic the last block can be minutes old."""
    counts = (readings, readings if head_end_readings is None else head_end_readings)
    per_mode = [compute_series_lengths(meters, count, batch_size) for count in counts]
    ids = tuple(f"m{i:05d}" for i in range(meters))
    rng = random.Random(SEED)  # noqa: S311 - reproducible registers, not a secret
    registers = {meter: rng.randrange(10**6, 10**8) for meter in ids}
    last_start = ((now_s - ENDED_MARGIN_S) // INTERVAL_S - 1) * INTERVAL_S
    # the head-end series end at last_start, the meter-signed ones just before them
    first_starts = (
        last_start - (per_mode[0][0] + per_mode[1][0] - 1) * INTERVAL_S,
        last_start - (per_mode[1][0] - 1) * INTERVAL_S,
    )
    modes = []
    for mode, lengths, first_start in zip(
        (METER_SIGNED, HEAD_END_SIGNED), per_mode, first_starts, strict=True
    ):
        series = []
        for meter, length in zip(ids, lengths, strict=True):
            items = []
            for j in range(length):
                registers[meter] += rng.randint(0, MAX_INTERVAL_WH)
                items.append((first_start + j * INTERVAL_S, registers[meter]))
            series.append((meter, items))
        batches = [
            _batch(chain_id, admin, mode, f"{mode}-{n}", group)
            for n, group in enumerate(_pack(series, batch_size))
        ]
        modes.append((mode, tuple(batches)))
    last = {meter: items[-1] for meter, items in series if items}
    return Workload(
        chain_id=chain_id,
        meters=ids,
        registrations=tuple(_registrations(chain_id, admin, ids)),
        modes=tuple(modes),
        last_reading=last,
    )


def _pack(
    series: Sequence[tuple[str, list[tuple[int, int]]]], batch_size: int
) -> Iterator[list[tuple[str, int, int]]]:
    """Whole series into batches of at most ``batch_size`` readings, meters in order."""
    group: list[tuple[str, int, int]] = []
    for meter, items in series:
        if len(group) + len(items) > batch_size:
            yield group
            group = []
        group.extend((meter, start, register) for start, register in items)
    if group:
        yield group


def _batch(
    chain_id: str,
    admin: PrivateKey,
    mode: str,
    nonce: str,
    group: Sequence[tuple[str, int, int]],
) -> Batch:
    readings = [make_reading(meter, "import", start, register) for meter, start, register in group]
    if mode == METER_SIGNED:
        keys = {meter: meter_key(meter) for meter in dict.fromkeys(r.meter for r in readings)}
        args = build_meter_signed_batch(readings, keys, compact=True)
    else:
        args = build_head_end_batch(readings, HEAD_END, head_end_key(), compact=True)
    raw = _tx(chain_id, admin, "submit_readings", args, nonce)
    return Batch(raw=raw, root=args["root"], readings=len(readings))


def _registrations(chain_id: str, admin: PrivateKey, meters: Sequence[str]) -> Iterator[bytes]:
    for meter in meters:
        args = {
            "meter": meter,
            "owner": admin.address,
            "public_key": meter_key(meter).public_key.hex(),
            "direction": "import",
            "zone": ZONE,
            "max_power_w": MAX_POWER_W,
        }
        yield _tx(chain_id, admin, "register_meter", args, f"register-{meter}")
    args = {"head_end": HEAD_END, "public_key": head_end_key().public_key.hex(), "name": "HES"}
    yield _tx(chain_id, admin, "register_head_end", args, "register-head-end")


def _tx(chain_id: str, admin: PrivateKey, method: str, args: dict[str, Any], nonce: str) -> bytes:
    body = TxBody(
        chain_id=chain_id,
        expiry_height=EXPIRY_HEIGHT,
        nonce=nonce,
        contract="metering",
        method=method,
        args=args,
    )
    return sign_transaction(body, [admin]).raw
