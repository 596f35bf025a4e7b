"""Key files: create, write and read Ed25519 keys on disk.

A key file is JSON ``{"type": "ed25519", "address": ..., "public_key": hex, "secret_key": hex}``
written with mode 0600. The secret is the 32-byte RFC 8032 seed. Nothing here ever prints or logs
the secret; errors name the file, never its content.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nacl.signing

from gridledger.crypto import ED25519, PrivateKey, compute_address
from gridledger.errors import GridledgerError


class KeyFileError(GridledgerError):
    code = "key_file_error"


def generate_key() -> PrivateKey:
    return PrivateKey.from_seed(bytes(nacl.signing.SigningKey.generate()))


def write_key_file(path: Path, key: PrivateKey, *, overwrite: bool = False) -> None:
    if path.exists() and not overwrite:
        raise KeyFileError(f"key file {path} already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "type": ED25519,
        "address": key.address,
        "public_key": key.public_key.hex(),
        "secret_key": key.seed_bytes().hex(),
    }
    write_secret_json(path, body)


def write_secret_json(path: Path, body: dict[str, str]) -> None:
    """Write a JSON file holding a secret: mode 0600 from the start, fsync'd, renamed into
    place so a crash never leaves half a key."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_key_file(path: Path) -> PrivateKey:
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KeyFileError(f"key file {path} not found") from exc
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"key file {path} is not readable JSON") from exc
    if not isinstance(body, dict) or body.get("type") != ED25519:
        raise KeyFileError(f"key file {path} is not an ed25519 key file")
    try:
        key = PrivateKey.from_seed(bytes.fromhex(str(body["secret_key"])))
    except (KeyError, ValueError, GridledgerError) as exc:
        raise KeyFileError(f"key file {path} has no valid secret_key") from exc
    if body.get("public_key") not in (None, key.public_key.hex()):
        raise KeyFileError(f"key file {path}: public_key does not match the secret key")
    if body.get("address") not in (None, compute_address(key.public_key)):
        raise KeyFileError(f"key file {path}: address does not match the secret key")
    return key
