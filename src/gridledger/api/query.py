"""Path and query values of the energy routes (token, metering, market), parsed into checked
values: interval starts, time ranges, addresses, ids and channels.

Each parser returns the value or raises DecodeError naming the parameter and what was wrong, which
the API answers with HTTP 400 ``decode_error`` as it does for every other malformed request. Times
are Unix seconds, UTC; an interval is ``[start, start + 900)`` with ``start % 900 == 0`` (the
DLMS/COSEM 15-minute capture period the metering and market contracts share).
"""

from __future__ import annotations

from dataclasses import dataclass

from gridledger.contracts.metering.registry import ID_PATTERN
from gridledger.crypto import ADDRESS_HEX_CHARS, ADDRESS_PREFIX, is_address
from gridledger.errors import DecodeError
from gridledger.ledger.genesis import PARAMS_KEY
from gridledger.ledger.gridclock import compute_grid_time_ms
from gridledger.ledger.state import State
from gridledger.store.sqlite import SqliteStore

INTERVAL_S = 900
DAY_INTERVALS = 96
MAX_RANGE_INTERVALS = 7 * DAY_INTERVALS  # a week of point reads per request
MAX_START_S = 10**11  # the market contract's bound; year 5138
CHANNELS = ("import", "export")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Aligned interval starts ``from_s, from_s + 900, ..., < to_s``."""

    from_s: int
    to_s: int

    def starts(self) -> range:
        return range(self.from_s, self.to_s, INTERVAL_S)


def parse_interval_start(value: str | int, name: str = "interval start") -> int:
    """A positive interval start in Unix seconds, aligned to 900 s."""
    if isinstance(value, str):
        if not value.isdigit() or len(value) > 12:
            raise DecodeError(f"{name} must be Unix seconds (digits only), not {value!r}")
        value = int(value)
    if not 0 < value <= MAX_START_S:
        raise DecodeError(f"{name} must be between 1 and {MAX_START_S} s, not {value}")
    if value % INTERVAL_S:
        raise DecodeError(
            f"{name} {value} is not aligned to {INTERVAL_S} s (an interval starts on a quarter "
            f"hour: {value - value % INTERVAL_S} or {value - value % INTERVAL_S + INTERVAL_S})"
        )
    return value


def parse_range(from_s: int | None, to_s: int | None, *, default_to_s: int) -> TimeRange:
    """``[from, to)`` of aligned starts, at most MAX_RANGE_INTERVALS long. Missing ends default
    to a day: ``to`` to ``default_to_s`` (or a day after ``from``), ``from`` to a day before
    ``to``."""
    if from_s is not None:
        from_s = parse_interval_start(from_s, "from")
    if to_s is None:
        to_s = default_to_s if from_s is None else from_s + DAY_INTERVALS * INTERVAL_S
    to_s = parse_interval_start(to_s, "to")
    if from_s is None:
        from_s = max(INTERVAL_S, to_s - DAY_INTERVALS * INTERVAL_S)
    if from_s >= to_s:
        raise DecodeError(f"from {from_s} must be before to {to_s}")
    count = (to_s - from_s) // INTERVAL_S
    if count > MAX_RANGE_INTERVALS:
        raise DecodeError(
            f"from {from_s} to {to_s} spans {count} intervals; ask for at most "
            f"{MAX_RANGE_INTERVALS} (a week) at a time"
        )
    return TimeRange(from_s, to_s)


def parse_address(value: str, name: str = "address") -> str:
    if not is_address(value):
        raise DecodeError(
            f"{name} must be {ADDRESS_PREFIX!r} and {ADDRESS_HEX_CHARS} lowercase hex "
            f"characters, not {value[:60]!r}"
        )
    return value


def parse_id(value: str, name: str) -> str:
    """A meter, head-end or zone id as the metering contract accepts them."""
    if not ID_PATTERN.fullmatch(value):
        raise DecodeError(f"{name} must be 1 to 64 of A-Z a-z 0-9 . _ : -, not {value[:80]!r}")
    return value


def parse_hex32(value: str, name: str) -> str:
    if len(value) != 64 or not set(value) <= _HEX:
        raise DecodeError(f"{name} must be 64 lowercase hex characters, not {value[:80]!r}")
    return value


def parse_channel(value: str | None, measured: tuple[str, ...], meter: str) -> str:
    """The channel asked for, which the meter must measure; or the meter's only channel."""
    if value is None:
        if len(measured) != 1:
            raise DecodeError(
                f"meter {meter} measures import and export; pass channel=import or channel=export"
            )
        return measured[0]
    if value not in CHANNELS:
        raise DecodeError(f"channel must be import or export, not {value[:40]!r}")
    if value not in measured:
        raise DecodeError(f"meter {meter} measures {' and '.join(measured)} only, not {value}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class GridClock:
    """The grid clock at the last committed block (``gridledger.ledger.gridclock``)."""

    height: int
    block_time_ms: int
    grid_time_ms: int
    speedup: int
    origin_ms: int | None
    anchor_ms: int | None

    def to_json(self) -> dict[str, int | None]:
        return {
            "height": self.height,
            "block_time_ms": self.block_time_ms,
            "grid_time_ms": self.grid_time_ms,
            "speedup": self.speedup,
            "origin_ms": self.origin_ms,
            "anchor_ms": self.anchor_ms,
        }

    def estimate_grid_time_ms(self, wall_time_ms: int) -> int:
        """Grid time at ``wall_time_ms`` by this clock: at least what the next block's will
        be, since a block's time is never before the wall time it is made at."""
        if self.origin_ms is None or self.anchor_ms is None:
            return max(wall_time_ms, self.grid_time_ms)
        return max(
            self.origin_ms + (wall_time_ms - self.anchor_ms) * self.speedup, self.grid_time_ms
        )


def compute_grid_clock(store: SqliteStore, genesis_time_ms: int) -> GridClock:
    """The grid clock of the last committed block: its block time, its grid time (what the
    market and metering contracts judge by) and the clock's parameters (call inside a store
    snapshot)."""
    params = State(store).get_json(PARAMS_KEY) or {}
    block = store.get_block(store.last_height)
    block_time_ms = block.time_ms if block is not None else genesis_time_ms
    speedup = params.get("grid_clock_speedup")
    origin, anchor = params.get("grid_clock_origin_ms"), params.get("grid_clock_anchor_ms")
    return GridClock(
        height=store.last_height,
        block_time_ms=block_time_ms,
        grid_time_ms=compute_grid_time_ms(params, block_time_ms),
        speedup=int(speedup) if speedup is not None else 1,
        origin_ms=int(origin) if origin is not None else None,
        anchor_ms=int(anchor) if anchor is not None else None,
    )
