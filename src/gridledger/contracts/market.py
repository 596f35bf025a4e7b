"""The local energy market contract (domain report section 1).

For now this holds only interval clearing, which lives in ``gridledger.contracts.clearing`` so
that the market's transaction methods can grow here without touching the auction arithmetic.
The rules are described in docs/contracts/market.md.
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

__all__ = ["PRICE_RULES", "TIE_RULES", "Clearing", "Order", "Trade", "compute_clearing"]
