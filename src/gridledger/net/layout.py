"""The network directory of a local consortium: where every file lives, which ports each
organization uses, and ``network.json``, the one file a caller reads to find all of it.

::

    DIR/network.json                  chain id, organizations, node ids, ports, URLs, paths
    DIR/<org>/cometbft/               the org's CometBFT home (config/, data/)
    DIR/<org>/keys/<org>-admin.json   the org's account keys (mode 0600)
    DIR/<org>/keys/<org>-endorser.json
    DIR/<org>/app/ledger.sqlite       the org's gridledger store (written by its ABCI app)
    DIR/logs/<org>-<process>.log      output of app, cometbft and api processes (appended)
    DIR/logs/supervisor.log
    DIR/supervisor.pid, supervisor.lock, control.json, state.json   (see gridledger.net.control)

Paths inside ``network.json`` are informational and absolute; this module recomputes them from
the directory it is given, so a network directory can be moved while it is down.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.errors import GridledgerError

PROCESSES = ("app", "cometbft", "api")  # start order; stop order is the reverse
KEY_ROLES = ("admin", "endorser")
DEFAULT_ORGS = ("gridco", "notary", "judicial", "exchange")
DEFAULT_CHAIN_ID = "gridledger-net"
DEFAULT_BASE_PORT = 26600
PORT_STRIDE = 10  # org i uses base + 10 i + offset
PORT_OFFSETS = {"p2p": 0, "rpc": 1, "abci": 2, "api": 3}
VALIDATOR_POWER = 10
NETWORK_FORMAT = 1
HOST = "127.0.0.1"
COMETBFT_ENV = "GRIDLEDGER_COMETBFT"

_ORG_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_CHAIN_ID = re.compile(r"[A-Za-z0-9._-]{1,50}")  # CometBFT allows 50 characters


class NetError(GridledgerError):
    code = "net_error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Ports:
    p2p: int
    rpc: int
    abci: int
    api: int

    def to_json(self) -> dict[str, int]:
        return {"p2p": self.p2p, "rpc": self.rpc, "abci": self.abci, "api": self.api}

    def values(self) -> tuple[int, ...]:
        return (self.p2p, self.rpc, self.abci, self.api)


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One organization's member of the network: a validator, its app and its API."""

    org: str
    root: Path  # DIR/<org>
    node_id: str  # CometBFT p2p id (hex of 20 bytes)
    validator_address: str  # uppercase hex, as CometBFT shows it
    validator_public_key: str  # hex of the Ed25519 public key
    ports: Ports
    # False for an organization added by ``gridledger net join``: its validator is not in the
    # genesis; it gets voting power only when the members vote it in (governance add_validator).
    in_genesis: bool = True

    @property
    def cometbft_home(self) -> Path:
        return self.root / "cometbft"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def app_dir(self) -> Path:
        return self.root / "app"

    @property
    def db_file(self) -> Path:
        return self.app_dir / "ledger.sqlite"

    @property
    def rpc_url(self) -> str:
        return f"http://{HOST}:{self.ports.rpc}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.ports.api}"

    @property
    def p2p_address(self) -> str:
        return f"{self.node_id}@{HOST}:{self.ports.p2p}"

    def key_file(self, role: str) -> Path:
        return self.keys_dir / f"{self.org}-{role}.json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    dir: Path
    chain_id: str
    nodes: tuple[Node, ...]

    @property
    def orgs(self) -> tuple[str, ...]:
        return tuple(n.org for n in self.nodes)

    def node(self, org: str) -> Node:
        for n in self.nodes:
            if n.org == org:
                return n
        raise NetError(f"no organization {org!r} in {self.dir} (it has {', '.join(self.orgs)})")

    @property
    def logs_dir(self) -> Path:
        return self.dir / "logs"

    def log_file(self, org: str, process: str) -> Path:
        return self.logs_dir / f"{org}-{process}.log"

    @property
    def supervisor_log(self) -> Path:
        return self.logs_dir / "supervisor.log"

    @property
    def pid_file(self) -> Path:
        return self.dir / "supervisor.pid"

    @property
    def lock_file(self) -> Path:
        return self.dir / "supervisor.lock"

    @property
    def control_file(self) -> Path:
        return self.dir / "control.json"

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": NETWORK_FORMAT,
            "chain_id": self.chain_id,
            "dir": str(self.dir),
            "orgs": list(self.orgs),
            "supervisor": {
                "pid_file": str(self.pid_file),
                "log": str(self.supervisor_log),
                "state_file": str(self.state_file),
                "control_file": str(self.control_file),
            },
            "nodes": {n.org: self._node_json(n) for n in self.nodes},
        }

    def _node_json(self, n: Node) -> dict[str, Any]:
        return {
            "node_id": n.node_id,
            "validator": {
                "address": n.validator_address,
                "public_key": n.validator_public_key,
                "power": VALIDATOR_POWER if n.in_genesis else 0,  # the power in genesis
            },
            "in_genesis": n.in_genesis,
            "ports": n.ports.to_json(),
            "p2p_address": n.p2p_address,
            "rpc_url": n.rpc_url,
            "api_url": n.api_url,
            "abci_port": n.ports.abci,
            "cometbft_home": str(n.cometbft_home),
            "genesis": str(n.cometbft_home / "config" / "genesis.json"),
            "keys": {role: str(n.key_file(role)) for role in KEY_ROLES},
            "app_dir": str(n.app_dir),
            "db": str(n.db_file),
            "logs": {p: str(self.log_file(n.org, p)) for p in PROCESSES},
        }


# -- names and ports -------------------------------------------------------------------------


def parse_orgs(value: str | Iterable[str]) -> tuple[str, ...]:
    """Organization ids from ``a,b,c``: lowercase names usable as directory names, no repeats."""
    items = value.split(",") if isinstance(value, str) else list(value)
    if not all(isinstance(o, str) for o in items):
        raise NetError("organization names must be strings")
    orgs = tuple(o.strip() for o in items)
    if not orgs or orgs == ("",):
        raise NetError("no organizations given; pass e.g. --orgs gridco,notary,judicial,exchange")
    for org in orgs:
        if not _ORG_ID.fullmatch(org):
            raise NetError(
                f"bad organization name {org!r}: use 1 to 32 of a-z 0-9 _ - "
                "(starting with a letter or digit)"
            )
        if org in ("logs",):
            raise NetError(f"organization name {org!r} is reserved for the network directory")
    if len(set(orgs)) != len(orgs):
        twice = sorted({o for o in orgs if orgs.count(o) > 1})
        raise NetError(f"organization listed twice: {', '.join(twice)}")
    return orgs


def check_chain_id(chain_id: str) -> str:
    if not _CHAIN_ID.fullmatch(chain_id):
        raise NetError(f"bad chain id {chain_id!r}: use 1 to 50 of A-Z a-z 0-9 . _ -")
    return chain_id


def compute_ports(orgs: tuple[str, ...], base_port: int) -> dict[str, Ports]:
    """Fixed offsets from ``base_port``: org i gets base + 10 i + (0 p2p, 1 rpc, 2 abci, 3 api)."""
    last = base_port + PORT_STRIDE * (len(orgs) - 1) + max(PORT_OFFSETS.values())
    if base_port < 1024 or last > 65535:
        raise NetError(f"--base-port {base_port}: the ports {base_port}..{last} must be 1024-65535")
    return {
        org: Ports(
            **{name: base_port + PORT_STRIDE * i + off for name, off in PORT_OFFSETS.items()}
        )
        for i, org in enumerate(orgs)
    }


def pick_free_ports(orgs: tuple[str, ...]) -> dict[str, Ports]:
    """Ports the OS reports free right now (all held open together, so they are distinct)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(len(orgs) * len(PORT_OFFSETS)):
            s = socket.socket()
            s.bind((HOST, 0))
            sockets.append(s)
        numbers = [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
    it = iter(numbers)
    return {org: Ports(**{name: next(it) for name in PORT_OFFSETS}) for org in orgs}


def find_busy_ports(network: Network) -> list[str]:
    """``"<org> <port name> <port>"`` for each of the network's ports another process holds."""
    busy = []
    for n in network.nodes:
        for name, port in n.ports.to_json().items():
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((HOST, port))
                except OSError:
                    busy.append(f"{n.org} {name} {port}")
    return busy


# -- the CometBFT binary ---------------------------------------------------------------------


def find_cometbft() -> Path:
    """$GRIDLEDGER_COMETBFT, else <repo>/.tools/bin/cometbft (where `make setup` puts it), else
    ``cometbft`` on PATH."""
    configured = os.environ.get(COMETBFT_ENV)
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise NetError(f"{COMETBFT_ENV}={configured} is not an executable file")
        return path
    repo_tool = Path(__file__).resolve().parents[3] / ".tools" / "bin" / "cometbft"
    if repo_tool.is_file() and os.access(repo_tool, os.X_OK):
        return repo_tool
    on_path = shutil.which("cometbft")
    if on_path:
        return Path(on_path)
    raise NetError(
        "CometBFT is not installed: run `make setup` (it installs CometBFT into .tools/bin), "
        f"or point {COMETBFT_ENV} at a cometbft v0.38 binary"
    )


# -- network.json ----------------------------------------------------------------------------


def network_file(directory: Path) -> Path:
    return Path(directory) / "network.json"


def write_json_atomic(path: Path, doc: Mapping[str, Any], *, mode: int = 0o644) -> None:
    """Write ``path`` so that readers see the old or the new document, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file does not exist."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise NetError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise NetError(f"{path} does not hold a JSON object")
    return doc


def write_network(network: Network) -> None:
    write_json_atomic(network_file(network.dir), network.to_json())


def read_network(directory: Path) -> Network:
    directory = Path(directory).resolve()
    doc = read_json(network_file(directory))
    if doc is None:
        raise NetError(
            f"{directory} holds no network (no network.json); create one with: "
            f"gridledger net init --dir {directory}"
        )
    try:
        if doc["format"] != NETWORK_FORMAT:
            raise NetError(f"{network_file(directory)}: unsupported format {doc['format']!r}")
        nodes = tuple(
            Node(
                org=org,
                root=directory / org,
                node_id=str(doc["nodes"][org]["node_id"]),
                validator_address=str(doc["nodes"][org]["validator"]["address"]),
                validator_public_key=str(doc["nodes"][org]["validator"]["public_key"]),
                ports=Ports(**{k: int(v) for k, v in doc["nodes"][org]["ports"].items()}),
                in_genesis=doc["nodes"][org].get("in_genesis", True) is not False,
            )
            for org in parse_orgs(doc["orgs"])
        )
        return Network(dir=directory, chain_id=check_chain_id(doc["chain_id"]), nodes=nodes)
    except (KeyError, TypeError, ValueError) as exc:
        raise NetError(f"{network_file(directory)} is malformed: {exc!r}") from exc


def is_supervisor_running(directory: Path) -> bool:
    """True while a supervisor holds ``DIR/supervisor.lock``: it takes an exclusive lock on it
    for its whole life, and the kernel drops that lock when the process ends, however it ends."""
    try:
        fd = os.open(Path(directory) / "supervisor.lock", os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
