"""The seed scenario on four real validators: a contract co-signed by the grid company and a
customer is recorded, delivered privately to the notary office and the judicial institution,
checked and endorsed by their endorser services (real subprocesses) within 5 s of its commit;
every node holds the same record, and a certificate fetched from a third organization verifies
offline with both endorsements. A wrong document is refused on the ledger with a reason, a
missing one after the grace period; another organization's key, a bad signature and a replayed
request are refused by the private store; a non-party cannot revoke.
"""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.client import Client
from gridledger.cometbft.lightclient import genesis_validators_hash
from gridledger.crypto import PrivateKey
from gridledger.errors import GridledgerError, Unauthorized
from gridledger.evidence.verify import verify_certificate
from gridledger.keys import generate_key, read_key_file
from gridledger.net.init import init_network
from gridledger.net.layout import DEFAULT_ORGS, Network, pick_free_ports
from gridledger.privstore.request import HEADER_SIGNATURE, sign_request
from gridledger.privstore.sealed import read_delivery_public_key
from tests.e2e.nodeproc import GRIDLEDGER, cli
from tests.net.test_network_e2e import COMETBFT, _kill_leftovers, _ok, _wait

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHAIN_ID = "gridledger-endorse-e2e"
ENDORSERS = ("notary", "judicial")
GRACE_S = 3
MAX_ENDORSEMENT_MS = 5_000
ENDORSER_RUN = (GRIDLEDGER, "endorser", "run")


@dataclass
class Consortium:
    network: Network
    clients: dict[str, Client]
    gridco: PrivateKey
    customer: PrivateKey
    tmp: Path
    endorser_logs: dict[str, Path]

    def record(self, text: str, endorsers: tuple[str, ...] = ENDORSERS) -> tuple[str, bytes, Any]:
        document = f"{text}\n".encode() * 40
        digest = hashlib.sha256(document).hexdigest()
        args = {
            "digest": digest,
            "title": text,
            "record_type": "contract",
            "parties": [self.gridco.address, self.customer.address],
            "endorsers": list(endorsers),
        }
        client = self.clients["gridco"]
        result = client.submit(
            client.build_tx("notary", "record", args, [self.gridco, self.customer])
        )
        assert result["status"] == "committed", result
        _wait(lambda: all(_holds(c, digest) for c in self.clients.values()), 30)  # every node
        return digest, document, result

    def wait_status(self, digest: str, status: str, timeout_s: float = 45) -> dict[str, Any]:
        found: dict[str, Any] = {}

        def reached() -> bool:
            found.update(self.clients["exchange"].record(digest))
            return bool(found["status"] == status)

        try:
            _wait(reached, timeout_s)
        except AssertionError as exc:
            logs = {o: p.read_text(errors="replace")[-2000:] for o, p in self.endorser_logs.items()}
            raise AssertionError(f"{digest} is {found.get('status')}: {found}\n{logs}") from exc
        return found


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    if not COMETBFT.exists():
        pytest.skip("CometBFT is not installed (`make setup` installs it)")
    tmp = tmp_path_factory.mktemp("endorse")
    ports = pick_free_ports(DEFAULT_ORGS)  # held open together: sixteen distinct ports
    net = init_network(tmp / "net", chain_id=CHAIN_ID, ports=ports)
    endorsers: list[subprocess.Popen[bytes]] = []
    clients = {n.org: Client(n.api_url) for n in net.nodes}
    try:
        _ok("up", "--dir", str(net.dir), "--timeout", "120")
        _wait(lambda: all(_answers(n.api_url) for n in net.nodes), 60)
        logs = {org: tmp / f"{org}-endorser.log" for org in ENDORSERS}
        for org in ENDORSERS:
            with logs[org].open("wb") as log:
                endorsers.append(
                    subprocess.Popen(
                        [
                            *ENDORSER_RUN,
                            "--org",
                            org,
                            "--net",
                            str(net.dir),
                            "--grace-s",
                            str(GRACE_S),
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        yield Consortium(
            network=net,
            clients=clients,
            gridco=read_key_file(net.node("gridco").key_file("admin")),
            customer=generate_key(),
            tmp=tmp,
            endorser_logs=logs,
        )
    finally:
        for proc in endorsers:
            proc.terminate()
        for proc in endorsers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        for client in clients.values():
            client.close()
        cli("net", "down", "--dir", str(net.dir), timeout=120)
        _kill_leftovers(net)


def _holds(client: Client, digest: str) -> bool:
    try:
        client.record(digest)
    except GridledgerError:
        return False
    return True


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v1/status", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_each_org_has_a_private_delivery_key_published_on_chain(consortium: Consortium) -> None:
    for node in consortium.network.nodes:
        path = node.keys_dir / f"{node.org}-delivery.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        published = consortium.clients["exchange"].delivery_key(node.org)
        assert published == read_delivery_public_key(path)


def test_cosigned_record_is_endorsed_by_both_services_within_5_s_and_certified(
    consortium: Consortium,
) -> None:
    digest, document, committed = consortium.record("Power purchase agreement 2026-PPA-017")
    seen_committed = time.monotonic()
    contract = consortium.tmp / "ppa-017.pdf"
    contract.write_bytes(document)

    delivered = cli(
        *("deliver", str(contract), "--to", "notary,judicial"),
        *("--net", str(consortium.network.dir)),
        *("--key", str(consortium.network.node("gridco").key_file("admin"))),
    )
    assert delivered.returncode == 0, delivered.stderr
    record = consortium.wait_status(digest, "endorsed")
    seen_endorsed = time.monotonic()

    # latency on the ledger: block time of each endorsement minus the record's block time
    latency_ms = {e["org"]: e["time_ms"] - record["time_ms"] for e in record["endorsements"]}
    print(
        f"\nendorsement latency after commit (block times): {latency_ms} ms; "
        f"wall clock from commit seen to both endorsements seen: "
        f"{(seen_endorsed - seen_committed) * 1000:.0f} ms"
    )
    assert set(latency_ms) == set(ENDORSERS)
    assert max(latency_ms.values()) <= MAX_ENDORSEMENT_MS, latency_ms
    assert record["height"] == committed["height"]
    assert record["parties"] == [consortium.gridco.address, consortium.customer.address]
    assert all(
        e["note"] == "the SHA-256 of the delivered document matches the recorded digest"
        for e in record["endorsements"]
    )

    # every organization's node holds the same record
    _wait(lambda: _same_everywhere(consortium, digest), 30)

    # a certificate from a third organization's node verifies offline with both endorsements
    cert_file = consortium.tmp / "ppa-017.cert.json"
    exchange_url = consortium.network.node("exchange").api_url
    fetched = cli("certificate", digest, "--node", exchange_url, "-o", str(cert_file))
    assert fetched.returncode == 0, fetched.stderr
    cert = json.loads(cert_file.read_text())
    genesis = consortium.network.node("gridco").cometbft_home / "config" / "genesis.json"
    pinned = {genesis_validators_hash(json.loads(genesis.read_text()))}
    evidence = verify_certificate(
        cert, hashlib.sha256(document).digest(), trusted_validators_hashes=pinned
    )
    assert evidence.status == "endorsed"
    assert sorted(evidence.endorsed_by) == sorted(ENDORSERS)  # in the order they committed
    assert evidence.parties == (consortium.gridco.address, consortium.customer.address)
    checked = cli("verify", str(contract), str(cert_file), "--genesis", str(genesis))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("VALID") and "endorsed by " in checked.stdout
    assert "notary" in checked.stdout and "judicial" in checked.stdout


def test_wrong_document_and_missing_document_are_refused_on_the_ledger(
    consortium: Consortium,
) -> None:
    wrong, _, _ = consortium.record("Grid connection agreement, signed version", ("notary",))
    missing, _, _ = consortium.record("Demand response enrollment, never sent", ("judicial",))
    notary = consortium.clients["notary"]
    notary.deliver(wrong, "notary", b"Grid connection agreement, DRAFT\n", consortium.gridco)

    refused = consortium.wait_status(wrong, "refused")
    never = consortium.wait_status(missing, "refused", timeout_s=GRACE_S + 45)

    last = refused["history"][-1]
    assert (last["action"], last["org"]) == ("refuse", "notary")
    assert "does not match the recorded digest" in last["reason"]
    last = never["history"][-1]
    assert (last["action"], last["org"]) == ("refuse", "judicial")
    assert f"no document was delivered to judicial within {GRACE_S} s" in last["reason"]


def test_private_store_refuses_other_orgs_bad_signatures_and_replays(
    consortium: Consortium,
) -> None:
    digest, document, _ = consortium.record("Meter data sharing agreement", ("notary",))
    notary_node = consortium.network.node("notary")
    consortium.clients["notary"].deliver(digest, "notary", document, consortium.gridco)
    path = f"/v1/private/documents/{digest}"

    def get(key: PrivateKey) -> dict[str, str]:
        return sign_request(key, chain_id=CHAIN_ID, method="GET", path=path)

    def status(headers: dict[str, str]) -> tuple[int, str]:
        response = httpx.get(notary_node.api_url + path, headers=headers, timeout=30)
        return response.status_code, response.text

    endorser = read_key_file(notary_node.key_file("endorser"))
    valid = get(endorser)
    assert status(valid)[0] == 200
    code, text = status(valid)  # the same signed request, replayed
    assert code == 403 and "replayed request" in text

    for org in ("gridco", "judicial"):  # other organizations' keys, validly signed
        code, text = status(get(read_key_file(consortium.network.node(org).key_file("admin"))))
        assert code == 403 and "may not read private documents kept by this node" in text
    judicial_endorser = read_key_file(consortium.network.node("judicial").key_file("endorser"))
    with pytest.raises(Unauthorized):
        consortium.clients["notary"].private_document(digest, judicial_endorser)

    forged = get(endorser)
    forged[HEADER_SIGNATURE] = get(consortium.gridco)[HEADER_SIGNATURE]
    code, text = status(forged)
    assert code == 403 and "does not verify" in text
    code, text = status({})
    assert code == 403 and "unsigned request" in text


def test_a_non_party_cannot_revoke_but_a_party_can_and_the_certificate_shows_it(
    consortium: Consortium,
) -> None:
    digest, document, _ = consortium.record("Ancillary services contract", ())
    exchange = consortium.clients["exchange"]
    outsider = read_key_file(consortium.network.node("exchange").key_file("admin"))

    with pytest.raises(Unauthorized, match="only a party"):
        exchange.submit(exchange.build_tx("notary", "revoke", {"digest": digest}, [outsider]))
    assert exchange.record(digest)["status"] == "recorded"

    gridco = consortium.clients["gridco"]
    args = {"digest": digest, "reason": "superseded by contract 2026-AS-002"}
    result = gridco.submit(gridco.build_tx("notary", "revoke", args, [consortium.gridco]))
    assert result["status"] == "committed"
    record = consortium.wait_status(digest, "revoked")
    assert [c["action"] for c in record["history"]] == ["record", "revoke"]
    cert = exchange.certificate(digest)
    evidence = verify_certificate(cert, hashlib.sha256(document).digest())
    assert evidence.status == "revoked"
    assert evidence.history[-1]["reason"] == "superseded by contract 2026-AS-002"


def _same_everywhere(consortium: Consortium, digest: str) -> bool:
    records = []
    for client in consortium.clients.values():
        try:
            records.append(json.dumps(client.record(digest), sort_keys=True))
        except GridledgerError:  # a node still catching up answers 404
            return False
    return len(set(records)) == 1 and '"status": "endorsed"' in records[0]
