"""The web portal: pages served by every member's API, and the read-only JSON views they use.

Pages live beside this module in ``portal/`` (HTML, one stylesheet, plain JavaScript: no build
step, no external fonts or scripts, nothing fetched from the internet). ``/`` and ``/portal``
lead to ``/portal/``. The evidence page hashes the chosen file in the browser (WebCrypto
SHA-256); the file itself is never sent anywhere, only its digest is looked up.

The JSON views under ``/v1/portal/`` are summaries the pages need and the core API does not
give in one call (organization names, the latest blocks and transactions, a record with the names
of everyone it mentions, what the other members' APIs report). They read the same store as the
rest of the API and hold no rules.

Other members' APIs are found, for the network view, in ``GRIDLEDGER_PORTAL_PEERS``
(``org=http://host:port,...``) or else in the local network's ``network.json`` two directories
above this member's store (the layout ``gridledger net init`` writes).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Query
from fastapi.responses import RedirectResponse, Response

from gridledger import codec
from gridledger.api.backend import Backend
from gridledger.contracts import governance, identity, notary
from gridledger.errors import DecodeError, GridledgerError, NotFound
from gridledger.ledger.state import State
from gridledger.ledger.tx import decode_transaction
from gridledger.net.layout import network_file, read_network

PAGES_DIR = Path(__file__).with_name("portal")
PAGE_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "print.html": "text/html; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "print.js": "text/javascript; charset=utf-8",
    "icon.svg": "image/svg+xml",
}
# Pages run only their own files: no inline script, nothing from another origin.
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
PEERS_ENV = "GRIDLEDGER_PORTAL_PEERS"
PEER_TIMEOUT_S = 3.0
MAX_LIST = 100
MAX_BLOCKS_SCANNED = 2_000


def install_portal(app: FastAPI, backend: Backend) -> None:
    """Add the portal's pages and JSON views to the API."""
    pages = {name: (PAGES_DIR / name).read_bytes() for name in PAGE_TYPES}
    _add_page_routes(app, pages)
    _add_view_routes(app, backend)


# -- pages -------------------------------------------------------------------------------------


def _add_page_routes(app: FastAPI, pages: dict[str, bytes]) -> None:
    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/portal/", status_code=307)

    @app.get("/portal", include_in_schema=False)
    def portal_bare() -> RedirectResponse:
        return RedirectResponse("/portal/", status_code=307)

    @app.get("/portal/", include_in_schema=False)
    def portal_index() -> Response:
        return _page(pages, "index.html")

    @app.get("/portal/{name}", include_in_schema=False)
    def portal_file(name: str) -> Response:
        if name == "print":
            return _page(pages, "print.html")
        if name not in pages:
            raise NotFound(f"no portal page {name!r}")
        return _page(pages, name)


def _page(pages: dict[str, bytes], name: str) -> Response:
    return Response(pages[name], media_type=PAGE_TYPES[name], headers=PAGE_HEADERS)


# -- JSON views --------------------------------------------------------------------------------


def _add_view_routes(app: FastAPI, node: Backend) -> None:
    @app.get("/v1/portal/about", summary="Portal: this node, its chain and organization names")
    def about() -> dict[str, Any]:
        status = node.status()
        with node.store.snapshot():
            organizations = get_organizations(State(node.store))
        consensus = status.get("consensus") or {}
        own = consensus.get("moniker") if status.get("mode") == "cometbft" else None
        return {
            "chain_id": status.get("chain_id"),
            "mode": status.get("mode"),
            "org": own if own in organizations else None,
            "organizations": organizations,
            "status": status,
        }

    @app.get("/v1/portal/network", summary="Portal: validators, members and each member's view")
    async def network() -> dict[str, Any]:
        status = await asyncio.to_thread(node.status)
        with node.store.snapshot():
            state = State(node.store)
            validators = compute_validator_rows(state, status)
            members = list(governance.get_members(state))
        return {
            "status": status,
            "validators": validators,
            "members": members,
            "peers": await _fetch_peers(find_peers(node.store.path)),
        }

    @app.get("/v1/portal/blocks", summary="Portal: the latest blocks, newest first")
    def blocks(
        limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 20,
        before: Annotated[int | None, Query(ge=1)] = None,
    ) -> dict[str, Any]:
        with node.store.snapshot():
            state = State(node.store)
            proposers = compute_proposer_names(state)
            last = node.store.last_height
            top = last if before is None else min(before - 1, last)
            rows = []
            for height in range(top, max(top - limit, 0), -1):
                block = node.store.get_block(height)
                if block is not None:
                    rows.append(summarize_block(block.height, block.hash, block.header, proposers))
                    rows[-1]["num_txs"] = block.num_txs
            return {"last_height": node.store.last_height, "blocks": rows}

    @app.get("/v1/portal/txs", summary="Portal: the latest transactions, newest first")
    def txs(limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 25) -> dict[str, Any]:
        with node.store.snapshot():
            state = State(node.store)
            found: list[dict[str, Any]] = []
            height = node.store.last_height
            lowest = max(height - MAX_BLOCKS_SCANNED, 0)
            while height > lowest and len(found) < limit:
                block = node.store.get_block(height)
                for row in reversed(node.store.get_block_txs(height)):
                    summary = summarize_tx(row.raw, row.tx_id, row.code, row.error)
                    summary.update(height=row.height, index=row.idx)
                    summary["time_ms"] = block.time_ms if block is not None else None
                    found.append(summary)
                height -= 1
            found = found[:limit]
            names = get_account_names(state, (t["sender"] for t in found if t["sender"]))
            return {"txs": found, "accounts": names}

    @app.get("/v1/portal/evidence/{digest}", summary="Portal: a record and the names it mentions")
    def evidence(digest: str) -> dict[str, Any]:
        check_digest(digest)
        with node.store.snapshot():
            state = State(node.store)
            record = find_record(node, state, digest)
            heights = sorted(set(_record_heights(record)))
            blocks = {}
            for height in heights:
                block = node.store.get_block(height)
                if block is not None:
                    blocks[str(height)] = {"hash": block.hash.hex(), "time_ms": block.time_ms}
            return {
                "digest": digest,
                "record": record,
                "accounts": get_account_names(state, _record_addresses(record)),
                "organizations": get_organizations(state),
                "blocks": blocks,
            }


# -- readers -----------------------------------------------------------------------------------


def check_digest(value: str) -> None:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise DecodeError("digest must be 64 lowercase hex characters (a SHA-256)")


def find_record(node: Backend, state: State, digest: str) -> dict[str, Any]:
    """The record of a document or batch root, or of the batch a document belongs to."""
    record = notary.get_record(state, digest)
    if record is not None:
        return record
    member = node.store.find_batch_member(digest)
    if member is not None:
        batch = notary.get_record(state, member[0])
        if batch is not None:
            return {**batch, "batch_member": {"digest": digest, "index": member[1]}}
    raise NotFound(f"no record with digest {digest}")


def get_organizations(state: State) -> dict[str, str]:
    """Organization id to display name, for every organization the ledger knows."""
    names = {}
    for key, raw in state.iter_prefix("identity/org/"):
        org = codec.decode(raw)
        org_id = key.removeprefix("identity/org/")
        names[org_id] = str(org.get("name") or org_id) if isinstance(org, dict) else org_id
    return names


def get_account_names(state: State, addresses: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Registered accounts among ``addresses``: name and organization (others are left out)."""
    found: dict[str, dict[str, Any]] = {}
    for address in sorted(set(addresses)):
        account = identity.get_account(state, address)
        if account is not None:
            found[address] = {"name": account.get("name", ""), "org": account.get("org", "")}
    return found


def compute_cometbft_address(public_key_hex: str) -> str:
    """CometBFT's address of an Ed25519 validator key: the first 20 bytes of its SHA-256."""
    return hashlib.sha256(bytes.fromhex(public_key_hex)).digest()[:20].hex()


def compute_proposer_names(state: State) -> dict[str, str]:
    """Validator address or node key (lowercase hex) to organization id."""
    names = {}
    for v in governance.get_validators(state):
        names[compute_cometbft_address(v["public_key"])] = v["org"]
        names[v["public_key"]] = v["org"]
    return names


def compute_validator_rows(state: State, status: dict[str, Any]) -> list[dict[str, Any]]:
    """The validators CometBFT reports, joined by key with the ledger's governance list."""
    by_key = {v["public_key"]: v for v in governance.get_validators(state)}
    consensus = status.get("consensus") or {}
    rows = []
    for v in consensus.get("validators") or []:
        ledger = by_key.pop(v["public_key"], None)
        rows.append(
            {
                "org": ledger["org"] if ledger else None,
                "power": v["power"],
                "address": v["address"],
                "public_key": v["public_key"],
                "in_consensus": True,
                "in_ledger": ledger is not None,
            }
        )
    for key, v in sorted(by_key.items()):
        rows.append(
            {
                "org": v["org"],
                "power": v["power"],
                "address": compute_cometbft_address(key),
                "public_key": key,
                "in_consensus": False,
                "in_ledger": True,
            }
        )
    return rows


def summarize_block(
    height: int, block_hash: bytes, header_raw: bytes, proposers: dict[str, str]
) -> dict[str, Any]:
    header = codec.decode(header_raw)
    proposer = str(header.get("proposer_address") or header.get("proposer") or "").lower()
    return {
        "height": height,
        "hash": block_hash.hex(),
        "time_ms": header.get("time_ms"),
        "proposer": proposer,
        "proposer_org": proposers.get(proposer),
    }


def summarize_tx(raw: bytes, tx_id: bytes | None, code: int, error: str) -> dict[str, Any]:
    """What a transaction list shows: its call, its sender and what it was about."""
    summary: dict[str, Any] = {
        "tx_id": tx_id.hex() if tx_id else None,
        "code": code,
        "error": error,
        "contract": None,
        "method": None,
        "sender": None,
        "subject": None,
    }
    try:
        tx = decode_transaction(raw)
    except GridledgerError:
        return summary  # undecodable bytes a proposer included: shown as such
    args = tx.body.args
    subject = args.get("digest") or args.get("root") or args.get("proposal_id")
    summary.update(
        contract=tx.body.contract,
        method=tx.body.method,
        sender=tx.sender,
        subject=subject if isinstance(subject, str) else None,
    )
    return summary


def _record_addresses(record: dict[str, Any]) -> list[str]:
    found = [str(p) for p in record.get("parties") or []]
    found.append(str(record.get("submitter", "")))
    for item in [*(record.get("endorsements") or []), *(record.get("history") or [])]:
        if isinstance(item, dict) and isinstance(item.get("by"), str):
            found.append(item["by"])
    return [a for a in found if a]


def _record_heights(record: dict[str, Any]) -> list[int]:
    found = [record.get("height")]
    for item in [*(record.get("endorsements") or []), *(record.get("history") or [])]:
        if isinstance(item, dict):
            found.append(item.get("height"))
    return [h for h in found if isinstance(h, int) and h >= 0]


# -- other members -----------------------------------------------------------------------------


def find_peers(store_path: Path) -> list[dict[str, Any]]:
    """The members' API URLs, this node's marked ``self``; empty when none are configured."""
    configured = os.environ.get(PEERS_ENV, "").strip()
    if configured:
        peers = []
        for item in configured.split(","):
            org, _, url = item.strip().partition("=")
            if org and url.startswith(("http://", "https://")):
                peers.append({"org": org, "api_url": url.rstrip("/"), "self": False})
        return peers
    parents = Path(store_path).resolve().parents  # DIR/<org>/app/ledger.sqlite
    if len(parents) < 3 or not network_file(parents[2]).exists():
        return []
    directory = parents[2]
    try:
        network = read_network(directory)
    except (GridledgerError, OSError, ValueError, KeyError):
        return []
    own = Path(store_path).resolve()
    return [
        {"org": n.org, "api_url": n.api_url, "self": n.db_file.resolve() == own}
        for n in network.nodes
    ]


async def _fetch_peers(peers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=PEER_TIMEOUT_S) as client:
        return list(await asyncio.gather(*(_fetch_peer(client, p) for p in peers)))


async def _fetch_peer(client: httpx.AsyncClient, peer: dict[str, Any]) -> dict[str, Any]:
    try:
        response = await client.get(f"{peer['api_url']}/v1/status")
        response.raise_for_status()
        status = response.json()
        return {
            **peer,
            "reachable": True,
            "height": status.get("height"),
            "app_hash": status.get("app_hash"),
            "last_block_time_ms": status.get("last_block_time_ms"),
            "healthy": status.get("healthy"),
        }
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return {**peer, "reachable": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
