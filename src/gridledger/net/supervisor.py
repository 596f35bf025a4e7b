"""The supervisor: one detached process per network that runs every node process.

Per organization it runs three processes, in this order:

- ``app``: ``python -m gridledger.node.abci_server --db DIR/<org>/app/ledger.sqlite --port ABCI``;
- ``cometbft``: ``cometbft start --home DIR/<org>/cometbft``, once the app's ABCI port accepts
  connections (CometBFT stops for good when it cannot reach its app);
- ``api``: ``python -m gridledger.api.network --db ... --rpc ... --host 127.0.0.1 --port API``.

A process that exits on its own is restarted after a backoff (0.5 s, doubling to 15 s, reset once
it has stayed up 20 s). When an app exits, its CometBFT is stopped too and started again after the
app is back: CometBFT cannot run without it. A process the user stopped (``control.json``, written
by ``gridledger net stop``) is not restarted until the user starts it again. An organization
that ``gridledger net join`` adds to ``network.json`` is picked up at the next change of
``control.json`` and started beside the others, which keep running.

The supervisor holds an exclusive lock on ``DIR/supervisor.lock`` for its whole life (that is how
other commands know it runs), writes ``DIR/supervisor.pid``, and reports every process in
``DIR/state.json``. SIGTERM or SIGINT stops every process (api, then cometbft, then app; SIGKILL
after a grace period) and then the supervisor. Its children get SIGTERM if it dies without that
(Linux ``PR_SET_PDEATHSIG``), so no validator outlives its supervisor.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

from gridledger.net.layout import (
    HOST,
    PROCESSES,
    NetError,
    Network,
    find_cometbft,
    read_json,
    read_network,
    write_json_atomic,
)

log = logging.getLogger("gridledger.net.supervisor")

TICK_S = 0.2
GRACE_S = 10.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 15.0
STABLE_S = 20.0
HEARTBEAT_S = 2.0
PR_SET_PDEATHSIG = 1


@dataclass(slots=True)
class Child:
    """One supervised process and what the supervisor knows about it."""

    org: str
    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    state: str = "waiting"  # running, waiting (for its app), backoff, stopped
    restarts: int = 0
    failures: int = 0  # exits in a row, for the backoff
    crashed: bool = False
    exit_code: int | None = None
    started_at: float = 0.0
    started_ms: int | None = None
    next_start: float = 0.0
    ready: bool = False  # app only: its ABCI port accepts connections

    def to_json(self, wanted: bool) -> dict[str, Any]:
        return {
            "pid": self.proc.pid if self.proc else None,
            "state": self.state,
            "wanted": wanted,
            "restarts": self.restarts,
            "exit_code": self.exit_code,
            "started_ms": self.started_ms,
            "log": str(self.log_path),
        }


def compute_argv(network: Network, org: str, name: str, cometbft: Path) -> list[str]:
    node = network.node(org)
    if name == "app":
        return [
            sys.executable,
            *("-m", "gridledger.node.abci_server"),
            *("--db", str(node.db_file), "--host", HOST, "--port", str(node.ports.abci)),
        ]
    if name == "cometbft":
        return [str(cometbft), "start", "--home", str(node.cometbft_home)]
    checkpoint_key = node.key_file("node")  # written by net init (docs/audit.md)
    return [
        sys.executable,
        *("-m", "gridledger.api.network", "--db", str(node.db_file), "--rpc", node.rpc_url),
        *("--host", HOST, "--port", str(node.ports.api)),
        *(("--checkpoint-key", str(checkpoint_key)) if checkpoint_key.exists() else ()),
    ]


def compute_backoff_s(failures: int) -> float:
    return float(min(BACKOFF_FIRST_S * 2 ** max(failures - 1, 0), BACKOFF_MAX_S))


class Supervisor:
    def __init__(self, network: Network, cometbft: Path) -> None:
        self.network = network
        self.cometbft = cometbft
        self.children = {
            (org, name): Child(
                org=org,
                name=name,
                argv=compute_argv(network, org, name, cometbft),
                log_path=network.log_file(org, name),
            )
            for org in network.orgs
            for name in PROCESSES
        }
        self.wanted = dict.fromkeys(self.children, True)
        self.control_version = 0
        self.phase = "running"
        self.should_exit = False
        self._written: dict[str, Any] | None = None
        self._written_at = 0.0
        self._started_ms = time.time_ns() // 1_000_000

    # -- main loop -----------------------------------------------------------------------------

    def run(self) -> None:
        log.info("supervising %s (%s)", self.network.dir, ", ".join(self.network.orgs))
        while not self.should_exit:
            self.read_control()
            self.reap()
            for org in self.network.orgs:
                self.reconcile(org)
            self.write_state()
            time.sleep(TICK_S)
        self.shutdown()

    def request_exit(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping the network", signum)
        self.should_exit = True

    def read_control(self) -> None:
        try:
            doc = read_json(self.network.control_file) or {}
        except NetError as exc:
            log.warning("ignoring control file: %s", exc.message)
            return
        version = doc.get("version", 0)
        if version != self.control_version:
            self.add_joined_orgs()
        wanted = doc.get("wanted", {})
        for org, name in self.children:
            by_name = wanted.get(org, {}) if isinstance(wanted, dict) else {}
            value = by_name.get(name, True) if isinstance(by_name, dict) else True
            self.wanted[org, name] = value is not False
        self.control_version = version if isinstance(version, int) else 0

    def add_joined_orgs(self) -> None:
        """Supervise organizations added to ``network.json`` since it was read (``net join``
        writes it, then changes ``control.json``). Known organizations are left as they are."""
        try:
            network = read_network(self.network.dir)
        except NetError as exc:
            log.warning("ignoring network.json: %s", exc.message)
            return
        new = [org for org in network.orgs if org not in self.network.orgs]
        if not new:
            return
        if not set(self.network.orgs) <= set(network.orgs):
            log.warning("network.json no longer lists every running organization; ignoring it")
            return
        for org in new:
            for name in PROCESSES:
                self.children[org, name] = Child(
                    org=org,
                    name=name,
                    argv=compute_argv(network, org, name, self.cometbft),
                    log_path=network.log_file(org, name),
                )
                self.wanted[org, name] = True
        self.network = network
        log.info("organization(s) joined the network: %s", ", ".join(new))

    def reap(self) -> None:
        """Notice processes that exited on their own and schedule their restart."""
        now = time.monotonic()
        for child in self.children.values():
            if child.proc is None or (code := child.proc.poll()) is None:
                continue
            child.proc, child.ready, child.exit_code = None, False, code
            child.failures = 1 if now - child.started_at >= STABLE_S else child.failures + 1
            child.crashed = True
            child.next_start = now + compute_backoff_s(child.failures)
            child.state = "backoff"
            log.warning(
                "%s %s exited with code %s; restarting in %.1f s (see %s)",
                child.org,
                child.name,
                code,
                child.next_start - now,
                child.log_path,
            )

    def reconcile(self, org: str) -> None:
        """Stop what must not run (api, cometbft, app), then start what should (app, ...)."""
        app, comet, api = (self.children[org, name] for name in PROCESSES)
        if app.proc is not None and not app.ready:
            app.ready = _port_accepts(self.network.node(org).ports.abci)
        app_up = app.proc is not None and self.wanted[org, "app"]
        stopping = [
            c
            for c, keep in ((api, True), (comet, app_up), (app, True))
            if c.proc is not None and not (keep and self.wanted[org, c.name])
        ]
        for child in stopping:
            stop_children([child])
        now = time.monotonic()
        for child in (app, comet, api):
            if child.proc is not None:
                continue
            if not self.wanted[org, child.name]:
                child.state, child.failures, child.crashed = "stopped", 0, False
            elif child.name != "app" and not app.ready:
                child.state = "waiting"
            elif now >= child.next_start:
                self.start(child)

    def start(self, child: Child) -> None:
        if child.crashed:
            child.restarts += 1
            child.crashed = False
        child.started_at = time.monotonic()
        child.started_ms = time.time_ns() // 1_000_000
        try:
            with child.log_path.open("ab") as out:
                out.write(
                    f"\n=== {time.strftime('%F %T')} supervisor starts {child.argv}\n".encode()
                )
                out.flush()
                child.proc = subprocess.Popen(  # noqa: S603 - argv built by compute_argv
                    child.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.network.dir,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    preexec_fn=_die_with_parent,  # noqa: PLW1509 - the supervisor has no threads
                )
        except OSError as exc:
            log.error("cannot start %s %s: %s", child.org, child.name, exc)
            child.crashed, child.failures = True, child.failures + 1
            child.next_start = time.monotonic() + compute_backoff_s(child.failures)
            child.state = "backoff"
            return
        child.state, child.exit_code = "running", None
        log.info("%s %s started (pid %d)", child.org, child.name, child.proc.pid)

    def shutdown(self) -> None:
        self.phase = "stopping"
        self.write_state(force=True)
        for name in reversed(PROCESSES):
            stop_children([self.children[org, name] for org in self.network.orgs])
        self.phase = "stopped"
        self.write_state(force=True)
        log.info("all processes stopped")

    # -- state.json ----------------------------------------------------------------------------

    def state_json(self) -> dict[str, Any]:
        return {
            "supervisor_pid": os.getpid(),
            "started_ms": self._started_ms,
            "phase": self.phase,
            "control_version": self.control_version,
            "processes": {
                org: {
                    name: self.children[org, name].to_json(self.wanted[org, name])
                    for name in PROCESSES
                }
                for org in self.network.orgs
            },
        }

    def write_state(self, *, force: bool = False) -> None:
        doc = self.state_json()
        now = time.monotonic()
        if not force and doc == self._written and now - self._written_at < HEARTBEAT_S:
            return
        write_json_atomic(
            self.network.state_file, {**doc, "updated_ms": time.time_ns() // 1_000_000}
        )
        self._written, self._written_at = doc, now


def stop_children(children: list[Child], grace_s: float = GRACE_S) -> None:
    """SIGTERM every running child, wait up to ``grace_s`` for all, then SIGKILL the rest."""
    running = [c for c in children if c.proc is not None]
    for child in running:
        log.info("stopping %s %s (pid %d)", child.org, child.name, _pid(child))
        _signal(child, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for child in running:
        proc = child.proc
        if proc is None:
            continue
        try:
            proc.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            log.warning("%s %s did not stop in %.0f s: SIGKILL", child.org, child.name, grace_s)
            _signal(child, signal.SIGKILL)
            proc.wait()
        child.proc, child.ready, child.exit_code = None, False, proc.returncode
        child.state = "stopped"


def _pid(child: Child) -> int:
    return child.proc.pid if child.proc else -1


def _signal(child: Child, signum: int) -> None:
    if child.proc is not None:
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(signum)


def _port_accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGTERM when the supervisor dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


# -- process setup ---------------------------------------------------------------------------


def _detach() -> None:
    """Become a daemon: the caller's child exits at once, so no one has to reap us."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)


def _take_lock(network: Network) -> IO[bytes]:
    """The exclusive lock that says "a supervisor runs here". A command checking for it holds a
    shared lock for an instant, so a few quick retries tell that apart from a real owner."""
    lock = network.lock_file.open("ab")
    for _ in range(20):
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            time.sleep(0.1)
    lock.close()
    raise NetError(f"another supervisor already runs the network in {network.dir}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="supervise a local gridledger network")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--detach", action="store_true", help="run in the background")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s supervisor: %(message)s"
    )
    try:
        network = read_network(args.dir)
        cometbft = find_cometbft()
        if args.detach:
            _detach()
        lock = _take_lock(network)
    except NetError as exc:
        log.error("%s", exc.message)
        return 1
    network.pid_file.write_text(f"{os.getpid()}\n", encoding="utf-8")
    supervisor = Supervisor(network, cometbft)
    signal.signal(signal.SIGTERM, supervisor.request_exit)
    signal.signal(signal.SIGINT, supervisor.request_exit)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        supervisor.run()
    finally:
        if network.pid_file.exists() and network.pid_file.read_text().strip() == str(os.getpid()):
            network.pid_file.unlink()
        lock.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
