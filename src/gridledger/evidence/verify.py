"""Offline verification of an evidence certificate (format in docs/certificate.md).

Nothing here trusts the node that issued the certificate. From the certificate alone (and,
optionally, a pinned node key or genesis) it checks that

1. the block header is signed by the trusted node key;
2. every log entry is included in the evidence log whose size and root the header carries
   (RFC 9162 inclusion proofs);
3. every entry's transaction carries valid signatures of its signers, the record's parties among
   them; endorsements and refusals come from organizations the record's policy names, disputes
   and revocations from its parties, each in an order the notary contract allows;
4. the human-readable ``record`` summary (status and history included) is exactly what the
   signed entries say;
5. the document digest is the record's digest, or a leaf of the batch root (inclusion path);
6. the file's SHA-256 equals that digest.

Any failure raises InvalidProof with the reason.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from gridledger import codec, merkle
from gridledger.cometbft import lightclient
from gridledger.errors import GridledgerError, InvalidProof
from gridledger.evidence.record_view import RECORD_KINDS, compute_record_view
from gridledger.ledger.block import decode_header, verify_header_signature
from gridledger.ledger.context import LOG_ENTRY_VERSION
from gridledger.ledger.transition import compute_app_hash
from gridledger.ledger.tx import Transaction, transaction_from_json, verify_transaction_signatures

FORMAT = "gridledger/evidence-certificate/v1"
TOP_FIELDS = frozenset(
    {"format", "chain_id", "document", "batch", "record", "entries", "block", "trust_anchor"}
)
ENTRY_ITEM_FIELDS = frozenset({"entry", "index", "path"})
ENTRY_KINDS = {
    "notary.record": ("notary", "record"),
    "notary.record_batch": ("notary", "record_batch"),
    "notary.endorse": ("notary", "endorse"),
    "notary.refuse": ("notary", "refuse"),
    "notary.dispute": ("notary", "dispute"),
    "notary.revoke": ("notary", "revoke"),
}


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
    node_public_key: str  # the solo node's key; "" on a CometBFT network
    batch_root: str | None
    signed_by: str = ""  # who signed the block, in words
    validators_hash: str = ""  # the genesis validator set a CometBFT certificate starts from
    history: tuple[Mapping[str, Any], ...] = ()  # the record's changes, oldest first

    def summary(self) -> str:
        endorsed = ", ".join(self.endorsed_by) or "none"
        where = f" in batch {self.batch_root[:16]}…" if self.batch_root else ""
        return (
            f"VALID: sha256 {self.digest[:16]}… {self.status}{self._why()}{where}; recorded at "
            f"height {self.record_height}, parties {len(self.parties)}, endorsed by {endorsed}; "
            f"block {self.block_height} signed by {self.signed_by}"
        )

    def _why(self) -> str:
        """Who refused, disputed or revoked the record, and why (the latest such change)."""
        last = self.history[-1] if self.history else None
        if last is None or last["action"] not in ("refuse", "dispute", "revoke"):
            return ""
        who = last["org"] or f"party {str(last['by'])[:12]}…"
        reason = f": {last['reason']}" if last["reason"] else ""
        return f" (by {who}{reason})"


def verify_certificate(
    cert: Any,
    file_digest: bytes | None = None,
    *,
    trusted_node_keys: Collection[bytes] | None = None,
    trusted_validators_hashes: Collection[bytes] | None = None,
) -> VerifiedEvidence:
    """Check a certificate offline. Pin what you trust: the embedded node's key
    (``trusted_node_keys``) or a CometBFT network's genesis validator-set hash
    (``trusted_validators_hashes``); None trusts the anchor the certificate carries."""
    try:
        return _verify(cert, file_digest, trusted_node_keys, trusted_validators_hashes)
    except InvalidProof:
        raise
    except GridledgerError as exc:
        raise InvalidProof(f"certificate is invalid: {exc.message}") from exc
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise InvalidProof(f"certificate is malformed ({type(exc).__name__}: {exc})") from exc


def _verify(
    cert: Any,
    file_digest: bytes | None,
    trusted: Collection[bytes] | None,
    trusted_validators: Collection[bytes] | None,
) -> VerifiedEvidence:
    if not isinstance(cert, dict) or set(cert) != TOP_FIELDS:
        raise InvalidProof(
            f"certificate must have exactly the fields {', '.join(sorted(TOP_FIELDS))}"
        )
    if cert["format"] != FORMAT:
        raise InvalidProof(f"unknown certificate format {cert['format']!r}; expected {FORMAT}")
    chain_id = cert["chain_id"]
    anchor_type = (
        cert["trust_anchor"].get("type") if isinstance(cert["trust_anchor"], dict) else None
    )
    if anchor_type == "solo-node-key":
        block = _verify_solo_block(cert, chain_id, trusted)
    elif anchor_type == "cometbft-genesis":
        block = _verify_cometbft_block(cert, chain_id, trusted_validators)
    else:
        raise InvalidProof(
            f"unknown trust_anchor type {anchor_type!r}; expected solo-node-key or cometbft-genesis"
        )

    entries = cert["entries"]
    if not isinstance(entries, list) or not entries:
        raise InvalidProof("certificate has no log entries")
    txs = [
        _verify_entry(e, n, block.log_size, block.log_root, chain_id, block.height)
        for n, e in enumerate(entries)
    ]

    record_entry, record_tx = entries[0]["entry"], txs[0]
    if record_entry["kind"] not in RECORD_KINDS:
        raise InvalidProof(f"first entry is a {record_entry['kind']!r}, not a notary record")
    args = record_tx.body.args
    for party in args["parties"]:
        if party not in record_tx.signers:
            raise InvalidProof(f"party {party} did not sign the record")
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
        endorsed_by=tuple(e["org"] for e in expected["endorsements"]),
        required_endorsers=tuple(expected["endorsers"]),
        record_height=expected["height"],
        record_time_ms=expected["time_ms"],
        block_height=block.height,
        node_public_key=block.node_public_key,
        signed_by=block.signed_by,
        validators_hash=block.validators_hash,
        batch_root=expected["digest"] if expected["kind"] == "batch" else None,
        history=tuple(expected["history"]),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ProvenLog:
    """What a certificate's block part proves: the log had this size and root after ``height``."""

    height: int
    log_size: int
    log_root: bytes
    signed_by: str
    node_public_key: str = ""
    validators_hash: str = ""


def _verify_solo_block(cert: Any, chain_id: Any, trusted: Collection[bytes] | None) -> ProvenLog:
    header = decode_header(cert["block"]["header"])
    if set(cert["block"]) != {"header", "signature"}:
        raise InvalidProof("certificate block must have exactly header and signature")
    anchor = cert["trust_anchor"]
    if set(anchor) != {"type", "node_public_key"}:
        raise InvalidProof("certificate trust_anchor must have exactly type and node_public_key")
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
    return ProvenLog(
        height=header.height,
        log_size=header.log_size,
        log_root=header.log_root,
        signed_by=f"node {node_key.hex()[:16]}…",
        node_public_key=node_key.hex(),
    )


APP_STATE_FIELDS = frozenset(
    {"height", "prev_app_hash", "changes_hash", "log_size", "log_root", "app_hash"}
)


def _verify_cometbft_block(
    cert: Any, chain_id: Any, trusted_validators: Collection[bytes] | None
) -> ProvenLog:
    """The log root is in the app hash that more than 2/3 of the validators signed, and those
    validators descend from the genesis set (or the set the user pinned)."""
    block, anchor = cert["block"], cert["trust_anchor"]
    if not isinstance(block, dict) or set(block) != {
        "type",
        "app_state",
        "signed_header",
        "validators",
    }:
        raise InvalidProof(
            "certificate block must have exactly type, app_state, signed_header and validators"
        )
    if block["type"] != "cometbft":
        raise InvalidProof(f"block type {block['type']!r} does not match a cometbft anchor")
    app = block["app_state"]
    if not isinstance(app, dict) or set(app) != APP_STATE_FIELDS:
        raise InvalidProof(
            f"block app_state must have exactly {', '.join(sorted(APP_STATE_FIELDS))}"
        )
    height, log_size = app["height"], app["log_size"]
    if type(height) is not int or type(log_size) is not int or height < 1 or log_size < 0:
        raise InvalidProof("block app_state height and log_size must be non-negative integers")
    app_hash = _hash_hex(app["app_hash"], "app_state app_hash")
    log_root = _hash_hex(app["log_root"], "app_state log_root")
    recomputed = compute_app_hash(
        _hash_hex(app["prev_app_hash"], "app_state prev_app_hash"),
        _hash_hex(app["changes_hash"], "app_state changes_hash"),
        log_size,
        log_root,
    )
    if recomputed != app_hash:
        raise InvalidProof(
            "block app_state does not hash to its app_hash: the log size or root was changed"
        )
    verified = lightclient.verify_signed_header(
        chain_id, block["signed_header"], block["validators"]
    )
    if verified.app_hash != app_hash:
        raise InvalidProof(
            f"the signed header at height {verified.height} carries app hash "
            f"{verified.app_hash.hex()[:16]}…, not the certificate's {app_hash.hex()[:16]}…"
        )
    if verified.height != height + 1:
        raise InvalidProof(
            f"the app hash of block {height} is carried by header {height + 1}, "
            f"not header {verified.height}"
        )
    if not isinstance(anchor, dict) or set(anchor) != {"type", "genesis_validators", "transitions"}:
        raise InvalidProof(
            "certificate trust_anchor must have exactly type, genesis_validators and transitions"
        )
    genesis_hash = lightclient.genesis_validators_hash({"validators": anchor["genesis_validators"]})
    if trusted_validators is not None and genesis_hash not in trusted_validators:
        raise InvalidProof(
            f"the certificate starts from validator set {genesis_hash.hex()[:16]}…, which is "
            "not the genesis validator set you trust"
        )
    if not isinstance(anchor["transitions"], list):
        raise InvalidProof("trust_anchor transitions must be a list")
    lightclient.verify_validator_transitions(
        genesis_hash, anchor["transitions"], verified.validators_hash
    )
    return ProvenLog(
        height=height,
        log_size=log_size,
        log_root=log_root,
        signed_by=(
            f"{len(verified.signers)} validators holding {verified.signed_power} of "
            f"{verified.total_power} voting power (genesis validator set "
            f"{genesis_hash.hex()[:16]}…)"
        ),
        validators_hash=genesis_hash.hex(),
    )


def _hash_hex(value: Any, what: str) -> bytes:
    raw = _hex(value, what)
    if len(raw) != 32:
        raise InvalidProof(f"{what} must be 32 bytes of lowercase hex")
    return raw


def _verify_entry(
    item: Any, n: int, log_size: int, log_root: bytes, chain_id: str, height: int
) -> Transaction:
    if not isinstance(item, dict) or item.keys() != ENTRY_ITEM_FIELDS:
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


def _compare_record(given: Any, expected: dict[str, Any]) -> None:
    if not isinstance(given, dict):
        raise InvalidProof("certificate record must be an object")
    # As canonical JSON: Python's == alone would call true and 1, or 1 and 1.0, equal. Equal
    # values of the very same types have one canonical JSON, so the usual case needs no encoding.
    if given == expected and _is_same_json(given, expected):
        return
    if codec.encode_for_check(given) == codec.encode_for_check(expected):
        return
    for field in sorted(set(given) | set(expected)):  # find and name the difference
        if field not in given or field not in expected:
            raise InvalidProof(f"record field {field!r} is missing or not a field of the record")
        if codec.encode_for_check(given[field]) != codec.encode_for_check(expected[field]):
            raise InvalidProof(f"record field {field!r} does not match the signed log entries")
    raise InvalidProof("record does not match the signed log entries")


def _is_same_json(given: Any, expected: Any) -> bool:
    """Whether ``given``, already ``==`` to ``expected``, has the very same type at every place
    (string keys included). A fast path only: False sends the caller to the canonical-JSON
    comparison, which decides and names the difference."""
    kind = type(expected)
    if type(given) is not kind:
        return False
    if kind is dict:
        return all(type(k) is str and _is_same_json(v, expected[k]) for k, v in given.items())
    if kind is list:
        return all(map(_is_same_json, given, expected))
    return True


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
    """Bytes from lowercase hex: the one spelling a certificate uses, so each value has one.
    ``bytes.fromhex`` also takes upper case and spaces; the round trip refuses them."""
    if type(value) is str:
        raw = _from_hex(value)
        if raw is not None and raw.hex() == value:
            return raw
    raise InvalidProof(f"{what} must be lowercase hex")


def _hashes(values: Any, what: str) -> list[bytes]:
    """A list of 32-byte hashes in lowercase hex, checked and converted in one pass."""
    if type(values) is list and all(type(v) is str and len(v) == 64 for v in values):
        joined = "".join(values)
        raw = _from_hex(joined)
        if raw is not None and raw.hex() == joined:
            return [raw[i : i + 32] for i in range(0, len(raw), 32)]
    raise InvalidProof(f"{what} must be a list of 32-byte hashes in lowercase hex")


def _from_hex(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None
