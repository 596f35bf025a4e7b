"""The evidence-log entry of a transaction: the template every block uses writes the canonical
encoder's bytes, and what the template cannot write goes to the encoder, which accepts or
refuses it as before."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger import codec
from gridledger.errors import DecodeError
from gridledger.ledger.context import BlockEnv, encode_log_entry, encode_log_entry_generic
from tests.chain import GRIDCO_ADMIN, Chain, digest_of, record_args

TX = Chain().tx(
    "notary", "record", record_args(digest_of("log entry"), [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN]
)

texts = st.one_of(
    st.text("abcXYZ019._:/-", min_size=1, max_size=40),  # the template's
    st.text(min_size=0, max_size=12),  # anything: quotes, escapes, non-ASCII, empty
)
numbers = st.one_of(st.integers(0, codec.INT_MAX), st.integers(-(2**70), 2**70))


@settings(max_examples=500, deadline=None)
@given(texts, numbers, texts, numbers)
def test_the_log_entry_is_the_canonical_encoding(
    chain_id: str, height: int, kind: str, time_ms: int
) -> None:
    env = BlockEnv(chain_id=chain_id, height=height, time_ms=time_ms)
    try:
        expected = encode_log_entry_generic(env, kind, TX)
    except DecodeError:
        with pytest.raises(DecodeError):
            encode_log_entry(env, kind, TX)
        return
    entry = encode_log_entry(env, kind, TX)
    assert entry == expected
    assert codec.decode(entry) == {
        "chain_id": chain_id,
        "height": height,
        "kind": kind,
        "time_ms": time_ms,
        "tx": codec.decode(TX.raw),
        "tx_id": TX.tx_id.hex(),
        "v": 1,
    }
