"""``gridledger net join``: add a node for a new organization to an existing local network.

The new organization is not in the genesis and the genesis does not change: its node gets the
network's ``genesis.json`` byte for byte, replays the chain from the first block (CometBFT
blocksync, then consensus) as a non-validator, and becomes a member and a validator only when the
existing members vote for it (docs/contracts/governance.md: ``add_member``, then
``add_validator``; more than two thirds of the members each time).

What it writes, like ``net init`` does for every organization: ``DIR/<org>/`` with a fresh
CometBFT home (validator key and node key from ``cometbft init``), the account keys (admin and
endorser) and an empty app directory; a config.toml with the network's settings, its own ports
and every other node as a persistent peer; the new node in ``network.json``. The other nodes get
the new node as a persistent peer in their config.toml too, which CometBFT reads when it starts
(the running ones already accept the connection the new node makes to them).

When the network runs, the supervisor picks the new organization up (see
``gridledger.net.supervisor``) and starts its app, CometBFT and API; ``join_network`` waits until
the node has caught up with the others.
"""

from __future__ import annotations

import shlex
import shutil
import socket
import time
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from gridledger.keys import read_key_file
from gridledger.net.control import start as start_org
from gridledger.net.init import _init_node, configure_node, set_toml_values
from gridledger.net.layout import (
    HOST,
    PORT_OFFSETS,
    PORT_STRIDE,
    NetError,
    Network,
    Node,
    Ports,
    compute_ports,
    find_cometbft,
    is_supervisor_running,
    parse_orgs,
    pick_free_ports,
    read_network,
    write_network,
)
from gridledger.net.status import get_rpc

SYNC_TIMEOUT_S = 120.0
POLL_S = 0.25
DEFAULT_POWER = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined:
    """The network with its new node, and what the members need to vote it in."""

    network: Network
    node: Node
    admin_public_key: str  # hex; the key ``gov propose add-member --admin-public-key`` takes
    started: bool  # the network was running, so the new node was started and has caught up


def join_network(
    directory: Path,
    org: str,
    *,
    ports: Ports | None = None,
    free_ports: bool = False,
    timeout_s: float = SYNC_TIMEOUT_S,
) -> Joined:
    """Add ``org``'s node to the network in ``directory``; start it if the network runs.

    Ports: ``ports`` if given, else the next slot of a network made with ``--base-port`` (org i
    at base + 10 i), else (or with ``free_ports``) ports the OS reports free now."""
    network = read_network(directory)
    (org,) = parse_orgs((org,))
    if org in network.orgs:
        raise NetError(f"organization {org!r} is already in the network in {network.dir}")
    root = network.dir / org
    if root.exists() or root.is_symlink():
        raise NetError(f"{root} exists but is not in network.json; move it away first")
    chosen = (
        _check_ports(network, ports) if ports is not None else choose_ports(network, free_ports)
    )
    cometbft = find_cometbft()
    genesis = _read_genesis(network)
    try:
        node = replace(_init_node(cometbft, root, org, chosen), in_genesis=False)
        joined = Network(dir=network.dir, chain_id=network.chain_id, nodes=(*network.nodes, node))
        (node.cometbft_home / "config" / "genesis.json").write_bytes(genesis)
        configure_node(joined, node)
        write_network(joined)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    for other in network.nodes:
        _add_peer(joined, other)
    admin = read_key_file(node.key_file("admin")).public_key.hex()
    running = is_supervisor_running(joined.dir)
    if running:
        target = max((read_height(n) for n in network.nodes), default=0)
        start_org(joined.dir, org)
        wait_synced(joined, org, target, timeout_s=timeout_s)
    return Joined(network=joined, node=node, admin_public_key=admin, started=running)


# -- ports -----------------------------------------------------------------------------------


def choose_ports(network: Network, free_ports: bool = False) -> Ports:
    """The next ``--base-port`` slot when the network uses that layout and the slot is free;
    otherwise free ports that no node of the network uses."""
    if not free_ports:
        slot = compute_next_slot(network)
        if slot is not None and all(_is_free(p) for p in slot.values()):
            return slot
    taken = {p for n in network.nodes for p in n.ports.values()}
    for _ in range(20):
        ports = pick_free_ports(("new",))["new"]
        if not taken & set(ports.values()):
            return ports
    raise NetError("could not find four free ports that the network does not use")


def compute_next_slot(network: Network) -> Ports | None:
    """The ports ``net init --base-port`` would give one more organization, or None when the
    network's ports do not follow that layout."""
    base = network.nodes[0].ports.p2p if network.nodes else 0
    try:
        layout = compute_ports(network.orgs, base)
    except NetError:
        return None
    if any(layout[n.org] != n.ports for n in network.nodes):
        return None
    first = base + PORT_STRIDE * len(network.nodes)
    if first + max(PORT_OFFSETS.values()) > 65535:
        return None
    return Ports(**{name: first + offset for name, offset in PORT_OFFSETS.items()})


def _check_ports(network: Network, ports: Ports) -> Ports:
    taken = {p for n in network.nodes for p in n.ports.values()}
    if len(set(ports.values())) != len(ports.values()):
        raise NetError("the new node needs four different ports")
    clash = sorted(taken & set(ports.values()))
    if clash:
        raise NetError(f"port(s) {', '.join(map(str, clash))} belong to another node")
    return ports


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


# -- files -----------------------------------------------------------------------------------


def _read_genesis(network: Network) -> bytes:
    """The genesis every node shares, byte for byte (refused if the nodes' copies differ)."""
    copies = {}
    for n in network.nodes:
        path = n.cometbft_home / "config" / "genesis.json"
        try:
            copies[n.org] = path.read_bytes()
        except OSError as exc:
            raise NetError(f"cannot read {path}: {exc}") from exc
    if not copies:
        raise NetError(f"the network in {network.dir} has no nodes")
    if len(set(copies.values())) != 1:
        raise NetError(f"the nodes of {network.dir} do not share one genesis.json")
    return next(iter(copies.values()))


def _add_peer(network: Network, node: Node) -> None:
    """Make every other node a persistent peer of ``node`` (read when its CometBFT starts)."""
    peers = ",".join(n.p2p_address for n in network.nodes if n.org != node.org)
    path = node.cometbft_home / "config" / "config.toml"
    text = set_toml_values(path.read_text(encoding="utf-8"), {("p2p", "persistent_peers"): peers})
    path.write_text(text, encoding="utf-8")


# -- catching up -----------------------------------------------------------------------------


def read_height(node: Node) -> int:
    """The node's latest committed height, 0 while it does not answer."""
    try:
        return int(get_rpc(node, "status")["sync_info"]["latest_block_height"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return 0


def is_synced(node: Node, height: int) -> bool:
    """The node answers, is not catching up, and has committed ``height``."""
    try:
        sync = get_rpc(node, "status")["sync_info"]
        return not sync["catching_up"] and int(sync["latest_block_height"]) >= height
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return False


def wait_synced(network: Network, org: str, height: int, *, timeout_s: float) -> None:
    """Wait until ``org``'s node has replayed the chain up to ``height``."""
    node = network.node(org)
    deadline = time.monotonic() + timeout_s
    while not is_synced(node, height):
        if time.monotonic() >= deadline:
            raise NetError(
                f"{org} has not caught up to height {height} within {timeout_s:.0f} s (it is at "
                f"{read_height(node)}); it keeps syncing in the background: see "
                f"{network.log_file(org, 'cometbft')} and `gridledger net status --dir "
                f"{network.dir}`"
            )
        time.sleep(POLL_S)


# -- what the members do next ----------------------------------------------------------------


def format_next_steps(joined: Joined, *, power: int = DEFAULT_POWER) -> str:
    """The two governance decisions that make the new organization a member and a validator,
    as commands an existing member's admin can run."""
    network, node = joined.network, joined.node
    members = [n for n in network.nodes if n.org != node.org]
    first = members[0]
    url = first.api_url
    key = first.key_file("admin")
    before, after = len(members), len(members) + 1
    q = shlex.quote
    return f"""\
{node.org} is not a member yet, and its node is not a validator: the members decide both.
  admin public key      {joined.admin_public_key}
                        ({node.key_file("admin")})
  validator public key  {node.validator_public_key}
                        (address {node.validator_address})

1. Admit the organization. A member's admin proposes; more than two thirds of the members
   vote yes ({_needed(before)} of {before} if all {before} organizations are members):
     gridledger gov propose add-member --org {node.org} --name {node.org} \\
       --admin-public-key {joined.admin_public_key} \\
       --node {url} --key {q(str(key))}
     gridledger gov vote PROPOSAL_ID yes --node <member API> --key <member admin key>

2. Make its node a validator, once it has caught up ({_needed(after)} of {after} members vote
   yes then, {node.org} included; CometBFT uses the new set two blocks after the deciding vote):
     gridledger gov propose add-validator --org {node.org} --power {power} \\
       --public-key {node.validator_public_key} \\
       --node {url} --key {q(str(key))}
     gridledger gov vote PROPOSAL_ID yes --node <member API> --key <member admin key>

{node.org}'s own API: {node.api_url} (RPC {node.rpc_url})"""


def _needed(members: int) -> int:
    """Yes votes that make more than two thirds of ``members``."""
    return 2 * members // 3 + 1
