"""Block application: the state transition function of gridledger.

``apply_block(state, env, txs, prev_app_hash)`` runs each transaction inside its own state
transaction — on any error the transaction is rolled back and leaves no trace but its failed
result — and returns the results and the new app hash. It reads nothing but its arguments:
no clock, no randomness, no environment.

The app hash chains every block's changes::

    changes_hash = SHA-256 over the block's writes in key order (key, deleted?, value)
    app_hash     = SHA-256("gridledger/app/v1" || prev_app_hash || changes_hash
                           || log_size (8 bytes, big-endian) || log_root)

so it commits to the whole state (as the result of every change since genesis) and to the
evidence log's root. A block that changes nothing keeps the previous app hash.

A block's ``validator_updates`` (from governance) are the net change of each validator's power
over the block's successful transactions, one per key, sorted by key: CometBFT refuses a key listed
twice in one block, and the removal of a key it never had.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridledger.contracts import CONTRACTS, identity, market
from gridledger.errors import (
    Conflict,
    DecodeError,
    Expired,
    GridledgerError,
    InvalidProof,
    InvalidSignature,
    InvalidTransaction,
    NotFound,
    Oversized,
    Replayed,
    RuleViolation,
    StoreError,
    Unauthorized,
    UnknownOperation,
    WrongChain,
)
from gridledger.ledger.context import (
    BlockEnv,
    Event,
    Method,
    TxContext,
    ValidatorChange,
    ValidatorUpdate,
)
from gridledger.ledger.genesis import PARAMS_KEY, Genesis, apply_genesis
from gridledger.ledger.state import Changes, State
from gridledger.ledger.tx import Transaction, decode_transaction, verify_transaction_signatures

log = logging.getLogger(__name__)

APP_DOMAIN = b"gridledger/app/v1"
OK = 0
IN_MEMPOOL = b"mempool"  # CheckTx's replay mark (committed transactions store their height)
INTERNAL_ERROR = 99
# Stable result codes, most specific class first (they go into ABCI results and API bodies).
ERROR_CODES: tuple[tuple[type[GridledgerError], int], ...] = (
    (DecodeError, 1),
    (InvalidSignature, 3),
    (WrongChain, 4),
    (Expired, 5),
    (Replayed, 6),
    (Oversized, 7),
    (UnknownOperation, 8),
    (InvalidTransaction, 2),
    (Unauthorized, 9),
    (Conflict, 11),
    (RuleViolation, 10),
    (NotFound, 12),
    (InvalidProof, 13),
    (StoreError, 14),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TxResult:
    tx_id: bytes | None  # None when the bytes could not even be decoded
    code: int
    log: str
    events: tuple[Event, ...]
    error: str = ""  # the error's machine name ("replayed", "unauthorized"...); "" when code is 0


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockResult:
    tx_results: tuple[TxResult, ...]
    changes: Changes
    changes_hash: bytes
    log_size: int
    log_root: bytes
    app_hash: bytes
    validator_updates: tuple[ValidatorUpdate, ...] = ()
    end_block_events: tuple[Event, ...] = ()  # from the market's end-of-block clearing


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedTx:
    """What CheckTx learned about one transaction's bytes, for FinalizeBlock to reuse: the
    decoded transaction, whose signatures it verified, and, once the transaction passed CheckTx's
    rules (``parsed``), its method's parsed message and what the method's ``check`` memoized
    (handed to FinalizeBlock's ``check`` as ``TxContext.check_tx_memo``, to reuse where it can
    show the entry still holds).

    Decoding, verifying and parsing are pure functions of the bytes (``parse`` reads only the
    arguments, and messages are frozen), so reusing them changes nothing but the time taken; a
    transaction CheckTx never saw goes through every step in FinalizeBlock, to the same result.
    """

    tx: Transaction
    message: Any = None
    parsed: bool = False
    check_memo: Mapping[str, Any] = field(default_factory=dict)  # ``check``'s memo in CheckTx


def compute_error_code(error: GridledgerError) -> int:
    for cls, code in ERROR_CODES:
        if isinstance(error, cls):
            return code
    return INTERNAL_ERROR


def compute_changes_hash(changes: Changes) -> bytes:
    h = hashlib.sha256()
    for key in sorted(changes):
        value = changes[key]
        encoded_key = key.encode("utf-8")
        h.update(len(encoded_key).to_bytes(4, "big") + encoded_key)
        if value is None:
            h.update(b"\x00")
        else:
            h.update(b"\x01" + len(value).to_bytes(4, "big") + value)
    return h.digest()


def compute_app_hash(
    prev_app_hash: bytes, changes_hash: bytes, log_size: int, log_root: bytes
) -> bytes:
    return hashlib.sha256(
        APP_DOMAIN + prev_app_hash + changes_hash + log_size.to_bytes(8, "big") + log_root
    ).digest()


def apply_genesis_block(state: State, genesis: Genesis) -> BlockResult:
    """InitChain: write genesis into an empty state; the chain's first app hash."""
    apply_genesis(state, genesis)
    return _finish(state, genesis.genesis_hash, ())


def check_transaction(
    state: State, env: BlockEnv, tx: Transaction, *, signatures_verified: bool = False
) -> Method:
    """Every check a transaction must pass before it runs; raises the first failure."""
    if tx.body.chain_id != env.chain_id:
        raise WrongChain(f"transaction is for chain {tx.body.chain_id!r}, this is {env.chain_id!r}")
    if tx.body.expiry_height < env.height:
        raise Expired(f"transaction expired at height {tx.body.expiry_height}; now at {env.height}")
    window = _max_expiry_window(state)
    if tx.body.expiry_height > env.height + window:
        raise Expired(
            f"expiry_height {tx.body.expiry_height} is more than {window} blocks after {env.height}"
        )
    if not signatures_verified:
        verify_transaction_signatures(tx)
    seen = state.get(_replay_key(tx))
    if seen is not None:
        if seen == IN_MEMPOOL:
            raise Replayed(f"transaction {tx.tx_id.hex()} is already waiting in the mempool")
        raise Replayed(f"transaction {tx.tx_id.hex()} was already committed at height {int(seen)}")
    method = CONTRACTS.get(tx.body.contract, {}).get(tx.body.method)
    if method is None:
        if tx.body.contract not in CONTRACTS:
            raise UnknownOperation(
                f"unknown contract {tx.body.contract!r}; known: {', '.join(sorted(CONTRACTS))}"
            )
        known = ", ".join(sorted(CONTRACTS[tx.body.contract]))
        raise UnknownOperation(
            f"contract {tx.body.contract!r} has no method {tx.body.method!r}; known: {known}"
        )
    identity.verify_sender_registered(state, tx.sender)
    return method


def check_transaction_rules(state: State, env: BlockEnv, checked: CheckedTx) -> CheckedTx:
    """CheckTx: every rule short of running the contract's ``apply`` (signatures already
    verified by the caller). The tx id is remembered in ``state`` so that a second copy waiting
    in the mempool is refused as a replay. Returns ``checked`` with the parsed message."""
    tx = checked.tx
    method = check_transaction(state, env, tx, signatures_verified=True)
    msg = checked.message if checked.parsed else method.parse(tx.body.args)
    ctx = TxContext(state=state, env=env, tx=tx)
    method.check(ctx, msg)
    state.put(_replay_key(tx), IN_MEMPOOL)
    return CheckedTx(tx=tx, message=msg, parsed=True, check_memo=ctx.memo)


def apply_transaction(
    state: State, env: BlockEnv, tx: Transaction, *, signatures_verified: bool = False
) -> tuple[Event, ...]:
    return tuple(_run_transaction(state, env, CheckedTx(tx=tx), signatures_verified).events)


def _run_transaction(
    state: State, env: BlockEnv, checked: CheckedTx, signatures_verified: bool
) -> TxContext:
    tx = checked.tx
    method = check_transaction(state, env, tx, signatures_verified=signatures_verified)
    msg = checked.message if checked.parsed else method.parse(tx.body.args)
    ctx = TxContext(state=state, env=env, tx=tx, check_tx_memo=checked.check_memo)
    method.check(ctx, msg)
    method.apply(ctx, msg)
    state.put(_replay_key(tx), str(env.height).encode("ascii"))
    return ctx


def apply_block(
    state: State,
    env: BlockEnv,
    raw_txs: Sequence[bytes],
    prev_app_hash: bytes,
    *,
    preverified: Mapping[bytes, CheckedTx] | None = None,
) -> BlockResult:
    """FinalizeBlock.

    ``preverified`` maps SHA-256(raw) to what CheckTx learned from those exact bytes (see
    CheckedTx); a transaction without an entry is decoded, verified and parsed here.
    """
    known = preverified or {}
    _prune_expired_replay_keys(state, env.height)
    results = []
    validator_changes: list[ValidatorChange] = []
    for raw in raw_txs:
        state.begin_tx()
        try:
            cached = known.get(hashlib.sha256(raw).digest())
            checked = cached if cached is not None else CheckedTx(tx=decode_transaction(raw))
            tx = checked.tx
            ctx = _run_transaction(state, env, checked, cached is not None)
        except GridledgerError as exc:
            state.rollback_tx()
            tx_id = _tx_id_or_none(raw)
            results.append(
                TxResult(
                    tx_id=tx_id,
                    code=compute_error_code(exc),
                    log=exc.message,
                    events=(),
                    error=exc.code,
                )
            )
            continue
        except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
            # A bug in a contract, deterministic on every node: fail the one transaction loudly
            # rather than halt the chain.
            state.rollback_tx()
            log.exception("internal error while applying a transaction")
            results.append(
                TxResult(
                    tx_id=_tx_id_or_none(raw),
                    code=INTERNAL_ERROR,
                    log=f"internal error: {type(exc).__name__}",
                    events=(),
                    error="internal",
                )
            )
            continue
        state.commit_tx()
        validator_changes.extend(ctx.validator_changes)
        results.append(TxResult(tx_id=tx.tx_id, code=OK, log="", events=tuple(ctx.events)))
    updates = compute_validator_updates(validator_changes)
    # -- end of block: market clearing (contracts/market.py) ---------------------------------
    # After every transaction, clear each market interval whose gate closure is at or before
    # this block's time. Its writes join the block's change set, so they are in the app hash.
    end_block_events = market.apply_due_clearings(state, env)
    # -- end of the market clearing hook -------------------------------------------------------
    return _finish(state, prev_app_hash, tuple(results), updates, end_block_events)


def compute_validator_updates(changes: Iterable[ValidatorChange]) -> tuple[ValidatorUpdate, ...]:
    """The net effect of a block's validator changes: for each key its last power, unless that
    equals its power before the block (a key added and removed again is left out), by key."""
    before: dict[bytes, int] = {}
    after: dict[bytes, int] = {}
    for change in changes:
        before.setdefault(change.public_key, change.previous_power)
        after[change.public_key] = change.power
    return tuple(
        ValidatorUpdate(public_key=key, power=after[key])
        for key in sorted(after)
        if after[key] != before[key]
    )


def _finish(
    state: State,
    prev_app_hash: bytes,
    results: tuple[TxResult, ...],
    validator_updates: tuple[ValidatorUpdate, ...] = (),
    end_block_events: tuple[Event, ...] = (),
) -> BlockResult:
    changes = state.changes()
    merkle_log = state.log()
    log_root = merkle_log.root()
    changes_hash = compute_changes_hash(changes)
    app_hash = (
        compute_app_hash(prev_app_hash, changes_hash, merkle_log.size, log_root)
        if changes
        else prev_app_hash
    )
    return BlockResult(
        tx_results=results,
        changes=changes,
        changes_hash=changes_hash,
        log_size=merkle_log.size,
        log_root=log_root,
        app_hash=app_hash,
        validator_updates=validator_updates,
        end_block_events=end_block_events,
    )


def _replay_key(tx: Transaction) -> str:
    """Where a transaction's id is remembered, under its expiry height: a copy of the same
    transaction has the same body, so the same expiry, and pruning reads one height's keys."""
    return f"replay/{tx.body.expiry_height:012d}/{tx.tx_id.hex()}"


def _prune_expired_replay_keys(state: State, height: int) -> None:
    """Forget transactions whose expiry passed: they can no longer be replayed anyway."""
    for key, _ in list(state.iter_prefix(f"replay/{height - 1:012d}/")):
        state.delete(key)


def _max_expiry_window(state: State) -> int:
    params = state.get_json(PARAMS_KEY) or {}
    return int(params.get("max_expiry_window", 10_000))


def _tx_id_or_none(raw: bytes) -> bytes | None:
    try:
        return decode_transaction(raw).tx_id
    except GridledgerError:
        return None
