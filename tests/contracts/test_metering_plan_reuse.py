"""FinalizeBlock reuses the reading plan CheckTx computed only while it still holds.

A plan holds when every key its checks read has the same bytes and the block's grid time has
reached the end of the batch's latest interval. Blocks are applied twice, with CheckTx's cache
and without: the results must be equal, including where an earlier transaction in the block
changed what a later one's plan read (the series' latest reading, a duplicate interval).
"""

from __future__ import annotations

import contextlib
import hashlib

import pytest

from gridledger.contracts import metering
from gridledger.contracts.metering.reading import INTERVAL_S
from gridledger.contracts.metering.submit import _PLAN, Plan, check_submit_readings
from gridledger.errors import GridledgerError, RuleViolation, StoreError
from gridledger.ledger.context import BlockEnv, TxContext
from gridledger.ledger.state import MemoryBackend, State
from gridledger.ledger.transition import OK, CheckedTx, apply_block, check_transaction_rules
from gridledger.ledger.tx import Transaction, decode_transaction
from tests.chain import BLOCK_INTERVAL_MS, CHAIN_ID, GENESIS_TIME_MS, GRIDCO_ADMIN, Chain
from tests.contracts.metering_support import (
    DAY,
    batch_args,
    hhmm,
    metered_chain,
    reading,
)


def batch_tx(chain: Chain, starts: list[int], first_register: int) -> Transaction:
    readings = [
        reading("m1", start, first_register + 100 * i, key=None) for i, start in enumerate(starts)
    ]
    return chain.tx(
        "metering", "submit_readings", batch_args(readings, head_end="he1"), [GRIDCO_ADMIN]
    )


def next_env(chain: Chain, time_ms: int | None = None) -> BlockEnv:
    height = chain.height + 1
    at = GENESIS_TIME_MS + height * BLOCK_INTERVAL_MS if time_ms is None else time_ms
    return BlockEnv(chain_id=CHAIN_ID, height=height, time_ms=at)


def check_tx_cache(chain: Chain, env: BlockEnv, raws: list[bytes]) -> dict[bytes, CheckedTx]:
    """What CheckTx caches: each transaction checked against the committed state."""
    state = State(chain.backend)
    cache = {}
    for raw in raws:
        checked = CheckedTx(tx=decode_transaction(raw))
        with contextlib.suppress(GridledgerError):
            checked = check_transaction_rules(state, env, checked)
        cache[hashlib.sha256(raw).digest()] = checked
    return cache


def quarter_hours(first: str, count: int) -> list[int]:
    return [hhmm(first) + i * INTERVAL_S for i in range(count)]


def test_a_block_applied_with_check_tx_plans_equals_one_applied_without() -> None:
    reuse, fresh = metered_chain(), metered_chain()
    first = batch_tx(reuse, quarter_hours("00:00", 4), 1_000)
    # continues the series: its CheckTx plan saw no latest reading, so it derived no energy
    # for 01:00; in the block, ``first`` came before it, so the plan must be made again
    follow = batch_tx(reuse, quarter_hours("01:00", 2), 1_400)
    # the last interval of ``follow`` under another root: passes CheckTx, a duplicate in the block
    duplicate = batch_tx(reuse, quarter_hours("01:15", 1), 1_555)
    raws = [first.raw, follow.raw, duplicate.raw]
    env = next_env(reuse)
    cache = check_tx_cache(reuse, env, raws)
    assert all(_PLAN in c.check_memo for c in cache.values())

    with_plans = apply_block(State(reuse.backend), env, raws, reuse.app_hash, preverified=cache)
    without = apply_block(State(fresh.backend), env, raws, fresh.app_hash)

    assert with_plans == without
    assert [r.code for r in with_plans.tx_results][:2] == [OK, OK]
    assert with_plans.tx_results[2].error == "conflict"
    reuse.backend.apply_changes(with_plans.changes)
    energy = metering.get_interval_energy(reuse.state, "m1", hhmm("01:00"))
    assert energy == 100  # derived from ``first``'s last register, which CheckTx had not seen


def _context(chain: Chain, tx: Transaction, env: BlockEnv, cached: CheckedTx) -> TxContext:
    return TxContext(state=State(chain.backend), env=env, tx=tx, check_tx_memo=cached.check_memo)


def test_the_check_tx_plan_is_reused_while_its_reads_are_unchanged() -> None:
    chain = metered_chain()
    tx = batch_tx(chain, quarter_hours("00:00", 4), 1_000)
    env = next_env(chain)
    (cached,) = check_tx_cache(chain, env, [tx.raw]).values()
    plan = cached.check_memo[_PLAN]
    assert isinstance(plan, Plan)
    assert plan.ends_by_s == hhmm("00:45") + INTERVAL_S
    assert metering.submit.last_key("m1", "import") in plan.reads

    ctx = _context(chain, tx, env, cached)
    check_submit_readings(ctx, cached.message)
    assert ctx.memo[_PLAN] is plan

    # a key the plan read has changed: the plan is made again
    ctx = _context(chain, tx, env, cached)
    last = {"error_flags": "", "interval_start": DAY - INTERVAL_S, "page": None, "register_wh": 900}
    ctx.state.put_json(metering.submit.last_key("m1", "import"), last)
    check_submit_readings(ctx, cached.message)
    assert ctx.memo[_PLAN] is not plan


def test_a_plan_is_not_reused_before_the_grid_time_reaches_its_last_interval() -> None:
    chain = metered_chain()
    tx = batch_tx(chain, quarter_hours("00:00", 4), 1_000)
    (cached,) = check_tx_cache(chain, next_env(chain), [tx.raw]).values()
    early = next_env(chain, time_ms=(hhmm("00:45") + INTERVAL_S - 1) * 1000)

    with pytest.raises(RuleViolation, match="has not ended"):
        check_submit_readings(_context(chain, tx, early, cached), cached.message)


def test_state_records_the_bytes_each_key_had_when_first_read() -> None:
    state = State(MemoryBackend())
    state.put("a", b"1")
    with state.recording_reads() as reads:
        assert state.get("a") == b"1"
        assert state.get_json("missing") is None
        state.put("a", b"2")
        state.get("a")
    state.get("b")  # after the block: not recorded
    assert reads == {"a": b"1", "missing": None}
    assert not state.reads_unchanged(reads)
    state.put("a", b"1")
    assert state.reads_unchanged(reads)
    with state.recording_reads(), pytest.raises(StoreError, match="iter_prefix"):
        list(state.iter_prefix("a"))
