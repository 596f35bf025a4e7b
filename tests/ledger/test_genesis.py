"""Genesis documents: a good one decodes; each malformed one is refused with its reason."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from gridledger.errors import DecodeError
from gridledger.ledger.genesis import decode_genesis
from tests.chain import genesis_document


def test_the_test_genesis_decodes() -> None:
    genesis = decode_genesis(genesis_document())
    assert [o["id"] for o in genesis.organizations] == ["gridco", "notary", "judicial", "exchange"]
    assert genesis.params["max_expiry_window"] > 0


Edit = Callable[[dict[str, Any]], None]


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda g: g.__setitem__("chain_id", "bad chain/id"), "chain_id must be"),
        (lambda g: g.__setitem__("chain_id", ""), "chain_id must be"),
        (lambda g: g.pop("accounts"), "missing accounts"),
        (lambda g: g.__setitem__("params", []), "params must be an object"),
        (lambda g: g.__setitem__("params", {"max_expiry_window": "10"}), "positive integer"),
        (lambda g: g.__setitem__("params", {"max_expiry_window": 0}), "positive integer"),
        (lambda g: g.__setitem__("params", {"block_reward": 5}), "unknown genesis param"),
        (lambda g: g["organizations"][0].__setitem__("id", "grid/co"), "organization id"),
        (lambda g: g["organizations"][0].__setitem__("id", "x" * 65), "organization id"),
        (lambda g: g["organizations"][1].__setitem__("roles", ["pope"]), "unknown role"),
        (lambda g: g["organizations"].append(dict(g["organizations"][0])), "organization twice"),
        (lambda g: g["accounts"][0].__setitem__("org", "nobody"), "unknown organization"),
        (lambda g: g["accounts"][0].__setitem__("public_key", "zz"), "hex public_key"),
        (lambda g: g["accounts"][0].__setitem__("address", "gl" + "0" * 40), "does not match"),
        (lambda g: g.__setitem__("genesis_time_ms", 1.5), "integer"),
    ],
)
def test_malformed_genesis_is_refused_with_its_reason(edit: Edit, reason: str) -> None:
    doc = copy.deepcopy(genesis_document())
    edit(doc)
    with pytest.raises(DecodeError, match=reason):
        decode_genesis(doc)
