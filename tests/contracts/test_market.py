"""The market contract through real blocks: configure, place and cancel orders before gate
closure (judged by block time), buyer escrow, and clearing in the first block past gate closure
(domain report vectors 1-A, 1-B, 1-E), with money conserved after every block."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from gridledger import codec
from gridledger.contracts import market, token
from gridledger.crypto import PrivateKey
from gridledger.ledger.context import BlockEnv
from gridledger.ledger.state import State
from gridledger.ledger.transition import OK, BlockResult, apply_block
from gridledger.ledger.tx import Transaction
from tests.chain import (
    BLOCK_INTERVAL_MS,
    CHAIN_ID,
    EXCHANGE_ADMIN,
    GENESIS_TIME_MS,
    GRIDCO_ADMIN,
    Chain,
    genesis_document,
    key_for,
)
from tests.contracts.metering_support import batch_args, reading

INTERVAL = 1_795_000_500  # a multiple of 900 s, 500 s after the test genesis
LEAD_S = 450  # gate closure at INTERVAL - 450 s = genesis + 50 s: block height 50
CLOSE_HEIGHT = 50
FUNDS = 10_000_000  # µCNY given to every participant
BIDS = {"B1": (3000, 620), "B2": (2000, 600), "B3": (4000, 550), "B5": (2500, 480)}
BIDS["B4"] = (1500, 550)  # placed last: seq 5 (report 1-A order book)
ASKS = {"A1": (2500, 400), "A2": (3500, 450), "A3": (3500, 530), "A4": (4000, 600)}
KEYS = {name: key_for(f"market-{name}") for name in (*BIDS, *ASKS, "C1")}
DSO = key_for("market-dso")  # fee account, not a registered account
RETAILER = key_for("market-retailer")  # the retailer's settlement account
HEAD_END = key_for("market-head-end")
RETAIL_TARIFF, FEED_IN_TARIFF = 600, 350  # CNY/MWh (report 1-F)
TARIFFS = {"retail_tariff": RETAIL_TARIFF, "feed_in_tariff": FEED_IN_TARIFF}
RETAILER_FUNDS = 100_000_000
BASE_REGISTER = 1_000_000  # Wh on every register before the interval


def market_genesis() -> dict[str, Any]:
    doc = genesis_document()
    for key in KEYS.values():
        doc["accounts"].append(
            {"public_key": key.public_key.hex(), "org": "exchange", "roles": ["submitter"]}
        )
    return doc


def verify_money(state: State) -> None:
    """Conservation and no negative balance or escrow."""
    assert token.compute_circulating(state) == token.get_total_supply(state)
    for _, raw in state.iter_prefix(token.BALANCE_PREFIX):
        assert int(raw) > 0
    for key, _ in state.iter_prefix(token.ESCROW_PREFIX):
        assert state.get_json(key)["amount"] > 0


def meter_of(name: str) -> str:
    return f"m-{name}"


def register_participants(
    chain: Chain, names: Iterable[str], zones_of: Mapping[str, str], role: str = "prosumer"
) -> None:
    """A `both` meter per name, then the participant bound to it, in two blocks."""
    meters = [
        chain.tx(
            "metering",
            "register_meter",
            {
                "meter": meter_of(n),
                "owner": KEYS[n].address,
                "public_key": KEYS[n].public_key.hex(),
                "direction": "both",
                "zone": zones_of[n],
                "max_power_w": 100_000,
            },
            [GRIDCO_ADMIN],
        )
        for n in names
    ]
    assert [r.code for r in chain.commit_block(*meters).tx_results] == [OK] * len(meters)
    participants = [
        chain.tx(
            "market",
            "register_participant",
            {
                "account": KEYS[n].address,
                "role": role,
                "zone": zones_of[n],
                "meters": [meter_of(n)],
            },
            [EXCHANGE_ADMIN],
        )
        for n in names
    ]
    results = chain.commit_block(*participants).tx_results
    assert [(r.code, r.log) for r in results] == [(OK, "")] * len(participants)


class Market:
    """A test chain with a configured market, a head-end system, and funded participants, each
    with its own meter."""

    def __init__(self, zones_of: Mapping[str, str] | None = None, **params: Any) -> None:
        self.chain = Chain(market_genesis())
        self.zones_of = {name: "z1" for name in KEYS} | dict(zones_of or {})
        config = {
            "price_floor": 100,
            "price_cap": 1000,
            "zones": ["z1"],
            "gate_closure_lead_s": LEAD_S,
            "fee_account": DSO.address,
            "retail_tariff": RETAIL_TARIFF,
            "feed_in_tariff": FEED_IN_TARIFF,
            "retailer_account": RETAILER.address,
            **params,
        }
        assert self.result(self.send(GRIDCO_ADMIN, "configure", **config)) == (OK, "")
        he = {"head_end": "he-market", "public_key": HEAD_END.public_key.hex(), "name": "HES"}
        head_end = self.chain.tx("metering", "register_head_end", he, [GRIDCO_ADMIN])
        assert self.result(self.commit(head_end)) == (OK, "")
        register_participants(self.chain, KEYS, self.zones_of)
        issues = [
            self.chain.tx("token", "issue", {"to": k.address, "amount": FUNDS}, [GRIDCO_ADMIN])
            for k in KEYS.values()
        ]
        issues.append(
            self.chain.tx(
                "token", "issue", {"to": RETAILER.address, "amount": RETAILER_FUNDS}, [GRIDCO_ADMIN]
            )
        )
        assert all(r.code == OK for r in self.commit(*issues).tx_results)
        self.time_ms = 0

    def commit(self, *txs: Transaction) -> BlockResult:
        result = self.chain.commit_block(*txs)
        verify_money(self.chain.state)
        return result

    def commit_at(self, time_ms: int, *txs: Transaction) -> BlockResult:
        """A block at a chosen time (consensus may leave long gaps between blocks)."""
        assert time_ms >= self.time_ms, "block times only move forward"
        self.time_ms = time_ms
        chain = self.chain
        chain.height += 1
        env = BlockEnv(chain_id=CHAIN_ID, height=chain.height, time_ms=time_ms)
        result = apply_block(State(chain.backend), env, [t.raw for t in txs], chain.app_hash)
        chain.backend.apply_changes(result.changes)
        chain.app_hash = result.app_hash
        verify_money(chain.state)
        return result

    def deliver_and_settle(
        self, metered: Mapping[str, tuple[int, int]] | None = None, start: int = INTERVAL
    ) -> BlockResult:
        """Head-end readings for every participant's meter, (import Wh, export Wh) in the
        interval, by default exactly what it contracted; then ``settle`` in the next block.
        Returns the settling block."""
        name_of = {k.address: n for n, k in KEYS.items()}
        flows = {n: [0, 0] for n in KEYS}
        for trade in market.get_trades(self.chain.state, start):
            flows[name_of[trade["buyer"]]][0] += trade["qty_wh"]
            flows[name_of[trade["seller"]]][1] += trade["qty_wh"]
        flows |= {n: list(v) for n, v in (metered or {}).items()}
        readings = []
        for n in KEYS:
            for channel, wh in (("import", flows[n][0]), ("export", flows[n][1])):
                readings.append(
                    reading(meter_of(n), start - 900, BASE_REGISTER, key=None, channel=channel)
                )
                readings.append(
                    reading(meter_of(n), start, BASE_REGISTER + wh, key=None, channel=channel)
                )
        args = batch_args(readings, head_end="he-market", head_end_key=HEAD_END)
        now = max(self.time_ms, GENESIS_TIME_MS + self.chain.height * BLOCK_INTERVAL_MS)
        at = max(now + BLOCK_INTERVAL_MS, (start + 900) * 1000)
        submitted = self.commit_at(
            at, self.chain.tx("metering", "submit_readings", args, [GRIDCO_ADMIN])
        )
        assert self.result(submitted) == (OK, "")
        settle = self.chain.tx("market", "settle", {"interval_start": start}, [GRIDCO_ADMIN])
        return self.commit_at(at + BLOCK_INTERVAL_MS, settle)

    def send(self, key: PrivateKey, method: str, **args: Any) -> BlockResult:
        return self.commit(self.chain.tx("market", method, args, [key]))

    def order_tx(
        self, name: str, side: str, qty: int, price: int, zone: str = "z1", start: int = INTERVAL
    ) -> Transaction:
        args = {"interval_start": start, "side": side, "qty_wh": qty, "price": price, "zone": zone}
        return self.chain.tx("market", "place_order", args, [KEYS[name]])

    def place_book(self) -> dict[str, str]:
        """The 1-A book in one block, bids then asks; returns order ids by name."""
        txs = {name: self.order_tx(name, "buy", q, p) for name, (q, p) in BIDS.items()}
        txs |= {name: self.order_tx(name, "sell", q, p) for name, (q, p) in ASKS.items()}
        result = self.commit(*txs.values())
        assert [r.code for r in result.tx_results] == [OK] * len(txs)
        return {name: tx.tx_id.hex() for name, tx in txs.items()}

    def advance_to(self, height: int) -> BlockResult | None:
        result = None
        while self.chain.height < height:
            result = self.commit()
        return result

    def balance(self, name: str) -> int:
        return token.get_balance(self.chain.state, KEYS[name].address)

    @staticmethod
    def result(block: BlockResult) -> tuple[int, str]:
        (tx_result,) = block.tx_results
        return tx_result.code, tx_result.error


def order_of(state: State, order_id: str) -> dict[str, Any]:
    order = market.get_order(state, order_id)
    assert order is not None
    return order


def end_events(block: BlockResult | None) -> list[str]:
    assert block is not None
    return [e.type for e in block.end_block_events]


# -- configure -----------------------------------------------------------------------------------


def test_configure_stores_documented_defaults() -> None:
    m = Market()
    params = market.get_params(m.chain.state)
    assert params == {
        "default_grid_fee": 0,
        "fee_account": DSO.address,
        "feed_in_tariff": FEED_IN_TARIFF,
        "gate_closure_lead_s": LEAD_S,
        "grid_fees": [],
        "interval_s": 900,
        "price_cap": 1000,
        "price_floor": 100,
        "price_rule": "midpoint",
        "retail_tariff": RETAIL_TARIFF,
        "retailer_account": RETAILER.address,
        "settlement_deadline_s": 86_400,
        "tie_rule": "time",
        "zones": ["z1"],
    }


def test_configure_rejects_non_operator_and_bad_params() -> None:
    m = Market()
    ok = {"price_floor": 1, "price_cap": 2, "zones": ["z1"], **TARIFFS}
    assert m.result(m.send(EXCHANGE_ADMIN, "configure", **ok))[1] == "unauthorized"
    assert m.result(m.send(KEYS["B1"], "configure", **ok))[1] == "unauthorized"
    for bad in (
        {**ok, "price_floor": 3},
        {**ok, "price_floor": 0},
        {**ok, "zones": []},
        {**ok, "zones": ["Z!"]},
        {**ok, "price_rule": "vol_max_avg"},
        {**ok, "grid_fees": [{"from_zone": "z1", "to_zone": "z9", "fee": 1}]},
        {**ok, "grid_fees": [{"from_zone": "z1", "to_zone": "z1", "fee": -1}]},
        {**ok, "gate_closure_lead_s": -1},
        {**ok, "fee_account": "dso"},
        {**ok, "retail_tariff": -1},
        {k: v for k, v in ok.items() if k != "feed_in_tariff"},
        {**ok, "settlement_deadline_s": 60},
    ):
        assert m.result(m.send(GRIDCO_ADMIN, "configure", **bad))[1] == "invalid_transaction"
    assert (market.get_params(m.chain.state) or {})["price_cap"] == 1000


def test_configure_refused_while_an_interval_awaits_clearing() -> None:
    m = Market()
    m.commit(m.order_tx("A1", "sell", 100, 400))
    again = {"price_floor": 1, "price_cap": 2, "zones": ["z1"], **TARIFFS}
    assert m.result(m.send(GRIDCO_ADMIN, "configure", **again))[1] == "conflict"
    m.advance_to(CLOSE_HEIGHT)
    assert m.result(m.send(GRIDCO_ADMIN, "configure", **again)) == (OK, "")


def test_orders_refused_before_configure() -> None:
    m = Market()
    m.chain = Chain(market_genesis())
    assert m.result(m.commit(m.order_tx("A1", "sell", 100, 400)))[1] == "rule_violation"


# -- place_order ---------------------------------------------------------------------------------


def test_buy_order_escrows_qty_times_price_plus_max_fee() -> None:
    m = Market(zones=["z1", "z2"], grid_fees=[{"from_zone": "z2", "to_zone": "z1", "fee": 20}])
    assert m.balance("B1") == FUNDS
    tx = m.order_tx("B1", "buy", 3000, 620)

    assert m.result(m.commit(tx)) == (OK, "")

    order = market.get_order(m.chain.state, tx.tx_id.hex())
    assert order is not None
    assert order["escrow_ucny"] == 3000 * (620 + 20) == 1_920_000
    assert (order["seq"], order["state"], order["owner"]) == (1, "open", KEYS["B1"].address)
    assert m.balance("B1") == FUNDS - 1_920_000
    escrow = token.get_escrow(m.chain.state, f"market/order/{tx.tx_id.hex()}")
    assert escrow == {"amount": 1_920_000, "owner": KEYS["B1"].address}


def test_sell_order_escrows_nothing() -> None:
    m = Market()
    assert m.result(m.commit(m.order_tx("A1", "sell", 2500, 400))) == (OK, "")
    assert m.balance("A1") == FUNDS
    assert list(m.chain.state.iter_prefix(token.ESCROW_PREFIX)) == []


def test_order_accepted_until_the_block_before_gate_closure_and_refused_at_it() -> None:
    m = Market()
    m.advance_to(CLOSE_HEIGHT - 2)
    assert m.result(m.commit(m.order_tx("A1", "sell", 100, 400))) == (OK, "")  # height 49
    late = m.commit(m.order_tx("A2", "sell", 100, 400))  # height 50: time == gate closure
    (tx_result,) = late.tx_results
    assert tx_result.error == "rule_violation"
    assert "gate closure" in tx_result.log


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"price": 99}, "rule_violation"),  # below the floor
        ({"price": 1001}, "rule_violation"),  # above the cap
        ({"zone": "z9"}, "rule_violation"),
        ({"start": INTERVAL + 1}, "invalid_transaction"),  # not an interval boundary
        ({"start": INTERVAL + 8 * 86_400}, "rule_violation"),  # more than a week ahead
        ({"start": INTERVAL - 900}, "rule_violation"),  # gate closure long past
        ({"qty": 0}, "invalid_transaction"),
        ({"side": "hold"}, "invalid_transaction"),
        ({"price": 0}, "invalid_transaction"),
    ],
)
def test_place_order_rejects_bad_input(args: dict[str, Any], error: str) -> None:
    m = Market()
    call = {"name": "B1", "side": "buy", "qty": 1000, "price": 500, **args}
    assert m.result(m.commit(m.order_tx(**call)))[1] == error
    assert m.balance("B1") == FUNDS
    assert market.get_interval(m.chain.state, INTERVAL) is None


def test_place_order_rejects_insufficient_funds_naming_shortfall() -> None:
    m = Market()
    block = m.commit(m.order_tx("B1", "buy", 20_001, 500))  # needs 10,000,500 µCNY
    (tx_result,) = block.tx_results
    assert tx_result.error == "rule_violation"
    assert "short by 500 µCNY" in tx_result.log
    assert m.balance("B1") == FUNDS


def test_unregistered_sender_cannot_place_orders() -> None:
    m = Market()
    stranger = key_for("market-stranger")
    args = {"interval_start": INTERVAL, "side": "sell", "qty_wh": 1, "price": 400, "zone": "z1"}
    block = m.commit(m.chain.tx("market", "place_order", args, [stranger]))
    assert m.result(block)[1] == "unauthorized"


# -- cancel_order --------------------------------------------------------------------------------


def test_owner_cancels_before_gate_closure_and_gets_escrow_back() -> None:
    m = Market()
    tx = m.order_tx("B1", "buy", 3000, 620)
    m.commit(tx)
    assert m.balance("B1") == FUNDS - 1_860_000

    block = m.send(KEYS["B1"], "cancel_order", order=tx.tx_id.hex())

    assert m.result(block) == (OK, "")
    assert m.balance("B1") == FUNDS
    order = market.get_order(m.chain.state, tx.tx_id.hex())
    assert order is not None and order["state"] == "cancelled"
    assert market.get_interval_orders(m.chain.state, INTERVAL) == []
    assert m.result(m.send(KEYS["B1"], "cancel_order", order=tx.tx_id.hex()))[1] == "conflict"


def test_cancel_rejects_non_owner_unknown_order_and_bad_id() -> None:
    m = Market()
    tx = m.order_tx("B1", "buy", 3000, 620)
    m.commit(tx)
    assert m.result(m.send(KEYS["B2"], "cancel_order", order=tx.tx_id.hex()))[1] == ("unauthorized")
    assert m.result(m.send(KEYS["B1"], "cancel_order", order="ab" * 32))[1] == "not_found"
    assert m.result(m.send(KEYS["B1"], "cancel_order", order="xyz"))[1] == "invalid_transaction"
    assert m.balance("B1") == FUNDS - 1_860_000


def test_cancel_refused_at_gate_closure_and_after_clearing() -> None:
    m = Market()
    tx = m.order_tx("B1", "buy", 3000, 620)
    m.commit(tx)
    m.advance_to(CLOSE_HEIGHT - 1)
    at_close = m.send(KEYS["B1"], "cancel_order", order=tx.tx_id.hex())  # height 50
    assert m.result(at_close)[1] == "rule_violation"
    assert end_events(at_close)[-1] == "market.interval_cleared"  # cleared after the txs
    after = m.send(KEYS["B1"], "cancel_order", order=tx.tx_id.hex())
    assert m.result(after)[1] == "conflict"
    assert m.balance("B1") == FUNDS  # nothing traded: the clearing released the escrow


# -- clearing ------------------------------------------------------------------------------------


def test_clearing_happens_in_the_first_block_past_gate_closure() -> None:
    m = Market()
    ids = m.place_book()
    before = m.advance_to(CLOSE_HEIGHT - 1)
    assert end_events(before) == []
    interval = market.get_interval(m.chain.state, INTERVAL)
    assert interval is not None and interval["state"] == "open"

    block = m.commit()  # height 50, no transactions

    assert block.changes  # the clearing's writes are the block's change set
    assert "market.interval_cleared" in end_events(block)
    interval = market.get_interval(m.chain.state, INTERVAL)
    assert interval is not None
    assert (interval["state"], interval["price"], interval["quantity_wh"]) == (
        "cleared",
        540,
        9500,
    )
    assert interval["cleared_height"] == CLOSE_HEIGHT
    assert end_events(m.commit()) == []  # cleared once
    assert ids  # the book was placed


def test_vector_1a_1b_midpoint_time_priority_fills_and_payments() -> None:
    m = Market()
    ids = m.place_book()
    m.advance_to(CLOSE_HEIGHT)
    state = m.chain.state

    fills = {n: order_of(state, i)["filled_wh"] for n, i in ids.items()}
    assert fills == {
        "B1": 3000,
        "B2": 2000,
        "B3": 4000,
        "B5": 0,
        "B4": 500,
        "A1": 2500,
        "A2": 3500,
        "A3": 3500,
        "A4": 0,
    }
    states = {n: order_of(state, i)["state"] for n, i in ids.items()}
    assert states["B4"] == "partially_filled"
    assert states["B5"] == states["A4"] == "expired"
    assert states["B1"] == states["A3"] == "filled"
    name_of = {i: n for n, i in ids.items()}
    trades = [
        (name_of[t["buy_order"]], name_of[t["sell_order"]], t["qty_wh"], t["amount_ucny"])
        for t in market.get_trades(state, INTERVAL)
    ]
    assert trades == [
        ("B1", "A1", 2500, 1_350_000),
        ("B1", "A2", 500, 270_000),
        ("B2", "A2", 2000, 1_080_000),
        ("B3", "A2", 1000, 540_000),
        ("B3", "A3", 3000, 1_620_000),
        ("B4", "A3", 500, 270_000),
    ]
    paid = {"B1": 1_620_000, "B2": 1_080_000, "B3": 2_160_000, "B4": 270_000, "B5": 0}
    received = {"A1": 1_350_000, "A2": 1_890_000, "A3": 1_890_000, "A4": 0}
    assert {n: FUNDS - m.balance(n) for n in BIDS} == paid  # held per trade until settlement
    assert {n: m.balance(n) - FUNDS for n in ASKS} == dict.fromkeys(ASKS, 0)
    held = [token.get_escrow(state, f"market/trade/{INTERVAL:012d}/{n:06d}") for n in range(6)]
    assert [e["amount"] if e else 0 for e in held] == [t[3] for t in trades]

    settled = m.deliver_and_settle()  # every meter measures exactly its contracts

    assert m.result(settled) == (OK, "")
    assert {n: FUNDS - m.balance(n) for n in BIDS} == paid
    assert {n: m.balance(n) - FUNDS for n in ASKS} == received
    assert sum(paid.values()) == sum(received.values()) == 5_130_000
    assert list(m.chain.state.iter_prefix(token.ESCROW_PREFIX)) == []  # every escrow settled
    assert token.get_balance(m.chain.state, DSO.address) == 0


@pytest.mark.parametrize(("rule", "price"), [("last_ask", 530), ("last_bid", 550)])
def test_vector_1a_other_price_rules(rule: str, price: int) -> None:
    m = Market(price_rule=rule)
    m.place_book()
    m.advance_to(CLOSE_HEIGHT)
    interval = market.get_interval(m.chain.state, INTERVAL)
    assert interval is not None
    assert (interval["price"], interval["quantity_wh"]) == (price, 9500)
    m.deliver_and_settle()
    assert sum(m.balance(n) - FUNDS for n in ASKS) == 9500 * price


def test_vector_1b_pro_rata_at_the_marginal_price() -> None:
    m = Market(tie_rule="pro_rata")
    ids = m.place_book()
    m.advance_to(CLOSE_HEIGHT)
    state = m.chain.state
    assert order_of(state, ids["B3"])["filled_wh"] == 3273
    assert order_of(state, ids["B4"])["filled_wh"] == 1227
    assert FUNDS - m.balance("B3") == 1_767_420
    assert FUNDS - m.balance("B4") == 662_580
    assert sum(FUNDS - m.balance(n) for n in BIDS) == 5_130_000


def test_vector_1e_grid_fee_paid_by_buyer_to_fee_account() -> None:
    m = Market(default_grid_fee=15)
    ids = m.place_book()
    state = m.chain.state
    assert token.get_escrow(state, f"market/order/{ids['B1']}") == {
        "amount": 3000 * (620 + 15),
        "owner": KEYS["B1"].address,
    }
    block = m.advance_to(CLOSE_HEIGHT)
    m.deliver_and_settle()
    state = m.chain.state

    assert FUNDS - m.balance("B1") == 1_665_000
    assert token.get_balance(state, DSO.address) == 142_500
    paid = sum(FUNDS - m.balance(n) for n in BIDS)
    received = sum(m.balance(n) - FUNDS for n in ASKS)
    assert (paid, received) == (5_272_500, 5_130_000)
    interval = market.get_interval(state, INTERVAL)
    assert interval is not None
    assert (interval["amount_ucny"], interval["fees_ucny"]) == (5_130_000, 142_500)
    assert all(t["fee_ucny"] == t["qty_wh"] * 15 for t in market.get_trades(state, INTERVAL))
    assert end_events(block).count("market.trade") == 6


def test_fee_depends_on_zone_pair_and_unused_fee_escrow_returns() -> None:
    fees = [
        {"from_zone": "z2", "to_zone": "z1", "fee": 20},
        {"from_zone": "z1", "to_zone": "z1", "fee": 5},
    ]
    m = Market(zones_of={"A1": "z2"}, zones=["z1", "z2"], grid_fees=fees)
    m.commit(
        m.order_tx("B1", "buy", 1000, 500, zone="z1"),
        m.order_tx("B2", "buy", 1000, 500, zone="z1"),
        m.order_tx("A1", "sell", 1000, 500, zone="z2"),
        m.order_tx("A2", "sell", 1000, 500, zone="z1"),
    )
    assert FUNDS - m.balance("B2") == 1000 * 520  # escrow at the highest fee into z1
    m.advance_to(CLOSE_HEIGHT)
    m.deliver_and_settle()
    assert FUNDS - m.balance("B1") == 500_000 + 20_000  # bought from z2
    assert FUNDS - m.balance("B2") == 500_000 + 5_000  # bought inside z1: 15,000 returned
    assert token.get_balance(m.chain.state, DSO.address) == 25_000


def test_no_cross_clears_nothing_and_returns_escrow() -> None:
    m = Market()
    ids = {
        "B1": m.order_tx("B1", "buy", 1000, 450),
        "A1": m.order_tx("A1", "sell", 1000, 500),
    }
    m.commit(*ids.values())
    m.advance_to(CLOSE_HEIGHT)
    interval = market.get_interval(m.chain.state, INTERVAL)
    assert interval is not None
    assert (interval["state"], interval["price"], interval["quantity_wh"]) == ("cleared", None, 0)
    assert m.balance("B1") == FUNDS
    for tx in ids.values():
        assert order_of(m.chain.state, tx.tx_id.hex())["state"] == "expired"


def test_late_block_clears_due_intervals_in_ascending_order() -> None:
    m = Market()
    second = INTERVAL + 900
    m.commit(
        m.order_tx("B1", "buy", 1000, 600, start=second),
        m.order_tx("A1", "sell", 1000, 500, start=second),
        m.order_tx("B2", "buy", 1000, 700),
        m.order_tx("A2", "sell", 1000, 400),
    )
    block = m.commit_at((second + 60) * 1000)  # consensus stalled past both gate closures
    cleared = [
        e.attributes["interval_start"]
        for e in block.end_block_events
        if e.type == "market.interval_cleared"
    ]
    assert cleared == [INTERVAL, second]
    trades = [
        *market.get_trades(m.chain.state, INTERVAL),
        *market.get_trades(m.chain.state, second),
    ]
    assert [(t["qty_wh"], t["price"], t["held_ucny"]) for t in trades] == [(1000, 550, 550_000)] * 2
    assert list(m.chain.state.iter_prefix(market.params.DUE_PREFIX)) == []


def test_order_for_a_cleared_interval_is_refused_even_after_lead_shrinks() -> None:
    m = Market()
    m.commit(m.order_tx("A1", "sell", 1000, 400))
    m.advance_to(CLOSE_HEIGHT)
    shorter = {"price_floor": 100, "price_cap": 1000, "zones": ["z1"], "gate_closure_lead_s": 0}
    shorter |= TARIFFS
    assert m.result(m.send(GRIDCO_ADMIN, "configure", **shorter)) == (OK, "")
    assert m.result(m.commit(m.order_tx("A2", "sell", 1000, 400)))[1] == "conflict"


def test_same_blocks_give_the_same_app_hash() -> None:
    hashes = []
    for _ in range(2):
        m = Market(default_grid_fee=15)
        m.place_book()
        m.advance_to(CLOSE_HEIGHT)
        hashes.append(m.chain.app_hash)
    assert hashes[0] == hashes[1]


def test_block_time_not_height_decides_gate_closure() -> None:
    m = Market()
    m.commit(m.order_tx("A1", "sell", 1000, 400))
    gate_ms = (INTERVAL - LEAD_S) * 1000
    assert m.chain.height * BLOCK_INTERVAL_MS + GENESIS_TIME_MS < gate_ms
    early = m.commit_at(gate_ms - 1)
    assert end_events(early) == []
    late = m.commit_at(gate_ms)
    assert "market.interval_cleared" in end_events(late)


def test_all_market_events_encode_as_canonical_json() -> None:
    """The ABCI server writes events with the canonical codec, which refuses floats and such."""
    m = Market(default_grid_fee=15)
    placed = m.commit(m.order_tx("B1", "buy", 1000, 600), m.order_tx("A1", "sell", 1000, 500))
    cleared = m.advance_to(CLOSE_HEIGHT)
    assert cleared is not None
    events = [e for r in placed.tx_results for e in r.events] + list(cleared.end_block_events)
    decoded = codec.decode(codec.encode([e.to_json() for e in events]))
    assert [e["type"] for e in decoded].count("market.order_placed") == 2
    assert decoded[-1]["attributes"]["price"] == 550
