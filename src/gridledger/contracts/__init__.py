"""The built-in contracts, by name. A literal registry: no plugin loading."""

from __future__ import annotations

from collections.abc import Mapping

from gridledger.contracts import governance, identity, metering, notary
from gridledger.ledger.context import Method

CONTRACTS: Mapping[str, Mapping[str, Method]] = {
    "governance": governance.METHODS,
    "identity": identity.METHODS,
    "metering": metering.METHODS,
    "notary": notary.METHODS,
}
