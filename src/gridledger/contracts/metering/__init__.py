"""Metering: the meter registry and interval readings (DLMS/COSEM load profiles, IEC 62056),
batched under RFC 9162 Merkle roots and turned into per-interval energy for settlement.

- ``registry``: meters and head-end systems, managed by the grid operator.
- ``reading``: canonical reading bytes, signing, and the register arithmetic (rollover, linear
  gap estimation).
- ``submit``: the ``submit_readings`` method and the readers settlement uses
  (``get_interval_energy``).

See docs/contracts/metering.md.
"""

from __future__ import annotations

from gridledger.contracts.metering import registry, submit
from gridledger.contracts.metering.reading import (
    INTERVAL_S,
    compute_batch_root,
    encode_batch_sign_bytes,
    encode_reading_sign_bytes,
    parse_submit_readings,
)
from gridledger.contracts.metering.registry import get_head_end, get_meter
from gridledger.contracts.metering.submit import (
    compute_reading_proof,
    get_batch,
    get_gap,
    get_interval,
    get_interval_energy,
    get_reading,
)
from gridledger.ledger.context import Method

__all__ = [
    "INTERVAL_S",
    "METHODS",
    "compute_batch_root",
    "compute_reading_proof",
    "encode_batch_sign_bytes",
    "encode_reading_sign_bytes",
    "get_batch",
    "get_gap",
    "get_head_end",
    "get_interval",
    "get_interval_energy",
    "get_meter",
    "get_reading",
]

METHODS = {
    "register_meter": Method(
        parse=registry.parse_register_meter,
        check=registry.check_register_meter,
        apply=registry.apply_register_meter,
    ),
    "register_head_end": Method(
        parse=registry.parse_register_head_end,
        check=registry.check_register_head_end,
        apply=registry.apply_register_head_end,
    ),
    "rotate_meter_key": Method(
        parse=registry.parse_rotate_meter_key,
        check=registry.check_rotate_key,
        apply=registry.apply_rotate_key,
    ),
    "rotate_head_end_key": Method(
        parse=registry.parse_rotate_head_end_key,
        check=registry.check_rotate_key,
        apply=registry.apply_rotate_key,
    ),
    "retire_meter": Method(
        parse=registry.parse_retire_meter,
        check=registry.check_retire_meter,
        apply=registry.apply_retire_meter,
    ),
    "submit_readings": Method(
        parse=parse_submit_readings,
        check=submit.check_submit_readings,
        apply=submit.apply_submit_readings,
    ),
}
