"""``gridledger net status``: every process, every node's chain, and whether the nodes agree.

Agreement is checked at the lowest height every answering node has committed: the header of that
height must carry the same app hash (and the same block hash) on all of them. The app hash of a
header is the state after the previous block (CometBFT puts app_hash(H) into header H+1), so equal
headers at height H mean equal state up to H-1 and the same block H.
"""

from __future__ import annotations

from typing import Any

import httpx

from gridledger.net.control import read_pid, read_state
from gridledger.net.layout import PROCESSES, Network, Node, is_supervisor_running

RPC_TIMEOUT_S = 3.0


def get_rpc(node: Node, path: str, **params: Any) -> dict[str, Any]:
    """One CometBFT RPC call over HTTP GET; the ``result`` object."""
    response = httpx.get(f"{node.rpc_url}/{path}", params=params, timeout=RPC_TIMEOUT_S)
    body = response.json()
    if "result" not in body:
        raise httpx.HTTPError(f"{path}: {body.get('error')}")
    result: dict[str, Any] = body["result"]
    return result


def get_header(node: Node, height: int) -> dict[str, Any]:
    """The signed header of ``height`` from the node's /commit (block hash added as ``hash``)."""
    signed = get_rpc(node, "commit", height=height)["signed_header"]
    header: dict[str, Any] = dict(signed["header"])
    header["hash"] = signed["commit"]["block_id"]["hash"]
    return header


def collect_status(network: Network) -> dict[str, Any]:
    running = is_supervisor_running(network.dir)
    state = (read_state(network) or {}) if running else {}
    orgs: dict[str, Any] = {}
    for node in network.nodes:
        procs = state.get("processes", {}).get(node.org, {})
        orgs[node.org] = {
            "rpc_url": node.rpc_url,
            "api_url": node.api_url,
            "processes": {
                name: procs.get(name) or {"pid": None, "state": "down", "restarts": 0}
                for name in PROCESSES
            },
            "chain": _chain_status(node),
        }
    return {
        "dir": str(network.dir),
        "chain_id": network.chain_id,
        "supervisor": {"running": running, "pid": read_pid(network) if running else None},
        "orgs": orgs,
        "agreement": _agreement(network, orgs),
    }


def _chain_status(node: Node) -> dict[str, Any]:
    try:
        sync = get_rpc(node, "status")["sync_info"]
        return {
            "height": int(sync["latest_block_height"]),
            "app_hash": sync["latest_app_hash"],
            "catching_up": bool(sync["catching_up"]),
        }
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return {"error": f"RPC does not answer ({type(exc).__name__})"}


def _agreement(network: Network, orgs: dict[str, Any]) -> dict[str, Any]:
    heights = {org: s["chain"]["height"] for org, s in orgs.items() if "height" in s["chain"]}
    if not heights or min(heights.values()) < 1:
        return {"height": None, "agree": None, "app_hashes": {}, "unreachable": sorted(orgs)}
    height = min(heights.values())
    app_hashes: dict[str, str] = {}
    block_hashes: set[str] = set()
    for org in heights:
        try:
            header = get_header(network.node(org), height)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            continue
        app_hashes[org] = header["app_hash"]
        block_hashes.add(header["hash"])
    return {
        "height": height,
        "agree": len(set(app_hashes.values())) == 1 and len(block_hashes) == 1,
        "app_hashes": app_hashes,
        "unreachable": sorted(set(orgs) - set(app_hashes)),
    }


def format_status(doc: dict[str, Any]) -> str:
    sup = doc["supervisor"]
    lines = [
        f"network {doc['dir']}  chain {doc['chain_id']}  supervisor "
        + (f"running (pid {sup['pid']})" if sup["running"] else "not running"),
        f"{'org':<10} {'app':<26} {'cometbft':<26} {'api':<26} {'height':>7}  "
        f"{'app hash':<18} catching up",
    ]
    for org, s in doc["orgs"].items():
        cells = [_process_cell(s["processes"][p]) for p in PROCESSES]
        chain = s["chain"]
        if "error" in chain:
            tail = f"{'-':>7}  {chain['error']}"
        else:
            short = (chain["app_hash"][:16] + "…") if chain["app_hash"] else "-"
            tail = f"{chain['height']:>7}  {short:<18} {'yes' if chain['catching_up'] else 'no'}"
        lines.append(f"{org:<10} {cells[0]:<26} {cells[1]:<26} {cells[2]:<26} {tail}")
    agreement = doc["agreement"]
    if agreement["height"] is None:
        lines.append("app hashes: no committed height to compare")
    else:
        verdict = "agree" if agreement["agree"] else "DIFFER"
        n, total = len(agreement["app_hashes"]), len(doc["orgs"])
        lines.append(
            f"app hashes {verdict} at height {agreement['height']} ({n} of {total} nodes answered)"
        )
    return "\n".join(lines)


def _process_cell(proc: dict[str, Any]) -> str:
    pid = f" {proc['pid']}" if proc.get("pid") else ""
    n = proc.get("restarts") or 0
    restarts = f" ({n} restart{'s' if n > 1 else ''})" if n else ""
    return f"{proc.get('state', '?')}{pid}{restarts}"
