"""Running real gridledger node processes for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from gridledger.node.home import init_home

GRIDLEDGER = str(Path(sys.executable).with_name("gridledger"))


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port the OS reports free, never one this process was given before: callers
    take several in a row before anything binds them, and the OS may offer a closed one again."""
    for _ in range(1000):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port: int = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError("no loopback port that was not handed out already")


def cli(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the gridledger command as a user would."""
    return subprocess.run(
        [GRIDLEDGER, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False
    )


class NodeProcess:
    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = home / "node.log"

    @classmethod
    def create(cls, tmp: Path, chain_id: str = "gridledger-e2e") -> NodeProcess:
        port = free_port()
        init_home(tmp / "home", chain_id=chain_id, port=port)
        return cls(tmp / "home", port)

    def start(self, timeout_s: float = 30) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [GRIDLEDGER, "node", "start", "--home", str(self.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"node exited with {self.proc.returncode}: {self.log.read_text()}"
                )
            try:
                httpx.get(f"{self.url}/v1/status", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"node did not answer within {timeout_s} s: {self.log.read_text()}")

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.proc = None

    def key(self, org: str, role: str = "admin") -> Path:
        return self.home / "keys" / f"{org}-{role}.json"
