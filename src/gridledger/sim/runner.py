"""Run a simulated market day (``generate_day``) through a gridledger node's API, as the market's
real users would: the trading center admits the participants, the grid operator registers their
meters, configures the market and funds the accounts, prosumers and consumers place orders ahead
of gate closure, the head-end system (and the consumers' own smart meters) send each interval's
readings once it has ended, and anyone settles the interval. Then the whole day is read back and
checked: every interval cleared and settled, and the invoices add up to the money that moved.

The chain must run a grid clock (``net init`` with a ``GridClockPlan``, or a genesis with
``grid_clock_speedup``) unless you are willing to wait a real day. The runner plans by the wall
clock mapped onto grid time; the ledger judges every step by block time, so a step that comes too
early is refused and simply tried again on the next pass.

Keys: the participants', meters' and head-end's keys are derived from the day's seed, so a demo
can be re-run and resumed; they are demo keys, not secrets. Progress is journalled in a JSON file
so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridledger.client import Client
from gridledger.client.metering import (
    build_head_end_batch,
    build_meter_signed_batch,
    make_reading,
)
from gridledger.contracts.metering.reading import Reading
from gridledger.crypto import PrivateKey
from gridledger.errors import GridledgerError
from gridledger.ledger.genesis import decode_genesis
from gridledger.ledger.gridclock import compute_grid_time_ms
from gridledger.ledger.tx import Transaction
from gridledger.sim.bidding import FEED_IN_TARIFF, RETAIL_TARIFF, DayOrder
from gridledger.sim.day import Day

INTERVAL_S = 900
GATE_CLOSURE_LEAD_S = 300
PARTICIPANT_FUNDS_UCNY = 200_000_000  # 200 CNY each
RETAILER_FUNDS_UCNY = 20_000_000_000  # 20,000 CNY for feed-in credits
SAME_ZONE_FEE, CROSS_ZONE_FEE = 10, 20  # CNY/MWh grid fees, buyer pays
HEAD_END = "hes-sim"
ORDER_HORIZON_S = 4 * 3600  # place orders up to 4 grid hours ahead
LANDING_S = 8.0  # real seconds a submitted transaction is given to land before its deadline
BATCH = 500
MAX_READ_INTERVALS = 12  # 12 x 72 prosumer readings fit one batch of at most 1,000


def derive_key(seed: int, *labels: str) -> PrivateKey:
    """A demo key from the day's seed and labels (public: never use for anything real)."""
    text = "/".join(("gridledger-sim-keys", str(seed), *labels))
    return PrivateKey.from_seed(hashlib.sha256(text.encode()).digest())


@dataclass(slots=True)
class Progress:
    """What has been done, journalled after every step."""

    setup: bool = False
    orders: list[int] = field(default_factory=list)  # intervals whose orders were sent
    read: int = -2  # last interval with readings in (-1 = the baseline at day start)
    settled: list[int] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path | None) -> Progress:
        if path is None or not path.exists():
            return cls()
        return cls(**json.loads(path.read_text(encoding="utf-8")))

    def save(self, path: Path | None) -> None:
        if path is not None:
            data = {
                "setup": self.setup,
                "orders": self.orders,
                "read": self.read,
                "settled": self.settled,
                "rejected": self.rejected[-100:],
            }
            path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


@dataclass(frozen=True, slots=True)
class DayReport:
    intervals: int
    settled: int
    cleared_with_trades: int
    traded_wh: int
    p2p_ucny: int
    fees_ucny: int
    retail_import_wh: int
    feed_in_wh: int
    invoices: int
    problems: tuple[str, ...]

    def format(self) -> str:
        return (
            f"{self.settled}/{self.intervals} intervals settled, {self.cleared_with_trades} with "
            f"trades; {self.traded_wh / 1000:,.1f} kWh traded peer to peer for "
            f"{self.p2p_ucny / 1e6:,.2f} CNY (+{self.fees_ucny / 1e6:,.2f} CNY grid fees); "
            f"{self.retail_import_wh / 1000:,.1f} kWh bought from and "
            f"{self.feed_in_wh / 1000:,.1f} kWh fed in to the retailer; {self.invoices} invoices"
            + ("" if not self.problems else f"; PROBLEMS: {'; '.join(self.problems)}")
        )


def _problem(result: dict[str, Any]) -> str | None:
    """``code: message`` for a transaction that was refused or failed; None if committed."""
    status = result.get("status")
    if status == "committed":
        return None
    if status == "rejected":
        error = result.get("error") or {}
        return f"{error.get('code')}: {error.get('message')}"
    if status == "failed":
        return f"{result.get('error')}: {result.get('log')}"
    return f"{status}: not committed in time"


class DayRunner:
    def __init__(
        self,
        client: Client,
        day: Day,
        *,
        operator: PrivateKey,
        market_admin: PrivateKey,
        progress_path: Path | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.client = client
        self.day = day
        self.operator = operator
        self.market_admin = market_admin
        self.progress_path = progress_path
        self.progress = Progress.load(progress_path)
        self.log = log
        seed = day.seed
        self.accounts = {p.name: derive_key(seed, "account", p.name) for p in day.participants}
        self.meter_keys = {p.name: derive_key(seed, "meter", p.name) for p in day.participants}
        self.head_end_key = derive_key(seed, "head-end", HEAD_END)
        self.retailer = derive_key(seed, "account", "gridco-retail")
        self.dso = derive_key(seed, "account", "gridco-dso")
        self.params = decode_genesis(client.genesis()).params
        self._height = 0
        self._block_time_ms = 0

    # -- time ----------------------------------------------------------------------------------

    def grid_now_s(self) -> int:
        """Grid time now by the wall clock (what the next block's time will roughly give)."""
        return compute_grid_time_ms(self.params, time.time_ns() // 1_000_000) // 1000

    def start_of(self, k: int) -> int:
        return self.day.day_start_s + INTERVAL_S * k

    # -- transactions --------------------------------------------------------------------------

    def _tx(self, contract: str, method: str, args: dict[str, Any], key: PrivateKey) -> Transaction:
        return self.client.build_tx(contract, method, args, [key], height=self._height)

    def _send(self, txs: Sequence[Transaction], what: str) -> list[str]:
        """Submit and wait; return the errors (rejections) as ``what: error: log`` lines."""
        return [f"{what}: {p}" for p in self._submit(txs) if p is not None]

    def _refresh_height(self) -> None:
        status = self.client.status()
        self._height = int(status["height"])
        self._block_time_ms = int(status.get("last_block_time_ms") or 0)

    # -- setup ---------------------------------------------------------------------------------

    def setup(self) -> None:
        """Accounts, market parameters, head-end, meters, funds, participants (once)."""
        if self.progress.setup:
            return
        self._refresh_height()
        day, op, admin = self.day, self.operator, self.market_admin
        steps: list[tuple[str, list[Transaction]]] = []
        accounts = [
            self._tx(
                "identity",
                "add_account",
                {
                    "org": "exchange",
                    "public_key": k.public_key.hex(),
                    "roles": ["submitter"],
                    "name": name,
                },
                admin,
            )
            for name, k in self.accounts.items()
        ]
        accounts += [
            self._tx(
                "identity",
                "add_account",
                {
                    "org": "gridco",
                    "public_key": k.public_key.hex(),
                    "roles": ["submitter"],
                    "name": name,
                },
                op,
            )
            for name, k in (("gridco retail", self.retailer), ("gridco DSO", self.dso))
        ]
        steps.append(("accounts", accounts))
        zones = sorted({p.zone for p in day.participants})
        fees = [
            {"from_zone": a, "to_zone": b, "fee": SAME_ZONE_FEE if a == b else CROSS_ZONE_FEE}
            for a in zones
            for b in zones
        ]
        configure = {
            "price_floor": 100,
            "price_cap": 2000,
            "zones": zones,
            "gate_closure_lead_s": GATE_CLOSURE_LEAD_S,
            "default_grid_fee": SAME_ZONE_FEE,
            "grid_fees": fees,
            "fee_account": self.dso.address,
            "retail_tariff": RETAIL_TARIFF,
            "feed_in_tariff": FEED_IN_TARIFF,
            "retailer_account": self.retailer.address,
        }
        head_end = {
            "head_end": HEAD_END,
            "public_key": self.head_end_key.public_key.hex(),
            "name": "Simulated head-end system",
        }
        meters = [
            self._tx(
                "metering",
                "register_meter",
                {
                    "meter": p.meter,
                    "owner": self.accounts[p.name].address,
                    "public_key": self.meter_keys[p.name].public_key.hex(),
                    "direction": p.direction,
                    "zone": p.zone,
                    "max_power_w": p.max_power_w,
                },
                op,
            )
            for p in day.participants
        ]
        steps.append(
            (
                "market and meters",
                [
                    self._tx("market", "configure", configure, op),
                    self._tx("metering", "register_head_end", head_end, op),
                    *meters,
                ],
            )
        )
        funds = [
            self._tx("token", "issue", {"to": k.address, "amount": PARTICIPANT_FUNDS_UCNY}, op)
            for k in self.accounts.values()
        ]
        funds.append(
            self._tx(
                "token", "issue", {"to": self.retailer.address, "amount": RETAILER_FUNDS_UCNY}, op
            )
        )
        participants = [
            self._tx(
                "market",
                "register_participant",
                {
                    "account": self.accounts[p.name].address,
                    "role": p.role,
                    "zone": p.zone,
                    "meters": [p.meter],
                },
                admin,
            )
            for p in day.participants
        ]
        steps.append(("funds and participants", funds + participants))
        for what, txs in steps:
            problems = [p for p in self._send(txs, what) if "conflict" not in p]
            if problems:
                raise GridledgerError(f"setup failed: {problems[0]}")
        self.progress.setup = True
        self.progress.save(self.progress_path)
        self.log(
            f"set up {len(day.participants)} participants with meters and funds; the day "
            f"starts at grid time {day.day_start_s}"
        )

    # -- the day -------------------------------------------------------------------------------

    def run(self, *, timeout_s: float) -> DayReport:
        """Drive the whole day, then read it back and check it."""
        self.setup()
        deadline = time.monotonic() + timeout_s
        last = self.day.intervals - 1
        while len(self.progress.settled) < self.day.intervals:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the day did not finish in {timeout_s:.0f} s: "
                    f"{len(self.progress.settled)} of {self.day.intervals} intervals settled"
                )
            self._refresh_height()
            known = len(self.progress.orders)
            sent = self._pass(last)
            if sent or len(self.progress.orders) != known:
                self.progress.save(self.progress_path)  # a restart resumes from here
            if not sent:
                time.sleep(0.2)
        return self.check()

    def _pass(self, last: int) -> bool:
        """One pass: settle what was read before, send the readings of intervals that have
        ended, place the orders now due; all in one submission, in that order, so one wait
        covers them. Return whether anything was sent."""
        settle = [
            k for k in range(self.progress.read + 1) if k >= 0 and k not in self.progress.settled
        ]
        now = self.grid_now_s()
        # Readings wait until the last committed block's grid time shows the interval ended:
        # CheckTx judges by that time, so a reading sent earlier could be refused while a later
        # interval's, checked after the next commit, is taken (then the earlier one never is).
        block_now = compute_grid_time_ms(self.params, self._block_time_ms) // 1000
        read = list(range(self.progress.read + 1, last + 1))
        read = [k for k in read if self.start_of(k) + INTERVAL_S <= block_now][:MAX_READ_INTERVALS]
        orders = self._due_orders(now)
        txs: list[tuple[str, int, Transaction]] = [
            (
                "settle",
                k,
                self._tx("market", "settle", {"interval_start": self.start_of(k)}, self.operator),
            )
            for k in settle
        ]
        txs += [("read", read[-1], tx) for tx in self._reading_txs(read)] if read else []
        txs += [("order", o.interval, self._order_tx(o)) for o in orders]
        if not txs:
            return False
        results = self._submit([tx for _, _, tx in txs])
        failed: dict[tuple[str, int], str] = {}
        for (kind, k, _), problem in zip(txs, results, strict=True):
            if problem is not None and "already" not in problem:
                failed.setdefault((kind, k), problem)
        for (kind, k), problem in failed.items():
            self.log(f"{kind} {k}: {problem}")
        self.progress.settled += [k for k in settle if ("settle", k) not in failed]
        if read:
            problem = failed.get(("read", read[-1]))
            if problem is None:
                self.progress.read = read[-1]
            elif "has not ended" not in problem:
                raise GridledgerError(f"readings for intervals {read} refused: {problem}")
        placed = sorted({o.interval for o in orders})
        self.progress.orders += placed
        self.progress.rejected += [
            f"orders for interval {k}: {p}" for (kind, k), p in failed.items() if kind == "order"
        ]
        return True

    def _submit(self, txs: Sequence[Transaction]) -> list[str | None]:
        problems: list[str | None] = []
        for i in range(0, len(txs), BATCH):
            results = self.client.submit_many(txs[i : i + BATCH], wait=True, timeout_s=60)
            problems += [_problem(result) for result in results]
        return problems

    def _order_tx(self, order: DayOrder) -> Transaction:
        args = {
            "interval_start": self.start_of(order.interval),
            "side": order.side,
            "qty_wh": order.qty_wh,
            "price": order.price,
        }
        return self._tx("market", "place_order", args, self.accounts[order.participant])

    def _due_orders(self, now: int) -> list[DayOrder]:
        """Orders of the intervals within the horizon whose gate closure is still far enough
        ahead for a transaction sent now to land; intervals already too late are given up."""
        landing = int(LANDING_S * int(self.params.get("grid_clock_speedup", 1)))
        due: set[int] = set()
        for k in range(self.day.intervals):
            if k in self.progress.orders:
                continue
            gate = self.start_of(k) - GATE_CLOSURE_LEAD_S
            if now + landing >= gate:
                self.progress.orders.append(k)
                self.log(f"interval {k}: gate closure passed before its orders could be sent")
            elif self.start_of(k) - now <= ORDER_HORIZON_S:
                due.add(k)
        return [o for o in self.day.orders if o.interval in due]

    def _reading_txs(self, intervals: Sequence[int]) -> list[Transaction]:
        """The readings of consecutive ``intervals`` (-1: the registers at day start, the
        baseline), interval by interval: the head-end signs the prosumers' batch over its root;
        each consumer's smart meter signs its own readings (both ways the metering contract
        takes). One transaction per way, so their order within a submission never matters."""
        head_end: list[Reading] = []
        own: list[Reading] = []
        for k, p in ((k, p) for k in intervals for p in self.day.participants):
            for channel in ("import", "export") if p.direction == "both" else ("import",):
                register = self.day.registers(p.name, channel)[k + 1]
                reading = make_reading(p.meter, channel, self.start_of(k), register)
                (own if p.role == "consumer" else head_end).append(reading)
        batches = []
        if head_end:
            batches.append(build_head_end_batch(head_end, HEAD_END, self.head_end_key))
        if own:
            keys = {p.meter: self.meter_keys[p.name] for p in self.day.participants}
            batches.append(build_meter_signed_batch(own, keys))
        return [self._tx("metering", "submit_readings", b, self.operator) for b in batches]

    # -- reading the day back ------------------------------------------------------------------

    def check(self) -> DayReport:
        """Read every interval, its settlement and invoices back through the API, and check that
        each settled and that invoices add up to the money that moved."""
        problems: list[str] = []
        settled = with_trades = traded = p2p = fees = retail = feed_in = invoices = 0
        paid: dict[str, int] = {}
        for k in range(self.day.intervals):
            start = self.start_of(k)
            detail = self.client.get(f"/v1/market/intervals/{start}")
            summary = detail.get("settlement")
            if summary is None:
                problems.append(f"interval {k} ({start}) is not settled")
                continue
            settled += 1
            interval = detail.get("interval")
            if interval is not None and interval.get("state") != "settled":
                problems.append(f"interval {k}: state {interval.get('state')}")
            with_trades += 1 if summary["trades"] else 0
            traded += summary["settled_wh"]
            p2p += summary["p2p_ucny"]
            fees += summary["fees_ucny"]
            retail += summary["retail_import_wh"]
            feed_in += summary["feed_in_wh"]
            rows = self.client.get(f"/v1/market/intervals/{start}/invoices")["invoices"]
            invoices += len(rows)
            if len(rows) != len(self.day.participants):
                problems.append(f"interval {k}: {len(rows)} invoices")
            if sum(r["p2p_cost_ucny"] for r in rows) != sum(r["p2p_revenue_ucny"] for r in rows):
                problems.append(f"interval {k}: peer-to-peer payments and receipts differ")
            for r in rows:
                moved = (
                    r["p2p_revenue_ucny"]
                    + r["feed_in_paid_ucny"]
                    - r["p2p_cost_ucny"]
                    - r["grid_fee_ucny"]
                    - r["retail_paid_ucny"]
                )
                paid[r["participant"]] = paid.get(r["participant"], 0) + moved
        for name, key in self.accounts.items():
            balance = self.client.get(f"/v1/token/balances/{key.address}")
            expected = PARTICIPANT_FUNDS_UCNY + paid.get(key.address, 0)
            if balance["balance_ucny"] != expected or balance.get("held_ucny", 0) != 0:
                problems.append(
                    f"{name}: balance {balance['balance_ucny']} µCNY, invoices say {expected}"
                )
        return DayReport(
            intervals=self.day.intervals,
            settled=settled,
            cleared_with_trades=with_trades,
            traded_wh=traded,
            p2p_ucny=p2p,
            fees_ucny=fees,
            retail_import_wh=retail,
            feed_in_wh=feed_in,
            invoices=invoices,
            problems=tuple(problems),
        )


def compute_day_start_s(genesis: dict[str, Any]) -> int:
    """The grid day a chain's demo runs: the UTC date of its genesis (as ``GridClockPlan``)."""
    return int(genesis["genesis_time_ms"]) // 86_400_000 * 86_400
