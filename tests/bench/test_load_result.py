"""The load generator's report (refusal reasons grouped and printed under the figures) and its
readers of CometBFT's answers."""

from __future__ import annotations

import asyncio
import json

import pytest

from gridledger.bench.load import (
    LoadResult,
    _block_txs,
    _header_height,
    _refusal_reason,
    _watched,
)
from gridledger.errors import NodeError


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


def test_header_events_give_their_height_and_anything_else_none() -> None:
    event = {
        "result": {
            "data": {
                "type": "tendermint/event/NewBlockHeader",
                "value": {"header": {"height": "42", "chain_id": "c"}},
            }
        }
    }
    assert _header_height(json.dumps(event)) == 42
    assert _header_height(json.dumps({"jsonrpc": "2.0", "id": 0, "result": {}})) is None
    assert _header_height(b"not json") is None
    assert _header_height(json.dumps({"result": {"data": {"value": {"header": {}}}}})) is None


@pytest.mark.parametrize(
    ("body", "txs"),
    [
        ({"result": {"block": {"data": {"txs": ["dHg="]}}}}, ["dHg="]),
        ({"result": {"block": {"data": {"txs": None}}}}, []),  # an empty block
        ({"error": {"code": -32603, "message": "height 9 must be less than or equal to 8"}}, None),
    ],
)
def test_block_answers_give_their_transactions(body: object, txs: list[str] | None) -> None:
    assert _block_txs(json.dumps(body)) == txs


def test_a_failing_block_follower_stops_the_senders_with_its_error() -> None:
    async def follower_that_fails() -> None:
        await asyncio.sleep(0.01)
        raise NodeError("/block?height=7 gave no block")

    async def senders_waiting_for_room() -> None:
        await asyncio.Event().wait()  # never set: the window stays full

    async def main() -> None:
        follower = asyncio.create_task(follower_that_fails())
        await asyncio.wait_for(_watched(senders_waiting_for_room(), follower), 5)

    with pytest.raises(NodeError, match="following the chain's blocks failed: /block"):
        asyncio.run(main())


def test_watched_work_gives_its_result_when_the_follower_is_well() -> None:
    async def main() -> int:
        follower = asyncio.create_task(asyncio.sleep(5))
        try:
            return await _watched(asyncio.sleep(0, result=7), follower)
        finally:
            follower.cancel()

    assert asyncio.run(main()) == 7
