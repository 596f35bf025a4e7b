"""Block headers of the embedded (solo) node, their hash and the node's signature over them.

The solo node is the one producer, so its header carries the app hash *after* executing the block
(CometBFT instead carries app_hash(H) in header H+1; the certificate says which form it holds).
The header is canonical JSON; its hash is SHA-256(BLOCK_DOMAIN || canonical(header)) and the node
key signs the same bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gridledger import codec, merkle
from gridledger.crypto import ED25519, verify_signature
from gridledger.errors import DecodeError, InvalidProof, InvalidSignature

BLOCK_DOMAIN = b"gridledger/block/v1\n"
HEADER_FIELDS = (
    "app_hash",
    "chain_id",
    "height",
    "log_root",
    "log_size",
    "prev_block_hash",
    "proposer",
    "results_hash",
    "time_ms",
    "txs_hash",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockHeader:
    chain_id: str
    height: int
    time_ms: int
    prev_block_hash: bytes
    txs_hash: bytes
    results_hash: bytes
    app_hash: bytes
    log_size: int
    log_root: bytes
    proposer: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "app_hash": self.app_hash.hex(),
            "chain_id": self.chain_id,
            "height": self.height,
            "log_root": self.log_root.hex(),
            "log_size": self.log_size,
            "prev_block_hash": self.prev_block_hash.hex(),
            "proposer": self.proposer.hex(),
            "results_hash": self.results_hash.hex(),
            "time_ms": self.time_ms,
            "txs_hash": self.txs_hash.hex(),
        }


def compute_header_sign_bytes(header: BlockHeader) -> bytes:
    return BLOCK_DOMAIN + codec.encode(header.to_json())


def compute_block_hash(header: BlockHeader) -> bytes:
    return hashlib.sha256(compute_header_sign_bytes(header)).digest()


def compute_txs_hash(raw_txs: Sequence[bytes]) -> bytes:
    return merkle.root(raw_txs)


def compute_results_hash(results: Sequence[tuple[bytes, int]]) -> bytes:
    """Merkle root over (tx_id, code) of each transaction, in block order; each leaf is the
    canonical JSON ``{"code":<code>,"tx_id":"<hex>"}``."""
    return merkle.root(
        [b'{"code":%d,"tx_id":"%s"}' % (code, tx_id.hex().encode()) for tx_id, code in results]
    )


def verify_header_signature(header: BlockHeader, public_key: bytes, signature: bytes) -> None:
    if header.proposer != public_key:
        raise InvalidProof(
            f"block {header.height} was proposed by {header.proposer.hex()[:16]}…, "
            f"not by the trusted node key {public_key.hex()[:16]}…"
        )
    try:
        verify_signature(ED25519, public_key, compute_header_sign_bytes(header), signature)
    except InvalidSignature as exc:
        raise InvalidProof(f"block {header.height} signature is invalid: {exc.message}") from exc


_HASH_HEX = re.compile("[0-9a-f]{64}")


def decode_header(obj: Any) -> BlockHeader:
    if not isinstance(obj, dict) or tuple(sorted(obj)) != HEADER_FIELDS:
        raise DecodeError(f"block header must have exactly the fields {', '.join(HEADER_FIELDS)}")
    try:
        return BlockHeader(
            chain_id=_str(obj["chain_id"]),
            height=_int(obj["height"]),
            time_ms=_int(obj["time_ms"]),
            prev_block_hash=_hash(obj["prev_block_hash"]),
            txs_hash=_hash(obj["txs_hash"]),
            results_hash=_hash(obj["results_hash"]),
            app_hash=_hash(obj["app_hash"]),
            log_size=_int(obj["log_size"]),
            log_root=_hash(obj["log_root"]),
            proposer=_hash(obj["proposer"]),
        )
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"block header: {exc}") from exc


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TypeError("expected a non-negative integer")
    return value


def _hash(value: Any) -> bytes:
    """32 bytes written as 64 lowercase hex digits, the header's one spelling of a hash."""
    if _HASH_HEX.fullmatch(_str(value)) is None:
        raise ValueError("expected 32 bytes as 64 lowercase hex digits")
    return bytes.fromhex(value)
