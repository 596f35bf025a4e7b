"""The ``gridledger bench market`` and ``bench readings`` commands refuse sizes they cannot run
with one readable line and exit code 1, before doing any work."""

from __future__ import annotations

import pytest

from gridledger.cli.main import main


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
