"""A fifth organization joins a running four-validator network by vote, and its validator signs.

``net join`` adds newco's node (not in genesis; it replays the chain as a non-validator). The
members admit newco with ``gov propose add-member`` (two of four yes votes change nothing, the
third approves), then vote its validator in (three of five yes votes change nothing, the fourth,
newco's own, approves). CometBFT's validator set grows to five on every node, newco's validator
signs the following commits, and a certificate fetched from newco's API verifies offline against
the genesis validator set through the recorded hand-over to the new set.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.client import Client
from gridledger.cometbft.lightclient import genesis_validators_hash
from gridledger.errors import InvalidProof
from gridledger.evidence.verify import verify_certificate
from gridledger.keys import read_key_file
from gridledger.net.init import init_network
from gridledger.net.join import choose_ports, compute_next_slot
from gridledger.net.layout import DEFAULT_ORGS, Network, Ports, pick_free_ports, read_network
from gridledger.net.status import get_header, get_rpc
from gridledger.store.sqlite import SqliteStore
from tests.e2e.nodeproc import cli
from tests.net.test_network_e2e import COMETBFT, _alive, _height, _kill_leftovers, _ok, _wait

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHAIN_ID = "gridledger-join-e2e"
NEW = "newco"


def _init(directory: Path) -> Network:
    if not COMETBFT.exists():
        pytest.skip("CometBFT is not installed (`make setup` installs it)")
    ports = pick_free_ports(DEFAULT_ORGS)  # held open together: sixteen distinct ports
    return init_network(directory, chain_id=CHAIN_ID, ports=ports)


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    net = _init(tmp_path / "net")
    try:
        yield net
    finally:
        cli("net", "down", "--dir", str(net.dir), timeout=120)
        _kill_leftovers(read_network(net.dir))


def test_fifth_org_joins_by_vote_and_its_validator_signs_blocks(network: Network) -> None:
    _ok("up", "--dir", str(network.dir), "--timeout", "120")
    genesis_bytes = (network.node("gridco").cometbft_home / "config" / "genesis.json").read_bytes()
    genesis_hash = genesis_validators_hash(json.loads(genesis_bytes))
    before = _record(network, "gridco", b"a contract recorded before newco joined")

    # -- net join: newco's node replays the chain as a non-validator --------------------------
    out = _ok("join", "--dir", str(network.dir), "--org", NEW, "--free-ports").stdout
    net = read_network(network.dir)
    newco = net.node(NEW)
    admin_hex = read_key_file(newco.key_file("admin")).public_key.hex()
    assert admin_hex in out and newco.validator_public_key in out
    assert "gov propose add-member" in out and "gov propose add-validator" in out
    assert (newco.cometbft_home / "config" / "genesis.json").read_bytes() == genesis_bytes
    assert not newco.in_genesis
    assert _committed_height(newco.db_file, before["tx_id"]) == before["height"]
    _wait(lambda: _height(net, NEW) >= before["height"] + 1, 30)
    top = before["height"] + 1
    assert get_header(newco, top) == get_header(net.node("gridco"), top)
    assert len(_comet_validators(net, NEW)) == 4
    processes = json.loads((net.dir / "state.json").read_text())["processes"]
    assert {p["state"] for p in processes[NEW].values()} == {"running"}

    # not a member yet: newco's admin cannot propose anything
    refused = cli(
        *_gov(net, "gridco", "propose", "add-validator", "--org", NEW),
        "--public-key",
        newco.validator_public_key,
        "--key",
        str(newco.key_file("admin")),
    )
    assert refused.returncode != 0 and "is not a registered account" in refused.stderr

    # -- add-member: two of four yes votes change nothing, the third admits newco -------------
    member = _propose(
        net,
        "gridco",
        "add-member",
        "--org",
        NEW,
        "--name",
        "New Co",
        "--admin-public-key",
        admin_hex,
    )
    assert "proposal open (1 yes, 0 no of 4 members)" in _vote(net, "gridco", member)
    assert "proposal open (2 yes, 0 no of 4 members)" in _vote(net, "notary", member)
    assert _members(net) == sorted(DEFAULT_ORGS)
    assert _proposal(net, member)["status"] == "open"
    assert "proposal approved (3 yes, 0 no of" in _vote(net, "judicial", member)
    assert _members(net) == sorted([*DEFAULT_ORGS, NEW])

    # -- add-validator: with five members, three yes votes change nothing; newco's is the 4th --
    change = _propose(
        net,
        "gridco",
        "add-validator",
        "--org",
        NEW,
        "--public-key",
        newco.validator_public_key,
        "--power",
        "10",
    )
    for org, yes in (("gridco", 1), ("notary", 2), ("exchange", 3)):
        assert f"proposal open ({yes} yes, 0 no of 5 members)" in _vote(net, org, change)
    assert _proposal(net, change)["status"] == "open"
    assert _ledger_validators(net) == {n.validator_public_key for n in network.nodes}
    decided = _vote(net, NEW, change, via=NEW)
    assert "proposal approved (4 yes, 0 no of 5 members)" in decided
    decided_height = int(re.search(r"at height (\d+)", decided).group(1))  # type: ignore[union-attr]
    assert _ledger_validators(net) == {n.validator_public_key for n in net.nodes}

    # -- CometBFT's validator set has five members on every node from H+2 ---------------------
    def five_everywhere() -> bool:
        _record(net, "notary", None)  # blocks come only with transactions here
        return all(len(_comet_validators(net, n.org)) == 5 for n in net.nodes)

    _wait(five_everywhere, 60)
    new_set = {v["address"]: int(v["voting_power"]) for v in _comet_validators(net, "gridco")}
    assert new_set[newco.validator_address] == 10 and len(new_set) == 5

    # -- newco's validator signs blocks -------------------------------------------------------
    last = [_record(net, org, None) for org in ("judicial", "exchange", NEW)]
    _wait(lambda: _height(net, "gridco") >= last[-1]["height"] + 1, 30)
    signed_by_newco = []
    for height in range(decided_height + 2, last[-1]["height"] + 1):
        signatures = get_rpc(net.node("gridco"), "commit", height=height)["signed_header"][
            "commit"
        ]["signatures"]
        signers = {s["validator_address"] for s in signatures if s["block_id_flag"] == 2}
        assert len(signatures) == 5 and len(signers) >= 4, (height, signatures)
        if newco.validator_address in signers:
            signed_by_newco.append(height)
    assert signed_by_newco, "newco's validator signed none of the commits after it joined"

    # -- a certificate from newco's API verifies against the genesis validator set -----------
    document = b"a contract recorded after newco's validator joined"
    recorded = _record(net, "gridco", document)
    assert recorded["height"] > decided_height + 2
    digest = hashlib.sha256(document).hexdigest()
    _wait(lambda: _committed_height(newco.db_file, recorded["tx_id"]) == recorded["height"], 30)
    cert = _certificate(net, NEW, digest)
    assert cert["trust_anchor"]["transitions"], "the certificate shows no hand-over"
    assert len(cert["block"]["validators"]) == 5
    verified = verify_certificate(
        cert, hashlib.sha256(document).digest(), trusted_validators_hashes={genesis_hash}
    )
    assert verified.digest == digest and verified.record_height == recorded["height"]
    no_handover = copy.deepcopy(cert)
    no_handover["trust_anchor"]["transitions"] = []
    with pytest.raises(InvalidProof):
        verify_certificate(no_handover, trusted_validators_hashes={genesis_hash})

    # -- a proposal with half the votes does nothing: two no votes of five reject it ----------
    removal = _propose(
        net, "notary", "remove-validator", "--public-key", net.node("exchange").validator_public_key
    )
    assert "open (1 yes" in _vote(net, "notary", removal)
    assert "open (2 yes" in _vote(net, "gridco", removal)
    assert "open (2 yes, 1 no" in _vote(net, "judicial", removal, "no")
    assert "rejected (2 yes, 2 no of 5 members)" in _vote(net, "exchange", removal, "no")
    assert _ledger_validators(net) == {n.validator_public_key for n in net.nodes}
    _record(net, "gridco", None)
    _record(net, "gridco", None)
    assert len(_comet_validators(net, "exchange")) == 5

    # -- net down stops every process, newco's too ---------------------------------------------
    state = json.loads((net.dir / "state.json").read_text())
    pids = [state["supervisor_pid"]] + [
        p["pid"] for org in state["processes"].values() for p in org.values()
    ]
    assert len(pids) == 16 and all(_alive(p) for p in pids)
    assert "stopped" in _ok("down", "--dir", str(net.dir)).stdout
    assert not [p for p in pids if _alive(p)]


def test_join_refuses_bad_input_and_prepares_a_stopped_network(network: Network) -> None:
    for org, message in (
        ("gridco", "already in the network"),
        ("New Co", "bad organization name"),
        ("logs", "reserved"),
    ):
        result = cli("net", "join", "--dir", str(network.dir), "--org", org, timeout=60)
        assert result.returncode != 0 and message in result.stderr, (org, result.stderr)
    (network.dir / "leftover").mkdir()
    result = cli("net", "join", "--dir", str(network.dir), "--org", "leftover", timeout=60)
    assert result.returncode != 0 and "not in network.json" in result.stderr
    missing = cli("net", "join", "--dir", str(network.dir / "nowhere"), "--org", NEW, timeout=60)
    assert missing.returncode != 0 and "no network.json" in missing.stderr
    assert read_network(network.dir) == network  # nothing was written

    out = _ok("join", "--dir", str(network.dir), "--org", NEW).stdout
    assert "the network is not running" in out
    net = read_network(network.dir)
    assert net.orgs == (*DEFAULT_ORGS, NEW)
    newco = net.node(NEW)
    taken = {p for n in network.nodes for p in n.ports.values()}
    assert not taken & set(newco.ports.values())
    doc = json.loads((net.dir / "network.json").read_text())["nodes"]
    assert doc[NEW]["in_genesis"] is False and doc[NEW]["validator"]["power"] == 0
    assert doc["gridco"]["in_genesis"] is True
    for node in net.nodes:
        cfg = tomllib.loads((node.cometbft_home / "config" / "config.toml").read_text())
        peers = set(cfg["p2p"]["persistent_peers"].split(","))
        assert peers == {n.p2p_address for n in net.nodes if n.org != node.org}, node.org
    cfg = tomllib.loads((newco.cometbft_home / "config" / "config.toml").read_text())
    assert cfg["proxy_app"] == f"tcp://127.0.0.1:{newco.ports.abci}"
    assert cfg["consensus"]["create_empty_blocks"] is False
    genesis = {(n.cometbft_home / "config" / "genesis.json").read_bytes() for n in net.nodes}
    assert len(genesis) == 1
    again = cli("net", "join", "--dir", str(network.dir), "--org", NEW, timeout=60)
    assert again.returncode != 0 and "already in the network" in again.stderr


def test_join_takes_the_next_base_port_slot(tmp_path: Path) -> None:
    if not COMETBFT.exists():
        pytest.skip("CometBFT is not installed (`make setup` installs it)")
    network = init_network(tmp_path / "net", chain_id=CHAIN_ID, base_port=30000)  # not started
    assert compute_next_slot(network) == Ports(p2p=30040, rpc=30041, abci=30042, api=30043)
    irregular = _init(tmp_path / "irregular")
    assert compute_next_slot(irregular) is None
    chosen = choose_ports(irregular)
    assert not {p for n in irregular.nodes for p in n.ports.values()} & set(chosen.values())


# -- helpers ---------------------------------------------------------------------------------


def _gov(network: Network, via: str, *args: str) -> tuple[str, ...]:
    return ("gov", *args, "--node", network.node(via).api_url)


def _propose(network: Network, org: str, kind: str, *args: str) -> str:
    result = cli(
        *_gov(network, org, "propose", kind, *args),
        "--key",
        str(network.node(org).key_file("admin")),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    found = re.search(r"proposal ([0-9a-f]{64}) opened", result.stdout)
    assert found, result.stdout
    return found.group(1)


def _vote(
    network: Network, org: str, proposal: str, vote: str = "yes", *, via: str = "gridco"
) -> str:
    result = cli(
        *_gov(network, via, "vote", proposal, vote),
        "--key",
        str(network.node(org).key_file("admin")),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _api(network: Network, org: str, path: str) -> Any:
    response = httpx.get(f"{network.node(org).api_url}{path}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def _members(network: Network) -> list[str]:
    return sorted(_api(network, "gridco", "/v1/governance/members")["members"])


def _proposal(network: Network, proposal: str) -> dict[str, Any]:
    found: dict[str, Any] = _api(network, "gridco", f"/v1/governance/proposals/{proposal}")
    return found


def _ledger_validators(network: Network) -> set[str]:
    validators = _api(network, "gridco", "/v1/governance/validators")["validators"]
    return {v["public_key"] for v in validators}


def _comet_validators(network: Network, org: str) -> list[dict[str, Any]]:
    validators: list[dict[str, Any]] = get_rpc(network.node(org), "validators")["validators"]
    return validators


def _record(network: Network, org: str, document: bytes | None) -> dict[str, Any]:
    """Record a document (random text when None) through ``org``'s API; the commit answer."""
    admin = read_key_file(network.node(org).key_file("admin"))
    content = document if document is not None else _record_text()
    with Client(network.node(org).api_url) as client:
        tx = client.build_tx(
            "notary",
            "record",
            {
                "digest": hashlib.sha256(content).hexdigest(),
                "title": "a record on the joined network",
                "record_type": "business_record",
                "parties": [admin.address],
            },
            [admin],
        )
        result = client.submit(tx, timeout_s=45)
    assert result["status"] == "committed", result
    return result


_counter = iter(range(1_000_000))


def _record_text() -> bytes:
    return f"filler record {next(_counter)}".encode()


def _committed_height(db: Path, tx_id: str) -> int | None:
    store = SqliteStore(db)
    try:
        row = store.get_tx(bytes.fromhex(tx_id))
    finally:
        store.close()
    return None if row is None else row.height


def _certificate(network: Network, org: str, digest: str) -> dict[str, Any]:
    cert: dict[str, Any] = _api(network, org, f"/v1/certificates/{digest}")
    return cert
