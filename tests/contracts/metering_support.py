"""Shared helpers for the metering tests: keys, a chain with meters registered, and readings
built and signed the slow, obvious way (a reference for the contract's own encoding)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from gridledger import codec, merkle
from gridledger.crypto import PrivateKey
from gridledger.ledger.transition import OK, BlockResult
from tests.chain import GRIDCO_ADMIN, Chain, key_for

DAY = 1_794_960_000  # 00:00 UTC; the test chain's blocks are ~11 h later
METER_KEY = key_for("meter-1")
METER_2_KEY = key_for("meter-2")
HEAD_END_KEY = key_for("head-end-1")
OWNER = key_for("meter-owner")
READING_DOMAIN = b"gridledger/metering/reading/v1\n"
BATCH_DOMAIN = b"gridledger/metering/batch/v1\n"


def hhmm(text: str) -> int:
    """Unix seconds of ``"HH:MM"`` on DAY (``"-00:15"`` is the day before)."""
    sign = -1 if text.startswith("-") else 1
    hours, minutes = text.lstrip("-").split(":")
    return DAY + sign * (int(hours) * 3600 + int(minutes) * 60)


def reference_leaf(reading: dict[str, Any]) -> bytes:
    """The reading's leaf, written out by hand: keys sorted, page null when absent."""
    return codec.encode(
        {
            "channel": reading["channel"],
            "error_flags": "".join(sorted(reading.get("error_flags", ""))),
            "interval_start": reading["interval_start"],
            "meter": reading["meter"],
            "page": reading.get("page"),
            "register_wh": reading["register_wh"],
        }
    )


def reading(
    meter: str,
    interval_start: int,
    register_wh: int,
    *,
    key: PrivateKey | None = METER_KEY,
    channel: str = "import",
    **extra: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "meter": meter,
        "channel": channel,
        "interval_start": interval_start,
        "register_wh": register_wh,
        **extra,
    }
    if key is not None:
        item["signature"] = key.sign(READING_DOMAIN + reference_leaf(item)).hex()
    return item


def batch_args(
    readings: Sequence[dict[str, Any]],
    *,
    head_end: str | None = None,
    head_end_key: PrivateKey = HEAD_END_KEY,
) -> dict[str, Any]:
    root = merkle.root([reference_leaf(r) for r in readings])
    args: dict[str, Any] = {"readings": list(readings), "root": root.hex()}
    if head_end is not None:
        message = BATCH_DOMAIN + head_end.encode() + b"\n" + root
        args["head_end"] = head_end
        args["signature"] = head_end_key.sign(message).hex()
    return args


def submit(
    chain: Chain, method: str, args: dict[str, Any], sender: PrivateKey = GRIDCO_ADMIN
) -> BlockResult:
    return chain.commit_block(chain.tx("metering", method, args, [sender]))


def submit_readings(chain: Chain, readings: Sequence[dict[str, Any]], **kw: Any) -> BlockResult:
    return submit(chain, "submit_readings", batch_args(readings, **kw))


def meter_args(meter: str = "m1", key: PrivateKey = METER_KEY, **extra: Any) -> dict[str, Any]:
    return {
        "meter": meter,
        "owner": OWNER.address,
        "public_key": key.public_key.hex(),
        "direction": "import",
        "zone": "zone-a",
        "max_power_w": 13_800,  # 60 A x 230 V (domain report 4-D)
        **extra,
    }


def assert_ok(result: BlockResult) -> None:
    assert [(r.code, r.error, r.log) for r in result.tx_results] == [(OK, "", "")]


def assert_rejected(result: BlockResult, error: str, *reasons: str) -> None:
    (tx_result,) = result.tx_results
    assert tx_result.error == error, tx_result.log
    for reason in reasons:
        assert reason in tx_result.log, tx_result.log
    assert result.changes == {}


def metered_chain(meters: Iterable[dict[str, Any]] = (), head_end: bool = True) -> Chain:
    """A chain with meter m1 (import, 13.8 kW, 32-bit register), any further meters, and
    head-end system he1 registered."""
    chain = Chain()
    for args in [meter_args(), *meters]:
        assert_ok(submit(chain, "register_meter", args))
    if head_end:
        he = {"head_end": "he1", "public_key": HEAD_END_KEY.public_key.hex(), "name": "HES"}
        assert_ok(submit(chain, "register_head_end", he))
    return chain
