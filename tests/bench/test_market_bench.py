"""``gridledger bench market`` at a small size, in process: the printed figures have their shape,
both tie rules clear the same quantity at the same price with cleared bids equal to cleared asks,
and the on-ledger clearing (real transactions, real SQLite) agrees with ``compute_clearing``."""

from __future__ import annotations

import re

import pytest

from gridledger.bench import market as bench
from gridledger.contracts.clearing import Clearing, Order
from gridledger.errors import GridledgerError

FIGURE = r"[\d,]+(?:\.\d+)?"


def assert_consistent(clearing: Clearing, bids: tuple[Order, ...], asks: tuple[Order, ...]) -> None:
    bids_wh = bench.compute_cleared_wh(clearing, bids)
    asks_wh = bench.compute_cleared_wh(clearing, asks)
    assert bids_wh == asks_wh == clearing.quantity_wh > 0
    assert sum(qty for _, _, qty in clearing.trades) == clearing.quantity_wh
    for order in (*bids, *asks):
        assert 0 <= clearing.fills[order.order_id] <= order.qty_wh


def test_market_bench_prints_figures_and_clears_consistently(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = bench.run(orders=2_000, repeats=2, traders=10)
    out = capsys.readouterr().out

    for tie_rule in ("time", "pro_rata"):
        line = re.search(rf"^compute_clearing {tie_rule} .*$", out, re.MULTILINE)
        assert line is not None, out
        assert re.search(
            rf"best +{FIGURE} s +median +{FIGURE} s of 2 +{FIGURE} orders/s", line.group()
        )
    assert re.search(rf"apply_due_clearings +best +{FIGURE} s of 2 .* {FIGURE} orders/s", out)
    assert re.search(rf"FinalizeBlock {FIGURE} s \+ Commit to SQLite {FIGURE} s", out)

    assert len(report.bids) == len(report.asks) == 1_000
    time_rule, pro_rata = report.timings
    for timing in report.timings:
        assert len(timing.seconds) == 2 and timing.best_s <= timing.median_s
        assert_consistent(timing.clearing, report.bids, report.asks)
    assert (pro_rata.clearing.quantity_wh, pro_rata.clearing.price) == (
        time_rule.clearing.quantity_wh,
        time_rule.clearing.price,
    )
    assert re.search(rf"bids {time_rule.clearing.quantity_wh:,} Wh = asks", out)

    # The ledger placed the same book in the same order (seq) and cleared it by time priority.
    assert report.ledger is not None
    interval = report.ledger.interval
    assert interval["state"] == "cleared"
    assert interval["quantity_wh"] == time_rule.clearing.quantity_wh
    assert interval["price"] == time_rule.clearing.price
    assert interval["trades"] == len(time_rule.clearing.trades)
    assert interval["fees_ucny"] == bench.GRID_FEE * interval["quantity_wh"]


def test_market_bench_without_ledger_skips_the_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    report = bench.run(orders=200, repeats=1, ledger=False)
    assert report.ledger is None
    assert "apply_due_clearings" not in capsys.readouterr().out


def test_book_is_seeded_inside_its_bands_and_crosses() -> None:
    book = bench.generate_book(4_001, seed=7)
    assert book == bench.generate_book(4_001, seed=7)
    assert book != bench.generate_book(4_001, seed=8)
    assert sum(1 for o in book if o.side == "buy") == 2_000
    assert all(300 <= o.price <= 700 and 100 <= o.qty_wh <= 20_000 for o in book)
    bids, asks = bench.compute_orders(book)
    assert max(o.price for o in bids) > min(o.price for o in asks)
    assert sorted(o.seq for o in (*bids, *asks)) == list(range(1, 4_002))
    assert len({o.order_id for o in (*bids, *asks)}) == 4_001


@pytest.mark.parametrize(
    ("orders", "repeats", "traders"), [(1, 1, 1), (100, 0, 1), (100, 1, 0), (-5, 1, 1)]
)
def test_market_bench_refuses_sizes_it_cannot_run(orders: int, repeats: int, traders: int) -> None:
    with pytest.raises(GridledgerError):
        bench.run(orders=orders, repeats=repeats, traders=traders)
