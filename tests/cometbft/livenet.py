"""Real CometBFT v0.38 processes running the built-in kvstore application, on 127.0.0.1 only.

Used by the live light-client tests: a node per home directory, each with its own ports from
``free_port()``, its config.toml rewritten in place, and its log kept in ``<home>/node.log``.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.nodeproc import free_port

COMETBFT = Path(__file__).resolve().parents[2] / ".tools" / "bin" / "cometbft"
_SECTION = re.compile(r"\[([a-z0-9_.]+)\]")


def run_cometbft(*args: str) -> str:
    """Run a short cometbft command (init, testnet, show-node-id) and return its output."""
    if not COMETBFT.exists():
        raise RuntimeError(f"{COMETBFT} is missing: `make setup` installs CometBFT")
    done = subprocess.run(
        [str(COMETBFT), *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"cometbft {' '.join(args)} failed: {done.stderr}{done.stdout}")
    return done.stdout


def set_config(path: Path, settings: Mapping[tuple[str, str], str]) -> None:
    """Set ``key = value`` lines of a config.toml; keys are (section, key), "" for the top level.

    Values are TOML literals (strings with their quotes). Every key must already be present once.
    """
    section = ""
    found: dict[tuple[str, str], int] = dict.fromkeys(settings, 0)
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        header = _SECTION.fullmatch(line.strip())
        if header is not None:
            section = header.group(1)
            continue
        key = line.split("=", 1)[0].strip()
        if (section, key) in settings and "=" in line:
            lines[number] = f"{key} = {settings[section, key]}"
            found[section, key] += 1
    missing = [name for name, count in found.items() if count != 1]
    if missing:
        raise RuntimeError(f"{path}: cannot set {missing}")
    path.write_text("\n".join(lines) + "\n")


class CometNode:
    """One cometbft process with the kvstore app, reachable over RPC on 127.0.0.1."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.rpc_port = free_port()
        self.p2p_port = free_port()
        self.url = f"http://127.0.0.1:{self.rpc_port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def node_id(self) -> str:
        return run_cometbft("show-node-id", "--home", str(self.home)).strip()

    def configure(self, persistent_peers: str = "") -> None:
        set_config(
            self.home / "config" / "config.toml",
            {
                ("", "proxy_app"): '"kvstore"',
                ("rpc", "laddr"): f'"tcp://127.0.0.1:{self.rpc_port}"',
                ("p2p", "laddr"): f'"tcp://127.0.0.1:{self.p2p_port}"',
                ("p2p", "persistent_peers"): f'"{persistent_peers}"',
                ("p2p", "addr_book_strict"): "false",
                ("p2p", "allow_duplicate_ip"): "true",
                ("consensus", "timeout_propose"): '"1s"',
                ("consensus", "timeout_commit"): '"150ms"',
            },
        )

    def start(self) -> None:
        with (self.home / "node.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(COMETBFT), "start", "--home", str(self.home)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)
        self.proc = None

    def log_tail(self) -> str:
        log = self.home / "node.log"
        return log.read_text(errors="replace")[-3000:] if log.exists() else ""

    def rpc(self, method: str, **params: str | int) -> dict[str, Any]:
        answer = httpx.get(f"{self.url}/{method}", params=params, timeout=10).json()
        if "error" in answer:
            raise RuntimeError(f"{method} {params}: {answer['error']}")
        result: dict[str, Any] = answer["result"]
        return result

    def height(self) -> int:
        try:
            return int(self.rpc("status")["sync_info"]["latest_block_height"])
        except (httpx.HTTPError, ValueError):
            return 0

    def wait_for_height(self, height: int, timeout_s: float = 30) -> int:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"cometbft exited: {self.log_tail()}")
            current = self.height()
            if current >= height:
                return current
            time.sleep(0.1)
        raise RuntimeError(f"height {height} not reached in {timeout_s} s: {self.log_tail()}")

    def broadcast_commit(self, tx: bytes) -> int:
        """Submit a transaction, wait for its block and return that block's height."""
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "broadcast_tx_commit",
            "params": {"tx": base64.b64encode(tx).decode()},
        }
        result = httpx.post(self.url, json=body, timeout=30).json()["result"]
        if result["check_tx"]["code"] != 0 or result["tx_result"]["code"] != 0:
            raise RuntimeError(f"transaction {tx!r} refused: {result}")
        return int(result["height"])

    def signed_header(self, height: int) -> dict[str, Any]:
        signed: dict[str, Any] = self.rpc("commit", height=height)["signed_header"]
        return signed

    def validators(self, height: int) -> list[dict[str, Any]]:
        """Every validator at ``height``, reading all pages of /validators."""
        validators: list[dict[str, Any]] = []
        page = 1
        while True:
            result = self.rpc("validators", height=height, page=page, per_page=100)
            validators.extend(result["validators"])
            if len(validators) >= int(result["total"]):
                return validators
            page += 1
