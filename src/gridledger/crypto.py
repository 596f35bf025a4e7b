"""Signatures and addresses.

Ed25519 (RFC 8032) is the default suite. Signatures are checked by ``gridledger_native`` (our
Rust module in ``native/``, built by ``make setup`` where Rust is installed) or else by libsodium
(PyNaCl); both accept exactly the same signatures, libsodium's rules, so validators built either
way agree (``ED25519_VERIFIER`` says which one this process uses). A signature on the ledger
always says which suite made it (``alg``), so another suite (SM2/SM3 for a domestic-cryptography
chain) can be added beside it without changing the transaction format.

An address is ``gl`` followed by the hex of the first 20 bytes of
SHA-256("gridledger/address/v1" || alg || 0x00 || public key): short, readable, tied to one key
and one suite.

The core only verifies; key generation (randomness) happens at the edge in ``gridledger.keys``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import nacl.bindings
import nacl.exceptions
import nacl.signing

from gridledger.errors import InvalidSignature
from gridledger.native import load_native_function

ED25519 = "ed25519"
SUITES = (ED25519,)
ED25519_PUBLIC_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
ADDRESS_PREFIX = "gl"
ADDRESS_HEX_CHARS = 40
_ADDRESS = re.compile(f"{ADDRESS_PREFIX}[0-9a-f]{{{ADDRESS_HEX_CHARS}}}")


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def compute_address(public_key: bytes, alg: str = ED25519) -> str:
    digest = sha256(b"gridledger/address/v1" + alg.encode("ascii") + b"\x00" + public_key)
    return ADDRESS_PREFIX + digest[:20].hex()


def is_address(text: object) -> bool:
    return isinstance(text, str) and _ADDRESS.fullmatch(text) is not None


def verify_ed25519_libsodium(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """libsodium's Ed25519 check (32-byte key, 64-byte signature)."""
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
        return False
    return True


verify_ed25519_native: Callable[[bytes, bytes, bytes], bool] | None = load_native_function(
    "ed25519_verify"
)
ED25519_VERIFIER = "native" if verify_ed25519_native is not None else "libsodium"
_verify_ed25519 = verify_ed25519_native or verify_ed25519_libsodium


def verify_signature(alg: str, public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise InvalidSignature unless ``signature`` is ``public_key``'s signature of ``message``."""
    if alg != ED25519:
        raise InvalidSignature(
            f"unsupported signature suite {alg!r}; supported: {', '.join(SUITES)}"
        )
    if len(public_key) != ED25519_PUBLIC_KEY_BYTES:
        raise InvalidSignature(
            f"ed25519 public key must be {ED25519_PUBLIC_KEY_BYTES} bytes, got {len(public_key)}"
        )
    if len(signature) != ED25519_SIGNATURE_BYTES:
        raise InvalidSignature(
            f"ed25519 signature must be {ED25519_SIGNATURE_BYTES} bytes, got {len(signature)}"
        )
    if not _verify_ed25519(public_key, message, signature):
        raise InvalidSignature(f"signature does not verify for key {public_key.hex()[:16]}…")


class VerifiedCache:
    """Signatures this process has already verified, so a node checks a signature once when
    it meets it twice (a meter reading in CheckTx, then again in FinalizeBlock).

    Keyed by SHA-256 over the key, the signature and the message, so a hit means exactly
    these bytes verified before; a rotated key or another message misses. Only successes are
    kept, so the answer is always the one verification would give: consensus stays
    deterministic. Bounded: the oldest entries go first.
    """

    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._seen: dict[bytes, None] = {}
        self._lock = threading.Lock()  # CheckTx and FinalizeBlock run on different threads

    def verify(self, alg: str, public_key: bytes, message: bytes, signature: bytes) -> None:
        """``verify_signature``, skipped for bytes that verified before."""
        key = hashlib.sha256(alg.encode() + b"\0" + public_key + signature + message).digest()
        with self._lock:
            if key in self._seen:
                return
        verify_signature(alg, public_key, message, signature)
        with self._lock:
            if len(self._seen) >= self.max_entries:
                del self._seen[next(iter(self._seen))]
            self._seen[key] = None


VERIFIED = VerifiedCache()


class Signer(Protocol):
    """Anything that can sign: a key in memory, a key file, later an HSM."""

    @property
    def alg(self) -> str: ...

    @property
    def public_key(self) -> bytes: ...

    @property
    def address(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """An Ed25519 signing key. Its repr and str never show the secret."""

    _seed: bytes
    # Expanded once: deriving it from the seed (SHA-512 and a scalar multiplication) would
    # otherwise cost about 20 us on every signature and every public-key read.
    _signing_key: nacl.signing.SigningKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_signing_key", nacl.signing.SigningKey(self._seed))

    @classmethod
    def from_seed(cls, seed: bytes) -> PrivateKey:
        if len(seed) != 32:
            raise InvalidSignature(f"ed25519 secret seed must be 32 bytes, got {len(seed)}")
        return cls(seed)

    @property
    def alg(self) -> str:
        return ED25519

    @property
    def public_key(self) -> bytes:
        return bytes(self._signing_key.verify_key)

    @property
    def address(self) -> str:
        return compute_address(self.public_key)

    def seed_bytes(self) -> bytes:
        """The secret itself, only for writing a key file."""
        return self._seed

    def sign(self, message: bytes) -> bytes:
        return self._signing_key.sign(message).signature

    def __repr__(self) -> str:
        return f"PrivateKey(address={self.address})"

    __str__ = __repr__
