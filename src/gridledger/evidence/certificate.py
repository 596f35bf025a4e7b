"""Building an evidence certificate from a node's store (format in docs/certificate.md).

All parts are read from one committed snapshot: the newest block's signed header, the record and
its history (endorsements, refusals, disputes, revocations), their log entries with RFC 9162
inclusion proofs against the log size and root that header carries, and, for a document
notarized in a batch, its inclusion path in the batch.
"""

from __future__ import annotations

from typing import Any

from gridledger import codec, merkle
from gridledger.contracts import notary
from gridledger.errors import NotFound, StoreError
from gridledger.evidence.verify import FORMAT
from gridledger.ledger.state import State
from gridledger.store.sqlite import SqliteStore


def build_certificate(store: SqliteStore, digest: str) -> dict[str, Any]:
    """The certificate of ``digest`` (a document's, or a member's of a recorded batch)."""
    with store.snapshot():
        state = State(store)
        record, batch, entries, log_size = collect_record_entries(store, state, digest)
        block = store.get_block(store.last_height)
        if block is None:
            raise NotFound("no block has been committed yet")
        header = codec.decode(block.header)
        if log_size != header["log_size"]:
            raise StoreError(
                f"log size {log_size} differs from block header's {header['log_size']}"
            )
        return {
            "format": FORMAT,
            "chain_id": header["chain_id"],
            "document": {"algorithm": record["algorithm"], "digest": digest},
            "batch": batch,
            "record": record,
            "entries": entries,
            "block": {"header": header, "signature": block.signature.hex()},
            "trust_anchor": {"type": "solo-node-key", "node_public_key": header["proposer"]},
        }


def collect_record_entries(
    store: SqliteStore, state: State, digest: str
) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]], int]:
    """The record holding ``digest``, its batch path (or None), its log entries (the record's
    own, then every later change in its history: endorsements, refusals, disputes, revocations)
    with inclusion proofs, and the log size those proofs are for. Call inside a store
    snapshot."""
    record, batch = _find_record(store, state, digest)
    log = state.log()
    indexes = [change["log_index"] for change in record["history"]]
    entries = [
        {
            "entry": codec.decode(state.get_log_entry(i)),
            "index": i,
            "path": [h.hex() for h in log.inclusion_proof(i, log.size)],
        }
        for i in indexes
    ]
    return record, batch, entries, log.size


def _find_record(
    store: SqliteStore, state: State, digest: str
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    record = notary.get_record(state, digest)
    if record is not None and record["kind"] == "document":
        return record, None
    member = store.find_batch_member(digest)
    if member is None:
        raise NotFound(f"no record or batch member with digest {digest}")
    root, index = member
    batch_record = notary.get_record(state, root)
    digests = store.get_batch_manifest(root)
    if batch_record is None or digests is None:
        raise NotFound(f"batch {root} holding {digest} is not recorded")
    leaves = [bytes.fromhex(d) for d in digests]
    batch = {
        "count": len(leaves),
        "index": index,
        "path": [h.hex() for h in merkle.inclusion_proof(leaves, index)],
        "root": root,
    }
    return batch_record, batch
