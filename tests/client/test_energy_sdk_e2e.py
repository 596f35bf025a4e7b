"""The SDK's energy methods against a real embedded node: one market interval set up, traded,
metered (readings signed both ways), cleared and settled through ``Client``, then read back
through its read helpers; and the SDK's refusals (bad signatures, closed gates, overdrafts,
tampered proofs)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from gridledger.client import Client
from gridledger.client.energy import verify_reading_proof
from gridledger.client.metering import make_reading
from gridledger.errors import (
    InvalidProof,
    InvalidSignature,
    InvalidTransaction,
    NotFound,
    RuleViolation,
    Unauthorized,
)
from gridledger.keys import generate_key
from tests.e2e.energy import FUNDS_UCNY, INTERVAL_S, Interval, fast_clock_node, run_interval
from tests.e2e.nodeproc import NodeProcess

pytestmark = pytest.mark.e2e

PRICE = 450  # midpoint of the marginal ask (400) and bid (500)
SETTLED_WH = 1200  # bob's meter imported 1200 of the 1500 Wh he bought
FEED_IN_UCNY = 600 * 350  # alice exported 1800 Wh: 1200 sold, 600 fed in at 350 CNY/MWh
RETAIL_UCNY = 100 * 600  # alice imported 100 Wh at the retail tariff


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = fast_clock_node(tmp_path_factory.mktemp("sdk"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(node: NodeProcess) -> Iterator[Client]:
    with Client(node.url, timeout_s=30) as c:
        yield c


@pytest.fixture(scope="module")
def run(client: Client, node: NodeProcess) -> Interval:
    return run_interval(client, node)


def test_every_write_was_committed(run: Interval) -> None:
    for step, result in run.results.items():
        assert result["status"] == "committed", step
        assert len(result["tx_id"]) == 64 and result["height"] > 0, step


def test_settling_before_the_readings_is_refused_naming_the_participants(run: Interval) -> None:
    assert isinstance(run.early_settle_error, RuleViolation)
    message = run.early_settle_error.message
    assert "lacks billable readings" in message
    assert run.alice.address in message and run.bob.address in message


def test_orders_read_back_with_their_outcomes(client: Client, run: Interval) -> None:
    sell = client.order(run.orders["alice sell"])
    assert (sell["side"], sell["state"], sell["filled_wh"]) == ("sell", "partially_filled", 1500)
    buy = client.order(run.orders["bob buy"])
    assert (buy["state"], buy["filled_wh"], buy["escrow_ucny"]) == ("filled", 1500, 1500 * 500)
    assert client.order(run.orders["bob low buy"])["state"] == "expired"
    assert client.order(run.orders["bob cancelled"])["state"] == "cancelled"


def test_interval_cleared_and_settled_against_the_meters(client: Client, run: Interval) -> None:
    interval = client.market_interval(run.start)
    assert interval["state"] == "settled"
    assert interval["interval"]["price"] == PRICE
    assert interval["interval"]["quantity_wh"] == 1500
    assert [o["id"] for o in interval["orders"]] == [
        run.orders[name] for name in ("alice sell", "bob buy", "bob low buy")
    ]
    (trade,) = interval["trades"]
    assert (trade["seller"], trade["buyer"]) == (run.alice.address, run.bob.address)
    assert trade["settled_wh"] == SETTLED_WH
    assert trade["settled_amount_ucny"] == SETTLED_WH * PRICE
    assert trade["refund_ucny"] == (1500 - SETTLED_WH) * PRICE
    page = client.market_interval(run.start, offset=2, limit=1)
    assert [o["id"] for o in page["orders"]] == [run.orders["bob low buy"]]
    assert (page["more_orders"], page["trades"]) == (False, [])
    summary = interval["settlement"]
    assert (summary["settled_wh"], summary["invoices"], summary["unmetered"]) == (SETTLED_WH, 2, 0)


def test_invoices_and_balances_add_up(client: Client, run: Interval) -> None:
    invoices = {i["participant"]: i for i in client.interval_invoices(run.start)}
    alice, bob = invoices[run.alice.address], invoices[run.bob.address]
    assert alice["net_ucny"] == SETTLED_WH * PRICE + FEED_IN_UCNY - RETAIL_UCNY
    assert bob["net_ucny"] == -SETTLED_WH * PRICE
    assert client.invoices(run.alice.address)["invoices"] == [alice]
    assert client.balance(run.alice.address) == FUNDS_UCNY + alice["net_ucny"]
    assert client.balance(run.bob.address) == FUNDS_UCNY + bob["net_ucny"]
    gridco = client.balance(run.gridco.address)  # retailer and fee account
    assert gridco == FUNDS_UCNY - FEED_IN_UCNY + RETAIL_UCNY
    total = gridco + client.balance(run.alice.address) + client.balance(run.bob.address)
    assert client.token_supply() == 3 * FUNDS_UCNY == total  # no escrow left behind


def test_readings_of_both_signing_modes_prove_their_inclusion(
    client: Client, run: Interval
) -> None:
    meter_signed = client.reading("m-alice", run.start, channel="export")
    assert meter_signed["reading"]["register_wh"] == 51_800
    assert meter_signed["reading"]["signature"] is not None
    assert meter_signed["batch"]["head_end"] is None and meter_signed["proof"]["size"] == 4
    head_end_signed = client.reading("m-bob", run.start)  # its only channel
    assert head_end_signed["reading"]["signature"] is None
    assert head_end_signed["batch"]["head_end"] == "he1"
    assert head_end_signed["batch"]["submitter"] == run.gridco.address


def test_a_tampered_proof_is_refused(client: Client, run: Interval) -> None:
    found = client.reading("m-alice", run.start, channel="import", verify=False)
    path = [("0" if h[0] != "0" else "1") + h[1:] for h in found["proof"]["path"]]
    with pytest.raises(InvalidProof):
        verify_reading_proof({**found, "proof": {**found["proof"], "path": path}})
    other = client.reading("m-alice", run.start, channel="export", verify=False)
    with pytest.raises(InvalidProof, match="channel is not the reading"):
        verify_reading_proof({**found, "proof": other["proof"]})


def test_meter_intervals_and_records(client: Client, run: Interval) -> None:
    bob = client.meter_intervals("m-bob", from_s=run.start - INTERVAL_S, to_s=run.start + 900)
    assert [(i["interval_start"], i["energy_wh"]) for i in bob["intervals"]] == [(run.start, 1200)]
    assert bob["billable_wh"] == 1200
    meter = client.meter("m-alice")
    assert meter["owner"] == run.alice.address and meter["channels"] == ["export", "import"]
    assert meter["latest_readings"]["export"]["interval_start"] == run.start
    assert client.head_end("he1")["public_key"] == run.head_end_key.public_key.hex()


def test_participants_and_params(client: Client, run: Interval) -> None:
    listed = client.participants()["participants"]
    assert {p["account"] for p in listed} == {run.alice.address, run.bob.address}
    assert client.participant(run.bob.address)["role"] == "consumer"
    assert client.market_params()["gate_closure_lead_s"] == 300
    assert (
        client.market_intervals(from_s=run.start, to_s=run.start + 900)["intervals"][0]["state"]
        == "settled"
    )


def test_readings_with_a_wrong_key_are_refused(client: Client, run: Interval) -> None:
    readings = [make_reading("m-bob", "import", run.start, 21_200)]  # checked before duplicates
    with pytest.raises(InvalidSignature):
        client.submit_readings(run.bob, readings, meter_keys={"m-bob": generate_key()})
    with pytest.raises(InvalidSignature, match="head-end system he1"):
        client.submit_readings(run.bob, readings, head_end="he1", head_end_key=generate_key())
    with pytest.raises(InvalidTransaction, match="either"):
        client.submit_readings(
            run.bob, readings, meter_keys={"m-bob": run.bob_meter_key}, head_end="he1"
        )


def test_writes_refused_by_the_ledger_raise_its_error(client: Client, run: Interval) -> None:
    with pytest.raises(RuleViolation, match="gate closure"):
        client.place_order(
            run.bob, interval_start=run.start + INTERVAL_S, side="buy", qty_wh=10, price=500
        )
    with pytest.raises(RuleViolation, match="insufficient funds"):
        client.transfer_tokens(run.bob, run.alice.address, 10 * FUNDS_UCNY)
    with pytest.raises(Unauthorized):
        client.cancel_order(run.bob, run.orders["alice sell"])
    with pytest.raises(Unauthorized):
        client.issue_tokens(run.alice, run.alice.address, 1)
    with pytest.raises(NotFound):
        client.order("0" * 64)


def test_a_reading_built_by_the_sdk_matches_the_contract_leaf() -> None:
    reading = make_reading("m1", "import", 1_795_000_500, 7, error_flags="tE")
    assert reading.error_flags == "Et"
    assert dataclasses.replace(reading, signature=b"x").leaf == reading.leaf
