"""Market settlement through real blocks: vector 1-F settled by the contract, the refusals of
``settle`` and of orders (each leaving the state untouched), the settlement deadline and
unmetered invoices, retail and feed-in charges a balance cannot cover, participant registration
and retirement, the grid clock, and seeded random market runs checked against the invariants of
the domain report (section 1.4) after every block.

The chain fixture is ``tests.contracts.test_market.Market``: every name in its ``KEYS`` is a
funded prosumer with one ``both`` meter ``m-<name>``; its ``commit``/``commit_at`` check after
every block that money is conserved and no balance or escrow is negative.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

import pytest

from gridledger import codec
from gridledger.contracts import market, token
from gridledger.contracts.clearing import PRICE_RULES, TIE_RULES
from gridledger.crypto import PrivateKey
from gridledger.errors import DecodeError
from gridledger.ledger.genesis import decode_genesis
from gridledger.ledger.gridclock import compute_grid_time_ms
from gridledger.ledger.state import State
from gridledger.ledger.transition import OK, BlockResult
from gridledger.ledger.tx import Transaction
from tests.chain import (
    BLOCK_INTERVAL_MS,
    EXCHANGE_ADMIN,
    GENESIS_TIME_MS,
    GRIDCO_ADMIN,
    NOTARY_ADMIN,
    Chain,
    genesis_document,
    key_for,
)
from tests.contracts.metering_support import batch_args, reading
from tests.contracts.test_market import (
    BASE_REGISTER,
    CLOSE_HEIGHT,
    DSO,
    FUNDS,
    HEAD_END,
    INTERVAL,
    KEYS,
    LEAD_S,
    RETAILER,
    RETAILER_FUNDS,
    Market,
    market_genesis,
    meter_of,
    register_participants,
    verify_money,
)

END_MS = (INTERVAL + 900) * 1000  # the first grid time at which INTERVAL has ended

# -- helpers -----------------------------------------------------------------------------------


def now_ms(m: Market) -> int:
    """The time of the chain's last block, whether committed by height or at a chosen time."""
    return max(m.time_ms, GENESIS_TIME_MS + m.chain.height * BLOCK_INTERVAL_MS)


def block(m: Market, *txs: Transaction, at_ms: int = 0) -> BlockResult:
    """The next block, one second after the last one or at ``at_ms`` if that is later."""
    return m.commit_at(max(now_ms(m) + BLOCK_INTERVAL_MS, at_ms), *txs)


def settle_tx(m: Market, start: int = INTERVAL, sender: PrivateKey = GRIDCO_ADMIN) -> Transaction:
    return m.chain.tx("market", "settle", {"interval_start": start}, [sender])


def assert_ok(result: BlockResult) -> None:
    assert [(r.code, r.error, r.log) for r in result.tx_results] == [(OK, "", "")] * len(
        result.tx_results
    )


def assert_refused(result: BlockResult, error: str, *phrases: str) -> None:
    """The block's one transaction failed with ``error`` and a log naming ``phrases``, and the
    block wrote nothing but the replay-window pruning every block may do."""
    (tx_result,) = result.tx_results
    assert tx_result.error == error, tx_result.log
    for phrase in phrases:
        assert phrase in tx_result.log, tx_result.log
    assert sorted(k for k in result.changes if not k.startswith("replay/")) == []


def name_of(address: str) -> str:
    return next(name for name, key in KEYS.items() if key.address == address)


class Registers:
    """The cumulative registers of participants' ``both`` meters, so that consecutive intervals
    can be read (the fixture's ``deliver_and_settle`` reads one interval from a new baseline).
    A meter's first reading in a batch is preceded by its baseline one interval earlier."""

    def __init__(self) -> None:
        self.wh: dict[tuple[str, str], int] = {}

    def batch(self, flows: Mapping[str, tuple[int, int]], start: int) -> dict[str, Any]:
        readings = []
        for name in sorted(flows):
            for channel, energy_wh in zip(("import", "export"), flows[name], strict=True):
                series = (meter_of(name), channel)
                if series not in self.wh:
                    self.wh[series] = BASE_REGISTER
                    readings.append(
                        reading(series[0], start - 900, BASE_REGISTER, key=None, channel=channel)
                    )
                self.wh[series] += energy_wh
                readings.append(
                    reading(series[0], start, self.wh[series], key=None, channel=channel)
                )
        return batch_args(readings, head_end="he-market", head_end_key=HEAD_END)


def deliver(
    m: Market, registers: Registers, flows: Mapping[str, tuple[int, int]], start: int = INTERVAL
) -> None:
    """Head-end readings (import Wh, export Wh) for the named participants only, in a block at
    or after the interval's end."""
    args = registers.batch(flows, start)
    submitted = block(
        m,
        m.chain.tx("metering", "submit_readings", args, [GRIDCO_ADMIN]),
        at_ms=(start + 900) * 1000,
    )
    assert_ok(submitted)


def all_flows(**overrides: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """Every fixture participant measured nothing, except the named ones."""
    return {name: (0, 0) for name in KEYS} | overrides


def add_account(m: Market, key: PrivateKey) -> Transaction:
    args = {"org": "exchange", "public_key": key.public_key.hex(), "roles": ["submitter"]}
    return m.chain.tx("identity", "add_account", args, [EXCHANGE_ADMIN])


def meter_tx(
    m: Market, meter: str, owner: PrivateKey, direction: str = "both", zone: str = "z1"
) -> Transaction:
    args = {
        "meter": meter,
        "owner": owner.address,
        "public_key": owner.public_key.hex(),
        "direction": direction,
        "zone": zone,
        "max_power_w": 100_000,
    }
    return m.chain.tx("metering", "register_meter", args, [GRIDCO_ADMIN])


def register_tx(
    m: Market,
    account: str,
    meters: list[str],
    role: str = "prosumer",
    zone: str = "z1",
    sender: PrivateKey = EXCHANGE_ADMIN,
) -> Transaction:
    args = {"account": account, "role": role, "zone": zone, "meters": meters}
    return m.chain.tx("market", "register_participant", args, [sender])


def admit(m: Market, name: str, role: str, direction: str) -> PrivateKey:
    """A new funded account admitted as a participant with one meter ``m-<name>``."""
    key = key_for(f"settlement-{name}")
    assert_ok(block(m, add_account(m, key), meter_tx(m, meter_of(name), key, direction)))
    issue = m.chain.tx("token", "issue", {"to": key.address, "amount": FUNDS}, [GRIDCO_ADMIN])
    assert_ok(block(m, register_tx(m, key.address, [meter_of(name)], role), issue))
    return key


def order_args(start: int = INTERVAL, **overrides: Any) -> dict[str, Any]:
    return {"interval_start": start, "side": "buy", "qty_wh": 1000, "price": 500} | overrides


def trades_by_names(state: State, start: int = INTERVAL) -> dict[tuple[str, str], dict[str, Any]]:
    return {(name_of(t["buyer"]), name_of(t["seller"])): t for t in market.get_trades(state, start)}


def invoice_of(m: Market, name: str, start: int = INTERVAL) -> dict[str, Any]:
    invoice = market.get_invoice(m.chain.state, start, KEYS[name].address)
    assert invoice is not None
    return invoice


def escrows(state: State) -> list[str]:
    return [key for key, _ in state.iter_prefix(token.ESCROW_PREFIX)]


def one_trade(m: Market, buyer: str = "B1", seller: str = "A1", qty: int = 1000) -> None:
    """``qty`` Wh from ``seller`` to ``buyer`` at 540, cleared."""
    assert_ok(m.commit(m.order_tx(buyer, "buy", qty, 540), m.order_tx(seller, "sell", qty, 540)))
    m.advance_to(CLOSE_HEIGHT)
    assert len(market.get_trades(m.chain.state, INTERVAL)) == 1


# -- vector 1-F through the contract -----------------------------------------------------------

# S1 = A1, S2 = A2. B2's bid is the best, so it fills first against S1; B1 then takes the rest
# of S1 and all of S2. The last matched bid and ask are 560 and 520: midpoint price 540.
VECTOR_1F_ORDERS: list[tuple[str, str, int, int]] = [("B2", "buy", 1000, 600)]
VECTOR_1F_ORDERS += [("B1", "buy", 3500, 560)]
VECTOR_1F_ORDERS += [("A1", "sell", 3000, 500), ("A2", "sell", 1500, 520)]
VECTOR_1F_METERS = {"B1": (3000, 0), "B2": (1200, 0), "A1": (0, 2400), "A2": (0, 1800)}


def cleared_1f() -> Market:
    m = Market()
    assert_ok(m.commit(*(m.order_tx(*order) for order in VECTOR_1F_ORDERS)))
    m.advance_to(CLOSE_HEIGHT)
    return m


def settled_1f() -> tuple[Market, BlockResult]:
    m = cleared_1f()
    settled = m.deliver_and_settle(metered=VECTOR_1F_METERS)
    assert m.result(settled) == (OK, "")
    return m, settled


def test_vector_1f_orders_clear_into_the_three_trades_at_540() -> None:
    m = cleared_1f()
    trades = trades_by_names(m.chain.state)
    assert {pair: (t["qty_wh"], t["price"]) for pair, t in trades.items()} == {
        ("B2", "A1"): (1000, 540),  # T2
        ("B1", "A1"): (2000, 540),  # T1
        ("B1", "A2"): (1500, 540),  # T3
    }
    assert {pair: t["held_ucny"] for pair, t in trades.items()} == {
        ("B2", "A1"): 540_000,
        ("B1", "A1"): 1_080_000,
        ("B1", "A2"): 810_000,
    }


def test_vector_1f_balances_after_settlement() -> None:
    m, _ = settled_1f()
    assert FUNDS - m.balance("B1") == 864_000 + 694_440 + 68_400
    assert FUNDS - m.balance("B2") == 432_000 + 240_000
    assert m.balance("A1") - FUNDS == 864_000 + 432_000
    assert m.balance("A2") - FUNDS == 694_440 + 179_900
    retailer = token.get_balance(m.chain.state, RETAILER.address)
    assert retailer - RETAILER_FUNDS == 68_400 + 240_000 - 179_900
    assert token.get_balance(m.chain.state, DSO.address) == 0
    others = [n for n in KEYS if n not in VECTOR_1F_METERS]
    assert {n: m.balance(n) for n in others} == dict.fromkeys(others, FUNDS)


def test_vector_1f_trade_records_carry_settled_energy_and_refunds() -> None:
    m, _ = settled_1f()
    trades = trades_by_names(m.chain.state)
    outcome = {
        pair: (t["state"], t["settled_wh"], t["settled_amount_ucny"], t["refund_ucny"])
        for pair, t in trades.items()
    }
    assert outcome == {
        ("B1", "A1"): ("settled", 1600, 864_000, 400 * 540),
        ("B2", "A1"): ("settled", 800, 432_000, 200 * 540),
        ("B1", "A2"): ("settled", 1286, 694_440, 214 * 540),
    }


INVOICE_FIELDS: tuple[str, ...] = ("settled_buy_wh", "settled_sell_wh", "retail_import_wh")
INVOICE_FIELDS += ("feed_in_wh", "p2p_cost_ucny", "p2p_revenue_ucny", "retail_import_ucny")
INVOICE_FIELDS += ("feed_in_ucny", "net_ucny")


def test_vector_1f_invoices() -> None:
    m, _ = settled_1f()
    rows = {n: tuple(invoice_of(m, n)[f] for f in INVOICE_FIELDS) for n in VECTOR_1F_METERS}
    assert rows == {
        "B1": (2886, 0, 114, 0, 1_558_440, 0, 68_400, 0, -1_626_840),
        "B2": (800, 0, 400, 0, 432_000, 0, 240_000, 0, -672_000),
        "A1": (0, 2400, 0, 0, 0, 1_296_000, 0, 0, 1_296_000),
        "A2": (0, 1286, 0, 514, 0, 694_440, 0, 179_900, 874_340),
    }


def test_vector_1f_invoices_are_paid_in_full_and_match_the_meters() -> None:
    m, _ = settled_1f()
    for name, (import_wh, export_wh) in VECTOR_1F_METERS.items():
        invoice = invoice_of(m, name)
        assert invoice["metered_import_wh"] == import_wh
        assert invoice["metered_export_wh"] == export_wh
        assert import_wh == invoice["settled_buy_wh"] + invoice["retail_import_wh"]
        assert export_wh == invoice["settled_sell_wh"] + invoice["feed_in_wh"]
        assert invoice["retail_paid_ucny"] == invoice["retail_import_ucny"]
        assert invoice["feed_in_paid_ucny"] == invoice["feed_in_ucny"]
        assert invoice["retail_outstanding_ucny"] == invoice["feed_in_outstanding_ucny"] == 0
        assert (invoice["unmetered"], invoice["interval_start"]) == (False, INTERVAL)


def test_vector_1f_every_participant_is_invoiced_and_indexed() -> None:
    m, settled = settled_1f()
    invoices = market.get_interval_invoices(m.chain.state, INTERVAL)
    assert sorted(i["participant"] for i in invoices) == sorted(k.address for k in KEYS.values())
    quiet = invoice_of(m, "C1")
    assert (quiet["net_ucny"], quiet["metered_import_wh"], quiet["metered_export_wh"]) == (0, 0, 0)
    by_b1 = market.get_participant_invoices(m.chain.state, KEYS["B1"].address)
    assert [i["interval_start"] for i in by_b1] == [INTERVAL]
    assert {i["settled_height"] for i in invoices} == {m.chain.height}
    (tx_result,) = settled.tx_results
    types = [e.type for e in tx_result.events]
    assert (types.count("market.invoice"), types.count("market.trade_settled")) == (len(KEYS), 3)
    assert types[-1] == "market.interval_settled"


def test_vector_1f_settlement_summary_and_interval_state() -> None:
    m, _ = settled_1f()
    summary = market.get_settlement(m.chain.state, INTERVAL)
    assert summary == {
        "fees_ucny": 0,
        "feed_in_outstanding_ucny": 0,
        "feed_in_ucny": 179_900,
        "feed_in_wh": 514,
        "interval_start": INTERVAL,
        "invoices": len(KEYS),
        "p2p_ucny": 864_000 + 432_000 + 694_440,
        "refunds_ucny": (400 + 200 + 214) * 540,
        "retail_import_ucny": 68_400 + 240_000,
        "retail_import_wh": 514,
        "retail_outstanding_ucny": 0,
        "settled_height": m.chain.height,
        "settled_wh": 1600 + 800 + 1286,
        "trades": 3,
        "unmetered": 0,
    }
    interval = market.get_interval(m.chain.state, INTERVAL)
    assert interval is not None and interval["state"] == "settled"


def test_vector_1f_leaves_no_escrow_and_conserves_money() -> None:
    m = cleared_1f()
    supply = token.get_total_supply(m.chain.state)
    assert len(escrows(m.chain.state)) == 3  # one per trade
    m.deliver_and_settle(metered=VECTOR_1F_METERS)
    assert escrows(m.chain.state) == []
    assert token.get_total_supply(m.chain.state) == supply
    verify_money(m.chain.state)


# -- settle: refusals ----------------------------------------------------------------------------


def test_settle_refused_before_the_interval_ended() -> None:
    m = Market()
    one_trade(m)
    refused = block(m, settle_tx(m), at_ms=END_MS - 1)
    assert_refused(refused, "rule_violation", f"ends at {INTERVAL + 900} s")
    assert market.get_settlement(m.chain.state, INTERVAL) is None


def test_settle_refused_twice() -> None:
    m = Market()
    one_trade(m)
    assert m.result(m.deliver_and_settle()) == (OK, "")
    balances = {n: m.balance(n) for n in KEYS}
    again = block(m, settle_tx(m))
    assert_refused(again, "conflict", "already settled")
    assert {n: m.balance(n) for n in KEYS} == balances


def test_settle_refused_while_readings_are_missing_before_the_deadline() -> None:
    m = Market()
    one_trade(m)
    flows = all_flows(B1=(1000, 0), A1=(0, 1000))
    del flows["B3"]
    deliver(m, Registers(), flows)
    refused = block(m, settle_tx(m))
    assert_refused(
        refused, "rule_violation", "lacks billable readings", KEYS["B3"].address, "deadline"
    )
    assert KEYS["B1"].address not in refused.tx_results[0].log


def test_settle_names_at_most_five_participants_without_readings() -> None:
    m = Market()
    one_trade(m)
    refused = block(m, settle_tx(m), at_ms=END_MS)  # no readings at all: 10 participants
    assert_refused(refused, "rule_violation", "and 5 more")


def test_settle_refused_in_the_block_that_clears_the_interval() -> None:
    """A stalled chain whose next block is past the interval's end: the clearing runs after the
    block's transactions, so the settle in that block finds the interval still open."""
    m = Market()
    assert_ok(m.commit(m.order_tx("B1", "buy", 1000, 540), m.order_tx("A1", "sell", 1000, 540)))
    stalled = block(m, settle_tx(m), at_ms=END_MS)
    (tx_result,) = stalled.tx_results
    assert tx_result.error == "rule_violation"
    assert "not cleared yet" in tx_result.log
    assert "market.interval_cleared" in [e.type for e in stalled.end_block_events]
    assert market.get_settlement(m.chain.state, INTERVAL) is None
    assert market.get_invoice(m.chain.state, INTERVAL, KEYS["B1"].address) is None
    assert len(escrows(m.chain.state)) == 1  # the trade's escrow, untouched


@pytest.mark.parametrize("start", [INTERVAL + 1, INTERVAL - 450, 0, "x"])
def test_settle_refuses_a_malformed_interval_start(start: Any) -> None:
    m = Market()
    bad = m.chain.tx("market", "settle", {"interval_start": start}, [GRIDCO_ADMIN])
    assert_refused(block(m, bad, at_ms=END_MS), "invalid_transaction", "interval_start")


def test_settle_refused_before_the_market_is_configured() -> None:
    m = Market()
    m.chain = Chain(market_genesis())
    assert_refused(block(m, settle_tx(m), at_ms=END_MS), "rule_violation", "not configured")


def test_any_registered_account_may_settle_but_an_unknown_one_may_not() -> None:
    m = Market()
    one_trade(m)
    deliver(m, Registers(), all_flows(B1=(1000, 0), A1=(0, 1000)))
    stranger = block(m, settle_tx(m, sender=key_for("settlement-stranger")))
    assert_refused(stranger, "unauthorized")
    assert_ok(block(m, settle_tx(m, sender=KEYS["C1"])))


def test_interval_without_orders_settles_residuals_only() -> None:
    m = Market()
    deliver(m, Registers(), all_flows(B1=(500, 0), A1=(0, 200)))
    assert_ok(block(m, settle_tx(m)))
    assert FUNDS - m.balance("B1") == 500 * 600
    assert m.balance("A1") - FUNDS == 200 * 350
    summary = market.get_settlement(m.chain.state, INTERVAL)
    assert summary is not None and (summary["trades"], summary["invoices"]) == (0, len(KEYS))


# -- orders: refusals --------------------------------------------------------------------------


def test_cancel_after_clearing_is_a_conflict() -> None:
    m = Market()
    tx = m.order_tx("B1", "buy", 1000, 540)
    assert_ok(m.commit(tx, m.order_tx("A1", "sell", 1000, 540)))
    m.advance_to(CLOSE_HEIGHT)
    balance = m.balance("B1")
    refused = m.send(KEYS["B1"], "cancel_order", order=tx.tx_id.hex())
    assert_refused(refused, "conflict", "filled, not open")
    assert m.balance("B1") == balance


def test_order_after_gate_closure_is_refused() -> None:
    m = Market()
    m.advance_to(CLOSE_HEIGHT - 1)
    refused = m.commit(m.order_tx("B1", "buy", 1000, 540))  # grid time == gate closure
    assert_refused(refused, "rule_violation", "gate closure")
    assert m.balance("B1") == FUNDS


def market_with_consumer() -> tuple[Market, dict[str, PrivateKey]]:
    m = Market(zones=["z1", "z2"])
    senders = dict(KEYS) | {
        "consumer": admit(m, "consumer", "consumer", "import"),
        "notary": NOTARY_ADMIN,  # a registered account, not a participant
    }
    return m, senders


@pytest.mark.parametrize(
    ("sender", "args", "error", "phrase"),
    [
        ("B1", {"qty_wh": 0}, "invalid_transaction", "qty_wh"),
        ("B1", {"qty_wh": -5}, "invalid_transaction", "qty_wh"),
        ("B1", {"price": 99}, "rule_violation", "outside the floor 100 and cap 1000"),
        ("B1", {"price": 1001}, "rule_violation", "outside the floor 100 and cap 1000"),
        ("B1", {"qty_wh": 20_000, "price": 600}, "rule_violation", "insufficient funds"),
        ("consumer", {"side": "sell"}, "rule_violation", "only prosumers sell"),
        ("notary", {}, "unauthorized", "not a registered market participant"),
        ("B1", {"zone": "z2"}, "rule_violation", "not the participant's zone"),
    ],
)
def test_place_order_refusal_changes_nothing(
    sender: str, args: dict[str, Any], error: str, phrase: str
) -> None:
    m, senders = market_with_consumer()
    key = senders[sender]
    before = token.get_balance(m.chain.state, key.address)
    tx = m.chain.tx("market", "place_order", order_args(**args), [key])
    assert_refused(m.commit(tx), error, phrase)
    assert token.get_balance(m.chain.state, key.address) == before
    assert market.get_interval(m.chain.state, INTERVAL) is None


def test_consumer_may_buy() -> None:
    m, senders = market_with_consumer()
    tx = m.chain.tx("market", "place_order", order_args(), [senders["consumer"]])
    assert_ok(m.commit(tx))


# -- the settlement deadline -------------------------------------------------------------------


def test_after_the_deadline_missing_readings_settle_as_unmetered() -> None:
    m = Market(settlement_deadline_s=900, default_grid_fee=15)
    one_trade(m, "B1", "A1", 1000)
    flows = all_flows(A1=(0, 1000))
    del flows["B1"]
    deliver(m, Registers(), flows)
    deadline_ms = (INTERVAL + 900 + 900) * 1000
    assert_refused(block(m, settle_tx(m), at_ms=deadline_ms - 1), "rule_violation", "deadline")

    assert_ok(block(m, settle_tx(m), at_ms=deadline_ms))

    b1 = invoice_of(m, "B1")
    assert (b1["unmetered"], b1["metered_import_wh"], b1["metered_export_wh"]) == (True, None, None)
    assert (b1["settled_buy_wh"], b1["retail_import_wh"], b1["net_ucny"]) == (0, 0, 0)
    ((_, trade),) = trades_by_names(m.chain.state).items()
    assert (trade["settled_wh"], trade["refund_ucny"]) == (0, 1000 * (540 + 15))
    assert m.balance("B1") == FUNDS  # the whole escrow came back
    a1 = invoice_of(m, "A1")
    assert (a1["unmetered"], a1["settled_sell_wh"], a1["feed_in_wh"]) == (False, 0, 1000)
    assert m.balance("A1") == FUNDS + 1000 * 350
    summary = market.get_settlement(m.chain.state, INTERVAL)
    assert summary is not None and (summary["unmetered"], summary["fees_ucny"]) == (1, 0)
    assert escrows(m.chain.state) == []


def test_after_the_deadline_an_unmetered_seller_is_not_paid_and_its_buyer_pays_retail() -> None:
    m = Market(settlement_deadline_s=900)
    one_trade(m, "B1", "A1", 1000)
    flows = all_flows(B1=(1000, 0))
    del flows["A1"]
    deliver(m, Registers(), flows)
    assert_ok(block(m, settle_tx(m), at_ms=(INTERVAL + 1800) * 1000))
    ((_, trade),) = trades_by_names(m.chain.state).items()
    assert (trade["settled_wh"], trade["refund_ucny"]) == (0, 540_000)
    assert invoice_of(m, "A1")["unmetered"] is True
    assert m.balance("A1") == FUNDS
    assert invoice_of(m, "B1")["retail_import_wh"] == 1000
    assert m.balance("B1") == FUNDS - 1000 * 600


def test_settlement_events_encode_as_canonical_json() -> None:
    """Unmetered invoices carry nulls; the ABCI server writes events with the canonical codec."""
    m = Market(settlement_deadline_s=900)
    one_trade(m)
    settled = block(m, settle_tx(m), at_ms=(INTERVAL + 1800) * 1000)  # no readings at all
    assert_ok(settled)
    (tx_result,) = settled.tx_results
    decoded = codec.decode(codec.encode([e.to_json() for e in tx_result.events]))
    invoices = [e["attributes"] for e in decoded if e["type"] == "market.invoice"]
    assert len(invoices) == len(KEYS)
    assert all(i["metered_import_wh"] is None and i["unmetered"] for i in invoices)


# -- charges a balance cannot cover ------------------------------------------------------------


def test_buyer_short_of_funds_pays_retail_import_in_part() -> None:
    m = Market()
    one_trade(m, "B2", "A1", 1000)
    keep = 100_000
    transfer = {"to": KEYS["C1"].address, "amount": m.balance("B2") - keep}
    assert_ok(m.commit(m.chain.tx("token", "transfer", transfer, [KEYS["B2"]])))

    settled = m.deliver_and_settle(metered={"B2": (2000, 0)})  # 1,000 Wh residual: 600,000

    assert m.result(settled) == (OK, "")
    b2 = invoice_of(m, "B2")
    assert (b2["retail_import_ucny"], b2["retail_paid_ucny"]) == (600_000, keep)
    assert b2["retail_outstanding_ucny"] == 600_000 - keep
    assert m.balance("B2") == 0
    assert token.get_balance(m.chain.state, RETAILER.address) == RETAILER_FUNDS + keep
    summary = market.get_settlement(m.chain.state, INTERVAL)
    assert summary is not None and summary["retail_outstanding_ucny"] == 600_000 - keep


def test_retailer_short_of_funds_pays_feed_in_in_part() -> None:
    poor = key_for("settlement-poor-retailer")  # an address holding nothing
    m = Market(retailer_account=poor.address)
    settled = m.deliver_and_settle(metered={"B1": (500, 0), "A1": (0, 2000)})
    assert m.result(settled) == (OK, "")
    a1 = invoice_of(m, "A1")
    # retail import is collected first (300,000 from B1), then feed-in is paid from it
    assert (a1["feed_in_ucny"], a1["feed_in_paid_ucny"]) == (700_000, 300_000)
    assert a1["feed_in_outstanding_ucny"] == 400_000
    assert m.balance("A1") == FUNDS + 300_000
    assert m.balance("B1") == FUNDS - 300_000
    assert token.get_balance(m.chain.state, poor.address) == 0


# -- participant registration ------------------------------------------------------------------

NEWCOMER = key_for("settlement-newcomer")  # an account, not a participant


def registration_market() -> Market:
    """Zones z1 and z2, the account NEWCOMER and meters of every kind owned by it, one of them
    retired, and one owned by C1."""
    m = Market(zones=["z1", "z2"])
    assert_ok(
        m.commit(
            add_account(m, NEWCOMER),
            meter_tx(m, "new-imp", NEWCOMER, "import"),
            meter_tx(m, "new-exp", NEWCOMER, "export"),
            meter_tx(m, "new-both", NEWCOMER, "both"),
            meter_tx(m, "new-z2", NEWCOMER, "both", zone="z2"),
            meter_tx(m, "new-old", NEWCOMER, "both"),
            meter_tx(m, "c1-second", KEYS["C1"], "both"),
        )
    )
    retire = {"meter": "new-old", "reason": "replaced"}
    assert_ok(m.commit(m.chain.tx("metering", "retire_meter", retire, [GRIDCO_ADMIN])))
    return m


@pytest.mark.parametrize(
    ("args", "sender", "error", "phrase"),
    [
        ({}, KEYS["B1"], "unauthorized", "not an admin"),
        ({}, NOTARY_ADMIN, "unauthorized", "not an admin"),
        ({"account": key_for("nobody").address}, EXCHANGE_ADMIN, "not_found", "not a registered"),
        ({"meters": ["no-such-meter"]}, EXCHANGE_ADMIN, "not_found", "not registered"),
        ({"meters": ["c1-second"]}, EXCHANGE_ADMIN, "rule_violation", "belongs to"),
        ({"meters": ["new-z2"]}, EXCHANGE_ADMIN, "rule_violation", "in zone z2, not z1"),
        ({"meters": ["new-old"]}, EXCHANGE_ADMIN, "rule_violation", "is retired"),
        (
            {"role": "consumer", "meters": ["new-exp"]},
            EXCHANGE_ADMIN,
            "rule_violation",
            "measuring import",
        ),
        ({"meters": ["new-imp"]}, EXCHANGE_ADMIN, "rule_violation", "measuring export"),
        ({"role": "trader"}, EXCHANGE_ADMIN, "invalid_transaction", "role"),
        ({"zone": "z9"}, EXCHANGE_ADMIN, "rule_violation", "not a market zone"),
        ({"meters": ["new-both", "new-both"]}, EXCHANGE_ADMIN, "invalid_transaction", "twice"),
        ({"meters": []}, EXCHANGE_ADMIN, "invalid_transaction", "meters"),
        (
            {"account": KEYS["B1"].address, "meters": [meter_of("B1")]},
            EXCHANGE_ADMIN,
            "conflict",
            "already a market participant",
        ),
    ],
)
def test_register_participant_refusal_changes_nothing(
    args: dict[str, Any], sender: PrivateKey, error: str, phrase: str
) -> None:
    m = registration_market()
    call = {"account": NEWCOMER.address, "meters": ["new-both"], "role": "prosumer"} | args
    refused = m.commit(register_tx(m, sender=sender, **call))
    assert_refused(refused, error, phrase)
    assert market.get_participant(m.chain.state, NEWCOMER.address) is None


def test_register_participant_refuses_a_meter_bound_to_another_participant() -> None:
    """No transaction can bind a meter to someone other than its owner, and an owner is admitted
    once, so this guard is unreachable today; the binding is written into the state directly to
    show it holds should meters ever change hands."""
    m = registration_market()
    bound = f"{market.params.PARTICIPANT_METER_PREFIX}new-both"
    m.chain.backend.apply_changes({bound: KEYS["C1"].address.encode("ascii")})
    refused = m.commit(register_tx(m, NEWCOMER.address, ["new-both"]))
    assert_refused(refused, "conflict", f"already settles participant {KEYS['C1'].address}")


def test_prosumer_may_combine_an_import_and_an_export_meter() -> None:
    m = registration_market()
    assert_ok(m.commit(register_tx(m, NEWCOMER.address, ["new-imp", "new-exp"])))
    participant = market.get_participant(m.chain.state, NEWCOMER.address)
    assert participant is not None
    assert (participant["meters"], participant["status"]) == (["new-exp", "new-imp"], "active")
    assert participant["since_s"] == now_ms(m) // 1000


def test_consumer_needs_only_an_import_meter() -> None:
    m = registration_market()
    assert_ok(m.commit(register_tx(m, NEWCOMER.address, ["new-imp"], role="consumer")))


# -- retirement --------------------------------------------------------------------------------


def retire_tx(m: Market, name: str, sender: PrivateKey = EXCHANGE_ADMIN) -> Transaction:
    return m.chain.tx("market", "retire_participant", {"account": KEYS[name].address}, [sender])


def test_retired_participant_places_no_orders() -> None:
    m = Market()
    assert_ok(m.commit(retire_tx(m, "B1")))
    assert_refused(m.commit(m.order_tx("B1", "buy", 1000, 540)), "rule_violation", "is retired")
    assert m.balance("B1") == FUNDS


def test_retire_participant_refusals() -> None:
    m = Market()
    assert_refused(m.commit(retire_tx(m, "B1", sender=KEYS["B2"])), "unauthorized")
    unknown = {"account": key_for("nobody").address}
    assert_refused(
        m.commit(m.chain.tx("market", "retire_participant", unknown, [EXCHANGE_ADMIN])),
        "not_found",
    )
    assert_ok(m.commit(retire_tx(m, "B1")))
    assert_refused(m.commit(retire_tx(m, "B1")), "conflict", "already retired")


def test_participant_retired_before_an_interval_is_not_invoiced_for_it() -> None:
    m = Market()
    assert_ok(m.commit(retire_tx(m, "C1")))  # grid time well before INTERVAL
    flows = all_flows()
    del flows["C1"]  # its readings are not needed
    deliver(m, Registers(), flows)
    assert_ok(block(m, settle_tx(m)))
    assert market.get_invoice(m.chain.state, INTERVAL, KEYS["C1"].address) is None
    assert len(market.get_interval_invoices(m.chain.state, INTERVAL)) == len(KEYS) - 1


def test_participant_retired_during_an_interval_is_invoiced_for_it_but_not_the_next() -> None:
    m = Market()
    assert_ok(block(m, retire_tx(m, "C1"), at_ms=(INTERVAL + 10) * 1000))
    participant = market.get_participant(m.chain.state, KEYS["C1"].address)
    assert participant is not None and participant["retired_s"] == INTERVAL + 10
    registers = Registers()
    deliver(m, registers, all_flows(C1=(300, 0)))
    assert_ok(block(m, settle_tx(m)))
    assert invoice_of(m, "C1")["retail_import_wh"] == 300
    later = all_flows()
    del later["C1"]
    deliver(m, registers, later, start=INTERVAL + 900)
    assert_ok(block(m, settle_tx(m, INTERVAL + 900)))
    assert market.get_invoice(m.chain.state, INTERVAL + 900, KEYS["C1"].address) is None


def test_participant_admitted_during_an_interval_is_invoiced_from_the_next() -> None:
    m = Market()
    block(m, at_ms=(INTERVAL + 10) * 1000)
    late = admit(m, "late", "prosumer", "both")
    registers = Registers()
    deliver(m, registers, all_flows())  # none for the newcomer: not awaited
    assert_ok(block(m, settle_tx(m)))
    assert market.get_invoice(m.chain.state, INTERVAL, late.address) is None
    deliver(m, registers, all_flows(late=(100, 0)), start=INTERVAL + 900)
    assert_ok(block(m, settle_tx(m, INTERVAL + 900)))
    invoice = market.get_invoice(m.chain.state, INTERVAL + 900, late.address)
    assert invoice is not None and invoice["retail_import_ucny"] == 100 * 600


def test_participant_invoices_are_listed_oldest_first_from_an_interval() -> None:
    m = Market()
    registers = Registers()
    for start in (INTERVAL, INTERVAL + 900, INTERVAL + 1800):
        deliver(m, registers, all_flows(B1=(start - INTERVAL + 100, 0)), start=start)
        assert_ok(block(m, settle_tx(m, start)))
    address = KEYS["B1"].address

    def listed(**kw: int) -> list[tuple[int, int]]:
        invoices = market.get_participant_invoices(m.chain.state, address, **kw)
        return [(i["interval_start"], i["retail_import_wh"]) for i in invoices]

    assert listed() == [(INTERVAL, 100), (INTERVAL + 900, 1000), (INTERVAL + 1800, 1900)]
    assert listed(from_s=INTERVAL + 900) == [(INTERVAL + 900, 1000), (INTERVAL + 1800, 1900)]
    assert listed(limit=1) == [(INTERVAL, 100)]


def test_retired_trade_party_is_still_awaited_for_readings() -> None:
    m = Market()
    assert_ok(m.commit(m.order_tx("B1", "buy", 1000, 540), m.order_tx("A1", "sell", 1000, 540)))
    assert_ok(m.commit(retire_tx(m, "B1")))
    m.advance_to(CLOSE_HEIGHT)
    assert len(market.get_trades(m.chain.state, INTERVAL)) == 1
    flows = all_flows(B1=(1000, 0), A1=(0, 1000))
    del flows["B1"]  # retired before the interval: its readings are not awaited...
    deliver(m, Registers(), flows)
    refused = block(m, settle_tx(m))  # ...but as a trade party it is settled, so they are
    assert_refused(refused, "rule_violation", KEYS["B1"].address)


def test_retired_trade_party_settles_once_its_readings_arrive() -> None:
    m = Market()
    assert_ok(m.commit(m.order_tx("B1", "buy", 1000, 540), m.order_tx("A1", "sell", 1000, 540)))
    assert_ok(m.commit(retire_tx(m, "B1")))
    m.advance_to(CLOSE_HEIGHT)
    assert m.result(m.deliver_and_settle()) == (OK, "")
    assert invoice_of(m, "B1")["settled_buy_wh"] == 1000
    assert m.balance("B1") == FUNDS - 540_000


# -- the grid clock ----------------------------------------------------------------------------

CLOCK_ORIGIN_S = 1_795_086_000  # a multiple of 900, a day after the test genesis
CLOCK_SPEEDUP = 600  # one block (1 s) = 10 minutes of grid time
CLOCK_INTERVAL = CLOCK_ORIGIN_S + 7200  # gate closure at origin + 6750 s: block 12


def grid_clock_chain() -> Chain:
    """A market on a chain whose grid clock runs 600 times faster than block time; B1 and A1
    take part (blocks 1 to 4)."""
    doc = market_genesis()
    doc["params"] |= {
        "grid_clock_speedup": CLOCK_SPEEDUP,
        "grid_clock_origin_ms": CLOCK_ORIGIN_S * 1000,
    }
    chain = Chain(doc)
    config = {"price_floor": 100, "price_cap": 1000, "zones": ["z1"], "gate_closure_lead_s": 450}
    config |= {"retail_tariff": 600, "feed_in_tariff": 350, "retailer_account": RETAILER.address}
    he = {"head_end": "he-market", "public_key": HEAD_END.public_key.hex(), "name": "HES"}
    assert_ok(
        chain.commit_block(
            chain.tx("market", "configure", config, [GRIDCO_ADMIN]),
            chain.tx("metering", "register_head_end", he, [GRIDCO_ADMIN]),
        )
    )
    register_participants(chain, ["B1", "A1"], {"B1": "z1", "A1": "z1"})
    issue = {"to": KEYS["B1"].address, "amount": FUNDS}
    assert_ok(chain.commit_block(chain.tx("token", "issue", issue, [GRIDCO_ADMIN])))
    assert chain.height == 4
    return chain


def clock_order(chain: Chain, name: str, side: str) -> Transaction:
    args = {"interval_start": CLOCK_INTERVAL, "side": side, "qty_wh": 1000, "price": 540}
    return chain.tx("market", "place_order", args, [KEYS[name]])


def advance(chain: Chain, height: int) -> None:
    while chain.height < height:
        chain.commit_block()


def test_grid_clock_decides_gate_closure_and_clearing() -> None:
    chain = grid_clock_chain()
    participant = market.get_participant(chain.state, KEYS["B1"].address)
    assert participant is not None
    assert participant["since_s"] == CLOCK_ORIGIN_S + 3 * CLOCK_SPEEDUP  # admitted at block 3
    assert_ok(chain.commit_block(clock_order(chain, "B1", "buy")))  # block 5: grid origin + 3000
    advance(chain, 10)
    assert_ok(chain.commit_block(clock_order(chain, "A1", "sell")))  # block 11: origin + 6600

    closing = chain.commit_block(clock_order(chain, "A1", "sell"))  # block 12: origin + 7200

    (late,) = closing.tx_results
    assert (late.error, "gate closure" in late.log) == ("rule_violation", True)
    assert "market.interval_cleared" in [e.type for e in closing.end_block_events]
    block_time_s = (GENESIS_TIME_MS + chain.height * BLOCK_INTERVAL_MS) // 1000
    assert block_time_s < CLOCK_INTERVAL - 450  # by block time the gate would still be open
    interval = market.get_interval(chain.state, CLOCK_INTERVAL)
    assert interval is not None
    assert (interval["state"], interval["quantity_wh"], interval["price"]) == ("cleared", 1000, 540)


def test_grid_clock_decides_when_an_interval_can_be_read_and_settled() -> None:
    chain = grid_clock_chain()
    assert_ok(chain.commit_block(clock_order(chain, "B1", "buy"), clock_order(chain, "A1", "sell")))
    advance(chain, 12)  # cleared
    flows = {"B1": (1000, 0), "A1": (0, 1000)}
    readings = Registers().batch(flows, CLOCK_INTERVAL)

    def submit() -> Transaction:
        return chain.tx("metering", "submit_readings", readings, [GRIDCO_ADMIN])

    def settle() -> Transaction:
        return chain.tx("market", "settle", {"interval_start": CLOCK_INTERVAL}, [GRIDCO_ADMIN])

    early = chain.commit_block(submit(), settle())  # block 13: origin + 7800, the end is + 8100
    assert [r.error for r in early.tx_results] == ["rule_violation", "rule_violation"]
    assert "has not ended by the block's grid time" in early.tx_results[0].log
    assert_ok(chain.commit_block(submit()))  # block 14: origin + 8400
    assert_ok(chain.commit_block(settle()))
    invoice = market.get_invoice(chain.state, CLOCK_INTERVAL, KEYS["A1"].address)
    assert invoice is not None and invoice["p2p_revenue_ucny"] == 540_000
    verify_money(chain.state)


def test_grid_time_is_origin_plus_scaled_block_time() -> None:
    params = {
        "grid_clock_speedup": 60,
        "grid_clock_origin_ms": 5_000,
        "grid_clock_anchor_ms": 1_000,
    }
    assert compute_grid_time_ms(params, 1_000) == 5_000
    assert compute_grid_time_ms(params, 3_500) == 5_000 + 2_500 * 60
    assert compute_grid_time_ms({}, 3_500) == 3_500  # no speed-up: block time


def test_grid_clock_origin_defaults_to_the_genesis_time() -> None:
    doc = genesis_document()
    doc["params"] |= {"grid_clock_speedup": 10}
    params = decode_genesis(doc).params
    assert params["grid_clock_origin_ms"] == params["grid_clock_anchor_ms"] == GENESIS_TIME_MS


@pytest.mark.parametrize(
    ("params", "phrase"),
    [
        ({"grid_clock_speedup": 0}, "positive integer"),
        ({"grid_clock_speedup": 3601}, "at most 3600"),
        ({"grid_clock_speedup": True}, "positive integer"),
        ({"grid_clock_speedup": "60"}, "positive integer"),
        ({"grid_clock_origin_ms": 10**12}, "needs grid_clock_speedup"),
        ({"grid_clock_speedup": 60, "grid_clock_anchor_ms": 1}, "unknown genesis param"),
        ({"grid_clock_speedup": 60, "grid_clock_origin_ms": 10**14 + 1}, "at most"),
    ],
)
def test_genesis_refuses_bad_grid_clock_params(params: dict[str, Any], phrase: str) -> None:
    doc = genesis_document()
    doc["params"] |= params
    with pytest.raises(DecodeError, match=phrase):
        decode_genesis(doc)


# -- seeded random market runs -----------------------------------------------------------------

RANDOM_STARTS = (INTERVAL, INTERVAL + 900, INTERVAL + 1800)
MAX_FLOW_WH = 20_000  # below the spike limit of the fixture's 100 kW meters (25,000 Wh)


def place_random_orders(m: Market, rng: random.Random) -> None:
    """Up to two orders per participant per interval in three blocks, then a block cancelling
    about a fifth of them. Only a shortfall of funds may refuse an order."""
    placed: list[tuple[str, Transaction]] = []
    for start in RANDOM_STARTS:
        txs = []
        for name in KEYS:
            for _ in range(rng.randint(0, 2)):
                side = rng.choice(("buy", "sell"))
                qty, price = rng.randint(1, 4000), rng.randint(400, 650)
                zone = m.zones_of[name]
                txs.append((name, m.order_tx(name, side, qty, price, zone=zone, start=start)))
        result = m.commit(*(tx for _, tx in txs))
        for (name, tx), outcome in zip(txs, result.tx_results, strict=True):
            assert outcome.code == OK or "insufficient funds" in outcome.log, outcome.log
            if outcome.code == OK:
                placed.append((name, tx))
    cancels = [
        m.chain.tx("market", "cancel_order", {"order": tx.tx_id.hex()}, [KEYS[name]])
        for name, tx in placed
        if rng.random() < 0.2
    ]
    assert_ok(m.commit(*cancels))


def verify_clearing(state: State, start: int) -> None:
    """Report 1.4 invariants 1 to 4, and every order escrow released."""
    interval = market.get_interval(state, start)
    assert interval is not None and interval["state"] == "cleared"
    orders = {o["id"]: o for o in market.get_interval_orders(state, start)}
    trades = market.get_trades(state, start)
    for trade in trades:
        buy, sell = orders[trade["buy_order"]], orders[trade["sell_order"]]
        assert trade["price"] == interval["price"]
        assert sell["price"] <= trade["price"] <= buy["price"]
        assert trade["held_ucny"] == trade["qty_wh"] * (trade["price"] + trade["fee_per_mwh"])
    for order in orders.values():
        traded = sum(
            t["qty_wh"] for t in trades if order["id"] in (t["buy_order"], t["sell_order"])
        )
        assert 0 <= order["filled_wh"] == traded <= order["qty_wh"]
        assert token.get_escrow(state, f"market/order/{order['id']}") is None
    for side in ("buy", "sell"):
        filled = sum(o["filled_wh"] for o in orders.values() if o["side"] == side)
        assert filled == interval["quantity_wh"]
    resting = [o for o in orders.values() if o["filled_wh"] < o["qty_wh"]]
    bids = [o["price"] for o in resting if o["side"] == "buy"]
    asks = [o["price"] for o in resting if o["side"] == "sell"]
    if bids and asks:
        assert max(bids) < min(asks)  # no crossed residual book


def random_flows(state: State, rng: random.Random, start: int) -> dict[str, tuple[int, int]]:
    """Per participant and channel: mostly the contracted energy, else something else or
    nothing."""
    contracted = {name: [0, 0] for name in KEYS}
    for trade in market.get_trades(state, start):
        contracted[name_of(trade["buyer"])][0] += trade["qty_wh"]
        contracted[name_of(trade["seller"])][1] += trade["qty_wh"]

    def pick(wh: int) -> int:
        wobble = rng.randint(0, 2 * wh + 2000)
        return min(MAX_FLOW_WH, rng.choice((wh, wh, wh, wobble, wobble, 0)))

    return {name: (pick(imp), pick(exp)) for name, (imp, exp) in contracted.items()}


def verify_settlement(state: State, start: int, flows: Mapping[str, tuple[int, int]]) -> None:
    """Report 1.4 invariants 5 and 6 on the ledger's records; every trade escrow paid out."""
    for trade in market.get_trades(state, start):
        assert trade["state"] == "settled"
        assert 0 <= trade["settled_wh"] <= trade["qty_wh"]
        paid = trade["settled_amount_ucny"] + trade["settled_fee_ucny"] + trade["refund_ucny"]
        assert paid == trade["held_ucny"]
    trade_escrows = f"{token.ESCROW_PREFIX}{market.params.TRADE_PREFIX}{start:012d}/"
    assert [key for key in escrows(state) if key.startswith(trade_escrows)] == []
    params = market.get_params(state) or {}
    invoices = market.get_interval_invoices(state, start)
    assert len(invoices) == len(KEYS)
    for invoice in invoices:
        imp, exp = flows[name_of(invoice["participant"])]
        assert imp == invoice["settled_buy_wh"] + invoice["retail_import_wh"]
        assert exp == invoice["settled_sell_wh"] + invoice["feed_in_wh"]
        assert invoice["retail_import_wh"] >= 0 and invoice["feed_in_wh"] >= 0
        retail = invoice["retail_import_wh"] * params["retail_tariff"]
        assert invoice["retail_import_ucny"] == retail
        assert invoice["feed_in_ucny"] == invoice["feed_in_wh"] * params["feed_in_tariff"]
    assert sum(i["p2p_cost_ucny"] for i in invoices) == sum(i["p2p_revenue_ucny"] for i in invoices)


def held_by_buyer(state: State) -> dict[str, int]:
    """The trade escrows of the run per buyer: taken from its balance at clearing, so its
    balance gains them back (less what it pays) at settlement."""
    held: dict[str, int] = {}
    for start in RANDOM_STARTS:
        for trade in market.get_trades(state, start):
            held[trade["buyer"]] = held.get(trade["buyer"], 0) + trade["held_ucny"]
    return held


def expected_balances(invoices: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """What each account gains at settlement according to the invoices, beyond its trade
    escrows coming back: a participant its net, plus the retail charge it could not pay, less
    the feed-in it was not paid; the retailer and the fee account the other side."""
    gained: dict[str, int] = {}
    for i in invoices:
        party = i["participant"]
        gained[party] = (
            gained.get(party, 0)
            + i["net_ucny"]
            + i["retail_outstanding_ucny"]
            - i["feed_in_outstanding_ucny"]
        )
        gained[RETAILER.address] = (
            gained.get(RETAILER.address, 0) + i["retail_paid_ucny"] - i["feed_in_paid_ucny"]
        )
        gained[DSO.address] = gained.get(DSO.address, 0) + i["grid_fee_ucny"]
    return gained


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_random_market_runs_keep_every_invariant(seed: int) -> None:
    rng = random.Random(seed)
    fees = [{"from_zone": "z1", "to_zone": "z2", "fee": rng.randint(0, 30)}]
    m = Market(
        zones_of={name: rng.choice(("z1", "z2")) for name in KEYS},
        zones=["z1", "z2"],
        grid_fees=fees,
        default_grid_fee=rng.choice((0, 15)),
        price_rule=rng.choice(PRICE_RULES),
        tie_rule=rng.choice(TIE_RULES),
    )
    place_random_orders(m, rng)
    for start in RANDOM_STARTS:
        cleared = block(m, at_ms=(start - LEAD_S) * 1000)
        assert "market.interval_cleared" in [e.type for e in cleared.end_block_events]
        verify_clearing(m.chain.state, start)
    poor, rich = rng.sample(sorted(KEYS), 2)  # someone who will be short of retail money
    spare = m.balance(poor) - rng.randint(0, 50_000)
    if spare > 0:
        transfer = {"to": KEYS[rich].address, "amount": spare}
        assert_ok(block(m, m.chain.tx("token", "transfer", transfer, [KEYS[poor]])))
    accounts = [k.address for k in KEYS.values()] + [RETAILER.address, DSO.address]
    start_balances = {a: token.get_balance(m.chain.state, a) for a in accounts}
    held = held_by_buyer(m.chain.state)

    registers = Registers()
    invoices: list[dict[str, Any]] = []
    for start in RANDOM_STARTS:
        flows = random_flows(m.chain.state, rng, start)
        deliver(m, registers, flows, start)
        assert_ok(block(m, settle_tx(m, start)))
        verify_settlement(m.chain.state, start, flows)
        invoices += market.get_interval_invoices(m.chain.state, start)

    assert escrows(m.chain.state) == []
    gained = expected_balances(invoices)
    for address, before in start_balances.items():
        expected = before + held.get(address, 0) + gained.get(address, 0)
        assert token.get_balance(m.chain.state, address) == expected
