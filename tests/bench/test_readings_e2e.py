"""``gridledger bench readings`` against a real four-validator network, small: 50 meters, 300
readings in each signing mode. Every reading must be committed, and every node must hold each
meter's last reading as the workload made it (read with CometBFT's abci_query, not the bench's
own reader)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.bench.readings import build_workload, format_network, measure_network
from gridledger.bench.workload import HEAD_END_SIGNED, METER_SIGNED
from tests.net.netproc import running_network

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

METERS, READINGS, BATCH_SIZE = 50, 300, 100


def last_reading(rpc_url: str, meter: str) -> dict[str, Any] | None:
    key = f"metering/last/{meter}/import"  # docs/contracts/metering.md, state keys
    response = httpx.get(
        f"{rpc_url}/abci_query",
        params={"path": '"/store"', "data": "0x" + key.encode().hex()},
        timeout=10,
    )
    value = response.json()["result"]["response"].get("value")
    return json.loads(base64.b64decode(value)) if value else None


def wait_last_reading(rpc_url: str, meter: str, expected: tuple[int, int]) -> tuple[int, int]:
    """The node's last reading of ``meter``, waiting up to 15 s for it to reach ``expected``
    (the load generator follows one node; another may commit the last block a moment later)."""
    deadline = time.monotonic() + 15
    while True:
        stored = last_reading(rpc_url, meter) or {}
        found = (stored.get("interval_start", 0), stored.get("register_wh", 0))
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_every_reading_of_both_modes_is_committed_on_every_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_network(tmp_path / "net", "gridledger-bench-readings-e2e") as network:
        workload = build_workload(network, meters=METERS, readings=READINGS, batch_size=BATCH_SIZE)
        result = measure_network(network, workload, in_flight=4, window=1_000)
        print(format_network(result, network))

        assert result.registration.committed == METERS + 1
        assert [m.mode for m in result.modes] == [METER_SIGNED, HEAD_END_SIGNED]
        for mode in result.modes:
            assert mode.load.refused == 0, mode.load.format_refusals()
            assert mode.readings_sent == mode.readings_stored == READINGS
            assert mode.batches_stored == mode.load.sent == mode.load.committed
            assert mode.readings_per_s > 0
        for node in network.nodes:
            for meter in (workload.meters[0], workload.meters[-1]):
                expected = workload.last_reading[meter]
                assert wait_last_reading(node.rpc_url, meter, expected) == expected, node.org

    out = capsys.readouterr().out
    assert f"{READINGS:,} of {READINGS:,} readings stored" in out
    assert "readings/s" in out and "p99" in out
