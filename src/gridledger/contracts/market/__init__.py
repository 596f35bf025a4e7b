"""The local energy market: a periodic, closed-book double auction per 15-minute interval with
one uniform price, settled against signed meter data (domain report section 1; rules and vectors
1-A to 1-H).

- ``params``: ``configure`` (an admin of the ``operator`` organization): gate closure lead, price
  floor and cap, zones, grid fees per zone pair and the fee account, price and tie rules, retail
  and feed-in tariffs and the retailer account, the settlement deadline.
- ``participants``: ``register_participant`` / ``retire_participant`` (an operator or trading
  center admin): who may trade, in which zone, settled against which meters.
- ``orders``: ``place_order`` and ``cancel_order`` until gate closure, judged by the grid clock
  (``gridledger.ledger.gridclock``); a buyer's worst case is escrowed in the ``token`` contract.
- ``clearing_hook``: ``apply_due_clearings``, called by ``apply_block`` after the block's
  transactions, clears every interval whose gate has closed with ``compute_clearing`` (in
  ``gridledger.contracts.clearing``) and moves each trade's money into its own escrow.
- ``settle`` and ``settlement``: ``settle`` pays for delivered energy by min-of-two with pro-rata
  allocation, bills residual import and export at the tariffs, and writes an invoice per
  participant per interval.

Units: Wh, CNY/MWh, µCNY (``Wh * CNY/MWh = µCNY`` exactly). Time: interval starts in Unix
seconds, grid time in milliseconds. See docs/contracts/market.md.
"""

from __future__ import annotations

from gridledger.contracts.clearing import (
    PRICE_RULES,
    TIE_RULES,
    Clearing,
    Order,
    Trade,
    compute_clearing,
)
from gridledger.contracts.market import orders, params, participants, settle
from gridledger.contracts.market.clearing_hook import apply_due_clearings
from gridledger.contracts.market.orders import get_interval, get_interval_orders, get_order
from gridledger.contracts.market.params import (
    apply_configure,
    check_configure,
    compute_escrow_ucny,
    get_params,
    list_participants,
    parse_configure,
)
from gridledger.contracts.market.participants import get_participant
from gridledger.contracts.market.settle import (
    get_interval_invoices,
    get_invoice,
    get_participant_invoices,
    get_settlement,
    get_trades,
)
from gridledger.ledger.context import Method

__all__ = [
    "METHODS",
    "params",
    "PRICE_RULES",
    "TIE_RULES",
    "Clearing",
    "Order",
    "Trade",
    "apply_due_clearings",
    "compute_clearing",
    "compute_escrow_ucny",
    "get_interval",
    "get_interval_invoices",
    "get_interval_orders",
    "get_invoice",
    "get_order",
    "get_params",
    "get_participant",
    "get_participant_invoices",
    "get_settlement",
    "get_trades",
    "list_participants",
]

METHODS = {
    "configure": Method(parse=parse_configure, check=check_configure, apply=apply_configure),
    "register_participant": Method(
        parse=participants.parse_register_participant,
        check=participants.check_register_participant,
        apply=participants.apply_register_participant,
    ),
    "retire_participant": Method(
        parse=participants.parse_retire_participant,
        check=participants.check_retire_participant,
        apply=participants.apply_retire_participant,
    ),
    "place_order": Method(
        parse=orders.parse_place_order,
        check=orders.check_place_order,
        apply=orders.apply_place_order,
    ),
    "cancel_order": Method(
        parse=orders.parse_cancel_order,
        check=orders.check_cancel_order,
        apply=orders.apply_cancel_order,
    ),
    "settle": Method(
        parse=settle.parse_settle, check=settle.check_settle, apply=settle.apply_settle
    ),
}
