"""Private delivery and the endorser service against a real embedded node process.

The embedded node serves every organization of its home (each has a delivery key file in
HOME/keys), so a reader gets only the copy delivered to its own organization. The consortium
case (one node per organization; another organization's key is refused outright) is in
tests/net/test_endorsement_e2e.py.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.client import Client
from gridledger.crypto import PrivateKey
from gridledger.errors import Conflict, DecodeError, NotFound, RuleViolation, Unauthorized
from gridledger.keys import generate_key, read_key_file, write_key_file
from gridledger.privstore.request import HEADER_SIGNATURE, HEADER_TIME, sign_request
from gridledger.privstore.sealed import read_delivery_key_file, read_delivery_public_key
from tests.e2e.nodeproc import GRIDLEDGER, NodeProcess, cli

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


class Setup:
    def __init__(self, node: NodeProcess, tmp: Path) -> None:
        self.node = node
        self.tmp = tmp
        self.client = Client(node.url)
        self.gridco = read_key_file(node.key("gridco"))
        self.exchange = read_key_file(node.key("exchange"))
        self.notary = read_key_file(node.key("notary", "endorser"))
        self.notary_admin = read_key_file(node.key("notary"))
        self.judicial = read_key_file(node.key("judicial", "endorser"))
        self.customer = generate_key()
        write_key_file(tmp / "customer.json", self.customer)
        self._n = 0

    def record(
        self, text: str, *, endorsers: tuple[str, ...] = ("notary", "judicial"), kind: str = ""
    ) -> tuple[str, bytes]:
        """Record a new document co-signed by the grid company and the customer."""
        self._n += 1
        document = f"{text} #{self._n}\n".encode() * 20
        digest = hashlib.sha256(document).hexdigest()
        args = {
            "digest": digest,
            "title": text,
            "record_type": kind or "contract",
            "parties": [self.gridco.address, self.customer.address],
            "endorsers": list(endorsers),
        }
        tx = self.client.build_tx("notary", "record", args, [self.gridco, self.customer])
        assert self.client.submit(tx)["status"] == "committed"
        return digest, document

    def path(self, digest: str) -> str:
        return f"/v1/private/documents/{digest}"

    def raw_get(self, digest: str, headers: dict[str, str]) -> httpx.Response:
        return httpx.get(self.node.url + self.path(digest), headers=headers, timeout=30)

    def signed_get(self, digest: str, key: PrivateKey, **kw: Any) -> dict[str, str]:
        return sign_request(
            key, chain_id=self.client.chain_id, method="GET", path=self.path(digest), **kw
        )


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("private")
    node = NodeProcess.create(tmp)
    node.start()
    s = Setup(node, tmp)
    try:
        yield s
    finally:
        s.client.close()
        node.stop()


def _error(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()["error"]
    return response.status_code, body["code"], body["message"]


# -- keys and delivery -------------------------------------------------------------------------


def test_each_org_publishes_its_delivery_key(setup: Setup) -> None:
    published = setup.client.delivery_key("notary")

    assert published == read_delivery_public_key(setup.node.home / "keys" / "notary-delivery.json")
    with pytest.raises(NotFound, match="no organization"):
        setup.client.delivery_key("court-of-mars")


def test_submitter_delivers_and_each_org_reads_only_its_own_copy(setup: Setup) -> None:
    digest, document = setup.record("supply contract")

    put = setup.client.deliver(digest, "notary", document, setup.gridco)
    setup.client.deliver(digest, "judicial", b"judicial's copy " + document, setup.gridco)

    assert (put["org"], put["delivered_by"]) == ("notary", setup.gridco.address)
    key = read_delivery_key_file(setup.node.home / "keys" / "notary-delivery.json")
    for reader in (setup.notary, setup.notary_admin):
        copy = setup.client.private_document(digest, reader)
        assert key.open(base64.b64decode(copy["ciphertext"])) == document
    judicial = setup.client.private_document(digest, setup.judicial)
    assert judicial["org"] == "judicial"
    # the exchange is served by this embedded node too, but nothing was delivered to it
    with pytest.raises(NotFound, match="delivered to exchange"):
        setup.client.private_document(digest, setup.exchange)


def test_only_the_submitter_or_an_active_party_may_deliver(setup: Setup) -> None:
    digest, document = setup.record("delivery rights")

    with pytest.raises(Unauthorized, match="only an active account that is its submitter"):
        setup.client.deliver(digest, "notary", document, setup.exchange)
    with pytest.raises(Unauthorized, match="only an active account"):
        setup.client.deliver(digest, "notary", document, setup.customer)  # party, no account
    with pytest.raises(RuleViolation, match="does not name exchange"):
        setup.client.deliver(digest, "exchange", document, setup.gridco)
    with pytest.raises(NotFound, match="record it before delivering"):
        setup.client.deliver("ee" * 32, "notary", document, setup.gridco)


def test_delivery_body_must_be_a_sealed_box(setup: Setup) -> None:
    digest, _ = setup.record("bad bodies")
    path = setup.path(digest)

    def put(body: bytes) -> httpx.Response:
        headers = sign_request(
            setup.gridco, chain_id=setup.client.chain_id, method="PUT", path=path, body=body
        )
        return httpx.put(setup.node.url + path, content=body, headers=headers, timeout=30)

    short = json.dumps({"org": "notary", "ciphertext": base64.b64encode(b"x" * 48).decode()})
    status, code, message = _error(put(short.encode()))
    assert (status, code) == (400, "decode_error") and "not a sealed box" in message
    status, code, _ = _error(put(b'{"org": "notary", "ciphertext": "***"}'))
    assert (status, code) == (400, "decode_error")
    status, code, _ = _error(put(b'{"org": "notary"}'))
    assert (status, code) == (400, "decode_error")


def test_delivery_after_the_org_decided_is_a_conflict(setup: Setup) -> None:
    digest, document = setup.record("decided", endorsers=("notary",))
    tx = setup.client.build_tx(
        "notary", "endorse", {"digest": digest, "org": "notary"}, [setup.notary]
    )
    setup.client.submit(tx)

    with pytest.raises(Conflict, match="no longer waits for notary"):
        setup.client.deliver(digest, "notary", document, setup.gridco)


# -- who may read ------------------------------------------------------------------------------


def test_unsigned_badly_signed_replayed_and_stale_reads_are_forbidden(setup: Setup) -> None:
    digest, document = setup.record("guarded")
    setup.client.deliver(digest, "notary", document, setup.gridco)

    headers = setup.signed_get(digest, setup.notary)
    assert setup.raw_get(digest, headers).status_code == 200
    status, code, message = _error(setup.raw_get(digest, headers))  # the same request again
    assert (status, code) == (403, "unauthorized") and "replayed request" in message

    status, _, message = _error(setup.raw_get(digest, {}))
    assert status == 403 and "unsigned request" in message

    bad = setup.signed_get(digest, setup.notary)
    bad[HEADER_SIGNATURE] = ("0" if bad[HEADER_SIGNATURE][0] != "0" else "1") + bad[
        HEADER_SIGNATURE
    ][1:]
    status, _, message = _error(setup.raw_get(digest, bad))
    assert status == 403 and "does not verify" in message

    stale = setup.signed_get(digest, setup.notary, time_ms=time.time_ns() // 1_000_000 - 120_000)
    status, _, message = _error(setup.raw_get(digest, stale))
    assert status == 403 and "valid for 60 s" in message

    other_path = setup.signed_get("ab" * 32, setup.notary)
    status, _, _ = _error(setup.raw_get(digest, other_path))
    assert status == 403

    future = setup.signed_get(digest, setup.notary)
    future[HEADER_TIME] = str(int(future[HEADER_TIME]) + 1)
    assert setup.raw_get(digest, future).status_code == 403


def test_a_key_without_an_account_may_not_read(setup: Setup) -> None:
    digest, document = setup.record("no account")
    setup.client.deliver(digest, "notary", document, setup.gridco)

    status, code, message = _error(setup.raw_get(digest, setup.signed_get(digest, setup.customer)))

    assert (status, code) == (403, "unauthorized")
    assert "not an active account" in message


# -- following the chain -----------------------------------------------------------------------


def test_pending_records_long_poll_waits_for_the_next_block(setup: Setup) -> None:
    now = setup.client.pending_records("judicial")
    height = now["height"]

    started = time.monotonic()
    idle = setup.client.pending_records("judicial", after_height=height, wait_ms=700)
    assert time.monotonic() - started >= 0.6
    assert idle["height"] == height

    digest, document = setup.record("wakes the poll", endorsers=("judicial",))
    woke = setup.client.pending_records("judicial", after_height=height, wait_ms=20_000)
    assert woke["height"] > height
    assert digest in [r["digest"] for r in woke["records"]]

    # a delivery to the organization wakes it too, without a new block
    answers: list[dict[str, Any]] = []
    follower = Client(setup.node.url)
    poll = threading.Thread(
        target=lambda: answers.append(
            follower.pending_records(
                "judicial",
                after_height=woke["height"],
                after_deliveries=woke["deliveries"],
                wait_ms=25_000,
            )
        )
    )
    started = time.monotonic()
    poll.start()
    time.sleep(0.5)
    setup.client.deliver(digest, "judicial", document, setup.gridco)
    poll.join(30)
    follower.close()
    assert time.monotonic() - started < 15
    assert answers[0]["deliveries"] == woke["deliveries"] + 1
    assert answers[0]["height"] == woke["height"]


# -- the endorser service as a process ---------------------------------------------------------


def test_endorser_service_endorses_refuses_and_queues_by_policy(setup: Setup) -> None:
    policy = setup.tmp / "policy.json"
    policy.write_text(json.dumps({"default": "auto", "record_types": {"lease": "manual"}}))
    state = setup.tmp / "notary-endorser"
    keys = setup.node.home / "keys"
    log_path = setup.tmp / "endorser.log"
    args = [
        *("--org", "notary", "--node", setup.node.url),
        *("--key", str(keys / "notary-endorser.json")),
        *("--delivery-key", str(keys / "notary-delivery.json"), "--state-dir", str(state)),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [GRIDLEDGER, "endorser", "run", *args, "--policy", str(policy), "--grace-s", "2"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        good, good_doc = setup.record("auto contract", endorsers=("notary",))
        wrong, _ = setup.record("wrong copy", endorsers=("notary",))
        missing, _ = setup.record("never delivered", endorsers=("notary",))
        lease, lease_doc = setup.record("lease", endorsers=("notary",), kind="lease")
        setup.client.deliver(good, "notary", good_doc, setup.gridco)
        setup.client.deliver(wrong, "notary", b"a forged contract\n", setup.gridco)
        setup.client.deliver(lease, "notary", lease_doc, setup.gridco)

        _wait_status(setup, good, "endorsed")
        refused = _wait_status(setup, wrong, "refused")
        assert "does not match the recorded digest" in refused["history"][-1]["reason"]
        never = _wait_status(setup, missing, "refused")
        assert "no document was delivered to notary within 2 s" in never["history"][-1]["reason"]
        _wait_until(lambda: lease in _queue(state))
        assert setup.client.record(lease)["status"] == "pending"  # waits for a person
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0, log_path.read_text()

    approved = cli("endorser", "approve", lease, *args, "--note", "lease terms checked")
    assert approved.returncode == 0, approved.stderr
    record = setup.client.record(lease)
    assert record["status"] == "endorsed"
    assert record["endorsements"][0]["note"] == "lease terms checked"
    assert lease not in _queue(state)
    again = cli("endorser", "approve", lease, *args)
    assert again.returncode == 1 and "no longer waits for notary" in again.stderr


def test_endorser_reject_refuses_with_the_persons_reason(setup: Setup) -> None:
    digest, _ = setup.record("to reject", endorsers=("judicial",))
    keys = setup.node.home / "keys"

    done = cli(
        *("endorser", "reject", digest, "--org", "judicial", "--node", setup.node.url),
        *("--key", str(keys / "judicial-endorser.json")),
        *("--delivery-key", str(keys / "judicial-delivery.json")),
        *("--state-dir", str(setup.tmp / "judicial-endorser"), "--reason", "seal missing"),
    )

    assert done.returncode == 0, done.stderr
    record = setup.client.record(digest)
    assert record["status"] == "refused"
    assert record["history"][-1]["reason"] == "seal missing"


def test_deliver_command_seals_to_each_named_org(setup: Setup) -> None:
    document = setup.tmp / "ppa.pdf"
    document.write_bytes(b"%PDF-1.7 power purchase agreement\n" * 50)
    digest = hashlib.sha256(document.read_bytes()).hexdigest()
    args = {
        "digest": digest,
        "title": "PPA",
        "record_type": "contract",
        "parties": [setup.gridco.address],
        "endorsers": ["notary", "judicial"],
    }
    setup.client.submit(setup.client.build_tx("notary", "record", args, [setup.gridco]))

    done = cli(
        *("deliver", str(document), "--to", "notary,judicial"),
        *("--key", str(setup.node.key("gridco")), "--node", setup.node.url),
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"delivered {digest}") == 2
    copy = setup.client.private_document(digest, setup.judicial)
    key = read_delivery_key_file(setup.node.home / "keys" / "judicial-delivery.json")
    assert key.open(base64.b64decode(copy["ciphertext"])) == document.read_bytes()
    unrecorded = setup.tmp / "other.txt"
    unrecorded.write_bytes(b"never recorded")
    started = time.monotonic()
    failed = cli(
        *("deliver", str(unrecorded), "--to", "notary", "--wait-s", "1"),
        *("--key", str(setup.node.key("gridco")), "--node", setup.node.url),
    )
    assert failed.returncode == 1 and "record it before delivering" in failed.stderr
    assert time.monotonic() - started >= 1.0  # it asked again while the node might catch up


def test_a_sealed_copy_to_the_wrong_key_is_refused_by_the_endorser(setup: Setup) -> None:
    digest, document = setup.record("sealed to judicial", endorsers=("notary",))
    judicial_key = setup.client.delivery_key("judicial")
    setup.client.deliver(digest, "notary", document, setup.gridco, delivery_key=judicial_key)
    keys = setup.node.home / "keys"

    once = cli(
        *("endorser", "run", "--once", "--org", "notary", "--node", setup.node.url),
        *("--key", str(keys / "notary-endorser.json")),
        *("--delivery-key", str(keys / "notary-delivery.json")),
        *("--state-dir", str(setup.tmp / "once")),
    )

    assert once.returncode == 0, once.stderr
    assert f"refuse {digest}" in once.stdout
    record = setup.client.record(digest)
    assert record["status"] == "refused"
    assert "does not open with delivery key" in record["history"][-1]["reason"]


def test_dispute_and_revoke_commands_need_a_party(setup: Setup) -> None:
    digest, _ = setup.record("to revoke", endorsers=("notary",))
    node = ("--node", setup.node.url)

    stranger = cli("revoke", digest, "--key", str(setup.node.key("exchange")), *node)
    assert stranger.returncode == 1 and "only a party" in stranger.stderr
    disputed = cli(
        *("dispute", digest, "--reason", "metering error"),
        *("--key", str(setup.node.key("exchange")), "--cosign", str(setup.tmp / "customer.json")),
        *node,
    )
    assert disputed.returncode == 0, disputed.stderr
    revoked = cli("revoke", digest, "--key", str(setup.node.key("gridco")), *node)
    assert revoked.returncode == 0, revoked.stderr
    record = setup.client.record(digest)
    assert record["status"] == "revoked"
    assert [c["action"] for c in record["history"]] == ["record", "dispute", "revoke"]
    assert record["history"][1]["by"] == setup.customer.address
    with pytest.raises(DecodeError):
        setup.client.private_document("not-a-digest", setup.notary)


# -- helpers -----------------------------------------------------------------------------------


def _queue(state: Path) -> list[str]:
    listed = cli("endorser", "queue", "--org", "notary", "--state-dir", str(state))
    assert listed.returncode == 0, listed.stderr
    return [json.loads(line)["digest"] for line in listed.stdout.splitlines()]


def _wait_status(setup: Setup, digest: str, status: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        record = setup.client.record(digest)
        if record["status"] == status:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"{digest} is {record['status']}, not {status}: {record}")
        time.sleep(0.1)


def _wait_until(check: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.2)
