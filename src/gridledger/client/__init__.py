"""Python SDK: build, sign and submit transactions; read records; fetch certificates.

    client = Client("http://127.0.0.1:8700")
    tx = client.build_tx("notary", "record", {...}, signers=[my_key, customer_key])
    result = client.submit(tx)          # waits for the commit, raises the node's error if any
    cert = client.certificate(digest)

Errors from the node come back as the same GridledgerError subclasses the node raised.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from gridledger import codec
from gridledger.client.energy import MarketMethods, MeteringMethods, TokenMethods
from gridledger.crypto import Signer
from gridledger.errors import NodeError, error_from_code
from gridledger.ledger.tx import Transaction, TxBody, sign_transaction
from gridledger.privstore.request import sign_request
from gridledger.privstore.sealed import seal

DEFAULT_URL = "http://127.0.0.1:8700"
DEFAULT_EXPIRY_BLOCKS = 1_000


class Client(TokenMethods, MeteringMethods, MarketMethods):
    def __init__(self, url: str = DEFAULT_URL, *, timeout_s: float = 90.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._chain_id: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise NodeError(f"cannot reach the node at {self.url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise NodeError(f"node answered {response.status_code} without JSON") from exc
        if response.status_code >= 400:
            error = body.get("error", {}) if isinstance(body, dict) else {}
            if isinstance(error, str):  # a transaction that failed in its block: error is a code
                raise error_from_code(error, str(body.get("log", "")))
            raise error_from_code(str(error.get("code", "error")), str(error.get("message", body)))
        return body

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """GET any API path (``/v1/...``); the node's error is raised as its GridledgerError."""
        return self._request("GET", path, params=params or {})

    # -- chain ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = self._request("GET", "/v1/status")
        return status

    def genesis(self) -> dict[str, Any]:
        genesis: dict[str, Any] = self._request("GET", "/v1/genesis")
        return genesis

    @property
    def chain_id(self) -> str:
        if self._chain_id is None:
            self._chain_id = str(self.status()["chain_id"])
        return self._chain_id

    def block(self, height: int | str = "latest") -> dict[str, Any]:
        block: dict[str, Any] = self._request("GET", f"/v1/blocks/{height}")
        return block

    # -- transactions --------------------------------------------------------------------------

    def build_tx(
        self,
        contract: str,
        method: str,
        args: dict[str, Any],
        signers: Sequence[Signer],
        *,
        expiry_blocks: int = DEFAULT_EXPIRY_BLOCKS,
        height: int | None = None,
    ) -> Transaction:
        """A transaction signed by ``signers`` (the first is the sender), valid for
        ``expiry_blocks`` blocks from the node's current height."""
        if height is None:
            height = int(self.status()["height"])
        body = TxBody(
            chain_id=self.chain_id,
            expiry_height=height + expiry_blocks,
            nonce=secrets.token_hex(16),
            contract=contract,
            method=method,
            args=args,
        )
        return sign_transaction(body, signers)

    def submit(self, tx: Transaction, *, wait: bool = True, timeout_s: int = 30) -> dict[str, Any]:
        """Submit; with ``wait``, return once committed. Raises the node's error on rejection
        (before or in the block)."""
        params = {"wait": str(wait).lower(), "timeout_s": timeout_s}
        result: dict[str, Any] = self._request(
            "POST",
            "/v1/txs",
            content=tx.raw,
            params=params,
            headers={"content-type": "application/json"},
        )
        return result

    def submit_many(
        self, txs: Sequence[Transaction], *, wait: bool = True, timeout_s: int = 60
    ) -> list[dict[str, Any]]:
        """Submit up to 1,000 transactions in one request; one result per transaction (a
        rejected one carries ``status: rejected`` and its error instead of raising)."""
        body = b"[" + b",".join(tx.raw for tx in txs) + b"]"
        params = {"wait": str(wait).lower(), "timeout_s": timeout_s}
        response = self._request(
            "POST",
            "/v1/txs/batch",
            content=body,
            params=params,
            headers={"content-type": "application/json"},
        )
        results: list[dict[str, Any]] = response["results"]
        return results

    def tx(self, tx_id: str) -> dict[str, Any]:
        tx: dict[str, Any] = self._request("GET", f"/v1/txs/{tx_id}")
        return tx

    # -- notary --------------------------------------------------------------------------------

    def record(self, digest: str) -> dict[str, Any]:
        record: dict[str, Any] = self._request("GET", f"/v1/records/{digest}")
        return record

    def records_by_party(self, party: str, limit: int = 100) -> list[dict[str, Any]]:
        body = self._request("GET", "/v1/records", params={"party": party, "limit": limit})
        records: list[dict[str, Any]] = body["records"]
        return records

    def certificate(self, digest: str) -> dict[str, Any]:
        cert: dict[str, Any] = self._request("GET", f"/v1/certificates/{digest}")
        return cert

    def put_manifest(self, root: str, digests: Sequence[str]) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST",
            f"/v1/batches/{root}/manifest",
            content=codec.encode({"digests": list(digests)}),
            headers={"content-type": "application/json"},
        )
        return result

    # -- private delivery (docs/private-delivery.md) -------------------------------------------

    def delivery_key(self, org: str) -> bytes:
        """The X25519 key ``org`` publishes on the ledger for documents delivered to it."""
        body = self._request("GET", f"/v1/orgs/{org}/delivery-key")
        return bytes.fromhex(str(body["delivery_public_key"]))

    def deliver(
        self,
        digest: str,
        org: str,
        document: bytes,
        signer: Signer,
        *,
        delivery_key: bytes | None = None,
    ) -> dict[str, Any]:
        """Seal ``document`` to ``org``'s delivery key and deliver it to this node (``org``'s
        own), as the recorded document with ``digest``. The signer must be the record's
        submitter or a party; the document is not checked against the digest here (the
        endorser does that)."""
        public_key = delivery_key if delivery_key is not None else self.delivery_key(org)
        body = codec.encode(
            {"org": org, "ciphertext": base64.b64encode(seal(document, public_key)).decode()}
        )
        result: dict[str, Any] = self._signed(
            "PUT", f"/v1/private/documents/{digest}", signer, body
        )
        return result

    def private_document(self, digest: str, signer: Signer) -> dict[str, Any]:
        """The sealed copy delivered to the signer's organization (``ciphertext`` in base64)."""
        result: dict[str, Any] = self._signed("GET", f"/v1/private/documents/{digest}", signer)
        return result

    def pending_records(
        self,
        org: str,
        *,
        after_height: int = -1,
        after_deliveries: int = -1,
        wait_ms: int = 0,
        limit: int = 100,
    ) -> dict[str, Any]:
        """Records waiting for ``org``; with ``wait_ms``, a long poll that answers once a block
        above ``after_height`` exists or a delivery to ``org`` changed its ``deliveries`` count
        from ``after_deliveries``."""
        params = {
            "org": org,
            "after_height": after_height,
            "after_deliveries": after_deliveries,
            "wait_ms": wait_ms,
            "limit": limit,
        }
        result: dict[str, Any] = self._request(
            "GET", "/v1/endorsements/pending", params=params, timeout=wait_ms / 1000 + 30
        )
        return result

    def _signed(self, method: str, path: str, signer: Signer, body: bytes = b"") -> Any:
        headers = sign_request(signer, chain_id=self.chain_id, method=method, path=path, body=body)
        if body:
            headers["content-type"] = "application/json"
        return self._request(method, path, content=body, headers=headers)


def file_digest(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks (hex)."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()
