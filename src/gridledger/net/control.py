"""What ``gridledger net up | down | stop | start`` do to a network's supervisor.

The CLI and the supervisor talk through two small JSON files in the network directory, each
replaced atomically by its one writer:

- ``control.json`` (written here, under ``control.lock``): which processes the user wants running,
  ``{"version": 7, "wanted": {"exchange": {"app": true, "cometbft": false, "api": true}, ...}}``;
- ``state.json`` (written by the supervisor): what runs, with pids, states and restart counts, and
  the control ``version`` it has acted on, so a command can wait for its own request to be done.

Whether a supervisor runs is read from its lock (see ``layout.is_supervisor_running``), never
guessed from a pid that may have been reused.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from gridledger.net.layout import (
    PROCESSES,
    NetError,
    Network,
    find_busy_ports,
    find_cometbft,
    is_supervisor_running,
    read_json,
    read_network,
    write_json_atomic,
)
from gridledger.net.supervisor import GRACE_S

POLL_S = 0.25
SPAWN_TIMEOUT_S = 20.0
UP_TIMEOUT_S = 120.0
PROCESS_TIMEOUT_S = 60.0


def up(directory: Path, *, timeout_s: float = UP_TIMEOUT_S) -> Network:
    """Start the supervisor (unless it runs), want every process, and return once every node's
    RPC answers and each has committed height 1."""
    network = read_network(directory)
    find_cometbft()
    if is_supervisor_running(network.dir):
        set_wanted(network, {(o, p): True for o in network.orgs for p in PROCESSES})
    else:
        busy = find_busy_ports(network)
        if busy:
            raise NetError(
                f"ports of the network in {network.dir} are in use ({'; '.join(busy)}): "
                "is another network running? `gridledger net init --force --base-port N` "
                "moves this one"
            )
        network.pid_file.unlink(missing_ok=True)
        network.logs_dir.mkdir(exist_ok=True)
        set_wanted(network, {(o, p): True for o in network.orgs for p in PROCESSES})
        _spawn_supervisor(network)
    wait_ready(network, timeout_s=timeout_s)
    return network


def _spawn_supervisor(network: Network) -> None:
    with network.supervisor_log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own module, with our own arguments
            [
                sys.executable,
                "-m",
                "gridledger.net.supervisor",
                "--dir",
                str(network.dir),
                "--detach",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        proc.wait(SPAWN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.returncode != 0:
        raise NetError(f"the supervisor did not start:\n{_tail(network.supervisor_log)}")
    _wait(
        lambda: is_supervisor_running(network.dir) and read_pid(network) is not None,
        SPAWN_TIMEOUT_S,
        lambda: f"the supervisor did not start:\n{_tail(network.supervisor_log)}",
    )


def wait_ready(network: Network, *, timeout_s: float = UP_TIMEOUT_S) -> None:
    """Wait until every node's RPC answers /status with a committed height of at least 1, and
    every node's API answers /v1/status (so a caller may use the APIs as soon as this returns)."""
    problems: dict[str, str] = {}

    def ready() -> bool:
        if not is_supervisor_running(network.dir):
            raise NetError(f"the supervisor stopped:\n{_tail(network.supervisor_log)}")
        problems.clear()
        for node in network.nodes:
            try:
                sync = httpx.get(f"{node.rpc_url}/status", timeout=2).json()["result"]["sync_info"]
                if int(sync["latest_block_height"]) < 1:
                    problems[node.org] = "no block committed yet"
                    continue
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                problems[node.org] = f"RPC {node.rpc_url} does not answer ({type(exc).__name__})"
                continue
            try:
                httpx.get(f"{node.api_url}/v1/status", timeout=2).raise_for_status()
            except httpx.HTTPError as exc:
                problems[node.org] = f"API {node.api_url} does not answer ({type(exc).__name__})"
        return not problems

    def explain() -> str:
        state = read_state(network) or {}
        lines = []
        for org in (o for o in network.orgs if o in problems):
            problem = problems[org]
            procs = state.get("processes", {}).get(org, {})
            summary = ", ".join(
                f"{p} {procs.get(p, {}).get('state', '?')}"
                f" ({procs.get(p, {}).get('restarts', 0)} restarts)"
                for p in PROCESSES
            )
            lines.append(f"  {org}: {problem}; {summary}")
        return (
            f"the network did not commit a block within {timeout_s:.0f} s:\n"
            + "\n".join(lines)
            + f"\nsee the logs in {network.logs_dir} (<org>-cometbft.log, <org>-app.log, "
            "supervisor.log); it is still running: `gridledger net down` stops it"
        )

    _wait(ready, timeout_s, explain)


def down(directory: Path, *, timeout_s: float = 3 * GRACE_S + 10) -> bool:
    """Stop the supervisor and with it every process; True if something was running."""
    network = read_network(directory)
    was_running = is_supervisor_running(network.dir)
    if was_running:
        pid = read_pid(network)
        if pid is not None:
            _kill(pid, signal.SIGTERM)
        try:
            _wait(lambda: not is_supervisor_running(network.dir), timeout_s, lambda: "")
        except NetError:
            if pid is not None:
                _kill(pid, signal.SIGKILL)
            _wait(lambda: not is_supervisor_running(network.dir), 10, lambda: "supervisor hangs")
    orphans = _stop_orphans(network)
    network.pid_file.unlink(missing_ok=True)
    return was_running or orphans > 0


def _stop_orphans(network: Network) -> int:
    """Children a killed supervisor left behind (their command line names this network)."""
    state = read_state(network) or {}
    pids = [
        int(proc["pid"])
        for org in reversed(network.orgs)
        for name in reversed(PROCESSES)
        if isinstance(proc := state.get("processes", {}).get(org, {}).get(name), dict)
        and isinstance(proc.get("pid"), int)
        and _is_ours(int(proc["pid"]), network)
    ]
    for pid in pids:
        _kill(pid, signal.SIGTERM)
    try:
        _wait(lambda: not any(_is_ours(p, network) for p in pids), GRACE_S, lambda: "")
    except NetError:
        for pid in pids:
            if _is_ours(pid, network):
                _kill(pid, signal.SIGKILL)
    return len(pids)


def _is_ours(pid: int, network: Network) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    zombie = stat.rsplit(")", 1)[-1].split()[0] == "Z"
    return not zombie and str(network.dir).encode() in cmdline


def stop(directory: Path, org: str, process: str = "all") -> Network:
    """Stop one organization's process(es); the supervisor leaves them stopped."""
    network, names = _target(directory, org, process)
    version = set_wanted(network, {(org, name): False for name in names})
    _wait_processes(network, version, org, names, lambda p: p.get("pid") is None, "stop")
    return network


def start(directory: Path, org: str, process: str = "all") -> Network:
    """Start one organization's process(es) again after ``stop``."""
    network, names = _target(directory, org, process)
    wanted = _read_wanted(network)
    if "app" not in names and not wanted.get(org, {}).get("app", True):
        raise NetError(f"the app of {org} is stopped; start it first (or use --process all)")
    version = set_wanted(network, {(org, name): True for name in names})
    _wait_processes(network, version, org, names, lambda p: p.get("state") == "running", "start")
    return network


def _target(directory: Path, org: str, process: str) -> tuple[Network, tuple[str, ...]]:
    network = read_network(directory)
    network.node(org)
    if process != "all" and process not in PROCESSES:
        raise NetError(f"unknown process {process!r}: use app, cometbft, api or all")
    if not is_supervisor_running(network.dir):
        raise NetError(
            f"the network in {network.dir} is not running; start it with: "
            f"gridledger net up --dir {network.dir}"
        )
    return network, PROCESSES if process == "all" else (process,)


def _wait_processes(
    network: Network,
    version: int,
    org: str,
    names: Iterable[str],
    done: Callable[[dict[str, Any]], bool],
    verb: str,
) -> None:
    def check() -> bool:
        state = read_state(network) or {}
        if state.get("control_version", 0) < version:
            return False
        procs = state.get("processes", {}).get(org, {})
        return all(done(procs.get(name, {})) for name in names)

    _wait(
        check,
        PROCESS_TIMEOUT_S,
        lambda: (
            f"could not {verb} {org} {', '.join(names)} within {PROCESS_TIMEOUT_S:.0f} s; "
            f"see {network.supervisor_log}"
        ),
    )


# -- control.json and state.json -------------------------------------------------------------


def set_wanted(network: Network, changes: dict[tuple[str, str], bool]) -> int:
    """Record which processes the user wants running; returns the new control version."""
    with (network.dir / "control.lock").open("ab") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        doc = read_json(network.control_file) or {}
        wanted = _read_wanted(network, doc)
        for (org, name), value in changes.items():
            wanted.setdefault(org, {})[name] = value
        version = int(doc.get("version", 0)) + 1
        write_json_atomic(network.control_file, {"version": version, "wanted": wanted})
    return version


def _read_wanted(network: Network, doc: dict[str, Any] | None = None) -> dict[str, dict[str, bool]]:
    doc = doc if doc is not None else (read_json(network.control_file) or {})
    raw = doc.get("wanted", {})
    return {
        org: {
            name: raw.get(org, {}).get(name, True) is not False if isinstance(raw, dict) else True
            for name in PROCESSES
        }
        for org in network.orgs
    }


def read_state(network: Network) -> dict[str, Any] | None:
    return read_json(network.state_file)


def read_pid(network: Network) -> int | None:
    try:
        return int(network.pid_file.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


# -- helpers ---------------------------------------------------------------------------------


def _wait(ready: Callable[[], bool], timeout_s: float, explain: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() >= deadline:
            raise NetError(explain())
        time.sleep(POLL_S)


def _kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
