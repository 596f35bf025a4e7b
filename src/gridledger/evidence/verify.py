"""Offline verification of an evidence certificate (format in docs/certificate.md).

Nothing here trusts the node that issued the certificate. From the certificate alone (and,
optionally, a pinned node key or genesis) it checks that

1. the block header is signed by the trusted node key;
2. every log entry is included in the evidence log whose size and root the header carries
   (RFC 9162 inclusion proofs);
3. every entry's transaction carries valid signatures of its signers, the record's parties among
   them, and endorsements come from organizations the record's policy names;
4. the human-readable ``record`` summary is exactly what the signed entries say;
5. the document digest is the record's digest, or a leaf of the batch root (inclusion path);
6. the file's SHA-256 equals that digest.

Any failure raises InvalidProof with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gridledger import codec, merkle
from gridledger.errors import GridledgerError, InvalidProof
from gridledger.ledger.block import decode_header, verify_header_signature
from gridledger.ledger.context import LOG_ENTRY_VERSION
from gridledger.ledger.tx import Transaction, transaction_from_json, verify_transaction_signatures

FORMAT = "gridledger/evidence-certificate/v1"
TOP_FIELDS = frozenset(
    {"format", "chain_id", "document", "batch", "record", "entries", "block", "trust_anchor"}
)
RECORD_KINDS = {"notary.record": "document", "notary.record_batch": "batch"}
ENTRY_KINDS = {
    "notary.record": ("notary", "record"),
    "notary.record_batch": ("notary", "record_batch"),
    "notary.endorse": ("notary", "endorse"),
}
_LOWER_HEX = re.compile("(?:[0-9a-f]{2})*")


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedEvidence:
    digest: str
    status: str
    title: str
    parties: tuple[str, ...]
    endorsed_by: tuple[str, ...]
    required_endorsers: tuple[str, ...]
    record_height: int
    record_time_ms: int
    block_height: int
    node_public_key: str
    batch_root: str | None

    def summary(self) -> str:
        endorsed = ", ".join(self.endorsed_by) or "none"
        where = f" in batch {self.batch_root[:16]}…" if self.batch_root else ""
        return (
            f"VALID: sha256 {self.digest[:16]}… {self.status}{where}; recorded at height "
            f"{self.record_height}, parties {len(self.parties)}, endorsed by {endorsed}; "
            f"block {self.block_height} signed by node {self.node_public_key[:16]}…"
        )


def verify_certificate(
    cert: Any,
    file_digest: bytes | None = None,
    *,
    trusted_node_keys: Collection[bytes] | None = None,
) -> VerifiedEvidence:
    try:
        return _verify(cert, file_digest, trusted_node_keys)
    except InvalidProof:
        raise
    except GridledgerError as exc:
        raise InvalidProof(f"certificate is invalid: {exc.message}") from exc
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InvalidProof(f"certificate is malformed ({type(exc).__name__}: {exc})") from exc


def _verify(
    cert: Any, file_digest: bytes | None, trusted: Collection[bytes] | None
) -> VerifiedEvidence:
    if not isinstance(cert, dict) or set(cert) != TOP_FIELDS:
        raise InvalidProof(
            f"certificate must have exactly the fields {', '.join(sorted(TOP_FIELDS))}"
        )
    if cert["format"] != FORMAT:
        raise InvalidProof(f"unknown certificate format {cert['format']!r}; expected {FORMAT}")
    chain_id = cert["chain_id"]

    header = decode_header(cert["block"]["header"])
    if set(cert["block"]) != {"header", "signature"}:
        raise InvalidProof("certificate block must have exactly header and signature")
    anchor = cert["trust_anchor"]
    if set(anchor) != {"type", "node_public_key"} or anchor["type"] != "solo-node-key":
        raise InvalidProof("certificate trust_anchor is not a solo-node-key anchor")
    node_key = _hex(anchor["node_public_key"], "trust_anchor node_public_key")
    if trusted is not None and node_key not in trusted:
        raise InvalidProof(
            f"certificate is signed by node key {node_key.hex()[:16]}…, which is not trusted"
        )
    verify_header_signature(header, node_key, _hex(cert["block"]["signature"], "block signature"))
    if header.chain_id != chain_id:
        raise InvalidProof(
            f"block is from chain {header.chain_id!r}, certificate says {chain_id!r}"
        )

    entries = cert["entries"]
    if not isinstance(entries, list) or not entries:
        raise InvalidProof("certificate has no log entries")
    txs = [
        _verify_entry(e, n, header.log_size, header.log_root, chain_id, header.height)
        for n, e in enumerate(entries)
    ]

    record_entry, record_tx = entries[0]["entry"], txs[0]
    if record_entry["kind"] not in RECORD_KINDS:
        raise InvalidProof(f"first entry is a {record_entry['kind']!r}, not a notary record")
    args = record_tx.body.args
    for party in args["parties"]:
        if party not in record_tx.signers:
            raise InvalidProof(f"party {party} did not sign the record")
    endorsements = _verify_endorsements(entries[1:], txs[1:], args)
    expected = compute_record_view(
        entries[0], record_tx, list(zip(entries[1:], txs[1:], strict=True))
    )
    _compare_record(cert["record"], expected)

    digest = _verify_document(cert["document"], cert["batch"], expected)
    if file_digest is not None and file_digest.hex() != digest:
        raise InvalidProof(
            f"the file's SHA-256 {file_digest.hex()} does not match the certified digest {digest}: "
            "the file was altered or is a different file"
        )
    return VerifiedEvidence(
        digest=digest,
        status=expected["status"],
        title=expected["title"],
        parties=tuple(expected["parties"]),
        endorsed_by=tuple(endorsements),
        required_endorsers=tuple(expected["endorsers"]),
        record_height=expected["height"],
        record_time_ms=expected["time_ms"],
        block_height=header.height,
        node_public_key=node_key.hex(),
        batch_root=expected["digest"] if expected["kind"] == "batch" else None,
    )


def _verify_entry(
    item: Any, n: int, log_size: int, log_root: bytes, chain_id: str, height: int
) -> Transaction:
    if not isinstance(item, dict) or set(item) != {"entry", "index", "path"}:
        raise InvalidProof(f"entry {n} must have exactly entry, index and path")
    entry, index = item["entry"], item["index"]
    path = _hashes(item["path"], f"entry {n} path")
    try:
        leaf = codec.encode_for_check(entry)
        merkle.verify_inclusion(leaf, index, log_size, path, log_root)
    except InvalidProof as exc:
        raise InvalidProof(
            f"entry {n} (log index {index}) is not in the signed log: {exc.message}"
        ) from exc
    if entry["chain_id"] != chain_id or entry["height"] > height:
        raise InvalidProof(f"entry {n} is from another chain or a later block")
    tx = transaction_from_json(entry["tx"], _tx_bytes(leaf))
    if tx.tx_id.hex() != entry["tx_id"]:
        raise InvalidProof(f"entry {n}: tx_id does not match its transaction")
    if entry["v"] != LOG_ENTRY_VERSION or tx.body.chain_id != chain_id:
        raise InvalidProof(f"entry {n}: unknown entry version or a transaction of another chain")
    if ENTRY_KINDS.get(entry["kind"]) != (tx.body.contract, tx.body.method):
        raise InvalidProof(f"entry {n}: kind {entry['kind']!r} does not match its transaction")
    verify_transaction_signatures(tx)
    return tx


def _tx_bytes(leaf: bytes) -> bytes:
    """The transaction's canonical bytes inside a canonical log entry. Keys sort as chain_id,
    height, kind, time_ms, tx, tx_id, v: the first ``,"tx":`` is the key (a quote inside a
    string is escaped), and the last ``,"tx_id":"`` is the top-level one."""
    return leaf[leaf.index(b',"tx":') + len(b',"tx":') : leaf.rindex(b',"tx_id":"')]


def _verify_endorsements(
    items: list[Any], txs: list[Transaction], record_args: Mapping[str, Any]
) -> list[str]:
    record_digest = record_args.get("digest", record_args.get("root"))
    named = record_args.get("endorsers", [])
    orgs: list[str] = []
    for item, tx in zip(items, txs, strict=True):
        if item["entry"]["kind"] != "notary.endorse" or tx.body.args["digest"] != record_digest:
            raise InvalidProof(f"log entry {item['index']} is not an endorsement of this record")
        org = tx.body.args["org"]
        if org not in named or org in orgs:
            raise InvalidProof(f"endorsement by {org!r} is not one the record's policy asks for")
        orgs.append(org)
    return orgs


def compute_record_view(
    record_item: Mapping[str, Any],
    tx: Transaction,
    endorsements: list[tuple[Mapping[str, Any], Transaction]],
) -> dict[str, Any]:
    """The notary contract's record, recomputed from its signed log entries."""
    entry, args = record_item["entry"], tx.body.args
    kind = RECORD_KINDS[entry["kind"]]
    endorsers = list(args.get("endorsers", []))
    done = [
        {
            "by": etx.sender,
            "height": e["entry"]["height"],
            "log_index": e["index"],
            "note": etx.body.args.get("note", ""),
            "org": etx.body.args["org"],
            "time_ms": e["entry"]["time_ms"],
            "tx_id": e["entry"]["tx_id"],
        }
        for e, etx in endorsements
    ]
    if not endorsers:
        status = "recorded"
    else:
        status = "endorsed" if {d["org"] for d in done} >= set(endorsers) else "pending"
    return {
        "algorithm": args.get("algorithm", "sha256"),
        "count": args["count"] if kind == "batch" else 1,
        "digest": args["root"] if kind == "batch" else args["digest"],
        "endorsements": done,
        "endorsers": endorsers,
        "height": entry["height"],
        "kind": kind,
        "log_index": record_item["index"],
        "metadata": dict(args.get("metadata", {})),
        "parties": list(args["parties"]),
        "record_type": args["record_type"],
        "status": status,
        "submitter": tx.sender,
        "time_ms": entry["time_ms"],
        "title": args["title"],
        "tx_id": entry["tx_id"],
    }


def _compare_record(given: Any, expected: dict[str, Any]) -> None:
    if not isinstance(given, dict):
        raise InvalidProof("certificate record must be an object")
    # As canonical JSON: Python's == would call true and 1, or 1 and 1.0, equal.
    if codec.encode_for_check(given) == codec.encode_for_check(expected):
        return
    for field in sorted(set(given) | set(expected)):  # find and name the difference
        if field not in given or field not in expected:
            raise InvalidProof(f"record field {field!r} is missing or not a field of the record")
        if codec.encode_for_check(given[field]) != codec.encode_for_check(expected[field]):
            raise InvalidProof(f"record field {field!r} does not match the signed log entries")
    raise InvalidProof("record does not match the signed log entries")


def _verify_document(document: Any, batch: Any, record: Mapping[str, Any]) -> str:
    if not isinstance(document, dict) or set(document) != {"algorithm", "digest"}:
        raise InvalidProof("certificate document must have exactly algorithm and digest")
    digest = document["digest"]
    if document["algorithm"] != record["algorithm"]:
        raise InvalidProof("document algorithm does not match the record")
    if batch is None:
        if record["kind"] != "document" or record["digest"] != digest:
            raise InvalidProof(f"document digest {digest} is not the digest the record certifies")
        return str(digest)
    if set(batch) != {"root", "index", "count", "path"}:
        raise InvalidProof("certificate batch must have exactly root, index, count and path")
    if (
        record["kind"] != "batch"
        or batch["root"] != record["digest"]
        or batch["count"] != record["count"]
    ):
        raise InvalidProof("certificate batch root or count does not match the batch record")
    try:
        merkle.verify_inclusion(
            _hex(digest, "document digest"),
            batch["index"],
            batch["count"],
            _hashes(batch["path"], "batch path"),
            _hex(batch["root"], "batch root"),
        )
    except InvalidProof as exc:
        raise InvalidProof(f"document is not in the batch: {exc.message}") from exc
    return str(digest)


def _hex(value: Any, what: str) -> bytes:
    """Bytes from lowercase hex: the one spelling a certificate uses, so each value has one."""
    if type(value) is not str or _LOWER_HEX.fullmatch(value) is None:
        raise InvalidProof(f"{what} must be lowercase hex")
    return bytes.fromhex(value)


def _hashes(values: Any, what: str) -> list[bytes]:
    """A list of 32-byte hashes in lowercase hex, checked and converted in one pass."""
    if type(values) is not list or any(type(v) is not str or len(v) != 64 for v in values):
        raise InvalidProof(f"{what} must be a list of 32-byte hashes in lowercase hex")
    joined = "".join(values)
    if _LOWER_HEX.fullmatch(joined) is None:
        raise InvalidProof(f"{what} must be a list of 32-byte hashes in lowercase hex")
    raw = bytes.fromhex(joined)
    return [raw[i : i + 32] for i in range(0, len(raw), 32)]
