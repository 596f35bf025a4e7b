"""``audit --local``: recompute a node's SQLite store from its own transactions and compare.

The store keeps the genesis document (``meta``) and the raw bytes of every transaction of every
block (``txs``), so the whole ledger can be rebuilt offline through the pure core
(``apply_genesis_block`` and ``apply_block`` over a fresh ``MemoryBackend``). The audit reads the
store in one read transaction (the node may be running or stopped) and reports, in order:

1. per block: the block and its transaction rows are present; the app-hash link and the app hash
   recomputed from the row's change set (``blockcheck``); the header; the recorded results and
   change set against the replay (a transaction's bytes edited); the replayed app hash against the
   stored one (reported at the first block where they part, then counted: every later block
   differs as a consequence);
2. ``meta``: last height and app hash are those of the last block;
3. the evidence log as stored: every leaf is the hash of its entry, every stored node the hash of
   its children;
4. the state table, row by row, against the replayed state;
5. the node's signed checkpoints (checkpoint book), against the replayed ledger at their heights.

A row edited by hand therefore shows up as the first height or key that differs.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridledger import codec
from gridledger.audit.blockcheck import (
    StoredTx,
    blob,
    check_app_hash,
    check_header,
    check_header_log,
    check_link,
    check_tx_rows,
    iter_stored_blocks,
)
from gridledger.audit.book import CheckpointBook, compute_book_path
from gridledger.audit.checkpoint import Checkpoint, SignedCheckpoint, verify_checkpoint
from gridledger.audit.logcheck import check_stored_log
from gridledger.errors import DecodeError, InvalidProof, NotFound, StoreError
from gridledger.ledger.context import BlockEnv
from gridledger.ledger.genesis import Genesis, decode_genesis
from gridledger.ledger.state import MemoryBackend, State
from gridledger.ledger.transition import BlockResult, apply_block, apply_genesis_block
from gridledger.store.sqlite import BlockRow

MAX_STATE_FINDINGS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    area: str  # "block", "meta", "log", "state" or "checkpoint"
    height: int | None
    message: str


@dataclass(slots=True, kw_only=True)
class LocalAudit:
    db: Path
    height: int = 0
    txs: int = 0
    state_rows: int = 0
    log_size: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.findings

    def add(self, area: str, height: int | None, message: str) -> None:
        self.findings.append(Finding(area=area, height=height, message=message))

    def summary(self) -> str:
        what = (
            f"{self.height} blocks, {self.txs} transactions, {self.state_rows} state rows, "
            f"log size {self.log_size}, {self.checkpoints} checkpoints"
        )
        if self.clean:
            return f"clean: {self.db} replays from genesis to the same ledger ({what})"
        return f"TAMPERED: {self.db} does not replay to what it stores ({what})"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": "clean" if self.clean else "TAMPERED",
            "summary": self.summary(),
            "seconds": round(self.seconds, 3),
            "findings": [
                {"area": f.area, "height": f.height, "message": f.message} for f in self.findings
            ],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Replayed:
    """The replayed ledger after one block: what a checkpoint at that height must say."""

    log_size: int
    log_root: bytes
    app_hash: bytes
    time_ms: int


# -- the audit --------------------------------------------------------------------------------


def audit_local(db: Path, *, checkpoint_key: bytes | None = None) -> LocalAudit:
    started = time.monotonic()
    report = LocalAudit(db=Path(db))
    book = CheckpointBook(compute_book_path(Path(db)))
    checkpoints = book.list_all()
    wanted = {s.checkpoint.height for s in checkpoints}
    try:
        with _read_only(Path(db)) as conn:
            conn.execute("BEGIN")  # one snapshot, even while the node commits
            genesis = _read_genesis(conn)
            backend = MemoryBackend()
            replayed = _replay(conn, genesis, backend, report, wanted)
            _check_meta(conn, report)
            stored_log = _check_state(conn, backend, report, complete=replayed is not None)
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read {db} as a gridledger store: {exc}") from exc
    report.log_size = check_stored_log(stored_log, report.add)
    _check_checkpoints(checkpoints, genesis, replayed or {}, report, checkpoint_key)
    report.checkpoints = len(checkpoints)
    report.seconds = time.monotonic() - started
    return report


def _read_only(db: Path) -> closing[sqlite3.Connection]:
    if not db.is_file():
        raise NotFound(f"no store at {db}")
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {db} read-only: {exc}") from exc
    conn.isolation_level = None
    return closing(conn)


def _read_genesis(conn: sqlite3.Connection) -> Genesis:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'genesis'").fetchone()
    except sqlite3.Error as exc:
        raise StoreError(f"not a gridledger store: {exc}") from exc
    if row is None:
        raise StoreError("the store holds no genesis document: it was never initialized")
    try:
        return decode_genesis(codec.decode(blob(row[0])))
    except DecodeError as exc:
        raise StoreError(f"the store's genesis document is invalid: {exc.message}") from exc


# -- replay -----------------------------------------------------------------------------------


def _replay(
    conn: sqlite3.Connection,
    genesis: Genesis,
    backend: MemoryBackend,
    report: LocalAudit,
    wanted: set[int],
) -> dict[int, Replayed] | None:
    """Replay every block; the replayed ledger at the ``wanted`` heights, or None if the replay
    had to stop (a block missing).

    Checks of stored rows against each other are reported at every block, checks against the
    replay until the replay's state parts from the store's (a block whose stored transactions
    write other changes than the ones recorded). After that block, later blocks that differ from
    the replay are only counted: their app hashes (and usually their log nodes) differ as a
    consequence."""
    result = apply_genesis_block(State(backend), genesis)
    backend.apply_changes(result.changes)
    snapshots = {0: _snapshot(result, genesis.genesis_time_ms)}
    prev_stored_app_hash = replayed_app_hash = result.app_hash
    prev_block_hash = genesis.genesis_hash
    state_parted_at: int | None = None
    consequences = 0
    expected_height = 1
    for block, txs in iter_stored_blocks(conn):
        if block.height != expected_height:
            report.add("block", expected_height, f"block {expected_height} is missing")
            return None
        env = BlockEnv(chain_id=genesis.chain_id, height=block.height, time_ms=block.time_ms)
        result = apply_block(State(backend), env, [t.raw for t in txs], replayed_app_hash)
        backend.apply_changes(result.changes)
        found = check_tx_rows(block, txs) + check_link(block, prev_stored_app_hash)
        found += check_header(
            block, txs, chain_id=genesis.chain_id, prev_block_hash=prev_block_hash
        )
        against_replay = _check_against_replay(block, txs, result)
        if state_parted_at is None:
            found += against_replay
            if result.changes_hash != block.changes_hash:
                state_parted_at = block.height
        else:
            consequences += bool(against_replay)
        for message in found:
            report.add("block", block.height, message)
        if block.height in wanted:
            snapshots[block.height] = _snapshot(result, block.time_ms)
        report.txs += len(txs)
        prev_stored_app_hash, replayed_app_hash = block.app_hash, result.app_hash
        prev_block_hash = block.hash
        expected_height += 1
    report.height = expected_height - 1
    if consequences:
        report.add(
            "block",
            None,
            f"{consequences} later blocks also differ from the replay, as a consequence of the "
            f"changes that differ at block {state_parted_at}",
        )
    return snapshots


def _check_against_replay(block: BlockRow, txs: list[StoredTx], result: BlockResult) -> list[str]:
    """What the replay of this block says about its rows. When the replay writes other changes
    than the recorded ones, that is the finding: the app hashes then differ as a consequence."""
    found = []
    for tx, replayed in zip(txs, result.tx_results, strict=False):
        recorded = (tx.tx_id, tx.code, tx.error, tx.log, tx.events)
        events = codec.encode([e.to_json() for e in replayed.events])
        if recorded != (replayed.tx_id, replayed.code, replayed.error, replayed.log, events):
            found.append(
                f"block {block.height} transaction {tx.idx}: its stored bytes replay to "
                f"code {replayed.code} {replayed.error or 'ok'} (tx id {_short(replayed.tx_id)}), "
                f"but the store recorded code {tx.code} {tx.error or 'ok'} (tx id "
                f"{_short(tx.tx_id)}): the transaction's bytes or its recorded result were edited"
            )
    found += check_header_log(block, result.log_size, result.log_root)
    if result.changes_hash != block.changes_hash:
        found.append(
            f"block {block.height} change set differs: replaying its stored transactions writes "
            f"changes hash {result.changes_hash.hex()[:16]}…, the store recorded "
            f"{block.changes_hash.hex()[:16]}…"
        )
        return found
    found += check_app_hash(block, result.log_size, result.log_root)
    if result.app_hash != block.app_hash:
        found.append(
            f"block {block.height}: the app hash replayed from genesis differs from the stored one"
        )
    return found


def _snapshot(result: BlockResult, time_ms: int) -> Replayed:
    return Replayed(
        log_size=result.log_size,
        log_root=result.log_root,
        app_hash=result.app_hash,
        time_ms=time_ms,
    )


# -- meta, state, checkpoints -----------------------------------------------------------------


def _check_meta(conn: sqlite3.Connection, report: LocalAudit) -> None:
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key LIKE 'last_%'").fetchall())
    text = blob(meta.get("last_height", b"0")).decode("ascii", errors="replace")
    last_height = int(text) if text.isdigit() else -1
    if last_height != report.height:
        report.add(
            "meta",
            None,
            f"meta last_height is {last_height}, but the blocks table ends at {report.height}",
        )
    row = conn.execute("SELECT app_hash FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
    if row is not None and blob(meta.get("last_app_hash", b"")) != blob(row[0]):
        report.add("meta", None, "meta last_app_hash does not match the last block's app hash")


def _check_state(
    conn: sqlite3.Connection, backend: MemoryBackend, report: LocalAudit, *, complete: bool
) -> dict[str, bytes]:
    """Stored state rows against the replayed state (when the replay reached the last block);
    returns the stored ``log/`` rows."""
    stored_log: dict[str, bytes] = {}

    def stored_rows() -> Iterator[tuple[str, bytes]]:
        for key, value in conn.execute("SELECT key, value FROM state ORDER BY key"):
            report.state_rows += 1
            if str(key).startswith("log/"):
                stored_log[key] = blob(value)
            yield str(key), blob(value)

    differences = 0
    for message in _diff_rows(stored_rows(), backend.iter_prefix("")):
        differences += 1
        if complete and differences <= MAX_STATE_FINDINGS:
            report.add("state", None, message)
    if complete and differences > MAX_STATE_FINDINGS:
        report.add("state", None, f"… and {differences - MAX_STATE_FINDINGS} more rows differ")
    return stored_log


def _diff_rows(
    stored: Iterator[tuple[str, bytes]], replayed: Iterator[tuple[str, bytes]]
) -> Iterator[str]:
    """Merge two key-ordered row streams; a message for each key where they differ."""
    mine, theirs = next(replayed, None), next(stored, None)
    while mine is not None or theirs is not None:
        if mine is not None and (theirs is None or mine[0] < theirs[0]):
            yield f"row state[{mine[0]!r}] was deleted: the replayed ledger holds it"
            mine = next(replayed, None)
        elif theirs is not None and (mine is None or theirs[0] < mine[0]):
            yield f"row state[{theirs[0]!r}] was added: no block wrote it"
            theirs = next(stored, None)
        elif mine is not None and theirs is not None:
            if theirs[1] != mine[1]:
                yield (
                    f"row state[{theirs[0]!r}] was edited: stored value differs from the "
                    "replayed ledger"
                )
            mine, theirs = next(replayed, None), next(stored, None)


def _check_checkpoints(
    checkpoints: list[SignedCheckpoint],
    genesis: Genesis,
    replayed: dict[int, Replayed],
    report: LocalAudit,
    pinned: bytes | None,
) -> None:
    key = pinned if pinned is not None else (checkpoints[-1].public_key if checkpoints else None)
    for signed in checkpoints:
        cp: Checkpoint = signed.checkpoint
        try:
            verify_checkpoint(signed, key)
        except InvalidProof as exc:
            report.add("checkpoint", cp.height, exc.message)
            continue
        at = replayed.get(cp.height)
        if cp.height > report.height:
            report.add(
                "checkpoint",
                cp.height,
                f"checkpoint at {cp.describe()} is above the store's last block "
                f"{report.height}: the store lost blocks it had",
            )
        elif at is not None:
            for message in _compare_checkpoint(cp, at, genesis.chain_id):
                report.add("checkpoint", cp.height, message)


def _compare_checkpoint(cp: Checkpoint, at: Replayed, chain_id: str) -> list[str]:
    held = {"chain_id": cp.chain_id, "log_size": cp.log_size, "log_root": cp.log_root}
    held |= {"app_hash": cp.app_hash, "time_ms": cp.time_ms}
    want = {"chain_id": chain_id, "log_size": at.log_size, "log_root": at.log_root}
    want |= {"app_hash": at.app_hash, "time_ms": at.time_ms}
    return [
        f"signed checkpoint at {cp.describe()} disagrees with the replayed ledger on {name}"
        for name in held
        if held[name] != want[name]
    ]


def _short(tx_id: bytes | None) -> str:
    return "none" if tx_id is None else tx_id.hex()[:16] + "…"
