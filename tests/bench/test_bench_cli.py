"""The ``gridledger bench market`` and ``bench readings`` commands refuse sizes they cannot run
with one readable line and exit code 1, before doing any work."""

from __future__ import annotations

import pytest

from gridledger.bench import load, market
from gridledger.bench import readings as r
from gridledger.cli.main import _parser, main


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["bench", "market", "--orders", "1"], "--orders must be at least 2"),
        (["bench", "market", "--repeats", "0", "--no-ledger"], "--repeats"),
        (["bench", "readings", "--meters", "0"], "at least 1"),
        (["bench", "readings", "--batch-size", "1001"], "--batch-size must be 1 to 1000"),
        (
            ["bench", "readings", "--meters", "10", "--readings", "101", "--batch-size", "10"],
            "11 readings per meter do not fit a batch of 10",
        ),
    ],
)
def test_bench_commands_refuse_bad_sizes(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and reason in captured.err


def test_the_bench_commands_defaults_are_the_bench_modules_defaults() -> None:
    """The CLI spells the defaults out (importing the bench modules would slow every command);
    the README's figures are for these, so they must not drift apart."""
    parse = _parser().parse_args
    net = parse(["bench", "net"])
    assert (net.in_flight, net.window) == (load.IN_FLIGHT, load.WINDOW)
    clearing = parse(["bench", "market"])
    assert (clearing.orders, clearing.repeats) == (market.ORDERS, market.REPEATS)
    rd = parse(["bench", "readings"])
    assert (rd.readings, rd.head_end_readings, rd.batch_size, rd.meters) == (
        r.READINGS,
        r.HEAD_END_READINGS,
        r.BATCH_SIZE,
        r.METERS,
    )
    assert (rd.window, rd.head_end_window, rd.in_flight) == (
        r.WINDOW_READINGS,
        r.HEAD_END_WINDOW_READINGS,
        r.IN_FLIGHT,
    )
