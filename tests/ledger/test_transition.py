"""Block application: every bad transaction fails with its own code and leaves no trace."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gridledger.contracts import notary
from gridledger.ledger.transition import (
    OK,
    compute_app_hash,
    compute_changes_hash,
)
from gridledger.ledger.tx import TxBody, encode_transaction, sign_transaction
from tests.chain import (
    CHAIN_ID,
    CUSTOMER,
    GRIDCO_ADMIN,
    MAX_EXPIRY_WINDOW,
    Chain,
    digest_of,
    record_args,
)

BadTx = Callable[[Chain], bytes]


def record(
    chain: Chain, name: str, *, expiry_height: int | None = None, chain_id: str = CHAIN_ID
) -> bytes:
    """A valid notary record by the grid company admin."""
    args = record_args(digest_of(name), [GRIDCO_ADMIN.address])
    tx = chain.tx(
        "notary", "record", args, [GRIDCO_ADMIN], expiry_height=expiry_height, chain_id=chain_id
    )
    return tx.raw


def started_chain() -> Chain:
    chain = Chain()
    assert chain.commit_block(record(chain, "setup")).tx_results[0].code == OK
    return chain


# -- bad transactions --------------------------------------------------------------------------


def wrong_chain(chain: Chain) -> bytes:
    return record(chain, "bad", chain_id="gridledger-other")


def expired(chain: Chain) -> bytes:
    return record(chain, "bad", expiry_height=chain.height)  # the next block is height + 1


def expiry_too_far_ahead(chain: Chain) -> bytes:
    return record(chain, "bad", expiry_height=chain.height + 1 + MAX_EXPIRY_WINDOW + 1)


def signature_over_another_body(chain: Chain) -> bytes:
    tx = chain.tx(
        "notary", "record", record_args(digest_of("bad"), [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN]
    )
    other = TxBody(
        chain_id=tx.body.chain_id,
        expiry_height=tx.body.expiry_height,
        nonce=tx.body.nonce + "x",
        contract=tx.body.contract,
        method=tx.body.method,
        args=tx.body.args,
    )
    return encode_transaction(tx.body, sign_transaction(other, [GRIDCO_ADMIN]).signatures).raw


def party_did_not_sign(chain: Chain) -> bytes:
    args = record_args(digest_of("bad"), [GRIDCO_ADMIN.address, CUSTOMER.address])
    return chain.tx("notary", "record", args, [GRIDCO_ADMIN]).raw


def unknown_contract(chain: Chain) -> bytes:
    return chain.tx("lottery", "draw", {}, [GRIDCO_ADMIN]).raw


def unknown_method(chain: Chain) -> bytes:
    return chain.tx("notary", "erase", {"digest": digest_of("setup")}, [GRIDCO_ADMIN]).raw


def unregistered_sender(chain: Chain) -> bytes:
    args = record_args(digest_of("bad"), [CUSTOMER.address])
    return chain.tx("notary", "record", args, [CUSTOMER]).raw


def bad_arguments(chain: Chain) -> bytes:
    args = record_args(digest_of("bad"), [GRIDCO_ADMIN.address], colour="red")
    return chain.tx("notary", "record", args, [GRIDCO_ADMIN]).raw


def not_json(chain: Chain) -> bytes:
    return b"\x00\x01 not json at all"


def float_in_body(chain: Chain) -> bytes:
    raw = record(chain, "bad")
    expiry = f'"expiry_height":{chain.height + 50}'.encode()
    assert expiry in raw
    return raw.replace(expiry, expiry + b".0")


def duplicate_key(chain: Chain) -> bytes:
    raw = record(chain, "bad")
    return raw.replace(b'"nonce":', b'"nonce":"dup","nonce":', 1)


def replay_of_committed(chain: Chain) -> bytes:
    # started_chain committed exactly this transaction (same body, same nonce) in block 1.
    fresh = Chain()
    return record(fresh, "setup")


BAD_TXS = [
    pytest.param(wrong_chain, 4, "wrong_chain", id="wrong-chain"),
    pytest.param(expired, 5, "expired", id="expired"),
    pytest.param(expiry_too_far_ahead, 5, "expired", id="expiry-too-far-ahead"),
    pytest.param(signature_over_another_body, 3, "invalid_signature", id="bad-signature"),
    pytest.param(party_did_not_sign, 9, "unauthorized", id="party-did-not-sign"),
    pytest.param(unknown_contract, 8, "unknown_operation", id="unknown-contract"),
    pytest.param(unknown_method, 8, "unknown_operation", id="unknown-method"),
    pytest.param(unregistered_sender, 9, "unauthorized", id="unregistered-sender"),
    pytest.param(bad_arguments, 2, "invalid_transaction", id="bad-arguments"),
    pytest.param(not_json, 1, "decode_error", id="not-json"),
    pytest.param(float_in_body, 1, "decode_error", id="float"),
    pytest.param(duplicate_key, 1, "decode_error", id="duplicate-key"),
    pytest.param(replay_of_committed, 6, "replayed", id="replay-in-later-block"),
]


@pytest.mark.parametrize(("make_bad", "code", "error"), BAD_TXS)
def test_bad_transaction_alone_fails_and_changes_nothing(
    make_bad: BadTx, code: int, error: str
) -> None:
    chain = started_chain()
    before, prev_app_hash = chain.dump(), chain.app_hash
    raw = make_bad(chain)

    result = chain.commit_block(raw)

    (tx_result,) = result.tx_results
    assert (tx_result.code, tx_result.error) == (code, error)
    assert tx_result.log
    assert tx_result.events == ()
    assert result.changes == {}
    assert result.app_hash == prev_app_hash
    assert chain.dump() == before


@pytest.mark.parametrize(("make_bad", "code", "error"), BAD_TXS)
def test_bad_transaction_between_good_ones_leaves_no_trace_in_the_block(
    make_bad: BadTx, code: int, error: str
) -> None:
    with_bad, without_bad = started_chain(), started_chain()
    good_1, bad, good_2 = record(with_bad, "good-1"), make_bad(with_bad), record(with_bad, "good-2")

    result = with_bad.commit_block(good_1, bad, good_2)
    reference = without_bad.commit_block(good_1, good_2)

    assert [(r.code, r.error) for r in result.tx_results] == [(OK, ""), (code, error), (OK, "")]
    assert result.changes == reference.changes
    assert result.app_hash == reference.app_hash
    assert with_bad.dump() == without_bad.dump()


def test_undecodable_bytes_have_no_tx_id() -> None:
    chain = started_chain()

    result = chain.commit_block(not_json(chain))

    assert result.tx_results[0].tx_id is None


def test_expiry_exactly_at_the_window_edge_is_accepted() -> None:
    chain = started_chain()
    height = chain.height + 1

    result = chain.commit_block(
        record(chain, "last-ok", expiry_height=height + MAX_EXPIRY_WINDOW),
        record(chain, "this-height", expiry_height=height),
    )

    assert [r.code for r in result.tx_results] == [OK, OK]


# -- replay ------------------------------------------------------------------------------------


def test_same_transaction_twice_in_one_block_runs_once() -> None:
    chain, reference = started_chain(), started_chain()
    raw = record(chain, "twice")

    result = chain.commit_block(raw, raw)
    once = reference.commit_block(raw)

    assert [(r.code, r.error) for r in result.tx_results] == [(OK, ""), (6, "replayed")]
    assert result.tx_results[1].tx_id == result.tx_results[0].tx_id
    assert result.changes == once.changes
    assert result.app_hash == once.app_hash


def test_co_signed_copy_of_a_committed_transaction_is_a_replay() -> None:
    chain = started_chain()
    tx = chain.tx(
        "notary",
        "record",
        record_args(digest_of("cosigned"), [GRIDCO_ADMIN.address]),
        [GRIDCO_ADMIN],
    )
    chain.commit_block(tx.raw)
    longer = sign_transaction(tx.body, [GRIDCO_ADMIN, CUSTOMER])
    assert longer.tx_id == tx.tx_id and longer.raw != tx.raw

    result = chain.commit_block(longer.raw)

    assert result.tx_results[0].error == "replayed"
    assert result.changes == {}


def replay_keys(chain: Chain) -> list[str]:
    return [key for key, _ in chain.state.iter_prefix("replay/")]


def test_replay_keys_are_pruned_after_expiry_and_the_replay_then_is_expired() -> None:
    chain = started_chain()
    setup_keys = replay_keys(chain)
    expiry = chain.height + 3
    raw = record(chain, "short-lived", expiry_height=expiry)
    tx_id = chain.commit_block(raw).tx_results[0].tx_id
    assert tx_id is not None
    own_keys = [f"replay/{expiry:012d}/{tx_id.hex()}"]
    assert replay_keys(chain) == sorted(setup_keys + own_keys)

    while chain.height < expiry:  # up to and including the expiry height it is a replay
        assert chain.commit_block(raw).tx_results[0].error == "replayed"
        assert set(own_keys) <= set(replay_keys(chain))

    result = chain.commit_block(raw)  # height expiry + 1

    assert result.tx_results[0].error == "expired"
    assert replay_keys(chain) == setup_keys
    assert result.changes == dict.fromkeys(own_keys)


def test_pruning_changes_the_app_hash_of_an_otherwise_empty_block() -> None:
    chain = started_chain()
    chain.commit_block(record(chain, "short-lived", expiry_height=chain.height + 1))
    prev = chain.app_hash

    result = chain.commit_block()  # expiry + 1: the replay keys go

    assert result.changes and all(v is None for v in result.changes.values())
    assert result.app_hash != prev


# -- app hash ----------------------------------------------------------------------------------


def test_empty_block_keeps_the_previous_app_hash() -> None:
    chain = started_chain()
    prev = chain.app_hash

    result = chain.commit_block()

    assert result.tx_results == ()
    assert result.changes == {}
    assert result.app_hash == prev


def test_block_of_only_failed_transactions_keeps_the_previous_app_hash() -> None:
    chain = started_chain()
    prev = chain.app_hash

    result = chain.commit_block(not_json(chain), unknown_contract(chain))

    assert result.app_hash == prev


def test_app_hash_changes_when_state_changes() -> None:
    chain = started_chain()
    prev = chain.app_hash

    result = chain.commit_block(record(chain, "new"))

    assert result.app_hash != prev
    assert result.app_hash == compute_app_hash(
        prev, compute_changes_hash(result.changes), result.log_size, result.log_root
    )


def test_app_hash_of_the_same_blocks_is_the_same() -> None:
    one, two = started_chain(), started_chain()
    raw = record(one, "same")

    assert one.commit_block(raw).app_hash == two.commit_block(raw).app_hash


def test_app_hash_depends_on_the_previous_app_hash() -> None:
    one, two = started_chain(), Chain()
    two.commit_block(record(two, "different-setup"))
    raw = record(one, "same")

    assert one.commit_block(raw).app_hash != two.commit_block(raw).app_hash


def test_changes_hash_tells_a_deleted_key_from_an_empty_value() -> None:
    assert compute_changes_hash({"k": None}) != compute_changes_hash({"k": b""})
    assert compute_changes_hash({"ab": b"c"}) != compute_changes_hash({"a": b"bc"})


def test_results_keep_block_order_and_events_only_for_successes() -> None:
    chain = started_chain()
    digest = digest_of("evented")

    result = chain.commit_block(
        unknown_contract(chain),
        chain.tx(
            "notary", "record", record_args(digest, [GRIDCO_ADMIN.address]), [GRIDCO_ADMIN]
        ).raw,
    )

    assert [r.code for r in result.tx_results] == [8, OK]
    (event,) = result.tx_results[1].events
    assert event.type == "notary.recorded"
    assert event.attributes["digest"] == digest
    assert notary.get_record(chain.state, digest) is not None
    assert result.log_size == 2  # "setup" and "evented"
    assert chain.state.log().size == 2
