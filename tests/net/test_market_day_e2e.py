"""A whole simulated market day through the four-validator network (issue 5): 44 participants
admitted, metered and funded; about 4,000 orders; 96 intervals cleared in the block past their
gate closure; readings for every interval (head-end and meter signed); every interval settled;
the invoices read back through the API add up to the money that moved.

The chain runs a grid clock 900 times faster than consensus time, so the day takes 96 s."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridledger.client import Client
from gridledger.keys import read_key_file
from gridledger.net.init import GridClockPlan
from gridledger.sim import generate_day
from gridledger.sim.runner import DayRunner, compute_day_start_s
from tests.net.netproc import running_network

pytestmark = pytest.mark.e2e

SPEEDUP = 900  # one 15-minute interval per second
DAY_AFTER_S = 45  # the grid day starts 45 s after genesis: time to start and set up


def test_a_simulated_day_clears_settles_and_adds_up(tmp_path: Path) -> None:
    plan = GridClockPlan(speedup=SPEEDUP, day_after_s=DAY_AFTER_S)
    with running_network(tmp_path / "net", "gridledger-market-day", plan) as net:
        gridco, exchange = net.node("gridco"), net.node("exchange")
        with Client(gridco.api_url) as client:
            day = generate_day(2026, day_start_s=compute_day_start_s(client.genesis()))
            lines: list[str] = []
            runner = DayRunner(
                client,
                day,
                operator=read_key_file(gridco.key_file("admin")),
                market_admin=read_key_file(exchange.key_file("admin")),
                progress_path=tmp_path / "progress.json",
                log=lines.append,
            )
            report = runner.run(timeout_s=400)

    print(report.format())
    assert report.problems == ()
    assert runner.progress.rejected == []
    assert report.settled == report.intervals == 96
    assert report.invoices == 96 * len(day.participants)
    assert report.cleared_with_trades >= 40  # the sunny hours trade
    assert 0 < report.traded_wh < sum(o.qty_wh for o in day.orders if o.side == "sell")
    assert report.retail_import_wh > 0 and report.feed_in_wh > 0
    assert not any("gate closure passed" in line for line in lines)
    # the journal a restarted demo resumes from holds the whole day
    saved = json.loads((tmp_path / "progress.json").read_text(encoding="utf-8"))
    assert (sorted(saved["settled"]), saved["read"]) == (list(range(96)), 95)
    assert set(saved["orders"]) >= {o.interval for o in day.orders}
