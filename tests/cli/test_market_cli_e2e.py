"""``gridledger market``, ``token`` and ``meter`` as a user runs them: the real console entry in a
subprocess against a real embedded node whose grid clock runs fast. One interval is configured,
traded, metered from CSV files (meter-signed and head-end-signed), settled and read back; bad
input exits non-zero with one readable line."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gridledger.client import Client
from gridledger.keys import read_key_file
from tests.e2e.energy import (
    INTERVAL_S,
    LEAD_S,
    choose_interval,
    fast_clock_node,
    wait_for_grid_time,
)
from tests.e2e.nodeproc import NodeProcess, cli, free_port

pytestmark = pytest.mark.e2e

FUNDS = 20_000_000


@dataclass
class World:
    node: NodeProcess
    keys: dict[str, Path]  # name -> key file
    address: dict[str, str]  # name -> address
    tmp: Path


def run_ok(world: World, *args: str, key: str | None = None) -> str:
    done = _run(world, args, key)
    assert done.returncode == 0, f"{args}: {done.stderr}"
    return done.stdout


def run_json(world: World, *args: str) -> Any:
    return json.loads(run_ok(world, *args))


def run_fails(
    world: World, *args: str, key: str | None = None, code: int = 1
) -> subprocess.CompletedProcess[str]:
    done = _run(world, args, key)
    assert done.returncode == code, f"{args}: {done.stdout} {done.stderr}"
    if code == 1:
        (line,) = done.stderr.strip().splitlines()  # one readable line
        assert line.startswith("error: ")
    return done


def _run(world: World, args: tuple[str, ...], key: str | None) -> subprocess.CompletedProcess[str]:
    extra = ["--node", world.node.url]
    if key is not None:
        extra += ["--key", str(world.keys[key])]
    return cli(*args, *extra, timeout=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("cli")
    node = fast_clock_node(tmp)
    node.start()
    try:
        keys = {"gridco": node.key("gridco"), "exchange": node.key("exchange")}
        for name in ("alice", "bob", "alice-meter", "bob-meter", "head-end"):
            keys[name] = tmp / f"{name}.json"
            done = cli("keys", "new", "-o", str(keys[name]))
            assert done.returncode == 0, done.stderr
        address = {name: read_key_file(path).address for name, path in keys.items()}
        gridco = read_key_file(keys["gridco"])
        with Client(node.url) as client:  # the CLI has no command to add accounts
            for name in ("alice", "bob"):
                key = read_key_file(keys[name])
                args = {"org": "gridco", "public_key": key.public_key.hex(), "roles": ["submitter"]}
                client.submit(client.build_tx("identity", "add_account", args, [gridco]))
        yield World(node, keys, address, tmp)
    finally:
        node.stop()


def test_an_interval_through_the_cli(world: World) -> None:
    fails = run_fails(world, "market", "params")
    assert "the market is not configured yet" in fails.stderr
    _set_up(world)
    with Client(world.node.url) as client:
        start = choose_interval(client, window_s=8.0)
        orders = _place_orders(world, start)
        wait_for_grid_time(client, start + INTERVAL_S + 1)
    run_ok(
        world,
        "token",
        "transfer",
        "--to",
        world.address["gridco"],
        "--amount-ucny",
        "1",
        key="gridco",
    )  # a block: the chain's clock moves on and the interval clears
    early = run_fails(world, "market", "settle", str(start), key="bob")
    assert "lacks billable readings" in early.stderr
    _submit_readings(world, start)
    settled = run_ok(world, "market", "settle", str(start), key="bob")
    assert f"interval {start} settled" in settled and "1200 Wh traded" in settled
    _read_back(world, start, orders)


def _set_up(world: World) -> None:
    params = world.tmp / "params.json"
    config = {
        "price_floor": 100,
        "price_cap": 2000,
        "zones": ["z1"],
        "retail_tariff": 600,
        "feed_in_tariff": 350,
        "gate_closure_lead_s": LEAD_S,
    }
    params.write_text(json.dumps(config), encoding="utf-8")
    assert "configured" in run_ok(
        world, "market", "configure", "--params", str(params), key="gridco"
    )
    for meter, owner, direction in (("m-a", "alice", "both"), ("m-b", "bob", "import")):
        out = run_ok(
            world,
            "meter",
            "register",
            meter,
            "--owner",
            world.address[owner],
            "--public-key",
            str(world.keys[f"{owner}-meter"]),
            "--direction",
            direction,
            "--zone",
            "z1",
            "--max-power-w",
            "100000",
            key="gridco",
        )
        assert f"meter {meter} registered" in out
    public = read_key_file(world.keys["head-end"]).public_key.hex()
    run_ok(
        world,
        "meter",
        "register-head-end",
        "he1",
        "--public-key",
        public,
        "--name",
        "HES",
        key="gridco",
    )
    for name in ("alice", "bob", "gridco"):
        out = run_ok(
            world,
            "token",
            "issue",
            "--to",
            world.address[name],
            "--amount-ucny",
            str(FUNDS),
            key="gridco",
        )
        assert f"{FUNDS} µCNY issued to {world.address[name]}" in out
    for name, role, meter in (("alice", "prosumer", "m-a"), ("bob", "consumer", "m-b")):
        run_ok(
            world,
            "market",
            "register-participant",
            world.address[name],
            "--role",
            role,
            "--zone",
            "z1",
            "--meter",
            meter,
            key="exchange",
        )


def _place_orders(world: World, start: int) -> dict[str, str]:
    orders = {}
    for name, who, side, qty, price in (
        ("sell", "alice", "sell", "2000", "400"),
        ("buy", "bob", "buy", "1500", "500"),
        ("cancel", "bob", "buy", "500", "450"),
    ):
        out = run_ok(
            world,
            "market",
            "order",
            "--side",
            side,
            "--qty-wh",
            qty,
            "--price",
            price,
            "--interval-start",
            str(start),
            key=who,
        )
        found = re.search(r"order ([0-9a-f]{64}) placed at height \d+", out)
        assert found is not None, out
        orders[name] = found.group(1)
        if name == "buy":
            assert "escrow 750000 µCNY" in out  # 1500 Wh at 500 CNY/MWh, no grid fee
    out = run_ok(world, "market", "cancel", orders["cancel"], key="bob")
    assert f"order {orders['cancel']} cancelled" in out
    return orders


def _submit_readings(world: World, start: int) -> None:
    alice = world.tmp / "alice.csv"
    alice.write_text(
        "meter,channel,interval_start,register_wh\n"
        f"m-a,import,{start},10100\nm-a,export,{start},51800\n"
        f"m-a,import,{start - INTERVAL_S},10000\nm-a,export,{start - INTERVAL_S},50000\n",
        encoding="utf-8",
    )
    out = run_ok(
        world,
        "meter",
        "submit-readings",
        str(alice),
        "--meter-key",
        f"m-a={world.keys['alice-meter']}",
        key="alice",
    )
    assert "4 readings accepted at height" in out
    bob = world.tmp / "bob.csv"
    bob.write_text(
        f"m-b,import,{start - INTERVAL_S},20000\nm-b,import,{start},21200\n", encoding="utf-8"
    )
    out = run_ok(
        world,
        "meter",
        "submit-readings",
        str(bob),
        "--head-end",
        "he1",
        "--head-end-key",
        str(world.keys["head-end"]),
        key="gridco",
    )
    assert "2 readings accepted at height" in out


def _read_back(world: World, start: int, orders: dict[str, str]) -> None:
    interval = run_json(world, "market", "interval", str(start))
    assert interval["state"] == "settled" and interval["trades"][0]["settled_wh"] == 1200
    invoices = run_json(world, "market", "interval", str(start), "--invoices")
    assert {i["participant"] for i in invoices} == {world.address["alice"], world.address["bob"]}
    alice = run_json(world, "market", "invoices", world.address["alice"])
    assert [i["net_ucny"] for i in alice["invoices"]] == [1200 * 450 + 600 * 350 - 100 * 600]
    assert run_json(world, "market", "order-status", orders["cancel"])["state"] == "cancelled"
    assert run_json(world, "market", "order-status", orders["sell"])["filled_wh"] == 1500
    listed = run_json(world, "market", "participants")["participants"]
    assert len(listed) == 2
    assert run_json(world, "market", "participant", world.address["bob"])["role"] == "consumer"
    day = run_json(world, "market", "intervals", "--from", str(start), "--to", str(start + 900))
    assert [i["state"] for i in day["intervals"]] == ["settled"]
    assert run_json(world, "market", "clock")["speedup"] == 300
    assert run_json(world, "market", "params")["gate_closure_lead_s"] == LEAD_S
    balance = run_json(world, "token", "balance", world.address["bob"])
    assert balance["balance_ucny"] == FUNDS - 1200 * 450
    mine = json.loads(run_ok(world, "token", "balance", key="alice"))
    assert mine["address"] == world.address["alice"]
    assert run_json(world, "token", "supply")["supply_ucny"] == 3 * FUNDS
    assert run_json(world, "meter", "show", "m-b")["latest_readings"]["import"]["register_wh"] == (
        21200
    )
    export = run_json(world, "meter", "intervals", "m-a", "--channel", "export")
    assert export["billable_wh"] == 1800
    proof = run_ok(world, "meter", "reading", "m-a", str(start), "--channel", "export")
    assert "inclusion proof verified under batch root" in proof


ORDER = ("market", "order", "--side", "buy", "--qty-wh", "1", "--price", "500")
NOBODY = "gl" + "0" * 40


@pytest.mark.parametrize(
    ("args", "key", "phrase"),
    [
        (("market", "interval", "1795000100"), None, "is not aligned to 900 s"),
        (("market", "order-status", "f" * 64), None, "no order"),
        (("market", "invoices", NOBODY), None, "is not a market participant"),
        (("market", "settle", "1795000500"), None, "no signing key"),
        (("meter", "show", "m-zz"), None, "meter m-zz is not registered"),
        (("token", "balance"), None, "no signing key"),
        (
            ("token", "transfer", "--to", NOBODY, "--amount-ucny", str(10**15)),
            "bob",
            "insufficient",
        ),
        ((*ORDER, "--interval-start", "1795000500"), "exchange", "not a registered market part"),
        ((*ORDER, "--interval-start", "next"), "exchange", "not a registered market part"),
        ((*ORDER, "--interval-start", "1795000500"), "bob", "gate closure for interval 1795000500"),
    ],
)
def test_refusals_are_one_readable_line(
    world: World, args: tuple[str, ...], key: str | None, phrase: str
) -> None:
    assert phrase in run_fails(world, *args, key=key).stderr


def test_bad_usage_exits_2(world: World) -> None:
    done = run_fails(
        world,
        "market",
        "order",
        "--side",
        "hold",
        "--qty-wh",
        "1",
        "--price",
        "1",
        "--interval-start",
        "1",
        code=2,
    )
    assert "invalid choice: 'hold'" in done.stderr
    done = run_fails(world, "market", "interval", "tomorrow", code=2)
    assert "neither Unix seconds nor an ISO 8601 time" in done.stderr


def test_submit_readings_refuses_bad_files_and_signing_options(world: World) -> None:
    two = world.tmp / "two.csv"
    two.write_text("m-a,import,1795000500,1\nm-b,import,1795000500,1\n", encoding="utf-8")
    key = str(world.keys["alice-meter"])
    cases = [
        ((str(two), "--meter-key", key), "name each key as METER=KEYFILE"),
        ((str(two), "--meter-key", f"m-a={key}"), "no --meter-key for meter(s) m-b"),
        ((str(two), "--meter-key", key, "--head-end", "he1"), "not both"),
        ((str(two), "--head-end", "he1"), "needs both --head-end and --head-end-key"),
        ((str(world.tmp / "missing.csv"), "--meter-key", key), "cannot read"),
    ]
    bad = world.tmp / "bad.csv"
    bad.write_text("m-a,import,1795000500,1\nm-a,import,1795001400\n", encoding="utf-8")
    cases.append(((str(bad), "--meter-key", key), "CSV row 2: 3 fields, expected 4"))
    for args, phrase in cases:
        assert phrase in run_fails(world, "meter", "submit-readings", *args, key="alice").stderr


def test_an_unreachable_node_is_one_line(world: World) -> None:
    done = cli("market", "params", "--node", f"http://127.0.0.1:{free_port()}", timeout=60)
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot reach the node")
