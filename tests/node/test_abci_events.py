"""Events go to CometBFT as ABCI events: attributes as JSON values, only digests indexed, and
the market's end-of-block clearing events on FinalizeBlock itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gridledger.ledger.context import Event
from gridledger.node.abci_app import Application
from gridledger.node.abci_server import AbciServer, _events, abci
from gridledger.store.sqlite import SqliteStore
from tests.chain import GENESIS_TIME_MS, digest_of, genesis_document
from tests.node.test_app import record_tx


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


@pytest.mark.parametrize(
    "value",
    [0, -7, 2**63 - 1, True, False, None, 'é"q', [], [1, "a"], {"b": 1, "a": [True]}],
    ids=repr,
)
def test_attribute_values_are_written_as_json_dumps_writes_them(value: Any) -> None:
    (event,) = _events([Event(type="t", attributes={"v": value})])

    assert event.attributes[0].value == json.dumps(value, sort_keys=True)


def test_finalize_block_results_carry_events_or_the_error(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "ledger.sqlite")
    app = Application(store)
    app.init_chain(genesis_document())
    server = AbciServer(app)
    request = abci.RequestFinalizeBlock(height=1, txs=[record_tx("doc").raw, b"garbage"])
    request.time.seconds = GENESIS_TIME_MS // 1000 + 1

    response = server.finalize_block(request)
    store.close()

    good, bad = response.tx_results
    assert (good.code, good.log, good.codespace) == (0, "", "")
    (event,) = good.events
    assert event.type == "notary.recorded"
    attributes = {a.key: (a.value, a.index) for a in event.attributes}
    assert attributes["digest"] == (json.dumps(digest_of("doc")), True)
    assert attributes["count"] == ("1", False)
    assert (bad.code, bad.codespace, list(bad.events)) == (1, "gridledger", [])
    assert "transaction" in bad.log
    assert len(response.app_hash) == 32
