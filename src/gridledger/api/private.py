"""REST routes of private delivery and endorsement (docs/private-delivery.md).

- ``GET /v1/orgs/{org}/delivery-key``: the organization's X25519 delivery key, from the ledger.
- ``PUT /v1/private/documents/{digest}``: deliver a sealed copy of a recorded document to an
  organization this node serves. Signed request (``gridledger.privstore.request``); the signer
  must be an active account that is the record's submitter or one of its parties, the record must
  name the organization and still wait for it.
- ``GET /v1/private/documents/{digest}``: the sealed copy delivered to the requester's own
  organization. Signed request by an active endorser or admin account of an organization this
  node serves; anyone else gets 403.
- ``GET /v1/endorsements/pending?org=&after_height=&after_deliveries=&wait_ms=``: the records
  still waiting for ``org``, as a long poll: it answers once the node has a block above
  ``after_height``, or a document was delivered to ``org`` since the answer that counted
  ``after_deliveries`` deliveries, or after ``wait_ms``; so an endorser service follows the chain
  and the deliveries without busy polling.

Which organizations a node serves comes from its directory: the delivery key files
``<org>-delivery.json`` in the ``keys`` directory beside the store's directory (``DIR/<org>/keys``
on the consortium network, ``HOME/keys`` for the embedded node) whose public key is the one the
ledger publishes for that organization. The API reads only their public halves.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request

from gridledger import codec
from gridledger.api.backend import Backend
from gridledger.api.body import read_body
from gridledger.contracts import identity, notary
from gridledger.errors import (
    Conflict,
    DecodeError,
    GridledgerError,
    NotFound,
    RuleViolation,
    Unauthorized,
)
from gridledger.ledger.state import State
from gridledger.privstore.request import WINDOW_MS, SignedRequest, verify_request
from gridledger.privstore.sealed import SEAL_OVERHEAD_BYTES, read_delivery_public_key
from gridledger.privstore.store import FILE_NAME, PrivateStore, StoredDocument

MAX_DOCUMENT_BODY_BYTES = 8 * 1024 * 1024  # the API's body limit; about 6 MiB of document
MAX_WAIT_MS = 30_000
POLL_S = 0.05
READER_ROLES = ("endorser", "admin")


class DocumentKeeper:
    """The node's private store and the organizations it serves, opened on first use (the API
    may start before the chain has its genesis)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._store: PrivateStore | None = None
        self._key_files: dict[str, bytes] | None = None
        self.deliveries: dict[str, int] = {}  # per organization, since this process started

    @property
    def store(self) -> PrivateStore:
        if self._store is None:
            self._store = PrivateStore(Path(self.backend.store.path).parent / FILE_NAME)
        return self._store

    def served_orgs(self, state: State) -> list[str]:
        """Organizations whose delivery key file is here and matches the key on the ledger."""
        if self._key_files is None:
            keys_dir = Path(self.backend.store.path).parent.parent / "keys"
            found = {}
            for path in sorted(keys_dir.glob("*-delivery.json")):
                try:
                    found[path.name.removesuffix("-delivery.json")] = read_delivery_public_key(path)
                except GridledgerError:
                    continue  # not a delivery key file: ignore it
            self._key_files = found
        served = []
        for org_id, public_key in self._key_files.items():
            org = identity.get_org(state, org_id)
            if org is not None and org.get("delivery_public_key") == public_key.hex():
                served.append(org_id)
        return served

    def authenticate(self, request: Request, body: bytes) -> SignedRequest:
        """A verified, fresh, never-seen signed request, or Unauthorized."""
        now_ms = time.time_ns() // 1_000_000
        signed = verify_request(
            request.headers,
            chain_id=self.backend.genesis.chain_id,
            method=request.method,
            path=request.url.path,
            body=body,
            now_ms=now_ms,
        )
        fresh = self.store.remember_request(
            signed.public_key.hex(), signed.nonce, signed.time_ms, now_ms - 2 * WINDOW_MS
        )
        if not fresh:
            raise Unauthorized(
                f"replayed request: nonce {signed.nonce} of key {signed.public_key.hex()[:16]}… "
                "was already used; sign every request afresh"
            )
        return signed


def add_private_routes(app: FastAPI, backend: Backend) -> None:
    keeper = DocumentKeeper(backend)
    app.state.document_keeper = keeper

    @app.get("/v1/orgs/{org}/delivery-key", summary="An organization's X25519 delivery key")
    def delivery_key(org: str) -> dict[str, Any]:
        found = identity.get_org(State(backend.store), org)
        if found is None:
            raise NotFound(f"no organization {org!r}")
        key = found.get("delivery_public_key")
        if key is None:
            raise NotFound(f"organization {org!r} has published no delivery key")
        return {"org": org, "delivery_public_key": key}

    @app.put("/v1/private/documents/{digest}", summary="Deliver a sealed document (signed)")
    async def put_document(digest: str, request: Request) -> dict[str, Any]:
        _check_digest(digest)
        raw = await read_body(request, MAX_DOCUMENT_BODY_BYTES)
        signed = keeper.authenticate(request, raw)
        org, ciphertext = _parse_delivery(raw)
        with backend.store.snapshot():
            state = State(backend.store)
            if org not in keeper.served_orgs(state):
                raise NotFound(f"this node keeps no private documents for organization {org!r}")
            _check_deliverer(state, digest, org, signed.address)
        document = StoredDocument(
            org=org,
            digest=digest,
            ciphertext=ciphertext,
            delivered_by=signed.address,
            delivered_ms=time.time_ns() // 1_000_000,
        )
        keeper.store.put_document(document)
        keeper.deliveries[org] = keeper.deliveries.get(org, 0) + 1
        return {**_describe(document), "bytes": len(ciphertext)}

    @app.get("/v1/private/documents/{digest}", summary="Read a delivered document (signed)")
    def get_document(digest: str, request: Request) -> dict[str, Any]:
        _check_digest(digest)
        signed = keeper.authenticate(request, b"")
        with backend.store.snapshot():
            state = State(backend.store)
            org = _reader_org(state, signed.address, keeper.served_orgs(state))
        document = keeper.store.get_document(org, digest)
        if document is None:
            raise NotFound(f"no document with digest {digest} has been delivered to {org}")
        return {
            **_describe(document),
            "ciphertext": base64.b64encode(document.ciphertext).decode("ascii"),
        }

    @app.get("/v1/endorsements/pending", summary="Records waiting for an org (long poll)")
    async def pending(
        org: str,
        after_height: Annotated[int, Query(ge=-1)] = -1,
        after_deliveries: Annotated[int, Query(ge=-1)] = -1,
        wait_ms: Annotated[int, Query(ge=0, le=MAX_WAIT_MS)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + wait_ms / 1000
        while (
            backend.store.last_height <= after_height
            and (after_deliveries < 0 or keeper.deliveries.get(org, 0) == after_deliveries)
            and time.monotonic() < deadline
        ):
            await asyncio.sleep(POLL_S)
        deliveries = keeper.deliveries.get(org, 0)
        with backend.store.snapshot():
            state = State(backend.store)
            digests = []
            for digest in notary.iter_pending_for_org(state, org):
                digests.append(digest)
                if len(digests) >= limit:
                    break
            return {
                "org": org,
                "height": backend.store.last_height,
                "deliveries": deliveries,
                "records": [notary.get_record(state, d) for d in digests],
            }


def _check_deliverer(state: State, digest: str, org: str, address: str) -> None:
    record = notary.get_record(state, digest)
    if record is None:
        raise NotFound(f"no record with digest {digest}: record it before delivering it")
    if org not in record["endorsers"]:
        raise RuleViolation(
            f"record {digest} does not name {org} as an endorser "
            f"(named: {', '.join(record['endorsers']) or 'none'})"
        )
    if not identity.is_active_account(state, address) or (
        address != record["submitter"] and address not in record["parties"]
    ):
        raise Unauthorized(
            f"{address} may not deliver record {digest}: only an active account that is its "
            "submitter or one of its parties may"
        )
    if state.get(f"notary/pending/{org}/{digest}") is None:
        raise Conflict(
            f"record {digest} no longer waits for {org} (status {record['status']}); "
            "its document can no longer be delivered"
        )


def _reader_org(state: State, address: str, served: list[str]) -> str:
    account = identity.get_account(state, address)
    if account is None or not account["active"]:
        raise Unauthorized(f"{address} is not an active account; private documents are refused")
    if account["org"] not in served:
        raise Unauthorized(
            f"account {address} of organization {account['org']} may not read private documents "
            f"kept by this node (it keeps them for {', '.join(served) or 'no organization'})"
        )
    if not any(role in account["roles"] for role in READER_ROLES):
        raise Unauthorized(
            f"account {address} is neither an endorser nor an admin of {account['org']}; "
            "private documents are refused"
        )
    return str(account["org"])


def _parse_delivery(raw: bytes) -> tuple[str, bytes]:
    body = codec.decode(raw, canonical=False)
    if not isinstance(body, dict) or set(body) != {"org", "ciphertext"}:
        raise DecodeError('body must be {"org": <organization id>, "ciphertext": <base64>}')
    org, text = body["org"], body["ciphertext"]
    if not isinstance(org, str) or not isinstance(text, str):
        raise DecodeError("org and ciphertext must be strings")
    try:
        ciphertext = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DecodeError("ciphertext must be standard base64") from exc
    if len(ciphertext) <= SEAL_OVERHEAD_BYTES:
        raise DecodeError(
            f"ciphertext of {len(ciphertext)} bytes is not a sealed box (at least "
            f"{SEAL_OVERHEAD_BYTES + 1} bytes)"
        )
    return org, ciphertext


def _describe(document: StoredDocument) -> dict[str, Any]:
    return {
        "digest": document.digest,
        "org": document.org,
        "delivered_by": document.delivered_by,
        "delivered_ms": document.delivered_ms,
    }


def _check_digest(digest: str) -> None:
    if len(digest) != 64 or not set(digest) <= set("0123456789abcdef"):
        raise DecodeError("digest must be 64 lowercase hex characters")
