"""The built-in contracts, by name. A literal registry: no plugin loading."""

from __future__ import annotations

from collections.abc import Mapping

from gridledger.contracts import governance, identity, market, metering, notary, token
from gridledger.ledger.context import Method

CONTRACTS: Mapping[str, Mapping[str, Method]] = {
    "governance": governance.METHODS,
    "identity": identity.METHODS,
    "market": market.METHODS,
    "metering": metering.METHODS,
    "notary": notary.METHODS,
    "token": token.METHODS,
}
