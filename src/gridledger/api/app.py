"""REST API of a gridledger node (FastAPI; OpenAPI at /docs).

A thin shell over the node: it submits signed transactions, reads committed state and issues
evidence certificates. It holds no rules. Every error is JSON
``{"error": {"code": "<name>", "message": "<what is wrong>"}}`` with a 4xx status (503 when the
node itself cannot serve).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gridledger import __version__, codec, merkle
from gridledger.api.audit import add_audit_routes
from gridledger.api.backend import Backend, EmbeddedBackend
from gridledger.api.body import read_body
from gridledger.api.market import add_market_routes
from gridledger.api.metering import add_metering_routes
from gridledger.api.portal import install_portal
from gridledger.api.private import add_private_routes
from gridledger.api.token import add_token_routes
from gridledger.contracts import governance, identity, notary
from gridledger.errors import (
    Conflict,
    DecodeError,
    GridledgerError,
    InvalidProof,
    InvalidTransaction,
    NodeError,
    NotFound,
    Oversized,
    Replayed,
    RuleViolation,
    StoreError,
    Unauthorized,
)
from gridledger.ledger.state import State
from gridledger.ledger.tx import MAX_TX_BYTES
from gridledger.node.service import EmbeddedNode

MAX_WAIT_S = 60
MAX_BATCH_TXS = 1_000
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_MANIFEST_DIGESTS = 1_000_000
STATUS_BY_ERROR: tuple[tuple[type[GridledgerError], int], ...] = (
    (Oversized, 413),
    (Replayed, 409),
    (Conflict, 409),
    (DecodeError, 400),
    (InvalidTransaction, 400),
    (Unauthorized, 403),
    (RuleViolation, 422),
    (NotFound, 404),
    (InvalidProof, 422),
    (StoreError, 503),
    (NodeError, 503),
)


def http_status(error: GridledgerError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(error, cls):
            return status
    return 400


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def create_app(node: EmbeddedNode | Backend, *, lifespan: Any = None) -> FastAPI:
    """The API over a node: an embedded node directly, or any Backend (a consortium member)."""
    backend: Backend = EmbeddedBackend(node) if isinstance(node, EmbeddedNode) else node
    app = FastAPI(
        title="gridledger node API",
        version=__version__,
        description="Submit signed transactions, read the ledger, fetch evidence certificates.",
        lifespan=lifespan,
    )
    _install_error_handlers(app)
    _install_body_limit(app)
    _add_tx_routes(app, backend)
    _add_read_routes(app, backend)
    _add_notary_routes(app, backend)
    _add_governance_routes(app, backend)
    add_audit_routes(app, backend)
    add_private_routes(app, backend)
    add_token_routes(app, backend)
    add_metering_routes(app, backend)
    add_market_routes(app, backend)
    install_portal(app, backend)
    app.state.backend = backend
    return app


# -- errors and limits -------------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GridledgerError)
    async def on_gridledger_error(request: Request, exc: GridledgerError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=http_status(exc))

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = f"{where}: {first.get('msg', 'invalid request')}"
        return JSONResponse(error_body("invalid_request", message), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body("http_error", str(exc.detail)), status_code=exc.status_code)


def _install_body_limit(app: FastAPI) -> None:
    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            return JSONResponse(
                error_body("oversized", f"request body above {MAX_BODY_BYTES} bytes"),
                status_code=413,
            )
        return await call_next(request)


# -- transactions ------------------------------------------------------------------------------


def _add_tx_routes(app: FastAPI, node: Backend) -> None:
    @app.post(
        "/v1/txs",
        summary="Submit one signed transaction (canonical JSON bytes as the body)",
        responses={200: {"description": "accepted, committed, failed or pending"}},
    )
    async def submit_tx(
        request: Request,
        wait: Annotated[
            bool, Query(description="wait until the tx is in a committed block")
        ] = False,
        timeout_s: Annotated[int, Query(ge=1, le=MAX_WAIT_S)] = 30,
    ) -> JSONResponse:
        raw = await read_body(request, MAX_TX_BYTES)
        if len(raw) == 0:
            raise DecodeError("empty body: send the signed transaction as canonical JSON")
        body = await node.submit(raw, wait, timeout_s)
        status = 422 if body.get("status") == "failed" else 200
        return JSONResponse(body, status_code=status)

    @app.post("/v1/txs/batch", summary="Submit many signed transactions: a JSON array of them")
    async def submit_batch(
        request: Request,
        wait: bool = False,
        timeout_s: Annotated[int, Query(ge=1, le=MAX_WAIT_S)] = 30,
    ) -> JSONResponse:
        raw = await read_body(request, MAX_BODY_BYTES)
        items = codec.decode(raw, canonical=False)
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_BATCH_TXS:
            raise DecodeError(f"body must be a JSON array of 1 to {MAX_BATCH_TXS} transactions")
        jobs = [_submit_one_of_many(node, codec.encode(item), wait, timeout_s) for item in items]
        return JSONResponse({"results": await asyncio.gather(*jobs)})

    @app.get("/v1/txs/{tx_id}", summary="A committed transaction and its result")
    def get_tx(tx_id: str) -> dict[str, Any]:
        row = node.store.get_tx(_parse_hex32(tx_id, "tx_id"))
        if row is None:
            raise NotFound(f"no committed transaction {tx_id}")
        return {
            "tx_id": tx_id,
            "height": row.height,
            "index": row.idx,
            "code": row.code,
            "error": row.error,
            "log": row.log,
            "events": codec.decode(row.events),
            "tx": codec.decode(row.raw),
        }


async def _submit_one_of_many(
    node: Backend, raw: bytes, wait: bool, timeout_s: int
) -> dict[str, Any]:
    try:
        return await node.submit(raw, wait, timeout_s)
    except GridledgerError as exc:
        return {"status": "rejected", **error_body(exc.code, exc.message)}


# -- chain, blocks, accounts ------------------------------------------------------------------


def _add_read_routes(app: FastAPI, node: Backend) -> None:
    @app.get("/v1/status", summary="Chain id, height, app hash, log checkpoint, node key")
    def status() -> dict[str, Any]:
        return node.status()

    @app.get("/v1/genesis", summary="The genesis document")
    def genesis() -> dict[str, Any]:
        return dict(node.genesis.document)

    @app.get("/v1/blocks/{height}", summary="A block header, its signature and its transactions")
    def get_block(height: str) -> dict[str, Any]:
        h = node.store.last_height if height == "latest" else _parse_height(height)
        block = node.store.get_block(h)
        if block is None:
            raise NotFound(f"no block at height {height}")
        return {
            "height": block.height,
            "hash": block.hash.hex(),
            "header": codec.decode(block.header),
            "signature": block.signature.hex(),
            "txs": [
                {"tx_id": t.tx_id.hex() if t.tx_id else None, "code": t.code, "error": t.error}
                for t in node.store.get_block_txs(h)
            ],
        }

    @app.get("/v1/accounts/{address}", summary="A registered account")
    def get_account(address: str) -> dict[str, Any]:
        account = identity.get_account(State(node.store), address)
        if account is None:
            raise NotFound(f"no account {address}")
        return account

    @app.get("/v1/log/proof", summary="RFC 9162 consistency proof between two log sizes")
    def consistency(old_size: int, new_size: int | None = None) -> dict[str, Any]:
        with node.store.snapshot():
            log_ = State(node.store).log()
            size = log_.size if new_size is None else new_size
            if not 0 <= old_size <= size <= log_.size:
                raise InvalidProof(f"need 0 <= old_size <= new_size <= {log_.size}")
            return {
                "old_size": old_size,
                "new_size": size,
                "old_root": log_.root_at(old_size).hex(),
                "new_root": log_.root_at(size).hex(),
                "proof": [h.hex() for h in log_.consistency_proof(old_size, size)],
            }


# -- notary ------------------------------------------------------------------------------------


def _add_notary_routes(app: FastAPI, node: Backend) -> None:
    @app.get("/v1/records/{digest}", summary="A notary record by document digest or batch root")
    def get_record(digest: str) -> dict[str, Any]:
        _parse_hex32(digest, "digest")
        with node.store.snapshot():
            record = notary.get_record(State(node.store), digest)
            if record is not None:
                return record
            member = node.store.find_batch_member(digest)
            if member is not None:
                batch = notary.get_record(State(node.store), member[0])
                if batch is not None:
                    return {**batch, "batch_member": {"digest": digest, "index": member[1]}}
        raise NotFound(f"no record with digest {digest}")

    @app.get("/v1/records", summary="Records naming a party, oldest first")
    def list_records(
        party: str, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> dict[str, Any]:
        with node.store.snapshot():
            state = State(node.store)
            digests = []
            for d in notary.iter_records_by_party(state, party):
                digests.append(d)
                if len(digests) >= limit:
                    break
            return {"party": party, "records": [notary.get_record(state, d) for d in digests]}

    @app.get("/v1/certificates/{digest}", summary="Evidence certificate for a document digest")
    def get_certificate(digest: str) -> dict[str, Any]:
        _parse_hex32(digest, "digest")
        return node.certificate(digest)

    @app.post("/v1/batches/{root}/manifest", summary="Deposit the digests of a recorded batch")
    async def put_manifest(root: str, request: Request) -> dict[str, Any]:
        _parse_hex32(root, "root")
        body = codec.decode(await read_body(request, MAX_BODY_BYTES), canonical=False)
        digests = body.get("digests") if isinstance(body, dict) else None
        if not isinstance(digests, list) or not 1 <= len(digests) <= MAX_MANIFEST_DIGESTS:
            raise DecodeError('body must be {"digests": [<64-hex sha256>, ...]}')
        leaves = [_parse_hex32(d, "digests[]") for d in digests]
        record = notary.get_record(State(node.store), root)
        if record is None or record["kind"] != "batch":
            raise NotFound(f"no batch record with root {root}")
        if record["count"] != len(leaves) or merkle.root(leaves).hex() != root:
            raise InvalidProof(
                f"manifest of {len(leaves)} digests does not hash to batch root {root} "
                f"(count on chain: {record['count']})"
            )
        node.store.put_batch_manifest(root, [str(d) for d in digests])
        return {"root": root, "count": len(leaves)}


# -- governance --------------------------------------------------------------------------------


def _add_governance_routes(app: FastAPI, node: Backend) -> None:
    @app.get("/v1/governance/members", summary="Member organizations (they vote on changes)")
    def members() -> dict[str, Any]:
        return {"members": list(governance.get_members(State(node.store)))}

    @app.get("/v1/governance/validators", summary="Validators by the ledger's governance state")
    def validators() -> dict[str, Any]:
        return {"validators": governance.get_validators(State(node.store))}

    @app.get("/v1/governance/proposals", summary="Proposals, oldest first")
    def proposals(status: str | None = None) -> dict[str, Any]:
        with node.store.snapshot():
            next_height = node.store.last_height + 1
            found = governance.list_proposals(
                State(node.store), at_height=next_height, status=status
            )
            return {"proposals": found}

    @app.get("/v1/governance/proposals/{proposal_id}", summary="One proposal and its votes")
    def proposal(proposal_id: str) -> dict[str, Any]:
        _parse_hex32(proposal_id, "proposal_id")
        with node.store.snapshot():
            state = State(node.store)
            found = governance.get_proposal(
                state, proposal_id, at_height=node.store.last_height + 1
            )
            if found is None:
                raise NotFound(f"no proposal {proposal_id}")
            tally = governance.compute_tally(state, found)
            return {**found, "tally": {"yes": tally.yes, "no": tally.no, "members": tally.members}}


def _parse_hex32(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise DecodeError(f"{name} must be 64 lowercase hex characters")
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise DecodeError(f"{name} must be 64 lowercase hex characters") from exc
    if raw.hex() != value:
        raise DecodeError(f"{name} must be lowercase hex")
    return raw


def _parse_height(value: str) -> int:
    if not value.isdigit() or len(value) > 18:
        raise DecodeError(f"height must be a non-negative integer or 'latest', not {value!r}")
    return int(value)
