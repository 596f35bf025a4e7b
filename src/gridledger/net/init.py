"""``gridledger net init``: write a local consortium network, one validator per organization.

Per organization it runs ``cometbft init`` for a fresh validator key and node key, writes the
organization's account keys and an empty app directory, and configures CometBFT for a loopback
network (own ports, every other node as a persistent peer). One genesis document is shared by all
nodes, byte for byte: CometBFT's part names every organization's validator (power 10), and its
``app_state`` is the gridledger genesis (organizations, accounts, roles, validators, params).
``network.json`` is written last, so a directory that has one holds a complete network.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gridledger.keys import generate_key, read_key_file, write_key_file
from gridledger.net.layout import (
    DEFAULT_BASE_PORT,
    DEFAULT_CHAIN_ID,
    DEFAULT_ORGS,
    HOST,
    KEY_ROLES,
    VALIDATOR_POWER,
    NetError,
    Network,
    Node,
    Ports,
    check_chain_id,
    compute_ports,
    find_cometbft,
    is_supervisor_running,
    network_file,
    parse_orgs,
    read_json,
    write_network,
)
from gridledger.node.home import ORG_PROFILES
from gridledger.privstore.sealed import (
    generate_delivery_key,
    read_delivery_public_key,
    write_delivery_key_file,
)

KEY_ACCOUNT_ROLES = {"admin": ["admin", "submitter"], "endorser": ["endorser", "submitter"]}
APP_PARAMS = {"max_expiry_window": 10_000}
# Generated entries of DIR besides the organization directories (removed by --force).
NETWORK_ENTRIES = (
    "network.json",
    "logs",
    "control.json",
    "state.json",
    "supervisor.pid",
    "supervisor.lock",
    "control.lock",
    "demo",
)
# config.toml settings for a local network; (section, key) -> value. Section "" is the top.
CONFIG: dict[tuple[str, str], str | int | bool] = {
    ("", "log_level"): "info",
    ("rpc", "max_body_bytes"): 2_000_000,  # a 512 KiB tx, base64-encoded in a JSON-RPC POST
    ("rpc", "max_subscription_clients"): 1000,
    ("rpc", "max_subscriptions_per_client"): 100,
    ("p2p", "addr_book_strict"): False,
    ("p2p", "allow_duplicate_ip"): True,
    ("p2p", "persistent_peers_max_dial_period"): "10s",  # a restarted node is found again soon
    # Gossip is flushed at most this long after it is queued, at every consensus step (the
    # proposal's parts, then each round of votes). CometBFT's 100 ms default adds up to a few
    # tenths of a second per block; members of one consortium sit on fast links.
    ("p2p", "flush_throttle_timeout"): "10ms",
    ("mempool", "size"): 20_000,
    # FinalizeBlock checks every rule again, so a transaction made invalid by a block (expired,
    # or its digest recorded meanwhile) only fails in its block; rechecking the whole mempool
    # after each block would stall admission for seconds under load.
    ("mempool", "recheck"): False,
    ("consensus", "timeout_commit"): "500ms",
    # A peer's gossip routines (proposal parts, votes) sleep this long whenever they find nothing
    # to send (CometBFT's default is 100 ms), so each consensus step waited up to that long for
    # the next vote. Measured under bench net's load: the propose-to-commit stretch of a block
    # went from about 270 to 120 ms, idle CPU over the run from 24 to 5 %.
    ("consensus", "peer_gossip_sleep_duration"): "10ms",
    # Blocks come when transactions do, plus idle ones (configure_node sets the interval).
    ("consensus", "create_empty_blocks"): False,
    ("instrumentation", "prometheus"): False,
}
_SECTION = re.compile(r"^\[([A-Za-z0-9_.-]+)\]\s*$")


def init_network(
    directory: Path,
    *,
    orgs: tuple[str, ...] = DEFAULT_ORGS,
    chain_id: str = DEFAULT_CHAIN_ID,
    base_port: int = DEFAULT_BASE_PORT,
    ports: Mapping[str, Ports] | None = None,
    force: bool = False,
    grid_clock: GridClockPlan | None = None,
) -> Network:
    """Create the network in ``directory``; ``ports`` (per org) overrides ``base_port``.
    ``grid_clock`` makes it a demo or test chain whose market time runs faster."""
    orgs = parse_orgs(orgs)
    check_chain_id(chain_id)
    chosen = _check_ports(orgs, ports) if ports is not None else compute_ports(orgs, base_port)
    cometbft = find_cometbft()
    directory = Path(directory).resolve()
    _clear_or_refuse(directory, orgs, force=force)
    directory.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    try:
        nodes = []
        for org in orgs:
            created.append(directory / org)
            nodes.append(_init_node(cometbft, directory / org, org, chosen[org]))
        network = Network(dir=directory, chain_id=chain_id, nodes=tuple(nodes))
        genesis = compute_genesis(network, _consensus_params(nodes[0]), grid_clock)
        text = json.dumps(genesis, indent=2) + "\n"
        for node in nodes:
            (node.cometbft_home / "config" / "genesis.json").write_text(text, encoding="utf-8")
            configure_node(network, node)
        network.logs_dir.mkdir(exist_ok=True)
        write_network(network)
        return network
    except BaseException:
        for path in created:
            shutil.rmtree(path, ignore_errors=True)
        raise


def _check_ports(orgs: tuple[str, ...], ports: Mapping[str, Ports]) -> dict[str, Ports]:
    missing = [o for o in orgs if o not in ports]
    if missing:
        raise NetError(f"no ports given for {', '.join(missing)}")
    numbers = [p for o in orgs for p in ports[o].values()]
    if len(set(numbers)) != len(numbers):
        raise NetError("every organization needs four ports of its own; some repeat")
    return {o: ports[o] for o in orgs}


def _clear_or_refuse(directory: Path, orgs: tuple[str, ...], *, force: bool) -> None:
    old = read_json(network_file(directory)) if directory.is_dir() else None
    old_orgs = [o for o in (old or {}).get("orgs", []) if isinstance(o, str)]
    candidates = [directory / name for name in NETWORK_ENTRIES]
    candidates += [directory / o for o in sorted({*orgs, *parse_orgs(old_orgs or orgs)})]
    existing = [p for p in candidates if p.exists() or p.is_symlink()]
    if not existing:
        return
    if not force:
        names = ", ".join(p.name for p in existing)
        raise NetError(
            f"{directory} already holds a network ({names}); pass --force to replace it "
            "(its chain, keys and data are deleted)"
        )
    if is_supervisor_running(directory):
        raise NetError(f"the network in {directory} is running; stop it first: gridledger net down")
    for path in existing:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _init_node(cometbft: Path, root: Path, org: str, ports: Ports) -> Node:
    home = root / "cometbft"
    try:
        subprocess.run(  # noqa: S603 - the CometBFT binary find_cometbft chose
            [str(cometbft), "init", "--home", str(home)],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        raise NetError(f"`{cometbft} init --home {home}` failed: {detail.strip()}") from exc
    node_key = _read_key_json(home / "config" / "node_key.json")
    validator = _read_key_json(home / "config" / "priv_validator_key.json")
    try:
        node_public = base64.b64decode(node_key["priv_key"]["value"])[32:]
        public_key = base64.b64decode(validator["pub_key"]["value"])
        address = str(validator["address"])
    except (KeyError, TypeError, ValueError) as exc:
        raise NetError(f"unexpected key files from `cometbft init` in {home}") from exc
    if len(public_key) != 32 or len(node_public) != 32:
        raise NetError(f"`cometbft init` in {home} did not make Ed25519 keys")
    if address != compute_validator_address(public_key):
        raise NetError(f"{home}: validator address does not match its public key")
    (root / "keys").mkdir(mode=0o700)
    (root / "app").mkdir()
    for role in KEY_ROLES:
        write_key_file(root / "keys" / f"{org}-{role}.json", generate_key())
    write_key_file(root / "keys" / f"{org}-node.json", generate_key())  # signs log checkpoints
    write_delivery_key_file(root / "keys" / f"{org}-delivery.json", generate_delivery_key())
    return Node(
        org=org,
        root=root,
        node_id=hashlib.sha256(node_public).digest()[:20].hex(),
        validator_address=address,
        validator_public_key=public_key.hex(),
        ports=ports,
    )


def _read_key_json(path: Path) -> dict[str, Any]:
    doc = read_json(path)
    if doc is None:
        raise NetError(f"`cometbft init` did not write {path}")
    return doc


def _consensus_params(node: Node) -> dict[str, Any]:
    """The defaults of the installed CometBFT, from the genesis ``cometbft init`` wrote."""
    doc = _read_key_json(node.cometbft_home / "config" / "genesis.json")
    params = doc.get("consensus_params")
    if not isinstance(params, dict):
        raise NetError(f"no consensus_params in {node.cometbft_home}/config/genesis.json")
    return params


def compute_validator_address(public_key: bytes) -> str:
    """CometBFT's validator address: the first 20 bytes of SHA-256(public key), upper hex."""
    return hashlib.sha256(public_key).digest()[:20].hex().upper()


# -- genesis ---------------------------------------------------------------------------------


def compute_app_genesis(network: Network, genesis_time_ms: int) -> dict[str, Any]:
    """The gridledger genesis: organizations (with their delivery keys), their admin and endorser
    accounts, validators."""
    organizations, accounts = [], []
    for node in network.nodes:
        name, org_roles = ORG_PROFILES.get(node.org, (node.org, ["member"]))
        delivery_key = read_delivery_public_key(node.keys_dir / f"{node.org}-delivery.json")
        organizations.append(
            {
                "id": node.org,
                "name": name,
                "roles": list(org_roles),
                "delivery_public_key": delivery_key.hex(),
            }
        )
        for role in KEY_ROLES:
            key = read_key_file(node.key_file(role))
            accounts.append(
                {
                    "address": key.address,
                    "alg": key.alg,
                    "public_key": key.public_key.hex(),
                    "org": node.org,
                    "roles": KEY_ACCOUNT_ROLES[role],
                    "name": f"{name} ({role})",
                }
            )
    return {
        "chain_id": network.chain_id,
        "genesis_time_ms": genesis_time_ms,
        "organizations": organizations,
        "accounts": accounts,
        "validators": [
            {"org": n.org, "public_key": n.validator_public_key, "power": VALIDATOR_POWER}
            for n in network.nodes
        ],
        "params": dict(APP_PARAMS),
    }


@dataclass(frozen=True, slots=True)
class GridClockPlan:
    """A fast grid clock for a demo or test chain (see gridledger.ledger.gridclock): grid time
    runs ``speedup`` times faster than consensus time, and the grid day of the genesis date (UTC)
    begins ``day_after_s`` seconds of consensus time after genesis, leaving that long to set up."""

    speedup: int
    day_after_s: int

    def compute_params(self, genesis_time_ms: int) -> dict[str, int]:
        day_start_ms = genesis_time_ms // 86_400_000 * 86_400_000
        origin_ms = day_start_ms - self.day_after_s * self.speedup * 1000
        return {"grid_clock_speedup": self.speedup, "grid_clock_origin_ms": origin_ms}


def compute_genesis(
    network: Network, consensus_params: Mapping[str, Any], grid_clock: GridClockPlan | None = None
) -> dict[str, Any]:
    """CometBFT's genesis document with the gridledger genesis as ``app_state``."""
    time_ms = time.time_ns() // 1_000_000
    app_state = compute_app_genesis(network, time_ms)
    if grid_clock is not None:
        app_state["params"].update(grid_clock.compute_params(time_ms))
    stamp = datetime.fromtimestamp(time_ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return {
        "genesis_time": f"{stamp}.{time_ms % 1000:03d}Z",
        "chain_id": network.chain_id,
        "initial_height": "1",
        "consensus_params": dict(consensus_params),
        "validators": [
            {
                "address": n.validator_address,
                "pub_key": {
                    "type": "tendermint/PubKeyEd25519",
                    "value": base64.b64encode(bytes.fromhex(n.validator_public_key)).decode(),
                },
                "power": str(VALIDATOR_POWER),
                "name": n.org,
            }
            for n in network.nodes
        ],
        "app_hash": "",
        "app_state": app_state,
    }


# -- config.toml -----------------------------------------------------------------------------


def configure_node(network: Network, node: Node) -> None:
    """Rewrite the node's config.toml for the loopback network (its genesis.json written)."""
    peers = ",".join(n.p2p_address for n in network.nodes if n.org != node.org)
    values: dict[tuple[str, str], str | int | bool] = {
        **CONFIG,
        ("consensus", "create_empty_blocks_interval"): compute_idle_block_interval(
            read_grid_clock_speedup(node)
        ),
        ("", "moniker"): node.org,
        ("", "proxy_app"): f"tcp://{HOST}:{node.ports.abci}",
        ("rpc", "laddr"): f"tcp://{HOST}:{node.ports.rpc}",
        ("p2p", "laddr"): f"tcp://{HOST}:{node.ports.p2p}",
        ("p2p", "persistent_peers"): peers,
    }
    path = node.cometbft_home / "config" / "config.toml"
    path.write_text(set_toml_values(path.read_text(encoding="utf-8"), values), encoding="utf-8")


def compute_idle_block_interval(grid_clock_speedup: int) -> str:
    """How long a quiet network waits before an empty block. The market clears in the first
    block past gate closure and CheckTx judges gate closure (and whether a reading's interval
    has ended) by the last block's time, so without idle blocks a quiet spell would hold them at
    a stale time. 10 s, so they lag real time by at most that; 1 s on a demo or test chain whose
    grid clock runs faster (at 300x, 1 s is 5 grid minutes of a 15-minute interval)."""
    return "10s" if grid_clock_speedup <= 1 else "1s"


def read_grid_clock_speedup(node: Node) -> int:
    """The grid clock speedup in the node's genesis.json (1 when absent or unreadable)."""
    path = node.cometbft_home / "config" / "genesis.json"
    try:
        params = json.loads(path.read_text(encoding="utf-8"))["app_state"]["params"]
        speedup = params.get("grid_clock_speedup", 1)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 1
    return speedup if type(speedup) is int and speedup > 0 else 1


def set_toml_values(text: str, values: Mapping[tuple[str, str], str | int | bool]) -> str:
    """Replace ``key = ...`` lines of a CometBFT config.toml; every key must already exist
    (a key that is missing means the template changed, which we want to hear about)."""
    section, done, lines = "", set(), []
    for line in text.splitlines():
        header = _SECTION.match(line)
        key = line.split("=", 1)[0].strip() if "=" in line else ""
        if header:
            section = header.group(1)
        elif (section, key) in values and not line.lstrip().startswith("#"):
            lines.append(f"{key} = {_toml_value(values[section, key])}")
            done.add((section, key))
            continue
        lines.append(line)
    missing = sorted(set(values) - done)
    if missing:
        names = ", ".join(f"[{s}] {k}" if s else k for s, k in missing)
        raise NetError(f"CometBFT config.toml has no {names}; is this CometBFT v0.38?")
    return "\n".join(lines) + "\n"


def _toml_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value)
