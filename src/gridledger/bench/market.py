"""``gridledger bench market``: clearing one 15-minute interval's book of 100,000 orders.

1. ``compute_clearing`` alone (the pure uniform-price double auction), for both tie rules: best
   and median of N runs over the same book.
2. The on-ledger clearing of that book: the orders are placed through real signed
   ``market.place_order`` transactions into the ABCI application over a real SQLite store (not
   timed), then the market's end-of-block hook ``apply_due_clearings`` is timed alone on the
   committed state (the matching, moving each trade's money from the buyer's order escrow into
   the trade's own escrow for settlement, the order outcomes and their state writes, in the block
   overlay), and finally the block that runs it (FinalizeBlock, which adds the change-set hash,
   and Commit, which writes it to SQLite) through the application.

The book is seeded and made before any timing: half bids, half asks, in random order (the order
of placement is the time priority), prices in a 300-700 CNY/MWh band with bids centred higher
than asks so that the book crosses, quantities log-uniform between 100 Wh and 20 kWh.
Figures are printed; none is asserted.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.contracts import market
from gridledger.contracts.clearing import TIE_RULES, Clearing, Order, compute_clearing
from gridledger.contracts.market.params import DEFAULT_GATE_CLOSURE_LEAD_S, INTERVAL_S
from gridledger.crypto import PrivateKey
from gridledger.errors import GridledgerError, NodeError
from gridledger.ledger.context import BlockEnv
from gridledger.ledger.state import State
from gridledger.ledger.tx import TxBody, sign_transaction
from gridledger.node.abci_app import Application
from gridledger.store.sqlite import SqliteStore

CHAIN_ID = "gridledger-bench-market"
ORDERS = 100_000
REPEATS = 5
SEED = 20_260_515
PRICE_BAND = (300, 700)  # CNY/MWh
BID_MEAN, ASK_MEAN, PRICE_SD = 520, 480, 80
QTY_RANGE_WH = (100, 20_000)
PRICE_RULE = "midpoint"
GRID_FEE = 20  # CNY/MWh on every trade, held with the trade's amount out of the buyer's escrow
RETAIL_TARIFF, FEED_IN_TARIFF = 600, 350  # CNY/MWh (configure requires them; settlement uses them)
ZONE = "z1"
# The ledger part: buyer and seller accounts, each placing an equal share of its side's orders.
TRADERS = 1_000
FUNDS_UCNY = 2 * 10**9  # per buyer: above 50 orders of 20 kWh at the cap plus the fee
GENESIS_TIME_MS = 1_795_000_000_000  # a fixed chain: block times are chosen, not read
SETUP_BLOCK_TXS = 5_000
EXPIRY_HEIGHT = 5_000


@dataclass(frozen=True, slots=True, kw_only=True)
class BookOrder:
    """One generated order, in placement order (its position + 1 is its ``seq``)."""

    side: str  # "buy" or "sell"
    qty_wh: int
    price: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearingTiming:
    tie_rule: str
    seconds: tuple[float, ...]
    clearing: Clearing

    @property
    def best_s(self) -> float:
        return min(self.seconds)

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerTiming:
    setup_sign_s: float
    setup_place_s: float
    hook_s: tuple[float, ...]
    end_events: int
    writes: int
    finalize_s: float
    commit_s: float
    interval: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketReport:
    orders: int
    bids: tuple[Order, ...]
    asks: tuple[Order, ...]
    timings: tuple[ClearingTiming, ...]
    ledger: LedgerTiming | None


def run(
    *, orders: int = ORDERS, repeats: int = REPEATS, ledger: bool = True, traders: int = TRADERS
) -> MarketReport:
    if orders < 2 or repeats < 1 or traders < 1:
        raise GridledgerError("--orders must be at least 2, --repeats and traders at least 1")
    print(
        f"gridledger bench market — {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, "
        f"{orders:,} orders in one interval, price rule {PRICE_RULE}"
    )
    book = generate_book(orders, SEED)
    bids, asks = compute_orders(book)
    print(f"book: {len(bids):,} bids and {len(asks):,} asks, seed {SEED}")
    timings = tuple(time_clearing(bids, asks, tie, repeats) for tie in TIE_RULES)
    for timing in timings:
        print(format_clearing(timing, bids, asks))
    ledger_timing = None
    if ledger:
        with tempfile.TemporaryDirectory(prefix="gridledger-bench-market-") as tmp:
            ledger_timing = time_ledger_clearing(Path(tmp), book, traders)
        print(format_ledger(ledger_timing, orders))
    print("target: compute_clearing of 100,000 orders <= 1 s")
    return MarketReport(orders=orders, bids=bids, asks=asks, timings=timings, ledger=ledger_timing)


# -- the book ----------------------------------------------------------------------------------


def generate_book(n: int, seed: int) -> list[BookOrder]:
    """``n // 2`` bids and the rest asks, shuffled into one placement order."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible book, not a secret
    sides = ["buy"] * (n // 2) + ["sell"] * (n - n // 2)
    rng.shuffle(sides)
    low, high = (math.log(q) for q in QTY_RANGE_WH)
    book = []
    for side in sides:
        mean = BID_MEAN if side == "buy" else ASK_MEAN
        price = min(PRICE_BAND[1], max(PRICE_BAND[0], round(rng.gauss(mean, PRICE_SD))))
        qty_wh = min(QTY_RANGE_WH[1], round(math.exp(rng.uniform(low, high))))
        book.append(BookOrder(side=side, qty_wh=qty_wh, price=price))
    return book


def compute_orders(book: Sequence[BookOrder]) -> tuple[tuple[Order, ...], tuple[Order, ...]]:
    """The book as ``compute_clearing`` takes it: ids shaped like the ledger's (64 hex)."""
    bids: list[Order] = []
    asks: list[Order] = []
    for seq, item in enumerate(book, start=1):
        order_id = hashlib.sha256(f"bench order {seq}".encode()).hexdigest()
        order = Order(order_id, item.qty_wh, item.price, seq)
        (bids if item.side == "buy" else asks).append(order)
    return tuple(bids), tuple(asks)


# -- compute_clearing alone --------------------------------------------------------------------


def time_clearing(
    bids: Sequence[Order], asks: Sequence[Order], tie_rule: str, repeats: int
) -> ClearingTiming:
    seconds = []
    clearing = None
    for _ in range(repeats):
        start = time.perf_counter()
        clearing = compute_clearing(bids, asks, price_rule=PRICE_RULE, tie_rule=tie_rule)
        seconds.append(time.perf_counter() - start)
    if clearing is None:
        raise GridledgerError("repeats must be at least 1")
    return ClearingTiming(tie_rule=tie_rule, seconds=tuple(seconds), clearing=clearing)


def compute_cleared_wh(clearing: Clearing, orders: Sequence[Order]) -> int:
    return sum(clearing.fills[order.order_id] for order in orders)


def format_clearing(timing: ClearingTiming, bids: Sequence[Order], asks: Sequence[Order]) -> str:
    c = timing.clearing
    filled = sum(1 for qty in c.fills.values() if qty)
    return (
        f"compute_clearing {timing.tie_rule:<8} best {timing.best_s:6.3f} s  "
        f"median {timing.median_s:6.3f} s of {len(timing.seconds)}  "
        f"{(len(bids) + len(asks)) / timing.best_s:10,.0f} orders/s   "
        f"({c.quantity_wh:,} Wh at {c.price} CNY/MWh: bids {compute_cleared_wh(c, bids):,} Wh = "
        f"asks {compute_cleared_wh(c, asks):,} Wh; {len(c.trades):,} trades, "
        f"{filled:,} orders filled)"
    )


# -- the on-ledger clearing --------------------------------------------------------------------


def time_ledger_clearing(directory: Path, book: Sequence[BookOrder], traders: int) -> LedgerTiming:
    """Place the book on a fresh SQLite ledger, then time the hook and the clearing block."""
    app = Application(SqliteStore(directory / "ledger.sqlite"))
    interval_start = _interval_after(GENESIS_TIME_MS // 1000 + 3_600)
    sign_s, place_s, height = place_book(app, book, interval_start, traders)
    gate_close_ms = (interval_start - DEFAULT_GATE_CLOSURE_LEAD_S) * 1000
    env = BlockEnv(chain_id=CHAIN_ID, height=height + 1, time_ms=gate_close_ms)
    hook_s, events, writes = [], 0, 0
    for _ in range(2):  # each on a fresh overlay over the same committed state
        state = State(app.store)
        start = time.perf_counter()
        events = len(market.apply_due_clearings(state, env))
        hook_s.append(time.perf_counter() - start)
        writes = len(state.changes())
    start = time.perf_counter()
    result = app.finalize_block(height=env.height, time_ms=env.time_ms, raw_txs=[])
    finalize_s = time.perf_counter() - start
    start = time.perf_counter()
    app.commit(block_hash=bytes(32), header=b"{}", signature=b"")
    commit_s = time.perf_counter() - start
    interval = market.get_interval(State(app.store), interval_start) or {}
    if interval.get("state") != "cleared" or not result.end_block_events:
        raise NodeError(f"the clearing block did not clear interval {interval_start}: {interval}")
    app.store.close()
    return LedgerTiming(
        setup_sign_s=sign_s,
        setup_place_s=place_s,
        hook_s=tuple(hook_s),
        end_events=events,
        writes=writes,
        finalize_s=finalize_s,
        commit_s=commit_s,
        interval=interval,
    )


def _interval_after(time_s: int) -> int:
    return -(-time_s // INTERVAL_S) * INTERVAL_S


def place_book(
    app: Application, book: Sequence[BookOrder], interval_start: int, traders: int
) -> tuple[float, float, int]:
    """The one place that knows how a market is set up through transactions: genesis accounts
    for the traders; the operator configures the market, funds the buyers, registers a meter
    for each trader and admits it as a participant bound to that meter (buyers as consumers,
    sellers as prosumers); then every order is a signed ``place_order``. Returns (signing s,
    placing s, last height)."""
    admin = _key("gridco-admin")
    buyers = [_key(f"buyer-{i}") for i in range(traders)]
    sellers = [_key(f"seller-{i}") for i in range(traders)]
    app.init_chain(_genesis(admin, [*buyers, *sellers]))
    config = {
        "price_floor": 1,
        "price_cap": 1_000,
        "zones": [ZONE],
        "default_grid_fee": GRID_FEE,
        "retail_tariff": RETAIL_TARIFF,
        "feed_in_tariff": FEED_IN_TARIFF,
    }
    setup = [_tx(admin, "market", "configure", config, "configure")]
    setup += [
        _tx(admin, "token", "issue", {"to": k.address, "amount": FUNDS_UCNY}, f"issue-{i}")
        for i, k in enumerate(buyers)
    ]
    traders_roles = [(k, "consumer", "import") for k in buyers]
    traders_roles += [(k, "prosumer", "both") for k in sellers]
    meters = [
        _tx(admin, "metering", "register_meter", _meter_args(k, direction), f"meter-{n}")
        for n, (k, _, direction) in enumerate(traders_roles)
    ]
    participants = [
        _tx(admin, "market", "register_participant", _participant_args(k, role), f"trader-{n}")
        for n, (k, role, _) in enumerate(traders_roles)
    ]
    start = time.perf_counter()
    raws = []
    counts = {"buy": 0, "sell": 0}
    for i, item in enumerate(book):
        owners = buyers if item.side == "buy" else sellers
        owner = owners[counts[item.side] % traders]
        counts[item.side] += 1
        args = {
            "interval_start": interval_start,
            "side": item.side,
            "qty_wh": item.qty_wh,
            "price": item.price,
        }
        raws.append(_tx(owner, "market", "place_order", args, f"order-{i}"))
    sign_s = time.perf_counter() - start
    height = 0
    for block in (setup, meters, participants):
        height = _commit_block(app, height + 1, block)
    start = time.perf_counter()
    for first in range(0, len(raws), SETUP_BLOCK_TXS):
        height = _commit_block(app, height + 1, raws[first : first + SETUP_BLOCK_TXS])
    return sign_s, time.perf_counter() - start, height


def _meter_args(owner: PrivateKey, direction: str) -> dict[str, Any]:
    return {
        "meter": f"meter-{owner.address}",
        "owner": owner.address,
        "public_key": owner.public_key.hex(),
        "direction": direction,
        "zone": ZONE,
        "max_power_w": 100_000,
    }


def _participant_args(account: PrivateKey, role: str) -> dict[str, Any]:
    meter = f"meter-{account.address}"
    return {"account": account.address, "role": role, "zone": ZONE, "meters": [meter]}


def _commit_block(app: Application, height: int, raws: Sequence[bytes]) -> int:
    time_ms = GENESIS_TIME_MS + height * 1000
    result = app.finalize_block(height=height, time_ms=time_ms, raw_txs=raws)
    for r in result.tx_results:
        if r.code:
            raise NodeError(
                f"bench setup: a transaction failed at height {height} ({r.error}: {r.log}); "
                "has the market contract's interface changed?"
            )
    app.commit(block_hash=bytes(32), header=b"{}", signature=b"")
    return height


def _key(name: str) -> PrivateKey:
    return PrivateKey.from_seed(hashlib.sha256(f"gridledger-bench/{name}".encode()).digest())


def _genesis(admin: PrivateKey, traders: Sequence[PrivateKey]) -> dict[str, Any]:
    accounts = [
        {"public_key": admin.public_key.hex(), "org": "gridco", "roles": ["admin", "submitter"]}
    ]
    accounts += [
        {"public_key": k.public_key.hex(), "org": "exchange", "roles": ["submitter"]}
        for k in traders
    ]
    return {
        "chain_id": CHAIN_ID,
        "genesis_time_ms": GENESIS_TIME_MS,
        "organizations": [
            {"id": "gridco", "name": "Provincial Grid Company", "roles": ["operator"]},
            {"id": "exchange", "name": "Power Trading Center", "roles": ["market_operator"]},
        ],
        "accounts": accounts,
        "validators": [],
        "params": {"max_expiry_window": 10_000},
    }


def _tx(key: PrivateKey, contract: str, method: str, args: dict[str, Any], nonce: str) -> bytes:
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=EXPIRY_HEIGHT,
        nonce=nonce,
        contract=contract,
        method=method,
        args=args,
    )
    return sign_transaction(body, [key]).raw


def format_ledger(t: LedgerTiming, orders: int) -> str:
    i = t.interval
    best = min(t.hook_s)
    return "\n".join(
        [
            f"ledger setup (not timed below): {orders:,} place_order transactions signed in "
            f"{t.setup_sign_s:.1f} s, placed in {t.setup_place_s:.1f} s "
            f"(blocks of {SETUP_BLOCK_TXS:,}, SQLite)",
            f"end-of-block hook apply_due_clearings   best {best:6.3f} s of "
            f"{len(t.hook_s)} ({', '.join(f'{s:.3f}' for s in t.hook_s)})  "
            f"{orders / best:10,.0f} orders/s   ({t.end_events:,} events, {t.writes:,} state "
            "writes: trades, escrows, order outcomes)",
            f"clearing block: FinalizeBlock {t.finalize_s:.3f} s + Commit to SQLite "
            f"{t.commit_s:.3f} s = {t.finalize_s + t.commit_s:.3f} s   "
            f"({i.get('quantity_wh', 0):,} Wh at {i.get('price')} CNY/MWh, "
            f"{i.get('trades', 0):,} trades; {i.get('amount_ucny', 0):,} µCNY and fees "
            f"{i.get('fees_ucny', 0):,} µCNY held for settlement)",
        ]
    )
