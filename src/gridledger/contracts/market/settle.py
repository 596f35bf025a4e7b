"""``settle {interval_start}``: settle one interval against the meters and invoice every
participant (domain report 1-F; arithmetic in ``settlement.py``).

Anyone may send it: the outcome is a pure function of the committed trades, readings and
tariffs. It is accepted once the interval has ended and cleared and every participant's meters
have billable readings for it, or, failing that, once the settlement deadline has passed (the
participants still without readings are invoiced as ``unmetered``). Each interval settles once.

Money: each trade's escrow pays the seller ``settled * price`` and the fee account
``settled * fee``, and returns the rest to the buyer. Then every residual import is charged to
its participant for the retailer, and every residual export is credited by the retailer, each as
far as the payer's balance covers it; what it does not cover is recorded on the invoice as
outstanding (``retail_outstanding_ucny``, ``feed_in_outstanding_ucny``), never as a negative
balance. See docs/contracts/market.md, "Settlement".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gridledger.contracts import token
from gridledger.contracts.args import require_fields, take_int
from gridledger.contracts.market.orders import OPEN, SETTLED, get_interval
from gridledger.contracts.market.params import (
    INTERVAL_S,
    INVOICE_BY_PREFIX,
    INVOICE_PREFIX,
    MAX_START_S,
    SETTLEMENT_PREFIX,
    TRADE_PREFIX,
    interval_key,
    list_participants,
    require_params,
    trade_key,
    verify_interval_start,
)
from gridledger.contracts.market.participants import is_in_interval
from gridledger.contracts.market.settlement import (
    Invoice,
    Metered,
    TradeLine,
    TradeSettlement,
    compute_settlement,
)
from gridledger.contracts.metering import get_interval_energy, get_meter
from gridledger.contracts.metering.registry import CHANNELS
from gridledger.errors import Conflict, RuleViolation
from gridledger.ledger.context import TxContext
from gridledger.ledger.gridclock import read_grid_time_ms
from gridledger.ledger.state import State

MAX_NAMED_MISSING = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class Settle:
    interval_start: int


# -- readers -----------------------------------------------------------------------------------


def get_settlement(state: State, start_s: int) -> dict[str, Any] | None:
    record: dict[str, Any] | None = state.get_json(f"{SETTLEMENT_PREFIX}{start_s:012d}")
    return record


def get_invoice(state: State, start_s: int, address: str) -> dict[str, Any] | None:
    invoice: dict[str, Any] | None = state.get_json(f"{INVOICE_PREFIX}{start_s:012d}/{address}")
    return invoice


def get_interval_invoices(state: State, start_s: int) -> list[dict[str, Any]]:
    prefix = f"{INVOICE_PREFIX}{start_s:012d}/"
    return [state.get_json(key) for key, _ in state.iter_prefix(prefix)]


def get_participant_invoices(
    state: State, address: str, *, from_s: int = 0, limit: int = 96
) -> list[dict[str, Any]]:
    """A participant's invoices from interval ``from_s`` on, oldest first, at most ``limit``."""
    invoices: list[dict[str, Any]] = []
    prefix = f"{INVOICE_BY_PREFIX}{address}/"
    for key, _ in state.iter_prefix(prefix):
        start_s = int(key[len(prefix) :])
        if start_s < from_s:
            continue
        if len(invoices) >= limit:
            break
        invoice = get_invoice(state, start_s, address)
        if invoice is not None:
            invoices.append(invoice)
    return invoices


def get_trades(state: State, start_s: int) -> list[dict[str, Any]]:
    prefix = f"{TRADE_PREFIX}{start_s:012d}/"
    return [state.get_json(key) for key, _ in state.iter_prefix(prefix)]


def compute_metered(state: State, participant: Mapping[str, Any], start_s: int) -> Metered:
    """The participant's billable Wh per channel: the sum over its meters measuring it; None if
    any of them has no billable reading; 0 if none of its meters measures the channel."""
    totals: dict[str, int | None] = {"import": 0, "export": 0}
    for meter_id in participant["meters"]:
        meter = get_meter(state, meter_id)
        channels = CHANNELS[meter["direction"]] if meter is not None else ()
        for channel in channels:
            energy = get_interval_energy(state, meter_id, start_s, channel)
            total = totals[channel]
            totals[channel] = None if energy is None or total is None else total + energy
    return Metered(import_wh=totals["import"], export_wh=totals["export"])


# -- settle ------------------------------------------------------------------------------------


def parse_settle(args: Mapping[str, Any]) -> Settle:
    require_fields(args, frozenset({"interval_start"}))
    start = take_int(args, "interval_start", minimum=INTERVAL_S, maximum=MAX_START_S)
    verify_interval_start(start)
    return Settle(interval_start=start)


def _inputs(state: State, start_s: int) -> tuple[list[dict[str, Any]], dict[str, Metered]]:
    trades = get_trades(state, start_s)
    parties = {t["buyer"] for t in trades} | {t["seller"] for t in trades}
    metered = {
        p["account"]: compute_metered(state, p, start_s)
        for p in list_participants(state)
        if is_in_interval(p, start_s) or p["account"] in parties
    }
    return trades, metered


def check_settle(ctx: TxContext, msg: Settle) -> None:
    state, start = ctx.state, msg.interval_start
    params = require_params(state)
    if get_settlement(state, start) is not None:
        raise Conflict(f"interval {start} is already settled")
    now_ms = read_grid_time_ms(state, ctx.env)
    end_s = start + INTERVAL_S
    if now_ms < end_s * 1000:
        raise RuleViolation(f"interval {start} ends at {end_s} s; grid time is {now_ms} ms")
    interval = get_interval(state, start)
    if interval is not None and interval["state"] == OPEN:
        raise RuleViolation(f"interval {start} is not cleared yet; settle it in a later block")
    deadline_s = end_s + int(params["settlement_deadline_s"])
    if now_ms >= deadline_s * 1000:
        return
    _, metered = _inputs(state, start)
    missing = [p for p, m in metered.items() if m.import_wh is None or m.export_wh is None]
    if missing:
        named = ", ".join(missing[:MAX_NAMED_MISSING])
        more = (
            f" and {len(missing) - MAX_NAMED_MISSING} more"
            if len(missing) > MAX_NAMED_MISSING
            else ""
        )
        raise RuleViolation(
            f"interval {start} lacks billable readings for participants {named}{more}; "
            f"settle after they arrive or after the deadline at {deadline_s} s"
        )


def apply_settle(ctx: TxContext, msg: Settle) -> None:
    state, start = ctx.state, msg.interval_start
    params = require_params(state)
    trades, metered = _inputs(state, start)
    lines = [
        TradeLine(t["buyer"], t["seller"], t["qty_wh"], t["price"], t["fee_per_mwh"])
        for t in trades
    ]
    result = compute_settlement(
        lines,
        metered,
        retail_tariff=int(params["retail_tariff"]),
        feed_in_tariff=int(params["feed_in_tariff"]),
    )
    for trade, outcome in zip(trades, result.trades, strict=True):
        _apply_trade_settlement(ctx, params, start, trade, asdict(outcome))
    invoices = [_invoice_record(ctx, start, invoice) for invoice in result.invoices]
    retailer = params["retailer_account"]
    for record in invoices:
        paid = token.collect(
            ctx, record["participant"], retailer, record["retail_import_ucny"], f"retail {start}"
        )
        record["retail_paid_ucny"] = paid
        record["retail_outstanding_ucny"] = record["retail_import_ucny"] - paid
    for record in invoices:
        paid = token.collect(
            ctx, retailer, record["participant"], record["feed_in_ucny"], f"feed-in {start}"
        )
        record["feed_in_paid_ucny"] = paid
        record["feed_in_outstanding_ucny"] = record["feed_in_ucny"] - paid
        _store_invoice(ctx, start, record)
    summary = _summary(ctx, start, result.trades, invoices)
    state.put_json(f"{SETTLEMENT_PREFIX}{start:012d}", summary)
    interval = get_interval(state, start)
    if interval is not None:
        state.put_json(interval_key(start), {**interval, "state": SETTLED})
    ctx.emit("market.interval_settled", **summary)


def _apply_trade_settlement(
    ctx: TxContext,
    params: Mapping[str, Any],
    start: int,
    trade: Mapping[str, Any],
    outcome: Mapping[str, int],
) -> None:
    hold_key = trade_key(start, int(trade["n"]))
    for to, amount in (
        (trade["seller"], outcome["amount_ucny"]),
        (params["fee_account"], outcome["fee_ucny"]),
        (trade["buyer"], outcome["refund_ucny"]),
    ):
        if amount:
            token.release(ctx, hold_key, to, amount)
    settled = {
        **trade,
        "refund_ucny": outcome["refund_ucny"],
        "settled_amount_ucny": outcome["amount_ucny"],
        "settled_fee_ucny": outcome["fee_ucny"],
        "settled_wh": outcome["settled_wh"],
        "state": SETTLED,
    }
    ctx.state.put_json(hold_key, settled)
    ctx.emit("market.trade_settled", interval_start=start, **settled)


def _invoice_record(ctx: TxContext, start: int, invoice: Invoice) -> dict[str, Any]:
    return {
        **asdict(invoice),
        "interval_start": start,
        "net_ucny": invoice.net_ucny,
        "settled_height": ctx.env.height,
        "unmetered": invoice.unmetered,
    }


def _store_invoice(ctx: TxContext, start: int, record: Mapping[str, Any]) -> None:
    party = record["participant"]
    ctx.state.put_json(f"{INVOICE_PREFIX}{start:012d}/{party}", dict(record))
    ctx.state.put(f"{INVOICE_BY_PREFIX}{party}/{start:012d}", b"")
    ctx.emit("market.invoice", **record)


def _summary(
    ctx: TxContext,
    start: int,
    outcomes: Sequence[TradeSettlement],
    invoices: list[dict[str, Any]],
) -> dict[str, Any]:
    def total(name: str) -> int:
        return sum(int(record[name]) for record in invoices)

    return {
        "fees_ucny": total("grid_fee_ucny"),
        "feed_in_outstanding_ucny": total("feed_in_outstanding_ucny"),
        "feed_in_ucny": total("feed_in_ucny"),
        "feed_in_wh": total("feed_in_wh"),
        "interval_start": start,
        "invoices": len(invoices),
        "p2p_ucny": total("p2p_cost_ucny"),
        "refunds_ucny": sum(o.refund_ucny for o in outcomes),
        "retail_import_ucny": total("retail_import_ucny"),
        "retail_import_wh": total("retail_import_wh"),
        "retail_outstanding_ucny": total("retail_outstanding_ucny"),
        "settled_height": ctx.env.height,
        "settled_wh": total("settled_buy_wh"),
        "trades": len(outcomes),
        "unmetered": sum(1 for record in invoices if record["unmetered"]),
    }
