"""The grid clock: the time the market and metering contracts judge by.

On a production chain it is the block time (consensus time, never a local clock). A demo or test
chain may run it faster: with genesis params ``grid_clock_speedup`` = s and
``grid_clock_origin_ms`` = o, the grid time of a block is ``o + (block_time - genesis_time) * s``.
A whole market day (96 intervals of 900 s) then passes in 86,400 / s seconds of consensus time,
while readings, orders and invoices keep their true 15-minute timestamps. The result is a pure
function of the committed chain parameters and the block's consensus time, so every node agrees.

Notary records keep the block time: a speed-up never touches evidence timestamps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gridledger.ledger.context import BlockEnv
from gridledger.ledger.genesis import PARAMS_KEY
from gridledger.ledger.state import State


def compute_grid_time_ms(params: Mapping[str, Any], time_ms: int) -> int:
    """Grid time for a block time, under the chain parameters ``params``."""
    speedup = params.get("grid_clock_speedup")
    if speedup is None:
        return time_ms
    origin, anchor = int(params["grid_clock_origin_ms"]), int(params["grid_clock_anchor_ms"])
    return origin + (time_ms - anchor) * int(speedup)


def read_grid_time_ms(state: State, env: BlockEnv) -> int:
    """Grid time of the block ``env`` on the chain whose state is ``state``."""
    params = state.get_json(PARAMS_KEY) or {}
    return compute_grid_time_ms(params, env.time_ms)
