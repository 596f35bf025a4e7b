"""Events go to CometBFT as ABCI events: attributes as JSON values, only digests indexed, and
the market's end-of-block clearing events on FinalizeBlock itself."""

from __future__ import annotations

from gridledger.ledger.context import Event
from gridledger.node.abci_server import _events


def test_events_become_abci_events_with_json_values_and_only_digests_indexed() -> None:
    (event,) = _events(
        [
            Event(
                type="market.interval_cleared",
                attributes={"quantity_wh": 9500, "price": 540, "digest": "ab" * 32},
            )
        ]
    )
    assert event.type == "market.interval_cleared"
    attributes = {a.key: (a.value, a.index) for a in event.attributes}
    assert attributes == {
        "digest": ('"' + "ab" * 32 + '"', True),
        "price": ("540", False),
        "quantity_wh": ("9500", False),
    }
    assert [a.key for a in event.attributes] == sorted(attributes)  # deterministic order
