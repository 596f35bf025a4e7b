"""Signed requests: how a node knows who is asking for (or delivering) a private document.

A request to the private document store carries four headers::

    X-Gridledger-Key:        the requester's Ed25519 public key (64 lowercase hex)
    X-Gridledger-Time-Ms:    the requester's clock, milliseconds since 1970 (decimal)
    X-Gridledger-Nonce:      16 random bytes (32 lowercase hex), never reused
    X-Gridledger-Signature:  Ed25519 signature over the sign bytes (128 lowercase hex)

    sign bytes = "gridledger/request/v1\n" || canonical JSON of
        {"body_sha256": <hex SHA-256 of the body, b"" for GET>, "chain_id": <chain>,
         "method": "GET" | "PUT", "nonce": <nonce>, "path": <URL path, no query>,
         "time_ms": <time>}

The signature binds the request to one chain, one method, one path (so one digest) and one body.
The node accepts it only while ``|now - time_ms| <= 60 s`` and only once: it remembers each
(key, nonce) pair for longer than that window, so a captured request cannot be replayed. The
requester's address is the usual account address of the key; what that account may do is the
node's rule (``gridledger.api.private``). Every failure here is ``Unauthorized`` (HTTP 403).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from gridledger import codec
from gridledger.crypto import ED25519, Signer, compute_address, verify_signature
from gridledger.errors import InvalidSignature, Unauthorized

REQUEST_DOMAIN = b"gridledger/request/v1\n"
HEADER_KEY = "X-Gridledger-Key"
HEADER_TIME = "X-Gridledger-Time-Ms"
HEADER_NONCE = "X-Gridledger-Nonce"
HEADER_SIGNATURE = "X-Gridledger-Signature"
WINDOW_MS = 60_000
METHODS = frozenset({"GET", "PUT"})
_HEX64 = re.compile("[0-9a-f]{64}")
_HEX128 = re.compile("[0-9a-f]{128}")
_NONCE = re.compile("[0-9a-f]{32}")
_TIME = re.compile("[0-9]{1,15}")


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedRequest:
    """A request whose signature verified and whose time is inside the window."""

    public_key: bytes
    address: str
    time_ms: int
    nonce: str


def compute_request_sign_bytes(
    *, chain_id: str, method: str, path: str, time_ms: int, nonce: str, body: bytes
) -> bytes:
    fields = {
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "chain_id": chain_id,
        "method": method,
        "nonce": nonce,
        "path": path,
        "time_ms": time_ms,
    }
    return REQUEST_DOMAIN + codec.encode(fields)


def sign_request(
    signer: Signer,
    *,
    chain_id: str,
    method: str,
    path: str,
    body: bytes = b"",
    time_ms: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers of a signed request (now, with a fresh nonce, unless given)."""
    if time_ms is None:
        time_ms = time.time_ns() // 1_000_000
    if nonce is None:
        nonce = secrets.token_hex(16)
    sign_bytes = compute_request_sign_bytes(
        chain_id=chain_id, method=method, path=path, time_ms=time_ms, nonce=nonce, body=body
    )
    return {
        HEADER_KEY: signer.public_key.hex(),
        HEADER_TIME: str(time_ms),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signer.sign(sign_bytes).hex(),
    }


def verify_request(
    headers: Mapping[str, str],
    *,
    chain_id: str,
    method: str,
    path: str,
    body: bytes,
    now_ms: int,
    window_ms: int = WINDOW_MS,
) -> SignedRequest:
    """Check the headers' shape, the time window and the signature; raise Unauthorized naming
    the first problem. (Replays are the caller's check: it keeps the nonces it has seen.)"""
    lowered = {k.lower(): v for k, v in headers.items()}
    values = {}
    for name, pattern in (
        (HEADER_KEY, _HEX64),
        (HEADER_TIME, _TIME),
        (HEADER_NONCE, _NONCE),
        (HEADER_SIGNATURE, _HEX128),
    ):
        value = lowered.get(name.lower())
        if value is None:
            raise Unauthorized(
                f"unsigned request: header {name} is missing (see docs/private-delivery.md)"
            )
        if pattern.fullmatch(value) is None:
            raise Unauthorized(f"header {name} is malformed")
        values[name] = value
    time_ms = int(values[HEADER_TIME])
    if abs(now_ms - time_ms) > window_ms:
        raise Unauthorized(
            f"request time {time_ms} is {abs(now_ms - time_ms) // 1000} s away from the node's "
            f"clock; a signed request is valid for {window_ms // 1000} s"
        )
    public_key = bytes.fromhex(values[HEADER_KEY])
    sign_bytes = compute_request_sign_bytes(
        chain_id=chain_id,
        method=method,
        path=path,
        time_ms=time_ms,
        nonce=values[HEADER_NONCE],
        body=body,
    )
    try:
        verify_signature(ED25519, public_key, sign_bytes, bytes.fromhex(values[HEADER_SIGNATURE]))
    except InvalidSignature as exc:
        raise Unauthorized(
            f"request signature does not verify for key {values[HEADER_KEY][:16]}… (signed for "
            "another chain, method, path or body, or by another key)"
        ) from exc
    return SignedRequest(
        public_key=public_key,
        address=compute_address(public_key),
        time_ms=time_ms,
        nonce=values[HEADER_NONCE],
    )
