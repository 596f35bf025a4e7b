"""The gridledger application in the shape of ABCI 2.0.

One method per ABCI request (Info, InitChain, CheckTx, PrepareProposal, ProcessProposal,
FinalizeBlock, Commit) over the ledger core and the store, with plain Python arguments. The solo
driver calls it directly; the CometBFT socket server translates protobuf requests into the same
calls. Everything here is serialized by one lock, like CometBFT's reference server.

State kept between calls, as the ABCI contract asks:

- *check state*: committed state plus the effects of transactions accepted by CheckTx since the
  last commit (so a duplicate in the mempool is refused early); reset on every Commit;
- *pending block*: FinalizeBlock's result, persisted only by Commit;
- *verified transactions*: by SHA-256 of their raw bytes, the transactions CheckTx decoded and
  whose signatures it verified, with their parsed messages once they passed, so FinalizeBlock
  (and rechecks) do none of that again.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from gridledger import codec
from gridledger.errors import GridledgerError, NodeError, StoreError
from gridledger.ledger.context import BlockEnv
from gridledger.ledger.genesis import Genesis, decode_genesis
from gridledger.ledger.state import State
from gridledger.ledger.transition import (
    INTERNAL_ERROR,
    OK,
    BlockResult,
    CheckedTx,
    apply_block,
    apply_genesis_block,
    check_transaction_rules,
    compute_error_code,
)
from gridledger.ledger.tx import decode_transaction, verify_transaction_signatures
from gridledger.store.sqlite import BlockRow, SqliteStore, TxRow

log = logging.getLogger(__name__)

SIGNATURE_CACHE_SIZE = 200_000


@dataclass(frozen=True, slots=True, kw_only=True)
class AppInfo:
    chain_id: str
    last_height: int
    last_app_hash: bytes
    last_time_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    code: int
    tx_id: bytes | None
    log: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.code == OK


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingBlock:
    env: BlockEnv
    raw_txs: tuple[bytes, ...]
    result: BlockResult
    prev_app_hash: bytes


class Application:
    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self._lock = threading.RLock()  # consensus calls: InitChain, FinalizeBlock, Commit
        self._check_lock = threading.Lock()  # CheckTx, which may run beside FinalizeBlock
        self._verified: OrderedDict[bytes, CheckedTx] = OrderedDict()
        self._pending: PendingBlock | None = None
        self._genesis: Genesis | None = None
        raw_genesis = store.get_meta("genesis")
        if raw_genesis is not None:
            self._genesis = decode_genesis(codec.decode(raw_genesis))
        self._read_cache: dict[str, bytes | None] = {}
        self._check_state = State(store, self._read_cache)
        self._last_time_ms = self._read_last_time()
        self._last_height = store.last_height

    # -- Info / InitChain ----------------------------------------------------------------------

    @property
    def genesis(self) -> Genesis:
        if self._genesis is None:
            raise NodeError("the chain has not been initialized (no genesis yet)")
        return self._genesis

    def info(self) -> AppInfo:
        with self._lock:
            return AppInfo(
                chain_id=self._genesis.chain_id if self._genesis else "",
                last_height=self._last_height,
                last_app_hash=self.store.last_app_hash,
                last_time_ms=self._last_time_ms,
            )

    def init_chain(self, genesis_doc: dict[str, object]) -> bytes:
        """Write genesis. Idempotent: a second call with the same document changes nothing."""
        with self._lock:
            genesis = decode_genesis(genesis_doc)
            existing = self.store.get_meta("genesis")
            if existing is not None:
                if existing != codec.encode(genesis_doc):
                    raise StoreError("this store was initialized with a different genesis")
                return self.store.last_app_hash
            state = State(self.store)
            result = apply_genesis_block(state, genesis)
            self.store.commit_genesis(result.changes, result.app_hash, codec.encode(genesis_doc))
            self._genesis = genesis
            self._last_time_ms = genesis.genesis_time_ms
            self._last_height = 0
            self._reset_check_state()
            return result.app_hash

    # -- CheckTx -------------------------------------------------------------------------------

    def check_tx(self, raw: bytes, *, recheck: bool = False) -> CheckResult:
        """Mempool admission: every rule FinalizeBlock applies, short of running the contract,
        against the check state. A CheckTx racing a Commit may judge by the previous block;
        that is harmless, because FinalizeBlock checks everything again."""
        tx_id = None
        try:
            raw_hash = hashlib.sha256(raw).digest()
            checked = self._verified.get(raw_hash)
            if checked is None:
                # Pure work outside the lock: both Ed25519 verifiers release the GIL, so concurrent
                # callers verify signatures on several cores.
                tx = decode_transaction(raw)
                tx_id = tx.tx_id
                verify_transaction_signatures(tx)
                checked = CheckedTx(tx=tx)
                self._remember_verified(raw_hash, checked)
            tx_id = checked.tx.tx_id
            with self._check_lock:
                # now with its parsed message and what its check memoized
                self._verified[raw_hash] = check_transaction_rules(
                    self._check_state, self._next_env(), checked
                )
        except GridledgerError as exc:
            return CheckResult(
                code=compute_error_code(exc), tx_id=tx_id, log=exc.message, error=exc.code
            )
        except (ArithmeticError, LookupError, TypeError, ValueError, AttributeError) as exc:
            log.exception("internal error in CheckTx")  # a bug; refuse the tx, keep serving
            return CheckResult(
                code=INTERNAL_ERROR,
                tx_id=tx_id,
                log=f"internal error: {type(exc).__name__}",
                error="internal",
            )
        return CheckResult(code=OK, tx_id=tx_id)

    def _remember_verified(self, raw_hash: bytes, checked: CheckedTx) -> None:
        with self._check_lock:
            self._verified[raw_hash] = checked
            while len(self._verified) > SIGNATURE_CACHE_SIZE:
                self._verified.popitem(last=False)

    # -- PrepareProposal / ProcessProposal -----------------------------------------------------

    def prepare_proposal(self, raw_txs: Sequence[bytes], max_tx_bytes: int) -> list[bytes]:
        """Keep mempool order, stop before the block's byte limit."""
        chosen, total = [], 0
        for raw in raw_txs:
            if total + len(raw) > max_tx_bytes:
                break
            chosen.append(raw)
            total += len(raw)
        return chosen

    def process_proposal(self, raw_txs: Sequence[bytes]) -> bool:
        """ACCEPT: every transaction is re-validated in FinalizeBlock, bad ones fail there."""
        return True

    # -- FinalizeBlock / Commit ----------------------------------------------------------------

    def finalize_block(self, *, height: int, time_ms: int, raw_txs: Sequence[bytes]) -> BlockResult:
        with self._lock:
            expected = self._last_height + 1
            if height != expected:
                raise NodeError(
                    f"FinalizeBlock for height {height}, but the next height is {expected}"
                )
            env = BlockEnv(chain_id=self.genesis.chain_id, height=height, time_ms=time_ms)
            prev = self.store.last_app_hash
            state = State(self.store, self._read_cache)
            result = apply_block(state, env, raw_txs, prev, preverified=self._verified)
            self._pending = PendingBlock(
                env=env, raw_txs=tuple(raw_txs), result=result, prev_app_hash=prev
            )
            return result

    def commit(self, *, block_hash: bytes, header: bytes, signature: bytes) -> None:
        """Persist the finalized block atomically (state, block, results, height, app hash)."""
        with self._lock:
            pending = self._pending
            if pending is None:
                raise NodeError("Commit without a finalized block")
            result, env = pending.result, pending.env
            block = BlockRow(
                height=env.height,
                hash=block_hash,
                header=header,
                signature=signature,
                app_hash=result.app_hash,
                prev_app_hash=pending.prev_app_hash,
                changes_hash=result.changes_hash,
                time_ms=env.time_ms,
                num_txs=len(pending.raw_txs),
            )
            rows = [
                TxRow(
                    height=env.height,
                    idx=i,
                    tx_id=r.tx_id,
                    raw=raw,
                    code=r.code,
                    error=r.error,
                    log=r.log,
                    events=codec.encode([e.to_json() for e in r.events]),
                )
                for i, (raw, r) in enumerate(zip(pending.raw_txs, result.tx_results, strict=True))
            ]
            self.store.commit_block(result.changes, block=block, txs=rows)
            for raw in pending.raw_txs:
                self._verified.pop(hashlib.sha256(raw).digest(), None)
            self._pending = None
            self._last_time_ms = env.time_ms
            self._last_height = env.height
            self._reset_check_state()

    def _reset_check_state(self) -> None:
        """After a commit: committed state changed, so forget cached reads and CheckTx effects."""
        with self._check_lock:
            self._read_cache = {}
            self._check_state = State(self.store, self._read_cache)

    # -- helpers -------------------------------------------------------------------------------

    def _next_env(self) -> BlockEnv:
        return BlockEnv(
            chain_id=self.genesis.chain_id, height=self._last_height + 1, time_ms=self._last_time_ms
        )

    def _read_last_time(self) -> int:
        block = self.store.get_block(self.store.last_height)
        if block is not None:
            return block.time_ms
        return self._genesis.genesis_time_ms if self._genesis else 0
