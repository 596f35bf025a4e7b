"""One market interval, end to end, on a real embedded node whose grid clock runs fast.

``fast_clock_node`` makes a node home whose genesis sets ``grid_clock_speedup`` (the grid time of
a block is genesis time + (block time - genesis time) * speedup), so an interval passes in
seconds. ``run_interval`` then drives one interval through the SDK as a market would:

- accounts alice (a prosumer with a ``both`` meter) and bob (a consumer with an ``import`` meter),
  a head-end system, the market configured, money issued, both admitted as participants;
- for an interval whose gate closure is a few seconds ahead: alice sells 2000 Wh at 400, bob
  buys 1500 Wh at 500 and 1000 Wh at 300, and places and cancels one more buy;
- once the interval has ended by the grid clock, a block (any transaction) clears it; settling
  before any readings is refused; alice's readings go in meter-signed, bob's head-end-signed;
- the interval is settled.

The solo driver makes a block only when a transaction arrives and CheckTx judges time by the last
block, so ``tick`` sends a 1 µCNY transfer to move the chain's clock forward.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridledger.client import Client
from gridledger.client.metering import make_reading
from gridledger.crypto import PrivateKey
from gridledger.errors import GridledgerError
from gridledger.keys import generate_key, read_key_file
from tests.e2e.nodeproc import NodeProcess

SPEEDUP = 300  # one 15-minute interval every 3 s
LEAD_S = 300  # gate closure 5 grid minutes (1 s) before the interval starts
WINDOW_S = 6.0  # at least this many real seconds to place the orders before gate closure
INTERVAL_S = 900
ZONE = "z1"
PRICES = {"price_floor": 100, "price_cap": 2000, "retail_tariff": 600, "feed_in_tariff": 350}
FUNDS_UCNY = 50_000_000


def fast_clock_node(tmp: Path, speedup: int = SPEEDUP) -> NodeProcess:
    """A node home (not started) whose grid clock runs ``speedup`` times faster."""
    node = NodeProcess.create(tmp, chain_id="gridledger-energy")
    path = node.home / "genesis.json"
    genesis = json.loads(path.read_text(encoding="utf-8"))
    genesis["params"]["grid_clock_speedup"] = speedup
    path.write_text(json.dumps(genesis, indent=2, sort_keys=True), encoding="utf-8")
    return node


@dataclass
class Interval:
    """What ``run_interval`` did, for the tests to check."""

    start: int
    gridco: PrivateKey
    exchange: PrivateKey
    alice: PrivateKey
    bob: PrivateKey
    alice_meter_key: PrivateKey
    bob_meter_key: PrivateKey
    head_end_key: PrivateKey
    orders: dict[str, str] = field(default_factory=dict)  # name -> order id
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> commit
    early_settle_error: GridledgerError | None = None


def wait_for_grid_time(client: Client, grid_s: int, timeout_s: float = 60) -> None:
    """Sleep until the node's clock estimate of grid time reaches ``grid_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        clock = client.market_clock()
        behind_ms = grid_s * 1000 - int(clock["estimated_grid_time_ms"])
        if behind_ms <= 0:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"grid time did not reach {grid_s} s")
        time.sleep(min(behind_ms / 1000 / int(clock["speedup"]) + 0.05, 1.0))


def tick(client: Client, gridco: PrivateKey) -> dict[str, Any]:
    """A block now: the chain's clock moves to the wall clock."""
    return client.transfer_tokens(gridco, gridco.address, 1, "tick")


def choose_interval(client: Client, window_s: float = WINDOW_S) -> int:
    """The first interval whose gate closes at least ``window_s`` real seconds from now."""
    clock = client.market_clock()
    now_s = int(clock["estimated_grid_time_ms"]) // 1000
    earliest = now_s + LEAD_S + int(window_s * int(clock["speedup"]))
    return (earliest // INTERVAL_S + 1) * INTERVAL_S


def set_up_market(client: Client, node: NodeProcess, run: Interval) -> None:
    gridco, exchange = run.gridco, run.exchange
    for name, key in (("alice", run.alice), ("bob", run.bob)):
        args = {"org": "gridco", "public_key": key.public_key.hex(), "roles": ["submitter"]}
        client.submit(client.build_tx("identity", "add_account", {**args, "name": name}, [gridco]))
    params = {**PRICES, "zones": [ZONE], "gate_closure_lead_s": LEAD_S}
    run.results["configure"] = client.configure_market(gridco, params)
    meters = (
        ("m-alice", run.alice, run.alice_meter_key, "both"),
        ("m-bob", run.bob, run.bob_meter_key, "import"),
    )
    for meter, owner, device, direction in meters:
        run.results[f"register {meter}"] = client.register_meter(
            gridco,
            meter=meter,
            owner=owner.address,
            public_key=device.public_key,
            direction=direction,
            zone=ZONE,
            max_power_w=100_000,
        )
    run.results["register he1"] = client.register_head_end(
        gridco, head_end="he1", public_key=run.head_end_key.public_key, name="HES"
    )
    for key in (run.alice, run.bob, gridco):
        client.issue_tokens(gridco, key.address, FUNDS_UCNY)
    for key, role, meter in ((run.alice, "prosumer", "m-alice"), (run.bob, "consumer", "m-bob")):
        run.results[f"participant {role}"] = client.register_participant(
            exchange, account=key.address, role=role, zone=ZONE, meters=[meter]
        )


def place_orders(client: Client, run: Interval) -> None:
    bids = {
        "alice sell": (run.alice, "sell", 2000, 400),
        "bob buy": (run.bob, "buy", 1500, 500),
        "bob low buy": (run.bob, "buy", 1000, 300),
        "bob cancelled": (run.bob, "buy", 700, 450),
    }
    for name, (key, side, qty_wh, price) in bids.items():
        result = client.place_order(
            key, interval_start=run.start, side=side, qty_wh=qty_wh, price=price
        )
        run.orders[name] = result["tx_id"]
    run.results["cancel"] = client.cancel_order(run.bob, run.orders["bob cancelled"])


def submit_readings(client: Client, run: Interval) -> None:
    before, at = run.start - INTERVAL_S, run.start
    alice = [
        make_reading("m-alice", "import", before, 10_000),
        make_reading("m-alice", "export", before, 50_000),
        make_reading("m-alice", "import", at, 10_100),
        make_reading("m-alice", "export", at, 51_800),
    ]
    run.results["alice readings"] = client.submit_readings(
        run.alice, alice, meter_keys={"m-alice": run.alice_meter_key}
    )
    bob = [
        make_reading("m-bob", "import", before, 20_000),
        make_reading("m-bob", "import", at, 21_200),
    ]
    run.results["bob readings"] = client.submit_readings(
        run.gridco, bob, head_end="he1", head_end_key=run.head_end_key
    )


def run_interval(client: Client, node: NodeProcess) -> Interval:
    run = Interval(
        start=0,
        gridco=read_key_file(node.key("gridco")),
        exchange=read_key_file(node.key("exchange")),
        alice=generate_key(),
        bob=generate_key(),
        alice_meter_key=generate_key(),
        bob_meter_key=generate_key(),
        head_end_key=generate_key(),
    )
    set_up_market(client, node, run)
    run.start = choose_interval(client)
    place_orders(client, run)
    wait_for_grid_time(client, run.start + INTERVAL_S + 1)
    run.results["tick"] = tick(client, run.gridco)  # its block clears the interval
    try:
        client.settle(run.bob, run.start)
    except GridledgerError as exc:
        run.early_settle_error = exc
    submit_readings(client, run)
    run.results["settle"] = client.settle(run.bob, run.start)
    return run
