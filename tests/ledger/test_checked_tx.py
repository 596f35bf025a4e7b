"""FinalizeBlock reusing what CheckTx learned (decoded transaction, verified signatures, parsed
message) reaches exactly the result of doing it all again, for good and bad transactions."""

from __future__ import annotations

import contextlib
import hashlib

from gridledger.contracts import notary
from gridledger.errors import GridledgerError
from gridledger.ledger.context import BlockEnv
from gridledger.ledger.state import State
from gridledger.ledger.transition import (
    OK,
    CheckedTx,
    apply_block,
    check_transaction_rules,
)
from gridledger.ledger.tx import decode_transaction
from tests.chain import (
    BLOCK_INTERVAL_MS,
    CHAIN_ID,
    CUSTOMER,
    GENESIS_TIME_MS,
    GRIDCO_ADMIN,
    Chain,
    digest_of,
    record_args,
)


def mixed_block(chain: Chain) -> list[bytes]:
    """Passing records, a duplicate digest, a record whose party did not sign, garbage bytes."""
    good = [
        chain.tx(
            "notary",
            "record",
            record_args(digest_of(f"doc {i}"), [GRIDCO_ADMIN.address]),
            [GRIDCO_ADMIN],
        )
        for i in range(3)
    ]
    duplicate = chain.tx(
        "notary", "record", record_args(digest_of("doc 0"), [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN]
    )
    unsigned_party = chain.tx(
        "notary",
        "record",
        record_args(digest_of("doc x"), [GRIDCO_ADMIN.address, CUSTOMER.address]),
        [GRIDCO_ADMIN],
    )
    return [*(t.raw for t in good), duplicate.raw, unsigned_party.raw, b"not a transaction"]


def checked_by_check_tx(chain: Chain, env: BlockEnv, raws: list[bytes]) -> dict[bytes, CheckedTx]:
    """What CheckTx would cache: every decodable tx, with its message where the rules passed."""
    state = State(chain.backend)
    cache: dict[bytes, CheckedTx] = {}
    for raw in raws:
        try:
            checked = CheckedTx(tx=decode_transaction(raw))
        except GridledgerError:  # garbage bytes: CheckTx caches nothing
            continue
        with contextlib.suppress(GridledgerError):  # refused: cached without a message
            checked = check_transaction_rules(state, env, checked)
        cache[hashlib.sha256(raw).digest()] = checked
    return cache


def next_env(chain: Chain) -> BlockEnv:
    height = chain.height + 1
    return BlockEnv(
        chain_id=CHAIN_ID, height=height, time_ms=GENESIS_TIME_MS + height * BLOCK_INTERVAL_MS
    )


def test_check_transaction_rules_returns_the_parsed_message() -> None:
    chain = Chain()
    tx = chain.tx(
        "notary", "record", record_args(digest_of("a"), [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN]
    )

    checked = check_transaction_rules(State(chain.backend), next_env(chain), CheckedTx(tx=tx))

    assert checked.parsed
    assert checked.tx is tx
    assert checked.message == notary.parse_record(tx.body.args)


def test_an_already_parsed_entry_keeps_its_message() -> None:
    chain = Chain()
    tx = chain.tx(
        "notary", "record", record_args(digest_of("a"), [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN]
    )
    parsed = CheckedTx(tx=tx, message=notary.parse_record(tx.body.args), parsed=True)

    checked = check_transaction_rules(State(chain.backend), next_env(chain), parsed)

    assert checked.parsed
    assert checked.tx is tx
    assert checked.message is parsed.message


def test_finalize_with_check_tx_results_equals_finalize_without() -> None:
    reuse, fresh = Chain(), Chain()
    raws = mixed_block(reuse)
    env = next_env(reuse)
    cache = checked_by_check_tx(reuse, env, raws)
    # The good records and the duplicate pass CheckTx (which applies nothing); the record whose
    # party did not sign is refused there, and the garbage never decodes.
    assert sum(c.parsed for c in cache.values()) == 4

    with_cache = apply_block(State(reuse.backend), env, raws, reuse.app_hash, preverified=cache)
    without = apply_block(State(fresh.backend), env, raws, fresh.app_hash)

    assert with_cache == without
    assert [r.code for r in with_cache.tx_results][:3] == [OK, OK, OK]
    assert [r.error for r in with_cache.tx_results][3:] == [
        "conflict",
        "unauthorized",
        "decode_error",
    ]
