"""Delivery keys and sealed documents: X25519 key pairs and libsodium sealed boxes.

A document delivered privately is sealed to the receiving organization's delivery public key
with a sealed box (libsodium ``crypto_box_seal``: a fresh X25519 key per message and
XSalsa20-Poly1305, 48 bytes of overhead). Only the holder of the matching secret key can open
it, and any change to the ciphertext makes opening fail. A sealed box does not say who sealed it;
that is what the signed request carrying it establishes (``gridledger.privstore.request``).

Key file: JSON ``{"type": "x25519", "public_key": hex, "secret_key": hex}``, mode 0600, the
same shape as the Ed25519 account key files. Nothing here prints or logs the secret.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.public

from gridledger.errors import GridledgerError
from gridledger.keys import KeyFileError, write_secret_json

X25519 = "x25519"
KEY_BYTES = 32
SEAL_OVERHEAD_BYTES = 48  # ephemeral public key (32) + Poly1305 tag (16)


class SealError(GridledgerError):
    """A sealed document that cannot be opened: another key, or the ciphertext was changed."""

    code = "seal_error"


@dataclass(frozen=True, slots=True)
class DeliveryKey:
    """An organization's X25519 delivery key pair. Its repr and str never show the secret."""

    _secret: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> DeliveryKey:
        if len(secret) != KEY_BYTES:
            raise KeyFileError(f"an X25519 secret key is {KEY_BYTES} bytes, got {len(secret)}")
        return cls(secret)

    @property
    def public_key(self) -> bytes:
        return bytes(nacl.public.PrivateKey(self._secret).public_key)

    def secret_bytes(self) -> bytes:
        """The secret itself, only for writing a key file."""
        return self._secret

    def open(self, ciphertext: bytes) -> bytes:
        """The document inside a sealed box made for this key."""
        box = nacl.public.SealedBox(nacl.public.PrivateKey(self._secret))
        try:
            return bytes(box.decrypt(ciphertext))
        except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError) as exc:
            raise SealError(
                f"the sealed document does not open with delivery key "
                f"{self.public_key.hex()[:16]}…: it was sealed to another key or altered"
            ) from exc

    def __repr__(self) -> str:
        return f"DeliveryKey(public_key={self.public_key.hex()})"

    __str__ = __repr__


def generate_delivery_key() -> DeliveryKey:
    return DeliveryKey(bytes(nacl.public.PrivateKey.generate()))


def seal(document: bytes, public_key: bytes) -> bytes:
    """``document`` sealed to the X25519 ``public_key``."""
    if len(public_key) != KEY_BYTES:
        raise SealError(f"an X25519 public key is {KEY_BYTES} bytes, got {len(public_key)}")
    return bytes(nacl.public.SealedBox(nacl.public.PublicKey(public_key)).encrypt(document))


def write_delivery_key_file(path: Path, key: DeliveryKey, *, overwrite: bool = False) -> None:
    if path.exists() and not overwrite:
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "type": X25519,
        "public_key": key.public_key.hex(),
        "secret_key": key.secret_bytes().hex(),
    }
    write_secret_json(path, body)


def read_delivery_key_file(path: Path) -> DeliveryKey:
    body = _read(path)
    try:
        key = DeliveryKey.from_secret(bytes.fromhex(str(body["secret_key"])))
    except (KeyError, ValueError) as exc:
        raise KeyFileError(f"key file {path} has no valid secret_key") from exc
    if body.get("public_key") not in (None, key.public_key.hex()):
        raise KeyFileError(f"key file {path}: public_key does not match the secret key")
    return key


def read_delivery_public_key(path: Path) -> bytes:
    """Only the public half of a delivery key file (for a process that must not open mail)."""
    body = _read(path)
    try:
        public_key = bytes.fromhex(str(body["public_key"]))
    except (KeyError, ValueError) as exc:
        raise KeyFileError(f"key file {path} has no valid public_key") from exc
    if len(public_key) != KEY_BYTES:
        raise KeyFileError(f"key file {path}: public_key is not {KEY_BYTES} bytes")
    return public_key


def _read(path: Path) -> dict[str, object]:
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KeyFileError(f"delivery key file {path} not found") from exc
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"delivery key file {path} is not readable JSON") from exc
    if not isinstance(body, dict) or body.get("type") != X25519:
        raise KeyFileError(f"key file {path} is not an x25519 delivery key file")
    return body
