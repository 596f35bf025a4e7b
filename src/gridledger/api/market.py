"""REST routes of the local energy market (``gridledger.contracts.market``), read-only.

::

    GET /v1/market/clock                          the grid clock and the next interval open
    GET /v1/market/params                         market parameters (404 until configured)
    GET /v1/market/participants?after=&limit=     participants by address, a page at a time
    GET /v1/market/participants/{address}         one participant
    GET /v1/market/intervals?from=&to=            interval records and settlement summaries
    GET /v1/market/intervals/{start}?offset=&limit=
                                                  an interval, its settlement, a page of its
                                                  orders and trades (at most 1,000 of each)
    GET /v1/market/intervals/{start}/invoices     every participant's invoice for the interval
    GET /v1/market/orders/{order_id}              one order (its id is its transaction's id)
    GET /v1/market/invoices/{address}?from=&limit=  a participant's invoices, oldest first

Orders, cancellations, settlement and participant registration are signed transactions through
``POST /v1/txs`` (``gridledger.client`` builds them). Interval starts are Unix seconds aligned to
900; a range is at most a week and defaults to the grid day of the last block.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import FastAPI, Query

from gridledger.api.backend import Backend
from gridledger.api.query import (
    DAY_INTERVALS,
    INTERVAL_S,
    MAX_START_S,
    compute_grid_clock,
    parse_address,
    parse_hex32,
    parse_interval_start,
    parse_range,
)
from gridledger.contracts import market
from gridledger.contracts.market.params import BOOK_PREFIX, trade_key
from gridledger.errors import NotFound
from gridledger.ledger.state import State

MAX_PAGE = 1000
MAX_OFFSET = 10**9
DAY_S = DAY_INTERVALS * INTERVAL_S
StartQuery = Annotated[int | None, Query(ge=0, le=MAX_START_S, description="Unix seconds, UTC")]


def add_market_routes(app: FastAPI, backend: Backend) -> None:
    _add_market_setup_routes(app, backend)
    _add_interval_routes(app, backend)
    _add_order_routes(app, backend)


def _add_market_setup_routes(app: FastAPI, backend: Backend) -> None:
    store = backend.store

    @app.get(
        "/v1/market/clock",
        summary="Grid time of the last block, by the node's clock, and the next open interval",
    )
    def clock() -> dict[str, Any]:
        with store.snapshot():
            grid = compute_grid_clock(store, backend.genesis.genesis_time_ms)
            params = market.get_params(State(store))
        now_ms = grid.estimate_grid_time_ms(time.time_ns() // 1_000_000)
        lead_s = int(params["gate_closure_lead_s"]) if params is not None else None
        next_open = None
        if lead_s is not None:  # the first start whose gate closure is still ahead
            next_open = (now_ms // 1000 + lead_s) // INTERVAL_S * INTERVAL_S + INTERVAL_S
        return {
            **grid.to_json(),
            "estimated_grid_time_ms": now_ms,
            "gate_closure_lead_s": lead_s,
            "next_open_interval": next_open,
        }

    @app.get("/v1/market/params", summary="Market parameters: gate closure, prices, fees, tariffs")
    def params() -> dict[str, Any]:
        found = market.get_params(State(store))
        if found is None:
            raise NotFound("the market is not configured yet (market.configure)")
        return found

    @app.get("/v1/market/participants", summary="Market participants by address, a page at a time")
    def participants(
        after: Annotated[
            str | None, Query(description="the last address of the page before")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> dict[str, Any]:
        if after is not None:
            parse_address(after, "after")
        found = [
            p
            for p in market.list_participants(State(store))
            if after is None or p["account"] > after
        ]
        return {"participants": found[:limit], "more": len(found) > limit}

    @app.get("/v1/market/participants/{address}", summary="One market participant")
    def participant(address: str) -> dict[str, Any]:
        parse_address(address)
        found = market.get_participant(State(store), address)
        if found is None:
            raise NotFound(f"{address} is not a market participant")
        return found


def _add_interval_routes(app: FastAPI, backend: Backend) -> None:
    store = backend.store

    @app.get(
        "/v1/market/intervals",
        summary="Interval records and settlement summaries over a time range (at most a week)",
    )
    def intervals(
        from_s: Annotated[StartQuery, Query(alias="from")] = None,
        to_s: Annotated[StartQuery, Query(alias="to")] = None,
    ) -> dict[str, Any]:
        with store.snapshot():
            state = State(store)
            now_s = compute_grid_clock(store, backend.genesis.genesis_time_ms).grid_time_ms // 1000
            span = parse_range(from_s, to_s, default_to_s=now_s - now_s % DAY_S + DAY_S)
            found = []
            for start in span.starts():
                interval = market.get_interval(state, start)
                settlement = market.get_settlement(state, start)
                if interval is not None or settlement is not None:
                    found.append(_interval_summary(start, interval, settlement))
            return {"from": span.from_s, "to": span.to_s, "intervals": found}

    @app.get(
        "/v1/market/intervals/{start}",
        summary="One interval: its state, settlement, and a page of its orders and trades",
    )
    def interval(
        start: str,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="orders/trades to skip")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = MAX_PAGE,
    ) -> dict[str, Any]:
        start_s = parse_interval_start(start)
        with store.snapshot():
            state = State(store)
            record = market.get_interval(state, start_s)
            settlement = market.get_settlement(state, start_s)
            params = market.get_params(state)
            gate_close_s = (
                start_s - int(params["gate_closure_lead_s"]) if params is not None else None
            )
            orders, more_orders = _page_orders(state, start_s, offset, limit)
            trades, more_trades = _page_trades(state, start_s, offset, limit)
            return {
                **_interval_summary(start_s, record, settlement),
                "gate_close_s": record["gate_close_s"] if record is not None else gate_close_s,
                "orders": orders,
                "more_orders": more_orders,
                "trades": trades,
                "more_trades": more_trades,
            }

    @app.get(
        "/v1/market/intervals/{start}/invoices",
        summary="Every participant's invoice for one settled interval",
    )
    def interval_invoices(start: str) -> dict[str, Any]:
        start_s = parse_interval_start(start)
        with store.snapshot():
            state = State(store)
            return {
                "interval_start": start_s,
                "settled": market.get_settlement(state, start_s) is not None,
                "invoices": market.get_interval_invoices(state, start_s),
            }


def _add_order_routes(app: FastAPI, backend: Backend) -> None:
    store = backend.store

    @app.get("/v1/market/orders/{order_id}", summary="One order, by its transaction id")
    def order(order_id: str) -> dict[str, Any]:
        parse_hex32(order_id, "order id")
        found = market.get_order(State(store), order_id)
        if found is None:
            raise NotFound(f"no order {order_id}")
        return found

    @app.get(
        "/v1/market/invoices/{address}",
        summary="A participant's invoices from an interval on, oldest first",
    )
    def invoices(
        address: str,
        from_s: Annotated[int, Query(alias="from", ge=0, le=MAX_START_S)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DAY_INTERVALS,
    ) -> dict[str, Any]:
        parse_address(address)
        with store.snapshot():
            state = State(store)
            if market.get_participant(state, address) is None:
                raise NotFound(f"{address} is not a market participant")
            found = market.get_participant_invoices(state, address, from_s=from_s, limit=limit + 1)
            return {"address": address, "invoices": found[:limit], "more": len(found) > limit}


def _page_orders(
    state: State, start_s: int, offset: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """The interval's live orders (cancelled ones leave the book) in placement order, from
    ``offset``, at most ``limit``; and whether more follow. Reads only the page's orders."""
    book = [raw.decode("ascii") for _, raw in state.iter_prefix(f"{BOOK_PREFIX}{start_s:012d}/")]
    page = [market.get_order(state, order_id) for order_id in book[offset : offset + limit]]
    return [order for order in page if order is not None], len(book) > offset + limit


def _page_trades(
    state: State, start_s: int, offset: int, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Trades ``offset`` to ``offset + limit - 1`` (numbered from 0 without holes)."""
    trades = []
    for n in range(offset, offset + limit + 1):
        trade = state.get_json(trade_key(start_s, n))
        if trade is None:
            break
        trades.append(trade)
    return trades[:limit], len(trades) > limit


def _interval_summary(
    start_s: int, record: dict[str, Any] | None, settlement: dict[str, Any] | None
) -> dict[str, Any]:
    """One interval as the range and the detail routes show it: its state (``no_orders`` when
    nobody bid), the clearing record and the settlement summary."""
    state = record["state"] if record is not None else "no_orders"
    if settlement is not None:
        state = "settled"
    return {
        "interval_start": start_s,
        "state": state,
        "interval": record,
        "settlement": settlement,
    }
