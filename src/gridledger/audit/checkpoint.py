"""Signed checkpoints: a node's signed statement of what its evidence log held at a height.

A checkpoint is the canonical JSON object

    {"app_hash": <64 hex>, "chain_id": <str>, "height": <int>, "log_root": <64 hex>,
     "log_size": <int>, "time_ms": <int>}

(``log_size`` and ``log_root``: the RFC 9162 log after block ``height``; ``app_hash``: the app hash
after that block; ``time_ms``: that block's consensus time, so honest nodes sign identical bodies).
The node signs ``"gridledger/checkpoint/v1\\n" || canonical(checkpoint)`` with its Ed25519 node
key. On the wire a signed checkpoint is ``{"alg": "ed25519", "checkpoint": {...},
"public_key": <64 hex>, "signature": <128 hex>}``.

Once a node has signed a checkpoint it cannot later show a log that does not extend it without
being caught: every later log must pass an RFC 9162 consistency proof from the checkpointed size
and root. This is the witness pattern of Certificate Transparency (RFC 9162 section 8.1.3,
C2SP tlog-witness): nodes keep each other's checkpoints and compare.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gridledger import codec
from gridledger.crypto import ED25519, Signer, verify_signature
from gridledger.errors import DecodeError, InvalidProof, InvalidSignature

CHECKPOINT_DOMAIN = b"gridledger/checkpoint/v1\n"
CHECKPOINT_FIELDS = ("app_hash", "chain_id", "height", "log_root", "log_size", "time_ms")
SIGNED_FIELDS = ("alg", "checkpoint", "public_key", "signature")
_HEX32 = re.compile("[0-9a-f]{64}")
_HEX64 = re.compile("[0-9a-f]{128}")
_CHAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkpoint:
    chain_id: str
    height: int
    log_size: int
    log_root: bytes
    app_hash: bytes
    time_ms: int

    def to_json(self) -> dict[str, Any]:
        return {
            "app_hash": self.app_hash.hex(),
            "chain_id": self.chain_id,
            "height": self.height,
            "log_root": self.log_root.hex(),
            "log_size": self.log_size,
            "time_ms": self.time_ms,
        }

    def describe(self) -> str:
        """A short human description: height, size and the start of the root."""
        return f"height {self.height} (log size {self.log_size}, root {self.log_root.hex()[:16]}…)"


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    public_key: bytes
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "alg": ED25519,
            "checkpoint": self.checkpoint.to_json(),
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }


# -- encoding ---------------------------------------------------------------------------------


def compute_checkpoint_sign_bytes(checkpoint: Checkpoint) -> bytes:
    return CHECKPOINT_DOMAIN + codec.encode(checkpoint.to_json())


def decode_checkpoint(obj: Any) -> Checkpoint:
    """A checkpoint object as the wire carries it; DecodeError names the first problem."""
    if not isinstance(obj, dict) or tuple(sorted(obj)) != CHECKPOINT_FIELDS:
        raise DecodeError(f"checkpoint must have exactly the fields {', '.join(CHECKPOINT_FIELDS)}")
    chain_id = obj["chain_id"]
    if not isinstance(chain_id, str) or not _CHAIN_ID.fullmatch(chain_id):
        raise DecodeError("checkpoint chain_id must be 1 to 64 ASCII letters, digits, - _ .")
    return Checkpoint(
        chain_id=chain_id,
        height=_non_negative(obj["height"], "height"),
        log_size=_non_negative(obj["log_size"], "log_size"),
        log_root=_hex(obj["log_root"], "log_root", _HEX32),
        app_hash=_hex(obj["app_hash"], "app_hash", _HEX32),
        time_ms=_non_negative(obj["time_ms"], "time_ms"),
    )


def decode_signed_checkpoint(obj: Any) -> SignedCheckpoint:
    if not isinstance(obj, dict) or tuple(sorted(obj)) != SIGNED_FIELDS:
        raise DecodeError(
            f"signed checkpoint must have exactly the fields {', '.join(SIGNED_FIELDS)}"
        )
    if obj["alg"] != ED25519:
        raise DecodeError(f"signed checkpoint alg must be {ED25519!r}, not {obj['alg']!r}")
    return SignedCheckpoint(
        checkpoint=decode_checkpoint(obj["checkpoint"]),
        public_key=_hex(obj["public_key"], "public_key", _HEX32),
        signature=_hex(obj["signature"], "signature", _HEX64),
    )


def decode_public_key(text: Any) -> bytes:
    """A checkpoint key written as 64 lowercase hex characters."""
    return _hex(text, "public key", _HEX32)


def decode_hash(text: Any, name: str) -> bytes:
    """A 32-byte hash (a log root) written as 64 lowercase hex characters."""
    return _hex(text, name, _HEX32)


# -- signing and verification -----------------------------------------------------------------


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> SignedCheckpoint:
    if signer.alg != ED25519:
        raise InvalidSignature(f"checkpoints are signed with {ED25519}, not {signer.alg}")
    return SignedCheckpoint(
        checkpoint=checkpoint,
        public_key=signer.public_key,
        signature=signer.sign(compute_checkpoint_sign_bytes(checkpoint)),
    )


def verify_checkpoint(signed: SignedCheckpoint, trusted_key: bytes | None = None) -> None:
    """Raise InvalidProof unless ``signed`` carries a valid signature, by ``trusted_key`` when
    one is pinned."""
    where = f"checkpoint at height {signed.checkpoint.height}"
    if trusted_key is not None and signed.public_key != trusted_key:
        raise InvalidProof(
            f"{where} is signed by key {signed.public_key.hex()[:16]}…, "
            f"not by the pinned key {trusted_key.hex()[:16]}…"
        )
    try:
        verify_signature(
            ED25519,
            signed.public_key,
            compute_checkpoint_sign_bytes(signed.checkpoint),
            signed.signature,
        )
    except InvalidSignature as exc:
        raise InvalidProof(f"{where} has an invalid signature: {exc.message}") from exc


# -- field decoders ---------------------------------------------------------------------------


def _non_negative(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DecodeError(f"checkpoint {name} must be a non-negative integer")
    return value


def _hex(value: Any, name: str, pattern: re.Pattern[str]) -> bytes:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        length = 64 if pattern is _HEX32 else 128
        raise DecodeError(f"{name} must be {length} lowercase hex characters")
    return bytes.fromhex(value)
