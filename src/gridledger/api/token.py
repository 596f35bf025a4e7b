"""REST routes of the µCNY settlement token (``gridledger.contracts.token``), read-only.

::

    GET /v1/token/supply                  total issued, µCNY
    GET /v1/token/balances/{address}      an account's spendable balance, µCNY

Money is moved by signed transactions (``token.issue`` / ``token.transfer`` through
``POST /v1/txs``). Escrowed money is not part of a balance: a buyer's open order shows its escrow
on the order (``GET /v1/market/orders/{id}``), a cleared trade on the interval
(``GET /v1/market/intervals/{start}``). The token keeps no index of escrows by owner, so listing
them per address would mean scanning every escrow; this route does not.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from gridledger.api.backend import Backend
from gridledger.api.query import parse_address
from gridledger.contracts import token
from gridledger.ledger.state import State


def add_token_routes(app: FastAPI, backend: Backend) -> None:
    @app.get("/v1/token/supply", summary="Total µCNY issued (Σ balances + Σ escrows)")
    def supply() -> dict[str, Any]:
        with backend.store.snapshot():
            return {
                "supply_ucny": token.get_total_supply(State(backend.store)),
                "height": backend.store.last_height,
            }

    @app.get("/v1/token/balances/{address}", summary="An account's spendable µCNY balance")
    def balance(address: str) -> dict[str, Any]:
        parse_address(address)
        with backend.store.snapshot():
            return {
                "address": address,
                "balance_ucny": token.get_balance(State(backend.store), address),
                "height": backend.store.last_height,
            }
