"""The readings bench's workload, without a network: every transaction it signs is accepted by a
real application over SQLite (the bench's own one-validator baseline), series are consecutive and
end in the past, and sizes the bench cannot run are refused."""

from __future__ import annotations

from typing import Any

import pytest

from gridledger.bench import readings
from gridledger.bench.readings import format_baselines, measure_one_validator, measure_verify_rates
from gridledger.bench.workload import (
    HEAD_END,
    HEAD_END_SIGNED,
    METER_SIGNED,
    Batch,
    Workload,
    compute_series_lengths,
    prepare_workload,
)
from gridledger.contracts.metering.reading import INTERVAL_S, Reading, parse_submit_readings
from gridledger.crypto import verify_ed25519_native
from gridledger.errors import GridledgerError, NodeError
from gridledger.ledger.tx import TxBody, decode_transaction, sign_transaction
from tests.chain import CHAIN_ID, GENESIS_TIME_MS, GRIDCO_ADMIN, genesis_document

NOW_S = GENESIS_TIME_MS // 1000 + 86_400  # a day after the test genesis


def workload(
    meters: int = 12, readings: int = 60, batch_size: int = 25, head_end_readings: int | None = None
) -> Workload:
    return prepare_workload(
        chain_id=CHAIN_ID,
        admin=GRIDCO_ADMIN,
        meters=meters,
        readings=readings,
        head_end_readings=head_end_readings,
        batch_size=batch_size,
        now_s=NOW_S,
    )


def bench_genesis() -> dict[str, Any]:
    """The test genesis with the network's expiry window (the bench signs for height 5,000)."""
    doc = genesis_document()
    doc["params"] = {**doc["params"], "max_expiry_window": 10_000}
    return doc


def batch_args(raw: bytes) -> dict[str, Any]:
    args: dict[str, Any] = dict(decode_transaction(raw).body.args)
    return args


def batch_readings(raw: bytes) -> tuple[Reading, ...]:
    return parse_submit_readings(batch_args(raw)).readings


@pytest.mark.parametrize("head_end_readings", [None, 150])
def test_series_are_consecutive_split_by_mode_and_end_in_the_past(
    head_end_readings: int | None,
) -> None:
    w = workload(head_end_readings=head_end_readings)
    (mode_a, batches_a), (mode_b, batches_b) = w.modes
    assert (mode_a, mode_b) == (METER_SIGNED, HEAD_END_SIGNED)
    assert sum(b.readings for b in batches_a) == 60
    assert sum(b.readings for b in batches_b) == (head_end_readings or 60)
    assert all(b.readings <= 25 for b in (*batches_a, *batches_b))
    series: dict[str, list[tuple[int, int]]] = {}
    for batches in (batches_a, batches_b):
        for batch in batches:
            for reading in batch_readings(batch.raw):
                series.setdefault(reading.meter, []).append(
                    (reading.interval_start, reading.register_wh)
                )
    assert sorted(series) == list(w.meters)
    for meter, items in series.items():
        starts = [start for start, _ in items]
        assert starts == sorted(set(starts)) and starts[-1] + INTERVAL_S <= NOW_S
        registers = [register for _, register in items]
        assert registers == sorted(registers)
        assert w.last_reading[meter] == items[-1]
    assert w.readings == 60 + (head_end_readings or 60)


def test_modes_sign_differently_and_keep_each_meter_in_one_batch() -> None:
    w = workload()
    (_, meter_signed), (_, head_end) = w.modes
    for batch in meter_signed:
        args = batch_args(batch.raw)
        assert "head_end" not in args and args["root"] == batch.root
        assert "readings" not in args  # the compact form: one profile per meter
        assert all(len(p["signatures"]) == len(p["registers"]) for p in args["profiles"])
        assert all(r.signature is not None for r in batch_readings(batch.raw))
    for batch in head_end:
        args = batch_args(batch.raw)
        assert args["head_end"] == HEAD_END and len(args["signature"]) == 128
        assert all("signatures" not in profile for profile in args["profiles"])
        assert all(r.signature is None for r in batch_readings(batch.raw))
    meters_per_batch = [{r.meter for r in batch_readings(b.raw)} for b in meter_signed]
    assert sum(len(m) for m in meters_per_batch) == len(set().union(*meters_per_batch)) == 12


def test_one_validator_accepts_every_transaction_of_the_workload() -> None:
    w = workload()
    baselines = measure_one_validator(bench_genesis(), w, max_readings=10_000)
    assert [(b.mode, b.readings) for b in baselines] == [(METER_SIGNED, 60), (HEAD_END_SIGNED, 60)]
    assert all(b.readings_per_s > 0 for b in baselines)
    assert "readings/s" in format_baselines(baselines)


def test_one_validator_baseline_reports_a_refused_batch() -> None:
    w = workload()
    (mode, batches), second = w.modes
    args = batch_args(batches[0].raw)
    args["profiles"][0]["registers"][0] += 1  # the root and the meter signature no longer fit
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=1_000,
        nonce="tampered",
        contract="metering",
        method="submit_readings",
        args=args,
    )
    raw = sign_transaction(body, [GRIDCO_ADMIN]).raw
    tampered = Batch(raw=raw, root=batches[0].root, readings=batches[0].readings)
    bad = Workload(
        chain_id=w.chain_id,
        meters=w.meters,
        registrations=w.registrations,
        modes=((mode, (tampered,)), second),
        last_reading=w.last_reading,
    )
    with pytest.raises(GridledgerError, match="refused"):
        measure_one_validator(bench_genesis(), bad)


@pytest.mark.parametrize(
    ("meters", "readings", "batch_size", "reason"),
    [
        (0, 10, 10, "at least 1"),
        (10, 0, 10, "at least 1"),
        (10, 10, 0, "batch-size"),
        (10, 10, 1_001, "batch-size"),
        (10, 101, 10, "do not fit"),
    ],
)
def test_workload_refuses_sizes_it_cannot_run(
    meters: int, readings: int, batch_size: int, reason: str
) -> None:
    with pytest.raises(GridledgerError, match=reason):
        compute_series_lengths(meters, readings, batch_size)


def test_series_lengths_spread_readings_evenly() -> None:
    assert compute_series_lengths(4, 10, 3) == [3, 3, 2, 2]
    assert compute_series_lengths(5, 3, 1) == [1, 1, 1, 0, 0]
    assert compute_series_lengths(1, 1_000, 1_000) == [1_000]


def test_verify_rates_are_measured_for_each_verifier_this_process_has() -> None:
    rates = measure_verify_rates(50)
    assert rates["libsodium"] > 0
    assert ("native" in rates) == (verify_ed25519_native is not None)


def test_a_verifier_refusing_an_honest_signature_is_reported_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(readings, "verify_ed25519_libsodium", lambda *_: False)
    with pytest.raises(NodeError, match="libsodium Ed25519 verifier refused an honest signature"):
        measure_verify_rates(5)
