"""Checks of one stored block against what can be recomputed without replaying the ledger.

A block row (``blocks`` table) carries its hash, header, signature, app hash, previous app hash
and changes hash; its transactions (``txs`` table) carry their raw bytes and recorded results.
This module recomputes what those columns must agree on:

- the app-hash link: ``prev_app_hash`` equals the previous block's ``app_hash``;
- the app hash from the row's own change-set hash (data_model.md, "App-hash chain"), given the
  log size and root after the block;
- the header: an embedded (solo) node's signed header commits to the transactions, their results,
  the app hash, the log and the previous block, and carries the node's signature; a consortium
  node's header names CometBFT's block hash, height and time, which must match the row.

Every ``check_`` function returns a list of messages (empty when the block is sound).
``iter_stored_blocks`` reads the rows, tolerating values a hand edit left in the wrong type (the
checks then report them as different).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from gridledger import codec
from gridledger.errors import DecodeError, InvalidProof
from gridledger.ledger.block import (
    BlockHeader,
    compute_block_hash,
    compute_results_hash,
    compute_txs_hash,
    decode_header,
    verify_header_signature,
)
from gridledger.ledger.transition import compute_app_hash, compute_changes_hash
from gridledger.store.sqlite import BlockRow

NO_TX_ID = bytes(32)  # the results hash's stand-in for the id of undecodable bytes
EMPTY_CHANGES_HASH = compute_changes_hash({})


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredTx:
    idx: int
    tx_id: bytes | None
    raw: bytes
    code: int
    error: str
    log: str
    events: bytes


def check_link(block: BlockRow, prev_app_hash: bytes) -> list[str]:
    if block.prev_app_hash == prev_app_hash:
        return []
    return [
        f"block {block.height} prev_app_hash {block.prev_app_hash.hex()[:16]}… does not match "
        f"block {block.height - 1}'s app hash {prev_app_hash.hex()[:16]}…"
    ]


def check_app_hash(block: BlockRow, log_size: int, log_root: bytes) -> list[str]:
    """The stored app hash recomputed from the row's own previous app hash and change set."""
    if block.changes_hash == EMPTY_CHANGES_HASH:
        expected = block.prev_app_hash
    else:
        expected = compute_app_hash(block.prev_app_hash, block.changes_hash, log_size, log_root)
    if block.app_hash == expected:
        return []
    return [
        f"block {block.height} app hash does not match its recomputed change set "
        f"(stored {block.app_hash.hex()[:16]}…, recomputed {expected.hex()[:16]}…)"
    ]


def check_tx_rows(block: BlockRow, txs: Sequence[StoredTx]) -> list[str]:
    if [t.idx for t in txs] == list(range(block.num_txs)):
        return []
    return [
        f"block {block.height} lists {block.num_txs} transactions but the txs table holds "
        f"{len(txs)} (indices {', '.join(str(t.idx) for t in txs[:10])})"
    ]


def check_header(
    block: BlockRow, txs: Sequence[StoredTx], *, chain_id: str, prev_block_hash: bytes
) -> list[str]:
    """The header against the row, the transactions and the previous block."""
    header = _decode_solo_header(block)
    if isinstance(header, list):
        return header
    if header is None:
        return _check_cometbft_header(block, codec.decode(block.header), chain_id)
    where = f"block {block.height} header"
    expected = {
        "height": (header.height, block.height),
        "chain_id": (header.chain_id, chain_id),
        "time_ms": (header.time_ms, block.time_ms),
        "app_hash": (header.app_hash, block.app_hash),
        "prev_block_hash": (header.prev_block_hash, prev_block_hash),
        "txs_hash": (header.txs_hash, compute_txs_hash([t.raw for t in txs])),
        "results_hash": (
            header.results_hash,
            compute_results_hash([(t.tx_id or NO_TX_ID, t.code) for t in txs]),
        ),
    }
    found = [
        f"{where} {name} does not match {_what_it_commits_to(name)}"
        for name, (held, recomputed) in expected.items()
        if held != recomputed
    ]
    if compute_block_hash(header) != block.hash:
        found.append(f"block {block.height} hash does not match its header")
    try:
        verify_header_signature(header, header.proposer, block.signature)
    except InvalidProof as exc:
        found.append(f"{where} signature: {exc.message}")
    return found


def check_header_log(block: BlockRow, log_size: int, log_root: bytes) -> list[str]:
    """An embedded node's header names the log after the block: it must be the replayed one."""
    header = _decode_solo_header(block)
    if header is None or isinstance(header, list):
        return []  # a consortium header carries no log; a malformed one is reported already
    found = []
    if header.log_size != log_size:
        found.append(
            f"block {block.height} header log_size {header.log_size} does not match the "
            f"replayed log's size {log_size}"
        )
    if header.log_root != log_root:
        found.append(f"block {block.height} header log_root does not match the replayed log's root")
    return found


def _decode_solo_header(block: BlockRow) -> BlockHeader | list[str] | None:
    """The embedded node's header; None for a consortium (CometBFT) header; the problem as a
    one-message list when it does not decode."""
    try:
        obj = codec.decode(block.header)
    except DecodeError as exc:
        return [f"block {block.height} header is not canonical JSON: {exc.message}"]
    if isinstance(obj, dict) and "cometbft_block_hash" in obj:
        return None
    try:
        return decode_header(obj)
    except DecodeError as exc:
        return [f"block {block.height} header is malformed: {exc.message}"]


def _what_it_commits_to(name: str) -> str:
    return {
        "height": "the block's height",
        "chain_id": "the genesis chain id",
        "time_ms": "the block's stored time",
        "app_hash": "the block's stored app hash",
        "prev_block_hash": "the previous block's hash",
        "txs_hash": "the stored transactions (a transaction's raw bytes were edited)",
        "results_hash": "the stored transaction results",
    }[name]


def _check_cometbft_header(block: BlockRow, obj: Any, chain_id: str) -> list[str]:
    where = f"block {block.height} header"
    found = []
    if obj.get("height") != block.height:
        found.append(f"{where} names height {obj.get('height')!r}")
    if obj.get("chain_id") != chain_id:
        found.append(f"{where} names chain {obj.get('chain_id')!r}, genesis says {chain_id!r}")
    if obj.get("time_ms") != block.time_ms:
        found.append(f"{where} time_ms does not match the block's stored time")
    if obj.get("cometbft_block_hash") != block.hash.hex():
        found.append(f"{where} CometBFT block hash does not match the block's stored hash")
    return found


# -- reading the rows ---------------------------------------------------------------------------


def iter_stored_blocks(conn: sqlite3.Connection) -> Iterator[tuple[BlockRow, list[StoredTx]]]:
    """Blocks in height order with their transaction rows (two cursors walked together)."""
    blocks = conn.execute(
        "SELECT height, hash, header, signature, app_hash, prev_app_hash, changes_hash, "
        "time_ms, num_txs FROM blocks ORDER BY height"
    )
    txs = conn.cursor().execute(
        "SELECT height, idx, tx_id, raw, code, error, log, events FROM txs ORDER BY height, idx"
    )
    pending = txs.fetchone()
    for row in blocks:
        block = BlockRow(
            height=_int(row[0]),
            hash=blob(row[1]),
            header=blob(row[2]),
            signature=blob(row[3]),
            app_hash=blob(row[4]),
            prev_app_hash=blob(row[5]),
            changes_hash=blob(row[6]),
            time_ms=_int(row[7]),
            num_txs=_int(row[8]),
        )
        mine = []
        while pending is not None and _int(pending[0]) <= block.height:
            if _int(pending[0]) == block.height:
                mine.append(_decode_tx_row(pending))
            pending = txs.fetchone()
        yield block, mine


def _decode_tx_row(row: Any) -> StoredTx:
    return StoredTx(
        idx=_int(row[1]),
        tx_id=None if row[2] is None else blob(row[2]),
        raw=blob(row[3]),
        code=_int(row[4]),
        error=str(row[5]),
        log=str(row[6]),
        events=blob(row[7]),
    )


def blob(value: Any) -> bytes:
    """A column's bytes. A hand edit with SQL string functions stores text, or a number, where
    the node wrote a blob; the audit compares what is there instead of failing on it."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return b"" if value is None else str(value).encode("utf-8")


def _int(value: Any) -> int:
    """A column's integer, or -1 (which no check accepts) when a hand edit stored something
    else."""
    return value if isinstance(value, int) and not isinstance(value, bool) else -1
