"""The load generator's report: refusal reasons are grouped and printed under the figures."""

from __future__ import annotations

from gridledger.bench.load import LoadResult, _refusal_reason


def test_refusal_reasons_group_transactions_refused_for_the_same_reason() -> None:
    a = {
        "result": {
            "code": 7,
            "log": "reading 3 (m-0001 import 1763900100): meter m-0001 is not registered",
        }
    }
    b = {
        "result": {
            "code": 7,
            "log": "reading 9 (m-0042 import 1763901000): meter m-0042 is not registered",
        }
    }
    assert _refusal_reason(a) == _refusal_reason(b)
    assert "is not registered" in _refusal_reason(a)
    assert _refusal_reason({"error": {"code": -32603, "message": "mempool is full"}}) != ""
    assert _refusal_reason({"result": {"code": 3}}) == "no reason given"


def test_refusals_are_printed_after_the_figures() -> None:
    result = LoadResult(
        sent=10,
        committed=8,
        refused=2,
        seconds=1.0,
        p50_s=0.1,
        p99_s=0.2,
        blocks=1,
        send_s=0.5,
        refusals=(("meter m-# is not registered", 2),),
    )
    lines = result.line("gridledger").splitlines()
    assert "8 of 10 committed" in lines[0]
    assert lines[1] == "  refused 2 x: meter m-# is not registered"
    clean = LoadResult(
        sent=1, committed=1, refused=0, seconds=1.0, p50_s=0.1, p99_s=0.1, blocks=1, send_s=0.1
    )
    assert "\n" not in clean.line("kvstore")
