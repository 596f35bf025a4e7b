"""``gridledger bench readings``: meter readings/s through the four-validator network.

The workload (``gridledger.bench.workload``): 1,000 meters, each with a series of consecutive
15-minute readings, half sent meter-signed and half head-end-signed, up to 1,000 readings per
``metering.submit_readings`` transaction, all signed before any timing. The run:

1. baselines in this process: Ed25519 verifications/s on one core (every validator checks every
   meter signature, so this bounds the meter-signed rate), and one validator's own rate (the ABCI
   application over SQLite: CheckTx of each transaction, then FinalizeBlock and Commit) on the
   first batches of each mode;
2. the four-validator network (``net init`` on free ports, ``net up``): the operator registers
   the meters and the head-end system, then each mode's batches go through the shared load
   generator (``gridledger.bench.load``); readings/s counts only batches whose record the state
   holds afterwards (read back through ``abci_query``), over the time from the first send to the
   last commit. The CPU each process used meanwhile comes from /proc. The load is a closed
   loop: at most ``--window`` readings (``--head-end-window`` for head-end batches) are sent
   and not yet committed, so commit latency is
   about the window over the rate; a larger window fills larger blocks (more throughput for
   head-end batches, whose per-block overhead weighs more) at the cost of latency.

Figures are printed; none is asserted.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.bench.load import (
    LoadResult,
    RpcStore,
    init_bench_network,
    network_running,
    read_cpu_seconds,
    run_load,
    wait_nodes_caught_up,
)
from gridledger.bench.workload import (
    HEAD_END,
    HEAD_END_SIGNED,
    METER_SIGNED,
    Batch,
    Workload,
    compute_series_lengths,
    meter_key,
    prepare_workload,
)
from gridledger.contracts import metering
from gridledger.contracts.metering import encode_reading_sign_bytes
from gridledger.crypto import (
    ED25519_VERIFIER,
    verify_ed25519_libsodium,
    verify_ed25519_native,
)
from gridledger.errors import NodeError
from gridledger.keys import read_key_file
from gridledger.ledger.state import State
from gridledger.net.layout import Network
from gridledger.node.abci_app import Application
from gridledger.store.sqlite import SqliteStore

CHAIN_ID = "gridledger-bench-readings"
METERS = 1_000
BATCH_SIZE = 1_000
# Readings sent but not yet committed, at most, per mode: enough to keep the network's two cores
# busy (meter-signed with 10,000 idled 10-40 % of the run waiting for the next batches; head-end
# with 30,000 idled a third). A head-end system uploads a whole collection round at once (a
# day's load profiles of its meters: 96 readings each), so 90,000 is a modest round.
WINDOW_READINGS = 30_000
HEAD_END_WINDOW_READINGS = 90_000
# Per mode: enough windows that the figure is a sustained rate (head-end batches commit in so
# few blocks that five windows left the first and last, part-filled, weighing a fifth).
READINGS = 5 * WINDOW_READINGS
HEAD_END_READINGS = 10 * HEAD_END_WINDOW_READINGS
IN_FLIGHT = 8
VALIDATORS = 4
BASELINE_READINGS = 10_000  # per mode, for the one-validator baseline
VERIFY_SAMPLE = 5_000
TARGETS = {METER_SIGNED: 4_000, HEAD_END_SIGNED: 50_000}


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidatorBaseline:
    mode: str
    readings: int
    check_s: float
    finalize_s: float
    commit_s: float

    @property
    def readings_per_s(self) -> float:
        return self.readings / (self.check_s + self.finalize_s + self.commit_s)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeResult:
    mode: str
    load: LoadResult
    readings_sent: int
    readings_stored: int
    batches_stored: int
    wall_s: float
    cpu_s: dict[tuple[str, str], float]  # by (org, process), during the mode
    own_cpu_s: float  # this process: the load generator

    @property
    def readings_per_s(self) -> float:
        return self.readings_stored / self.load.seconds if self.load.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkRun:
    registration: LoadResult
    modes: tuple[ModeResult, ...]


def run(
    *,
    readings: int = READINGS,
    head_end_readings: int = HEAD_END_READINGS,
    batch_size: int = BATCH_SIZE,
    meters: int = METERS,
    in_flight: int = IN_FLIGHT,
    window: int = WINDOW_READINGS,
    head_end_window: int = HEAD_END_WINDOW_READINGS,
    keep: bool = False,
) -> NetworkRun:
    for count in (readings, head_end_readings):  # refuse bad sizes before any work
        compute_series_lengths(meters, count, batch_size)
    print(
        f"gridledger bench readings — {VALIDATORS} validators on loopback, {os.cpu_count()} "
        f"CPU(s), Python {sys.version.split()[0]}; {meters:,} meters, at most {batch_size:,} "
        f"readings per transaction, {in_flight} in flight; meter-signed: {readings:,} readings, "
        f"window {window:,}; head-end: {head_end_readings:,} readings, window "
        f"{head_end_window:,}"
    )
    root = Path(tempfile.mkdtemp(prefix="gridledger-bench-readings-"))
    try:
        network = init_bench_network(root / "net", CHAIN_ID)
        start = time.perf_counter()
        workload = build_workload(
            network,
            meters=meters,
            readings=readings,
            head_end_readings=head_end_readings,
            batch_size=batch_size,
        )
        print(format_workload(workload, time.perf_counter() - start), flush=True)
        print(format_verify_rates(measure_verify_rates(VERIFY_SAMPLE)), flush=True)
        baselines = measure_one_validator(read_app_genesis(network), workload)
        print(format_baselines(baselines), flush=True)
        with network_running(network):
            result = measure_network(
                network,
                workload,
                in_flight=in_flight,
                window=window,
                head_end_window=head_end_window,
            )
        print(format_network(result, network), flush=True)
        return result
    finally:
        if keep:
            print(f"network kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def build_workload(
    network: Network,
    *,
    meters: int,
    readings: int,
    batch_size: int,
    head_end_readings: int | None = None,
) -> Workload:
    """The run's transactions for ``network``, signed by its operator (gridco) admin."""
    return prepare_workload(
        chain_id=network.chain_id,
        admin=read_key_file(network.node("gridco").key_file("admin")),
        meters=meters,
        readings=readings,
        head_end_readings=head_end_readings,
        batch_size=batch_size,
        now_s=time.time_ns() // 1_000_000_000,
    )


def read_app_genesis(network: Network) -> dict[str, Any]:
    """The gridledger genesis every node of ``network`` starts from (CometBFT's app_state)."""
    path = network.nodes[0].cometbft_home / "config" / "genesis.json"
    app_state: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["app_state"]
    return app_state


# -- baselines in this process -----------------------------------------------------------------


def measure_verify_rates(n: int) -> dict[str, float]:
    """Meter-reading signatures one core verifies per second, by each Ed25519 verifier this
    process has (``ED25519_VERIFIER`` is the one the validators use)."""
    key = meter_key("baseline")
    messages = [encode_reading_sign_bytes(b'{"reading":%d}' % i) for i in range(n)]
    signatures = [key.sign(message) for message in messages]
    public_key = key.public_key
    verifiers: dict[str, Callable[[bytes, bytes, bytes], bool]] = {
        "libsodium": verify_ed25519_libsodium
    }
    if verify_ed25519_native is not None:
        verifiers["native"] = verify_ed25519_native
    rates = {}
    for name, verify in verifiers.items():
        start = time.perf_counter()
        for message, signature in zip(messages, signatures, strict=True):
            if not verify(public_key, message, signature):
                raise NodeError(
                    f"the {name} Ed25519 verifier refused an honest signature: this build of it "
                    "is broken, and a validator using it would refuse valid transactions"
                )
        rates[name] = n / (time.perf_counter() - start)
    return rates


def measure_one_validator(
    genesis: dict[str, Any], workload: Workload, *, max_readings: int = BASELINE_READINGS
) -> list[ValidatorBaseline]:
    """One validator's work for the first batches of each mode: CheckTx of every transaction,
    then one block of them (FinalizeBlock, Commit to SQLite)."""
    now_ms = time.time_ns() // 1_000_000
    out = []
    with tempfile.TemporaryDirectory(prefix="gridledger-bench-validator-") as tmp:
        app = Application(SqliteStore(Path(tmp) / "ledger.sqlite"))
        try:
            app.init_chain(genesis)
            _finalize(app, 1, now_ms, workload.registrations)
            for height, (mode, batches) in enumerate(workload.modes, start=2):
                chosen: list[bytes] = []
                total = 0
                for batch in batches:
                    if chosen and total + batch.readings > max_readings:
                        break
                    chosen.append(batch.raw)
                    total += batch.readings
                start = time.perf_counter()
                for raw in chosen:
                    checked = app.check_tx(raw)
                    if not checked.ok:
                        raise NodeError(f"baseline CheckTx refused a {mode} batch: {checked.log}")
                check_s = time.perf_counter() - start
                finalize_s, commit_s = _finalize(app, height, now_ms, chosen)
                out.append(
                    ValidatorBaseline(
                        mode=mode,
                        readings=total,
                        check_s=check_s,
                        finalize_s=finalize_s,
                        commit_s=commit_s,
                    )
                )
        finally:
            app.store.close()
    return out


def _finalize(
    app: Application, height: int, time_ms: int, raws: Sequence[bytes]
) -> tuple[float, float]:
    start = time.perf_counter()
    result = app.finalize_block(height=height, time_ms=time_ms, raw_txs=raws)
    finalize_s = time.perf_counter() - start
    failed = [r for r in result.tx_results if r.code]
    if failed:
        raise NodeError(f"baseline block {height}: {failed[0].error}: {failed[0].log}")
    start = time.perf_counter()
    app.commit(block_hash=bytes(32), header=b"{}", signature=b"")
    return finalize_s, time.perf_counter() - start


# -- the network -------------------------------------------------------------------------------


def measure_network(
    network: Network,
    workload: Workload,
    *,
    in_flight: int,
    window: int,
    head_end_window: int | None = None,
) -> NetworkRun:
    """Register the meters, then send each mode's batches, at most ``window`` readings
    uncommitted (``head_end_window`` for head-end batches, default the same); ``network``
    must be up."""
    windows = {METER_SIGNED: window, HEAD_END_SIGNED: head_end_window or window}
    rpcs = [n.rpc_url for n in network.nodes]
    store = RpcStore(rpcs[0])
    try:
        registration = run_load(rpcs, workload.registrations, in_flight=in_flight)
        _verify_registered(State(store), workload)
        modes = []
        for mode, batches in workload.modes:
            # Every node must know the meters (and the previous mode's last readings) before
            # readings that build on them reach its CheckTx.
            wait_nodes_caught_up(network.nodes)
            modes.append(
                _measure_mode(
                    network, store, mode, batches, in_flight=in_flight, window=windows[mode]
                )
            )
    finally:
        store.close()
    return NetworkRun(registration=registration, modes=tuple(modes))


def _verify_registered(state: State, workload: Workload) -> None:
    for meter in (workload.meters[0], workload.meters[-1]):
        if metering.get_meter(state, meter) is None:
            raise NodeError(f"meter {meter} was not registered; see the nodes' logs")
    if metering.get_head_end(state, HEAD_END) is None:
        raise NodeError(f"head-end system {HEAD_END} was not registered; see the nodes' logs")


def _measure_mode(
    network: Network,
    store: RpcStore,
    mode: str,
    batches: Sequence[Batch],
    *,
    in_flight: int,
    window: int,
) -> ModeResult:
    per_tx = max(b.readings for b in batches)
    cpu_before, own_before = read_cpu_seconds(network), time.process_time()
    start = time.perf_counter()
    load = run_load(
        [n.rpc_url for n in network.nodes],
        [b.raw for b in batches],
        in_flight=in_flight,
        window=max(1, window // per_tx),
    )
    wall_s = time.perf_counter() - start
    own_cpu_s = time.process_time() - own_before
    cpu_after = read_cpu_seconds(network)
    state = State(store)
    stored = [b for b in batches if metering.get_batch(state, b.root) is not None]
    return ModeResult(
        mode=mode,
        load=load,
        readings_sent=sum(b.readings for b in batches),
        readings_stored=sum(b.readings for b in stored),
        batches_stored=len(stored),
        wall_s=wall_s,
        cpu_s={k: cpu_after[k] - cpu_before[k] for k in cpu_after if k in cpu_before},
        own_cpu_s=own_cpu_s,
    )


# -- printing ----------------------------------------------------------------------------------


def format_workload(workload: Workload, seconds: float) -> str:
    sizes = ", ".join(
        f"{len(batches)} {mode} ({max(len(b.raw) for b in batches) // 1024} KiB each at most)"
        for mode, batches in workload.modes
    )
    return (
        f"prepared and signed in {seconds:.1f} s: {len(workload.registrations):,} registrations; "
        f"batches: {sizes}"
    )


def format_verify_rates(rates: dict[str, float]) -> str:
    cores = os.cpu_count() or 1
    rate = rates[ED25519_VERIFIER]
    others = "".join(
        f", {other:,.0f} with {name}" for name, other in rates.items() if name != ED25519_VERIFIER
    )
    return (
        f"baseline: one core of this process verifies {rate:,.0f} reading signatures/s with "
        f"{ED25519_VERIFIER} (the validators' verifier){others}; {VALIDATORS} validators on "
        f"{cores} core(s) can then take at most {rate * cores / VALIDATORS:,.0f} meter-signed "
        "readings/s, each verifying each reading once and doing nothing else"
    )


def format_baselines(baselines: Sequence[ValidatorBaseline]) -> str:
    cores = os.cpu_count() or 1
    lines = []
    for b in baselines:
        lines.append(
            f"baseline: one validator in this process, {b.mode:<12} {b.readings_per_s:8,.0f} "
            f"readings/s ({b.readings:,} readings: CheckTx {b.check_s:.2f} s, FinalizeBlock "
            f"{b.finalize_s:.2f} s, Commit {b.commit_s:.2f} s); {VALIDATORS} validators on "
            f"{cores} core(s): at most {b.readings_per_s * cores / VALIDATORS:,.0f} readings/s"
        )
    return "\n".join(lines)


def format_network(result: NetworkRun, network: Network) -> str:
    reg = result.registration
    lines = [
        f"network: {reg.committed:,} registrations committed in {reg.seconds:.1f} s "
        f"({reg.refused} refused)" + reg.format_refusals()
    ]
    for m in result.modes:
        load = m.load
        tx_per_s = m.batches_stored / load.seconds if load.seconds > 0 else 0.0
        lines.append(
            f"{m.mode:<12} {m.readings_per_s:9,.0f} readings/s  {tx_per_s:6.1f} tx/s   "
            f"p50 {load.p50_s:5.2f} s   p99 {load.p99_s:5.2f} s   (target >= "
            f"{TARGETS[m.mode]:,}; {m.readings_stored:,} of {m.readings_sent:,} readings stored "
            f"in {m.batches_stored} of {load.sent} transactions, {load.seconds:.1f} s, "
            f"{load.blocks} blocks, {load.refused} refused)" + load.format_refusals()
        )
        lines.append("  " + format_cpu(m, network))
    return "\n".join(lines)


def format_cpu(m: ModeResult, network: Network) -> str:
    """Each organization's processes as a share of the machine's CPU time during the mode."""
    capacity = m.wall_s * (os.cpu_count() or 1)
    if not m.cpu_s or capacity <= 0:
        return "CPU: not readable (/proc)"
    parts = []
    for org in network.orgs:
        shares = [
            f"{name} {m.cpu_s[(org, name)] / capacity:4.0%}"
            for name in ("app", "cometbft")
            if (org, name) in m.cpu_s
        ]
        parts.append(f"{org}: {' '.join(shares)}")
    total = sum(m.cpu_s.values()) + m.own_cpu_s
    return (
        f"CPU share of {os.cpu_count()} core(s) over {m.wall_s:.1f} s: "
        + " | ".join(parts)
        + f" | load generator {m.own_cpu_s / capacity:.0%} | all {total / capacity:.0%}"
    )
