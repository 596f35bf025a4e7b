"""Audit on the real four-validator network: every organization's API signs checkpoints with its
node key; two honest nodes audit as consistent; then one organization's log is rewritten on disk
(its processes stopped, an entry changed and every log node recomputed, so the store looks
internally consistent) and only its API is started again: ``audit --peer`` reports the rewrite
from either side, and ``audit --local`` names the edited rows."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.client import Client
from gridledger.keys import read_key_file
from gridledger.ledger.state import log_entry_key
from gridledger.net.layout import Network
from tests.audit.ledger import rewrite_log_entry
from tests.chain import digest_of
from tests.e2e.nodeproc import cli, free_port
from tests.net.netproc import running_network
from tests.net.test_network_e2e import _ok

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHAIN_ID = "gridledger-audit-e2e"


@pytest.fixture
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with running_network(tmp_path_factory.mktemp("audit") / "net", CHAIN_ID) as net:
        yield net


def _record(network: Network, stem: str, count: int) -> None:
    key = read_key_file(network.node("gridco").key_file("admin"))
    with Client(network.node("gridco").api_url) as client:
        txs = [
            client.build_tx(
                "notary",
                "record",
                {
                    "digest": digest_of(f"{stem} {i}"),
                    "title": f"{stem} {i}",
                    "record_type": "business_record",
                    "parties": [key.address],
                },
                [key],
            )
            for i in range(count)
        ]
        results = client.submit_many(txs)
    assert [r["status"] for r in results] == ["committed"] * count, results


def _latest(network: Network, org: str) -> dict[str, Any] | None:
    try:
        body = httpx.get(f"{network.node(org).api_url}/v1/checkpoints", timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return None
    latest: dict[str, Any] | None = body.get("latest")
    return latest


def _wait_for_checkpoints(network: Network, orgs: tuple[str, ...], log_size: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sizes = [(_latest(network, o) or {}).get("checkpoint", {}).get("log_size") for o in orgs]
        if sizes == [log_size] * len(orgs):
            return
        time.sleep(0.25)
    raise AssertionError(f"checkpoints of log size {log_size} not signed by {orgs} in time")


@contextlib.contextmanager
def _standalone_api(db: Path, key: str, tmp_path: Path) -> Iterator[str]:
    """The organization's API alone over its store (its CometBFT is down), with its key."""
    port = free_port()
    log = (tmp_path / "standalone-api.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "gridledger.api.network", "--db", str(db),
            "--rpc", f"http://127.0.0.1:{free_port()}", "--port", str(port),
            "--checkpoint-key", key,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "standalone-api.log").read_text()
            try:
                if httpx.get(f"{url}/v1/checkpoints", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the standalone API did not answer"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        log.close()


def _audit(*args: str) -> Any:
    return cli("audit", *args, timeout=120)


def test_honest_nodes_agree_then_a_rewritten_log_is_caught(
    network: Network, tmp_path: Path
) -> None:
    for node in network.nodes:
        assert (node.keys_dir / f"{node.org}-node.json").is_file()
    gridco, notary = network.node("gridco"), network.node("notary")
    gridco_key = str(gridco.keys_dir / "gridco-node.json")
    notary_key = str(notary.keys_dir / "notary-node.json")

    _record(network, "first", 3)
    _wait_for_checkpoints(network, ("gridco", "notary"), 3)
    _record(network, "second", 3)
    _wait_for_checkpoints(network, ("gridco", "notary"), 6)
    served = httpx.get(f"{notary.api_url}/v1/checkpoints/key", timeout=10).json()
    assert (
        served["public_key"] == read_key_file(notary.keys_dir / "notary-node.json").public_key.hex()
    )
    assert served["signing"] is True

    honest = _audit(
        "--peer", notary.api_url, "--node", gridco.api_url,
        "--peer-key", notary_key, "--key", gridco_key,
    )  # fmt: skip
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert honest.stdout.startswith("consistent: the peer (log size 6, ")  # checkpoints: 2 or more
    assert "and our node (log size 6, " in honest.stdout

    # an insider rewrites notary's log while its processes are stopped, then serves the store
    _ok("stop", "--dir", str(network.dir), "--org", "notary")
    rewrite_log_entry(notary.db_file, 1)
    with _standalone_api(notary.db_file, notary_key, tmp_path) as notary_url:
        _check_rewrite_is_caught(network, notary_url, notary_key)


def _check_rewrite_is_caught(network: Network, notary_url: str, notary_key: str) -> None:
    gridco, notary = network.node("gridco"), network.node("notary")
    caught = _audit("--peer", notary_url, "--node", gridco.api_url, "--peer-key", notary_key)
    assert caught.returncode == 1, caught.stdout + caught.stderr
    lines = caught.stdout.splitlines()
    assert lines[0].startswith("FORK/REWRITE: the peer (log size 6, ")
    assert lines[0].endswith("the logs differ from log size 2 on (entry 1 is not the same)")
    assert any(
        line.startswith("  rewrite: the peer's log (size 6) does not extend its own signed")
        for line in lines
    ), lines
    assert any(
        line.startswith("  fork: the peer's log (size 6) does not extend our node's checkpoint")
        for line in lines
    ), lines

    reverse = _audit("--peer", gridco.api_url, "--node", notary_url)
    assert reverse.returncode == 1
    assert reverse.stdout.startswith("FORK/REWRITE: ")
    assert "  rewrite: our node's log (size 6) does not extend its own" in reverse.stdout

    local = _audit("--local", "--db", str(notary.db_file))
    assert local.returncode == 1
    assert local.stdout.startswith("TAMPERED: ")
    assert (
        f"  state: row state[{log_entry_key(1)!r}] was edited: stored value differs from the "
        "replayed ledger"
    ) in local.stdout.splitlines()

    clean = _audit("--local", "--db", str(gridco.db_file))  # a consortium store, node running
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("clean: ")
