"""The consortium member's REST API (gridledger.api.network) over a real CometBFT node."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger import codec
from gridledger.client.tracker import Settled, TxTracker
from gridledger.cometbft.lightclient import genesis_validators_hash
from gridledger.errors import Expired, InvalidProof, NodeError
from gridledger.evidence.verify import verify_certificate
from gridledger.keys import read_key_file
from gridledger.ledger.tx import Transaction, TxBody, sign_transaction
from tests.e2e.nodeproc import cli, free_port
from tests.e2e.test_cometbft_single import CHAIN_ID, CometNode

pytestmark = pytest.mark.e2e


class Member:
    """One CometBFT node, its app process and its API process."""

    def __init__(self, tmp: Path) -> None:
        self.comet = CometNode(tmp)
        self.api_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.api: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.comet.start()
        log = (self.comet.home / "api.log").open("ab")
        self.api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gridledger.api.network",
                "--db",
                str(self.comet.app_home / "data" / "ledger.sqlite"),
                "--rpc",
                self.comet.rpc,
                "--port",
                str(self.api_port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/v1/status", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError((self.comet.home / "api.log").read_text()[-3000:])

    def stop(self) -> None:
        if self.api is not None:
            self.api.terminate()
            try:
                self.api.wait(15)
            except subprocess.TimeoutExpired:
                self.api.kill()
                self.api.wait(15)
        self.comet.stop()


@pytest.fixture(scope="module")
def member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Member]:
    m = Member(tmp_path_factory.mktemp("member"))
    try:
        m.start()
        yield m
    finally:
        m.stop()


def _record(
    member: Member, n: int, *, endorsers: list[str] | None = None, digest: str | None = None
) -> bytes:
    admin = read_key_file(member.comet.app_home / "keys" / "gridco-admin.json")
    height = httpx.get(f"{member.url}/v1/status", timeout=10).json()["height"]
    args: dict[str, Any] = {
        "digest": digest or f"{n:064x}",
        "title": f"contract {n}",
        "record_type": "contract",
        "parties": [admin.address],
    }
    if endorsers:
        args["endorsers"] = endorsers
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=height + 100,
        nonce=f"api-{n}",
        contract="notary",
        method="record",
        args=args,
    )
    return sign_transaction(body, [admin]).raw


def test_submit_and_wait_for_commit_through_cometbft(member: Member) -> None:
    raw = _record(member, 1)
    r = httpx.post(f"{member.url}/v1/txs", params={"wait": "true"}, content=raw, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "committed" and body["height"] >= 1
    got = httpx.get(f"{member.url}/v1/txs/{body['tx_id']}", timeout=10).json()
    assert got["height"] == body["height"] and got["code"] == 0

    again = httpx.post(f"{member.url}/v1/txs", content=raw, timeout=30)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "replayed"


def test_many_concurrent_waits_all_answered(member: Member) -> None:
    raws = [_record(member, 100 + i) for i in range(40)]
    r = httpx.post(
        f"{member.url}/v1/txs/batch",
        params={"wait": "true", "timeout_s": "45"},
        content=codec.encode([codec.decode(x) for x in raws]),
        timeout=90,
    )
    assert r.status_code == 200, r.text
    statuses = [x["status"] for x in r.json()["results"]]
    assert statuses == ["committed"] * 40


def test_bad_input_is_refused_and_changes_nothing(member: Member) -> None:
    before = httpx.get(f"{member.url}/v1/status", timeout=10).json()
    for body, code in [
        (b"{not json", 400),
        (b'{"body":{"a":1.5},"signatures":[]}', 400),
        (
            _record(member, 7).replace(b'"chain_id":"' + CHAIN_ID.encode(), b'"chain_id":"other'),
            400,
        ),
    ]:
        r = httpx.post(f"{member.url}/v1/txs", content=body, timeout=30)
        assert r.status_code == code, (body[:40], r.text)
        assert r.json()["error"]["message"]
    time.sleep(1.0)
    after = httpx.get(f"{member.url}/v1/status", timeout=10).json()
    assert after["app_hash"] == before["app_hash"]
    assert after["log"] == before["log"]


def test_status_reports_the_consensus_node(member: Member) -> None:
    status = httpx.get(f"{member.url}/v1/status", timeout=10).json()
    assert status["mode"] == "cometbft"
    assert status["consensus"]["reachable"] is True
    assert len(status["consensus"]["validators"]) == 1
    assert status["chain_id"] == CHAIN_ID


def test_certificate_carries_signed_header_and_validators(member: Member) -> None:
    raw = _record(member, 500)
    r = httpx.post(f"{member.url}/v1/txs", params={"wait": "true"}, content=raw, timeout=60)
    assert r.json()["status"] == "committed", r.text
    cert = httpx.get(f"{member.url}/v1/certificates/{500:064x}", timeout=30)
    assert cert.status_code == 200, cert.text
    c = cert.json()
    header = c["block"]["signed_header"]["header"]
    assert int(header["height"]) == c["block"]["app_state"]["height"] + 1
    assert header["app_hash"].lower() == c["block"]["app_state"]["app_hash"]
    assert c["trust_anchor"]["transitions"] == []
    assert len(c["trust_anchor"]["genesis_validators"]) == 1


def _signed(member: Member, n: int, *, expiry: int | None = None) -> Transaction:
    admin = read_key_file(member.comet.app_home / "keys" / "gridco-admin.json")
    height = httpx.get(f"{member.url}/v1/status", timeout=10).json()["height"]
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=height + 100 if expiry is None else expiry,
        nonce=f"tracked-{n}",
        contract="notary",
        method="record",
        args={
            "digest": f"{n:064x}",
            "title": f"tracked {n}",
            "record_type": "contract",
            "parties": [admin.address],
        },
    )
    return sign_transaction(body, [admin])


def test_tracker_settles_through_a_dead_node_and_resubmits_safely(
    member: Member, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with TxTracker([dead, member.url], journal=tmp_path / "journal", wait_s=10) as tracker:
        tx = _signed(member, 900)
        settled = tracker.submit(tx)
        assert settled.status == "committed" and settled.tx_id == tx.tx_id.hex()
        assert settled.attempts >= 2  # the dead node first, then the live one
        assert list((tmp_path / "journal").iterdir()) == []
        # submitting the same signed bytes again settles to the same commit, not a second one
        again = tracker.submit(tx)
        assert again.height == settled.height
    record = httpx.get(f"{member.url}/v1/records/{900:064x}", timeout=10).json()
    assert record["tx_id"] == tx.tx_id.hex()


def test_tracker_keeps_what_no_node_confirmed_and_resume_settles_it(
    member: Member, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    tx = _signed(member, 901)
    dead = f"http://127.0.0.1:{free_port()}"
    with (
        TxTracker([dead], journal=journal, wait_s=2, give_up_s=1.0) as tracker,
        pytest.raises(NodeError, match="stays in the journal"),
    ):
        tracker.submit(tx)
    assert [p.name for p in journal.iterdir()] == [f"{tx.tx_id.hex()}.tx"]
    with TxTracker([member.url], journal=journal, wait_s=10) as tracker:
        outcomes = tracker.resume()
    assert len(outcomes) == 1 and isinstance(outcomes[0], Settled)
    assert outcomes[0].status == "committed"
    assert list(journal.iterdir()) == []


def test_tracker_reports_expiry_instead_of_waiting_for_ever(member: Member) -> None:
    height = httpx.get(f"{member.url}/v1/status", timeout=10).json()["height"]
    tx = _signed(member, 902, expiry=height)  # valid up to a height already committed
    with TxTracker([member.url], wait_s=5) as tracker, pytest.raises(Expired, match="expired"):
        tracker.submit(tx)


def test_cometbft_certificate_verifies_offline_and_edits_fail(member: Member) -> None:
    raw = _record(member, 600)
    r = httpx.post(f"{member.url}/v1/txs", params={"wait": "true"}, content=raw, timeout=60)
    assert r.json()["status"] == "committed", r.text
    cert = httpx.get(f"{member.url}/v1/certificates/{600:064x}", timeout=30).json()
    genesis = json.loads((member.comet.home / "config" / "genesis.json").read_text())
    pinned = {genesis_validators_hash(genesis)}
    evidence = verify_certificate(
        cert, bytes.fromhex(f"{600:064x}"), trusted_validators_hashes=pinned
    )
    assert evidence.status == "recorded" and "1 validators" in evidence.signed_by

    def edited(change: Any) -> dict[str, Any]:
        c: dict[str, Any] = copy.deepcopy(cert)
        change(c)
        return c

    sig = cert["block"]["signed_header"]["commit"]["signatures"][0]["signature"]
    flipped = base64.b64encode(bytes([base64.b64decode(sig)[0] ^ 1]) + base64.b64decode(sig)[1:])
    cases = {
        "signature": lambda c: c["block"]["signed_header"]["commit"]["signatures"][0].__setitem__(
            "signature", flipped.decode()
        ),
        "header time": lambda c: c["block"]["signed_header"]["header"].__setitem__(
            "time", "2030-01-01T00:00:00Z"
        ),
        "log root": lambda c: c["block"]["app_state"].__setitem__("log_root", "00" * 32),
        "app hash": lambda c: c["block"]["app_state"].__setitem__("app_hash", "11" * 32),
        "genesis set": lambda c: c["trust_anchor"]["genesis_validators"][0].__setitem__(
            "power", "99"
        ),
    }
    for name, change in cases.items():
        with pytest.raises(InvalidProof) as failure:
            verify_certificate(edited(change), trusted_validators_hashes=pinned)
        assert failure.value.message, name
    with pytest.raises(InvalidProof, match="not the genesis validator set you trust"):
        verify_certificate(cert, trusted_validators_hashes={b"\x00" * 32})


def test_cli_verifies_a_consortium_certificate_pinned_to_cometbft_genesis(
    member: Member, tmp_path: Path
) -> None:
    document = tmp_path / "contract.pdf"
    document.write_bytes(b"%PDF-1.7 power purchase agreement " * 100)
    digest = hashlib.sha256(document.read_bytes()).hexdigest()
    r = httpx.post(
        f"{member.url}/v1/txs",
        params={"wait": "true"},
        content=_record(member, 700, digest=digest),
        timeout=60,
    )
    assert r.json()["status"] == "committed", r.text
    cert = tmp_path / "cert.json"
    got = cli("certificate", str(document), "--node", member.url, "-o", str(cert))
    assert got.returncode == 0, got.stderr
    genesis = member.comet.home / "config" / "genesis.json"
    ok = cli("verify", str(document), str(cert), "--genesis", str(genesis))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("VALID") and "NOT PINNED" not in ok.stdout
    document.write_bytes(document.read_bytes() + b" ")
    altered = cli("verify", str(document), str(cert), "--genesis", str(genesis))
    assert altered.returncode == 1 and "altered" in altered.stderr


def test_governance_by_cli_needs_more_than_two_thirds(member: Member, tmp_path: Path) -> None:
    keys = member.comet.app_home / "keys"
    newcomer = tmp_path / "newco-admin.json"
    assert cli("keys", "new", "-o", str(newcomer)).returncode == 0
    public_key = read_key_file(newcomer).public_key.hex()
    opened = cli(
        "gov", "propose", "add-member", "--org", "newco", "--name", "New Co",
        "--admin-public-key", public_key, "--key", str(keys / "gridco-admin.json"),
        "--node", member.url,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    proposal = opened.stdout.split()[1]
    for org in ("gridco", "notary"):  # 2 of 4 members: not enough
        voted = cli(
            "gov", "vote", proposal, "yes", "--key", str(keys / f"{org}-admin.json"),
            "--node", member.url,
        )  # fmt: skip
        assert voted.returncode == 0, voted.stderr
        assert "proposal open (" in voted.stdout
    members = httpx.get(f"{member.url}/v1/governance/members", timeout=10).json()["members"]
    assert "newco" not in members
    twice = cli(
        "gov", "vote", proposal, "yes", "--key", str(keys / "notary-admin.json"),
        "--node", member.url,
    )  # fmt: skip
    assert twice.returncode != 0 and "already voted" in twice.stderr.lower(), twice.stderr
    third = cli(
        "gov", "vote", proposal, "yes", "--key", str(keys / "judicial-admin.json"),
        "--node", member.url,
    )  # fmt: skip
    assert third.returncode == 0 and "proposal approved" in third.stdout, third.stdout
    members = httpx.get(f"{member.url}/v1/governance/members", timeout=10).json()["members"]
    assert "newco" in members
