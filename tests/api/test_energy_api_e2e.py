"""The token, metering and market REST routes over a real embedded node (real SQLite) after one
market interval was set up, traded, metered and settled: every route's answer, and every kind of
bad input answered with a 4xx JSON error naming the problem."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gridledger import merkle
from gridledger.client import Client
from tests.e2e.energy import FUNDS_UCNY, INTERVAL_S, LEAD_S, Interval, fast_clock_node, run_interval
from tests.e2e.nodeproc import NodeProcess

pytestmark = pytest.mark.e2e

NOBODY = "gl" + "ab" * 20


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = fast_clock_node(tmp_path_factory.mktemp("api"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def run(node: NodeProcess) -> Interval:
    with Client(node.url, timeout_s=30) as client:
        return run_interval(client, node)


@pytest.fixture(scope="module")
def http(node: NodeProcess, run: Interval) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=30) as client:
        yield client


def ok(http: httpx.Client, path: str, **params: Any) -> Any:
    response = http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def refused(http: httpx.Client, path: str, status: int, phrase: str, **params: Any) -> None:
    response = http.get(path, params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert phrase in error["message"], error


# -- token -------------------------------------------------------------------------------------


def test_token_supply_and_balances(http: httpx.Client, run: Interval) -> None:
    supply = ok(http, "/v1/token/supply")
    assert supply["supply_ucny"] == 3 * FUNDS_UCNY and supply["height"] > 0
    balances = [
        ok(http, f"/v1/token/balances/{key.address}")["balance_ucny"]
        for key in (run.gridco, run.alice, run.bob)
    ]
    assert sum(balances) == supply["supply_ucny"]  # every escrow was released by settlement
    assert ok(http, f"/v1/token/balances/{NOBODY}")["balance_ucny"] == 0


def test_token_balance_of_a_malformed_address_is_400(http: httpx.Client) -> None:
    refused(http, "/v1/token/balances/alice", 400, "address must be 'gl' and 40 lowercase hex")


# -- metering ----------------------------------------------------------------------------------


def test_meter_with_its_latest_readings(http: httpx.Client, run: Interval) -> None:
    meter = ok(http, "/v1/metering/meters/m-alice")
    assert (meter["owner"], meter["direction"]) == (run.alice.address, "both")
    latest = meter["latest_readings"]
    assert (latest["import"]["register_wh"], latest["export"]["register_wh"]) == (10_100, 51_800)
    assert ok(http, "/v1/metering/meters/m-bob")["latest_readings"] == {
        "import": {
            "error_flags": "",
            "interval_start": run.start,
            "page": None,
            "register_wh": 21_200,
        }
    }


def test_unknown_or_malformed_meter(http: httpx.Client) -> None:
    refused(http, "/v1/metering/meters/m-nobody", 404, "meter m-nobody is not registered")
    refused(http, "/v1/metering/meters/m-nobody/intervals", 404, "not registered")
    refused(http, "/v1/metering/meters/bad%20id", 400, "meter must be 1 to 64")


def test_meter_intervals_over_a_range(http: httpx.Client, run: Interval) -> None:
    path = "/v1/metering/meters/m-alice/intervals"
    export = ok(http, path, channel="export", **{"from": run.start - 3600, "to": run.start + 900})
    assert (export["from"], export["to"], export["channel"]) == (
        run.start - 3600,
        run.start + 900,
        "export",
    )
    (interval,) = export["intervals"]
    assert (interval["interval_start"], interval["energy_wh"], interval["source"]) == (
        run.start,
        1800,
        "actual",
    )
    assert export["gaps"] == [] and export["billable_wh"] == 1800
    default = ok(http, path, channel="import")  # the day up to the latest reading
    assert default["to"] == run.start + INTERVAL_S and default["to"] - default["from"] == 86_400
    assert [i["energy_wh"] for i in default["intervals"]] == [100]
    assert ok(http, "/v1/metering/meters/m-bob/intervals")["billable_wh"] == 1200


@pytest.mark.parametrize(
    ("meter", "params", "phrase"),
    [
        ("m-alice", {}, "measures import and export; pass channel=import"),
        ("m-alice", {"channel": "sideways"}, "channel must be import or export"),
        ("m-bob", {"channel": "export"}, "measures import only"),
        ("m-bob", {"from": 1_795_000_001}, "from 1795000001 is not aligned to 900 s"),
        ("m-bob", {"from": 1_795_000_500, "to": 1_795_000_500}, "must be before to"),
        ("m-bob", {"from": 900, "to": 900 * 1000}, "ask for at most 672"),
        ("m-bob", {"from": "yesterday"}, "from"),
        ("m-bob", {"from": -900}, "from"),
    ],
)
def test_meter_intervals_bad_input_is_400(
    http: httpx.Client, meter: str, params: dict[str, Any], phrase: str
) -> None:
    refused(http, f"/v1/metering/meters/{meter}/intervals", 400, phrase, **params)


def test_reading_with_its_inclusion_proof(http: httpx.Client, run: Interval) -> None:
    found = ok(http, f"/v1/metering/meters/m-alice/readings/{run.start}", channel="import")
    reading, proof, batch = found["reading"], found["proof"], found["batch"]
    assert (reading["register_wh"], reading["channel"]) == (10_100, "import")
    assert proof["root"] == reading["batch"] == batch["root"]
    assert batch["count"] == proof["size"] == 4 and batch["tx_id"] == reading["tx_id"]
    merkle.verify_inclusion(
        bytes.fromhex(proof["leaf"]),
        proof["index"],
        proof["size"],
        [bytes.fromhex(h) for h in proof["path"]],
        bytes.fromhex(proof["root"]),
    )


def test_reading_bad_input(http: httpx.Client, run: Interval) -> None:
    base = "/v1/metering/meters/m-bob/readings"
    refused(http, f"{base}/{run.start + 1}", 400, "is not aligned to 900 s")
    refused(http, f"{base}/noon", 400, "Unix seconds (digits only)")
    refused(http, f"{base}/0", 400, "between 1 and")
    refused(http, f"{base}/{run.start + INTERVAL_S}", 404, "no import reading")
    refused(http, f"{base}/{run.start}", 400, "measures import only", channel="export")


def test_head_end(http: httpx.Client, run: Interval) -> None:
    head_end = ok(http, "/v1/metering/head-ends/he1")
    assert (head_end["name"], head_end["status"]) == ("HES", "active")
    assert head_end["public_key"] == run.head_end_key.public_key.hex()
    refused(http, "/v1/metering/head-ends/he9", 404, "head-end system he9 is not registered")
    refused(http, "/v1/metering/head-ends/he*1", 400, "head_end must be 1 to 64")


# -- market ------------------------------------------------------------------------------------


def test_market_clock_and_params(http: httpx.Client, run: Interval) -> None:
    clock = ok(http, "/v1/market/clock")
    assert clock["speedup"] == 300 and clock["gate_closure_lead_s"] == LEAD_S
    assert clock["grid_time_ms"] >= (run.start + INTERVAL_S) * 1000
    assert clock["estimated_grid_time_ms"] >= clock["grid_time_ms"]
    next_open = clock["next_open_interval"]
    assert next_open % INTERVAL_S == 0
    assert (next_open - LEAD_S) * 1000 > clock["estimated_grid_time_ms"]
    params = ok(http, "/v1/market/params")
    assert (params["price_floor"], params["price_cap"], params["zones"]) == (100, 2000, ["z1"])
    assert params["retailer_account"] == run.gridco.address


def test_participants_paged_by_address(http: httpx.Client, run: Interval) -> None:
    listed = ok(http, "/v1/market/participants")
    addresses = sorted([run.alice.address, run.bob.address])
    assert [p["account"] for p in listed["participants"]] == addresses
    assert listed["more"] is False
    first = ok(http, "/v1/market/participants", limit=1)
    assert [p["account"] for p in first["participants"]] == addresses[:1] and first["more"]
    rest = ok(http, "/v1/market/participants", after=addresses[0])
    assert [p["account"] for p in rest["participants"]] == addresses[1:]
    refused(http, "/v1/market/participants", 400, "after must be 'gl'", after="alice")
    refused(http, "/v1/market/participants", 400, "limit", limit=0)
    refused(http, "/v1/market/participants", 400, "limit", limit=1001)


def test_one_participant(http: httpx.Client, run: Interval) -> None:
    alice = ok(http, f"/v1/market/participants/{run.alice.address}")
    assert (alice["role"], alice["zone"], alice["meters"]) == ("prosumer", "z1", ["m-alice"])
    refused(http, f"/v1/market/participants/{NOBODY}", 404, "is not a market participant")
    refused(http, "/v1/market/participants/GL00", 400, "address must be")


def test_intervals_over_a_range(http: httpx.Client, run: Interval) -> None:
    found = ok(http, "/v1/market/intervals", **{"from": run.start - 3600, "to": run.start + 3600})
    (interval,) = found["intervals"]
    assert (interval["interval_start"], interval["state"]) == (run.start, "settled")
    assert interval["interval"]["price"] == 450 and interval["settlement"]["settled_wh"] == 1200
    day = ok(http, "/v1/market/intervals")  # the grid day of the last block
    assert day["to"] - day["from"] == 86_400 and day["from"] % 86_400 == 0
    listed = [i["interval_start"] for i in day["intervals"]]
    if day["from"] <= run.start:
        assert run.start in listed
    else:  # the interval was near a grid day's end, and the last block is in a later day
        assert day["from"] >= run.start + INTERVAL_S and run.start not in listed
    empty = ok(http, "/v1/market/intervals", **{"from": run.start + 900, "to": run.start + 1800})
    assert empty["intervals"] == []


@pytest.mark.parametrize(
    ("params", "phrase"),
    [
        ({"from": 1_795_000_100}, "from 1795000100 is not aligned"),
        ({"to": 1_795_000_050}, "to 1795000050 is not aligned"),
        ({"from": 1_795_000_500, "to": 1_794_999_600}, "must be before to"),
        ({"from": 1_795_000_500, "to": 1_795_000_500 + 900 * 673}, "spans 673 intervals"),
        ({"from": "noon"}, "from"),
    ],
)
def test_intervals_bad_range_is_400(
    http: httpx.Client, params: dict[str, Any], phrase: str
) -> None:
    refused(http, "/v1/market/intervals", 400, phrase, **params)


def test_one_interval_with_orders_trades_and_settlement(http: httpx.Client, run: Interval) -> None:
    found = ok(http, f"/v1/market/intervals/{run.start}")
    assert (found["state"], found["gate_close_s"]) == ("settled", run.start - LEAD_S)
    assert [o["id"] for o in found["orders"]] == [
        run.orders[n] for n in ("alice sell", "bob buy", "bob low buy")
    ]  # the cancelled order left the book
    (trade,) = found["trades"]
    assert (trade["qty_wh"], trade["settled_wh"], trade["state"]) == (1500, 1200, "settled")
    assert (found["more_orders"], found["more_trades"]) == (False, False)
    assert found["settlement"]["invoices"] == 2
    future = ok(http, f"/v1/market/intervals/{run.start + 96 * INTERVAL_S}")
    assert (future["state"], future["orders"], future["trades"]) == ("no_orders", [], [])
    assert future["gate_close_s"] == run.start + 96 * INTERVAL_S - LEAD_S


def test_one_interval_pages_its_orders_and_trades(http: httpx.Client, run: Interval) -> None:
    path = f"/v1/market/intervals/{run.start}"
    first = ok(http, path, limit=1)
    assert [o["id"] for o in first["orders"]] == [run.orders["alice sell"]]
    assert (first["more_orders"], len(first["trades"]), first["more_trades"]) == (True, 1, False)
    rest = ok(http, path, offset=1, limit=5)
    assert [o["id"] for o in rest["orders"]] == [run.orders["bob buy"], run.orders["bob low buy"]]
    assert (rest["more_orders"], rest["trades"]) == (False, [])
    refused(http, path, 400, "limit", limit=1001)
    refused(http, path, 400, "offset", offset=-1)


def test_interval_bad_start_is_400(http: httpx.Client, run: Interval) -> None:
    refused(http, f"/v1/market/intervals/{run.start + 450}", 400, "is not aligned to 900 s")
    refused(http, "/v1/market/intervals/-900", 400, "digits only")
    refused(http, "/v1/market/intervals/1e9", 400, "digits only")
    refused(http, f"/v1/market/intervals/{run.start + 450}/invoices", 400, "is not aligned")


def test_interval_invoices(http: httpx.Client, run: Interval) -> None:
    found = ok(http, f"/v1/market/intervals/{run.start}/invoices")
    assert found["settled"] is True
    assert {i["participant"] for i in found["invoices"]} == {run.alice.address, run.bob.address}
    assert sum(i["net_ucny"] for i in found["invoices"]) == 690_000 - 540_000
    later = ok(http, f"/v1/market/intervals/{run.start + INTERVAL_S}/invoices")
    assert (later["settled"], later["invoices"]) == (False, [])


def test_orders(http: httpx.Client, run: Interval) -> None:
    order = ok(http, f"/v1/market/orders/{run.orders['bob cancelled']}")
    assert (order["state"], order["owner"], order["qty_wh"]) == ("cancelled", run.bob.address, 700)
    refused(http, f"/v1/market/orders/{'0' * 64}", 404, "no order")
    refused(http, "/v1/market/orders/xyz", 400, "order id must be 64 lowercase hex")
    refused(http, f"/v1/market/orders/{'A' * 64}", 400, "order id must be 64 lowercase hex")


def test_participant_invoices(http: httpx.Client, run: Interval) -> None:
    path = f"/v1/market/invoices/{run.alice.address}"
    found = ok(http, path)
    (invoice,) = found["invoices"]
    assert (invoice["interval_start"], invoice["net_ucny"], found["more"]) == (
        run.start,
        690_000,
        False,
    )
    assert ok(http, path, **{"from": run.start + INTERVAL_S})["invoices"] == []
    refused(http, f"/v1/market/invoices/{NOBODY}", 404, "is not a market participant")
    refused(http, "/v1/market/invoices/bob", 400, "address must be")
    refused(http, path, 400, "limit", limit=0)


def test_every_energy_route_is_documented(http: httpx.Client) -> None:
    paths = ok(http, "/openapi.json")["paths"]
    energy = {
        p: ops for p, ops in paths.items() if p.split("/")[2] in {"token", "metering", "market"}
    }
    assert len(energy) == 15
    for path, ops in energy.items():
        assert set(ops) == {"get"}, path  # read-only: writes are signed transactions
        assert ops["get"]["summary"], path
