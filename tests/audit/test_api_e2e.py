"""Checkpoints over the REST API of a real embedded node process, and ``gridledger audit`` against
it: the node signs checkpoints with its node key as its log grows, serves and pages them, refuses
bad requests, and the command finds it consistent (or refuses a wrong pinned key)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.audit.checkpoint import decode_signed_checkpoint, verify_checkpoint
from gridledger.client import Client
from gridledger.keys import read_key_file
from tests.chain import digest_of
from tests.e2e.nodeproc import NodeProcess, cli, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = NodeProcess.create(tmp_path_factory.mktemp("audit-node"), chain_id="gridledger-audit")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def get(node: NodeProcess, path: str, **params: Any) -> httpx.Response:
    return httpx.get(f"{node.url}{path}", params=params, timeout=30)


def record(node: NodeProcess, count: int, stem: str) -> None:
    key = read_key_file(node.key("gridco"))
    with Client(node.url) as client:
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


def wait_for_checkpoint(node: NodeProcess, log_size: int, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        latest = get(node, "/v1/checkpoints").json()["latest"]
        if latest is not None and latest["checkpoint"]["log_size"] == log_size:
            found: dict[str, Any] = latest
            return found
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint of log size {log_size} within {timeout_s} s")


def test_node_signs_serves_and_pages_checkpoints(node: NodeProcess) -> None:
    node_key = read_key_file(node.home / "node_key.json")
    key = get(node, "/v1/checkpoints/key")
    assert key.status_code == 200
    assert key.json() == {
        "alg": "ed25519",
        "public_key": node_key.public_key.hex(),
        "signing": True,
        "chain_id": "gridledger-audit",
    }
    empty = get(node, "/v1/checkpoints").json()
    assert empty == {
        "public_key": node_key.public_key.hex(),
        "latest": None,
        "checkpoints": [],
        "more": False,
    }
    assert get(node, "/v1/checkpoints/latest").status_code == 404

    record(node, 3, "first")
    first = wait_for_checkpoint(node, 3)
    record(node, 2, "second")
    second = wait_for_checkpoint(node, 5)
    for wire in (first, second):
        verify_checkpoint(decode_signed_checkpoint(wire), node_key.public_key)
    status = get(node, "/v1/status").json()
    assert second["checkpoint"]["log_root"] == status["log"]["root"]
    assert second["checkpoint"]["app_hash"] == status["app_hash"]

    height = second["checkpoint"]["height"]
    assert get(node, f"/v1/checkpoints/{height}").json() == second
    assert get(node, "/v1/checkpoints/latest").json() == second
    listed = get(node, "/v1/checkpoints").json()
    assert listed["checkpoints"] == [first, second] and listed["more"] is False
    page = get(node, "/v1/checkpoints", limit=1).json()
    assert page["checkpoints"] == [first] and page["more"] is True
    rest = get(node, "/v1/checkpoints", from_height=first["checkpoint"]["height"] + 1).json()
    assert rest["checkpoints"] == [second]
    assert (node.home / "data" / "checkpoints.sqlite").is_file()


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/v1/checkpoints/abc", {}, 400, "decode_error"),
        ("/v1/checkpoints/-1", {}, 400, "decode_error"),
        ("/v1/checkpoints/999999", {}, 404, "not_found"),
        ("/v1/checkpoints", {"limit": 0}, 400, "invalid_request"),
        ("/v1/checkpoints", {"limit": 1001}, 400, "invalid_request"),
        ("/v1/checkpoints", {"from_height": -1}, 400, "invalid_request"),
        ("/v1/checkpoints", {"from_height": "x"}, 400, "invalid_request"),
        ("/v1/checkpoints", {"from_height": 10**20}, 400, "invalid_request"),
        ("/v1/checkpoints/" + "9" * 19, {}, 400, "decode_error"),
    ],
)
def test_bad_checkpoint_requests_are_refused(
    node: NodeProcess, path: str, params: dict[str, Any], status: int, code: str
) -> None:
    response = get(node, path, **params)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_audit_command_against_the_node(node: NodeProcess, tmp_path: Path) -> None:
    record(node, 2, "audited")
    wait_for_checkpoint(node, get(node, "/v1/status").json()["log"]["size"])
    key_file = tmp_path / "node-key.json"
    key_file.write_text(json.dumps(get(node, "/v1/checkpoints/key").json()))

    alone = cli("audit", "--peer", node.url, "--peer-key", str(key_file), timeout=120)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert alone.stdout.startswith("consistent: the peer (log size ")

    db = node.home / "data" / "ledger.sqlite"
    with_store = cli("audit", "--peer", node.url, "--db", str(db), timeout=120)
    assert with_store.returncode == 0, with_store.stdout + with_store.stderr
    assert "and our node (log size" in with_store.stdout

    as_json = cli("audit", "--peer", node.url, "--node", node.url, "--json", timeout=120)
    assert as_json.returncode == 0, as_json.stdout + as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["verdict"] == "consistent" and report["problems"] == []
    assert report["peer"]["checkpoints"] >= 3

    local = cli("audit", "--local", "--db", str(db), timeout=120)  # while the node runs
    assert local.returncode == 0, local.stdout + local.stderr
    assert local.stdout.startswith("clean: ")


def test_audit_command_refuses_wrong_keys_and_unreachable_peers(node: NodeProcess) -> None:
    wrong = cli("audit", "--peer", node.url, "--peer-key", "ab" * 32, timeout=120)
    assert wrong.returncode == 1
    assert wrong.stdout.startswith("INVALID: ")
    assert "not the pinned key abababababababab…" in wrong.stdout

    malformed = cli("audit", "--peer", node.url, "--peer-key", "zz", timeout=60)
    assert malformed.returncode == 1
    assert malformed.stderr.startswith("error: 'zz' is neither 64 hex characters")

    down = cli("audit", "--peer", f"http://127.0.0.1:{free_port()}", timeout=60)
    assert down.returncode == 1 and "is unreachable" in down.stderr

    both = cli("audit", "--peer", node.url, "--local", timeout=60)
    assert both.returncode == 2
