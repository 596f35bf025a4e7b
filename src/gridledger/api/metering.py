"""REST routes of the metering contract (``gridledger.contracts.metering``), read-only.

::

    GET /v1/metering/meters/{meter}                         the meter and its latest readings
    GET /v1/metering/meters/{meter}/intervals?channel=&from=&to=
                                                            derived interval energy and gaps
    GET /v1/metering/meters/{meter}/readings/{start}?channel=
                                                            one reading, its batch, and its
                                                            RFC 9162 inclusion proof
    GET /v1/metering/head-ends/{head_end}                   a head-end (collection) system

Readings are written by ``metering.submit_readings`` transactions through ``POST /v1/txs``
(``gridledger.client.metering`` builds and signs them). A range is at most a week of intervals;
without ``from``/``to`` it is the day up to the meter's latest reading on the channel.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query

from gridledger.api.backend import Backend
from gridledger.api.query import (
    INTERVAL_S,
    MAX_START_S,
    compute_grid_clock,
    parse_channel,
    parse_id,
    parse_interval_start,
    parse_range,
)
from gridledger.contracts import metering
from gridledger.contracts.metering.registry import CHANNELS
from gridledger.contracts.metering.submit import last_key
from gridledger.errors import NotFound
from gridledger.ledger.state import State

StartQuery = Annotated[int | None, Query(ge=0, le=MAX_START_S, description="Unix seconds, UTC")]


def add_metering_routes(app: FastAPI, backend: Backend) -> None:
    store = backend.store

    @app.get("/v1/metering/meters/{meter}", summary="A meter and its latest reading per channel")
    def get_meter(meter: str) -> dict[str, Any]:
        with store.snapshot():
            state = State(store)
            record = _require_meter(state, meter)
            channels = CHANNELS[record["direction"]]
            latest = {c: state.get_json(last_key(meter, c)) for c in channels}
            return {**record, "channels": list(channels), "latest_readings": latest}

    @app.get(
        "/v1/metering/meters/{meter}/intervals",
        summary="A meter's interval energy (Wh) and gaps over a time range (at most a week)",
    )
    def get_intervals(
        meter: str,
        channel: str | None = None,
        from_s: Annotated[StartQuery, Query(alias="from")] = None,
        to_s: Annotated[StartQuery, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        with store.snapshot():
            state = State(store)
            record = _require_meter(state, meter)
            series = parse_channel(channel, CHANNELS[record["direction"]], meter)
            span = parse_range(
                from_s, to_s, default_to_s=_default_end(backend, state, meter, series)
            )
            intervals, gaps = [], []
            for start in span.starts():
                interval = metering.get_interval(state, meter, start, series)
                if interval is not None:
                    intervals.append(interval)
                gap = metering.get_gap(state, meter, start, series)
                if gap is not None:
                    gaps.append(gap)
            return {
                "meter": meter,
                "channel": series,
                "from": span.from_s,
                "to": span.to_s,
                "intervals": intervals,
                "gaps": gaps,
                "billable_wh": sum(int(i["energy_wh"]) for i in intervals if i["billable"]),
            }

    @app.get(
        "/v1/metering/meters/{meter}/readings/{start}",
        summary="One reading with its batch and RFC 9162 inclusion proof under the batch root",
    )
    def get_reading(meter: str, start: str, channel: str | None = None) -> dict[str, Any]:
        interval_start = parse_interval_start(start)
        with store.snapshot():
            state = State(store)
            record = _require_meter(state, meter)
            series = parse_channel(channel, CHANNELS[record["direction"]], meter)
            reading = metering.get_reading(state, meter, interval_start, series)
            if reading is None:
                raise NotFound(f"meter {meter} has no {series} reading for interval {start}")
            proof = metering.compute_reading_proof(state, meter, interval_start, series)
            return {
                "reading": reading,
                "batch": metering.get_batch(state, reading["batch"]),
                "proof": {
                    "leaf": proof.leaf.hex(),
                    "index": proof.index,
                    "size": proof.size,
                    "path": [node.hex() for node in proof.path],
                    "root": proof.root.hex(),
                },
            }

    @app.get("/v1/metering/head-ends/{head_end}", summary="A head-end system and its key")
    def get_head_end(head_end: str) -> dict[str, Any]:
        parse_id(head_end, "head_end")
        found = metering.get_head_end(State(store), head_end)
        if found is None:
            raise NotFound(f"head-end system {head_end} is not registered")
        return found


def _require_meter(state: State, meter: str) -> dict[str, Any]:
    parse_id(meter, "meter")
    record = metering.get_meter(state, meter)
    if record is None:
        raise NotFound(f"meter {meter} is not registered")
    return record


def _default_end(backend: Backend, state: State, meter: str, channel: str) -> int:
    """The interval after the meter's latest reading on ``channel``; without readings, the
    interval the grid clock of the last block is in."""
    last = state.get_json(last_key(meter, channel))
    if last is not None:
        return int(last["interval_start"]) + INTERVAL_S
    now_s = compute_grid_clock(backend.store, backend.genesis.genesis_time_ms).grid_time_ms // 1000
    return max(INTERVAL_S, now_s - now_s % INTERVAL_S)
