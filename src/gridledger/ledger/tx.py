"""The transaction envelope.

A transaction is canonical JSON::

    {"body": {"args": {...}, "chain_id": "...", "contract": "notary", "expiry_height": 1200,
              "method": "record", "nonce": "9f2c..."},
     "signatures": [{"alg": "ed25519", "public_key": "<hex>", "signature": "<hex>"}, ...]}

- Every signature signs the same bytes, ``SIGN_DOMAIN || canonical(body)``; the first signer is the
  *sender*, the others co-sign (for example both parties of a contract).
- ``tx_id`` is SHA-256 of those sign bytes. It names the transaction independently of how many
  signatures it carries, and it is what replay protection remembers until ``expiry_height``.
- ``nonce`` makes two otherwise identical intents distinct, so one account can have any number of
  transactions in flight at once: there is no per-account sequence number to serialize on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridledger import codec
from gridledger.crypto import SUITES, Signer, compute_address, verify_signature
from gridledger.errors import DecodeError, InvalidSignature, InvalidTransaction, Oversized

SIGN_DOMAIN = b"gridledger/tx/v1\n"
_BODY_PREFIX = b'{"body":'
_SIGNATURES_SEPARATOR = b',"signatures":['
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_LOWER_HEX = re.compile(r"[0-9a-f]*")
MAX_TX_BYTES = 512 * 1024
MAX_SIGNATURES = 16
MAX_NONCE_CHARS = 64
MAX_NAME_CHARS = 64
_TX_FIELDS = frozenset({"body", "signatures"})
BODY_FIELDS = frozenset({"args", "chain_id", "contract", "expiry_height", "method", "nonce"})
SIGNATURE_FIELDS = frozenset({"alg", "public_key", "signature"})


@dataclass(frozen=True, slots=True, kw_only=True)
class TxBody:
    chain_id: str
    expiry_height: int
    nonce: str
    contract: str
    method: str
    args: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "args": dict(self.args),
            "chain_id": self.chain_id,
            "contract": self.contract,
            "expiry_height": self.expiry_height,
            "method": self.method,
            "nonce": self.nonce,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TxSignature:
    alg: str
    public_key: bytes
    signature: bytes
    address: str = ""

    def __post_init__(self) -> None:
        if not self.address:
            object.__setattr__(self, "address", compute_address(self.public_key, self.alg))

    def to_json(self) -> dict[str, str]:
        return {
            "alg": self.alg,
            "public_key": self.public_key.hex(),
            "signature": self.signature.hex(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    body: TxBody
    signatures: tuple[TxSignature, ...]
    raw: bytes
    tx_id: bytes
    sign_bytes: bytes
    signers: tuple[str, ...]

    @property
    def sender(self) -> str:
        return self.signatures[0].address

    def to_json(self) -> dict[str, Any]:
        return {
            "body": self.body.to_json(),
            "signatures": [sig.to_json() for sig in self.signatures],
        }


def compute_sign_bytes(body: TxBody) -> bytes:
    return SIGN_DOMAIN + codec.encode(body.to_json())


def compute_tx_id(body: TxBody) -> bytes:
    return hashlib.sha256(compute_sign_bytes(body)).digest()


def encode_transaction(body: TxBody, signatures: Sequence[TxSignature]) -> Transaction:
    raw = codec.encode(
        {"body": body.to_json(), "signatures": [sig.to_json() for sig in signatures]}
    )
    return decode_transaction(raw)


def sign_transaction(body: TxBody, signers: Sequence[Signer]) -> Transaction:
    """Build a transaction signed by every signer in order (the first is the sender)."""
    message = compute_sign_bytes(body)
    sigs = [
        TxSignature(alg=s.alg, public_key=s.public_key, signature=s.sign(message)) for s in signers
    ]
    return encode_transaction(body, sigs)


def add_signature(tx: Transaction, signer: Signer) -> Transaction:
    """Co-sign an existing transaction (the body does not change, so tx_id does not either)."""
    sig = TxSignature(
        alg=signer.alg,
        public_key=signer.public_key,
        signature=signer.sign(tx.sign_bytes),
    )
    return encode_transaction(tx.body, (*tx.signatures, sig))


def decode_transaction(raw: bytes) -> Transaction:
    """Parse raw bytes into a fully shape-checked Transaction (signatures not yet verified)."""
    if len(raw) > MAX_TX_BYTES:
        raise Oversized(f"transaction is {len(raw)} bytes; the limit is {MAX_TX_BYTES}")
    try:
        obj = codec.decode(raw)
    except DecodeError as exc:
        raise DecodeError(f"transaction: {exc.message}") from exc
    return _decode_object(obj, bytes(raw))


def transaction_from_json(obj: Any, raw: bytes | None = None) -> Transaction:
    """A Transaction from its already parsed JSON object (as embedded in a log entry).

    ``raw``, when given, must be the canonical encoding of ``obj`` (for example cut from the
    canonical bytes of the entry holding it); it saves encoding the object again. Wrong bytes
    cannot pass: the tx id and the signatures are computed from them.
    """
    if raw is None:
        raw = codec.encode(obj)
    if len(raw) > MAX_TX_BYTES:
        raise Oversized(f"transaction is {len(raw)} bytes; the limit is {MAX_TX_BYTES}")
    return _decode_object(obj, raw)


def _decode_object(obj: Any, raw: bytes) -> Transaction:
    if not isinstance(obj, dict) or obj.keys() != _TX_FIELDS:
        raise InvalidTransaction(
            'transaction must be an object with exactly "body" and "signatures"'
        )
    body = _decode_body(obj["body"])
    signatures = _decode_signatures(obj["signatures"])
    sign_bytes = SIGN_DOMAIN + _body_bytes(raw)
    return Transaction(
        body=body,
        signatures=signatures,
        raw=raw,
        tx_id=hashlib.sha256(sign_bytes).digest(),
        sign_bytes=sign_bytes,
        signers=tuple(sig.address for sig in signatures),
    )


def _body_bytes(raw: bytes) -> bytes:
    """The canonical bytes of the body, cut from the canonical transaction.

    In canonical form the transaction is ``{"body":<body>,"signatures":[...]}`` ("body" sorts
    first). The separator is found from the right: the signatures array after it holds only
    objects with the keys alg, public_key and signature, so it cannot contain the separator.
    """
    end = raw.rfind(_SIGNATURES_SEPARATOR)
    if not raw.startswith(_BODY_PREFIX) or end < 0:
        raise InvalidTransaction('transaction must be {"body":...,"signatures":[...]}')
    return raw[len(_BODY_PREFIX) : end]


def verify_transaction_signatures(tx: Transaction) -> None:
    message = tx.sign_bytes
    for position, sig in enumerate(tx.signatures):
        try:
            verify_signature(sig.alg, sig.public_key, message, sig.signature)
        except InvalidSignature as exc:
            raise InvalidSignature(
                f"signature {position} (signer {sig.address}) is invalid: {exc.message}"
            ) from exc


def _decode_body(obj: Any) -> TxBody:
    if not isinstance(obj, dict):
        raise InvalidTransaction("transaction body must be an object")
    if obj.keys() != BODY_FIELDS:
        missing = sorted(BODY_FIELDS - set(obj))
        extra = sorted(set(obj) - BODY_FIELDS)
        if missing:
            raise InvalidTransaction(f"transaction body is missing {', '.join(missing)}")
        raise InvalidTransaction(f"transaction body has unknown field(s) {', '.join(extra)}")
    for name in ("chain_id", "contract", "method"):
        _require_name(obj[name], name)
    nonce = obj["nonce"]
    if not isinstance(nonce, str) or not 1 <= len(nonce) <= MAX_NONCE_CHARS:
        raise InvalidTransaction(f"nonce must be a string of 1 to {MAX_NONCE_CHARS} characters")
    expiry = obj["expiry_height"]
    if not isinstance(expiry, int) or isinstance(expiry, bool) or expiry < 1:
        raise InvalidTransaction("expiry_height must be a positive integer")
    if not isinstance(obj["args"], dict):
        raise InvalidTransaction("args must be an object")
    return TxBody(
        chain_id=obj["chain_id"],
        expiry_height=expiry,
        nonce=nonce,
        contract=obj["contract"],
        method=obj["method"],
        args=obj["args"],
    )


def _decode_signatures(obj: Any) -> tuple[TxSignature, ...]:
    if not isinstance(obj, list) or not obj:
        raise InvalidSignature("transaction has no signatures; at least the sender must sign")
    if len(obj) > MAX_SIGNATURES:
        raise Oversized(f"transaction has {len(obj)} signatures; the limit is {MAX_SIGNATURES}")
    sigs = tuple(_decode_signature(item, i) for i, item in enumerate(obj))
    addresses = [sig.address for sig in sigs]
    if len(set(addresses)) != len(addresses):
        raise InvalidSignature("the same key signed the transaction more than once")
    return sigs


def _decode_signature(item: Any, position: int) -> TxSignature:
    if not isinstance(item, dict) or item.keys() != SIGNATURE_FIELDS:
        raise InvalidSignature(
            f"signature {position} must be an object with alg, public_key and signature"
        )
    if item["alg"] not in SUITES:
        raise InvalidSignature(f"signature {position}: unsupported suite {item['alg']!r}")
    try:
        public_key = _decode_hex(item["public_key"])
        signature = _decode_hex(item["signature"])
    except ValueError as exc:
        raise InvalidSignature(f"signature {position}: {exc}") from exc
    return TxSignature(alg=item["alg"], public_key=public_key, signature=signature)


def _decode_hex(value: Any) -> bytes:
    # bytes.fromhex alone would also take upper case and spaces: one signed transaction would
    # then have many encodings.
    if not isinstance(value, str) or _LOWER_HEX.fullmatch(value) is None:
        raise ValueError("keys and signatures are lowercase hex strings")
    return bytes.fromhex(value)


def _require_name(value: Any, field: str) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME_CHARS:
        raise InvalidTransaction(f"{field} must be a string of 1 to {MAX_NAME_CHARS} characters")
    if _NAME.fullmatch(value) is None:
        raise InvalidTransaction(f"{field} {value!r} may contain only ASCII letters, digits, - _ .")
