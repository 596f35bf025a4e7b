"""``gridledger net init``: the files of a four-organization network, written by real CometBFT."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from gridledger.cli.main import main
from gridledger.keys import read_key_file
from gridledger.ledger.genesis import decode_genesis
from gridledger.net.init import (
    GridClockPlan,
    compute_idle_block_interval,
    init_network,
    read_grid_clock_speedup,
    set_toml_values,
)
from gridledger.net.layout import (
    DEFAULT_ORGS,
    NetError,
    Network,
    Ports,
    compute_ports,
    find_cometbft,
    parse_orgs,
    pick_free_ports,
    read_network,
)

REPO = Path(__file__).resolve().parents[2]
COMETBFT = REPO / ".tools" / "bin" / "cometbft"

needs_cometbft = pytest.mark.skipif(
    not COMETBFT.exists(), reason="CometBFT is not installed (`make setup` installs it)"
)


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Network:
    if not COMETBFT.exists():
        pytest.skip("CometBFT is not installed (`make setup` installs it)")
    return init_network(tmp_path_factory.mktemp("net"), chain_id="gridledger-unit")


def _genesis(network: Network, org: str) -> dict[str, Any]:
    path = network.node(org).cometbft_home / "config" / "genesis.json"
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _config(network: Network, org: str) -> dict[str, Any]:
    path = network.node(org).cometbft_home / "config" / "config.toml"
    return tomllib.loads(path.read_text())


def test_init_writes_a_cometbft_home_keys_and_app_dir_per_org(network: Network) -> None:
    assert network.orgs == DEFAULT_ORGS
    for node in network.nodes:
        assert (node.cometbft_home / "config" / "priv_validator_key.json").is_file()
        assert (node.cometbft_home / "data" / "priv_validator_state.json").is_file()
        assert node.app_dir.is_dir()
        for role in ("admin", "endorser"):
            path = node.keys_dir / f"{node.org}-{role}.json"
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
            read_key_file(path)  # the format init_home writes
        shown = subprocess.run(
            [str(COMETBFT), "show-node-id", "--home", str(node.cometbft_home)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert shown.stdout.strip() == node.node_id


def test_network_json_records_what_a_caller_needs(network: Network) -> None:
    doc = json.loads((network.dir / "network.json").read_text())
    assert doc["chain_id"] == "gridledger-unit"
    assert doc["orgs"] == list(DEFAULT_ORGS)
    gridco = doc["nodes"]["gridco"]
    node = network.node("gridco")
    assert gridco["rpc_url"] == f"http://127.0.0.1:{node.ports.rpc}"
    assert gridco["api_url"] == f"http://127.0.0.1:{node.ports.api}"
    assert gridco["abci_port"] == node.ports.abci
    assert gridco["db"] == str(node.db_file)
    assert set(gridco["logs"]) == {"app", "cometbft", "api"}
    assert gridco["node_id"] == node.node_id
    assert read_network(network.dir) == network


def test_genesis_is_identical_on_every_node_and_names_every_validator(network: Network) -> None:
    texts = {(n.cometbft_home / "config" / "genesis.json").read_bytes() for n in network.nodes}
    assert len(texts) == 1
    genesis = _genesis(network, "gridco")
    assert genesis["chain_id"] == "gridledger-unit"
    assert [v["name"] for v in genesis["validators"]] == list(DEFAULT_ORGS)
    assert {v["power"] for v in genesis["validators"]} == {"10"}
    app = genesis["app_state"]
    assert app["chain_id"] == genesis["chain_id"]
    for node, comet_v, app_v in zip(
        network.nodes, genesis["validators"], app["validators"], strict=True
    ):
        key = json.loads((node.cometbft_home / "config" / "priv_validator_key.json").read_text())
        public_key = base64.b64decode(key["pub_key"]["value"])
        assert comet_v["pub_key"]["value"] == key["pub_key"]["value"]
        assert comet_v["address"] == key["address"]
        assert app_v == {"org": node.org, "public_key": public_key.hex(), "power": 10}
    decoded = decode_genesis(app)
    assert decoded.chain_id == "gridledger-unit"


def test_app_genesis_gives_each_org_its_role_and_accounts(network: Network) -> None:
    app = _genesis(network, "notary")["app_state"]
    roles = {o["id"]: o["roles"] for o in app["organizations"]}
    assert roles == {
        "gridco": ["operator"],
        "notary": ["endorser"],
        "judicial": ["endorser"],
        "exchange": ["market_operator"],
    }
    accounts = {a["address"]: a for a in app["accounts"]}
    for node in network.nodes:
        admin = read_key_file(node.key_file("admin"))
        endorser = read_key_file(node.key_file("endorser"))
        assert accounts[admin.address]["org"] == node.org
        assert "admin" in accounts[admin.address]["roles"]
        assert "endorser" in accounts[endorser.address]["roles"]


def test_ports_are_distinct_and_each_config_uses_its_own(network: Network) -> None:
    ports = [p for n in network.nodes for p in n.ports.values()]
    assert len(set(ports)) == len(ports) == 16
    for node in network.nodes:
        cfg = _config(network, node.org)
        assert cfg["proxy_app"] == f"tcp://127.0.0.1:{node.ports.abci}"
        assert cfg["moniker"] == node.org
        assert cfg["rpc"]["laddr"] == f"tcp://127.0.0.1:{node.ports.rpc}"
        assert cfg["p2p"]["laddr"] == f"tcp://127.0.0.1:{node.ports.p2p}"
        peers = set(cfg["p2p"]["persistent_peers"].split(","))
        assert peers == {n.p2p_address for n in network.nodes if n.org != node.org}


def test_config_is_tuned_for_a_local_network(network: Network) -> None:
    cfg = _config(network, "judicial")
    assert cfg["p2p"]["addr_book_strict"] is False
    assert cfg["p2p"]["allow_duplicate_ip"] is True
    assert cfg["consensus"]["timeout_commit"] == "500ms"
    assert cfg["consensus"]["create_empty_blocks"] is False
    # ...but a quiet network still makes a block every 10 s, so block time stays fresh
    assert cfg["consensus"]["create_empty_blocks_interval"] == "10s"
    assert cfg["mempool"]["size"] >= 20_000
    # a 512 KiB transaction, base64 in a JSON-RPC body, must fit
    assert cfg["rpc"]["max_body_bytes"] > (512 * 1024 * 4 // 3) + 1000
    assert cfg["rpc"]["max_subscription_clients"] > 100
    assert cfg["rpc"]["max_subscriptions_per_client"] > 5
    assert cfg["instrumentation"]["prometheus"] is False
    assert cfg["log_level"] == "info"


@needs_cometbft
def test_a_fast_grid_clock_chain_makes_idle_blocks_every_second(tmp_path: Path) -> None:
    plan = GridClockPlan(speedup=300, day_after_s=60)
    fast = init_network(tmp_path, chain_id="gridledger-fast", grid_clock=plan)
    for node in fast.nodes:
        assert read_grid_clock_speedup(node) == 300
        assert _config(fast, node.org)["consensus"]["create_empty_blocks_interval"] == "1s"


def test_idle_block_interval_follows_the_grid_clock() -> None:
    assert compute_idle_block_interval(1) == "10s"
    assert compute_idle_block_interval(2) == "1s"
    assert compute_idle_block_interval(900) == "1s"


@pytest.mark.parametrize(
    "text",
    [
        None,  # no genesis.json at all
        "{not json",
        '{"app_state": {}}',
        '{"app_state": {"params": {"grid_clock_speedup": "300"}}}',
        '{"app_state": {"params": {"grid_clock_speedup": -5}}}',
        '{"app_state": {"params": {"grid_clock_speedup": 2.5}}}',
        '{"app_state": {"params": {"grid_clock_speedup": true}}}',
        '{"app_state": []}',
    ],
)
def test_an_unreadable_or_odd_genesis_means_real_time(
    network: Network, tmp_path: Path, text: str | None
) -> None:
    node = dataclasses.replace(network.node("gridco"), root=tmp_path)
    if text is not None:
        config = node.cometbft_home / "config"
        config.mkdir(parents=True)
        (config / "genesis.json").write_text(text)
    assert read_grid_clock_speedup(node) == 1


@needs_cometbft
def test_init_refuses_an_existing_network_unless_forced(tmp_path: Path) -> None:
    first = init_network(tmp_path, orgs=("gridco", "notary", "judicial", "exchange"))
    with pytest.raises(NetError, match=r"already holds a network.*--force"):
        init_network(tmp_path)
    assert read_network(tmp_path).nodes == first.nodes  # untouched

    second = init_network(tmp_path, orgs=("gridco", "notary", "judicial"), force=True)
    assert second.orgs == ("gridco", "notary", "judicial")
    assert not (tmp_path / "exchange").exists()
    assert second.node("gridco").node_id != first.node("gridco").node_id


@needs_cometbft
def test_cli_init_with_base_port_uses_fixed_offsets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["net", "init", "--dir", str(tmp_path), "--base-port", "31000"]) == 0
    out = capsys.readouterr().out
    assert "http://127.0.0.1:31001" in out and "http://127.0.0.1:31033" in out
    network = read_network(tmp_path)
    assert network.node("notary").ports == Ports(p2p=31010, rpc=31011, abci=31012, api=31013)
    assert main(["net", "init", "--dir", str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().err


@needs_cometbft
def test_cli_init_free_ports_are_distinct(tmp_path: Path) -> None:
    assert main(["net", "init", "--dir", str(tmp_path), "--free-ports"]) == 0
    ports = [p for n in read_network(tmp_path).nodes for p in n.ports.values()]
    assert len(set(ports)) == 16


@pytest.mark.parametrize(
    ("orgs", "message"),
    [
        ("gridco,Grid Co", "bad organization name 'Grid Co'"),
        ("gridco,../etc", "bad organization name '../etc'"),
        ("gridco,,notary", "bad organization name ''"),
        ("GRIDCO", "bad organization name 'GRIDCO'"),
        ("-rm", "bad organization name '-rm'"),
        ("gridco,notary,gridco", "listed twice: gridco"),
        ("gridco,logs", "reserved"),
        ("", "no organizations"),
    ],
)
def test_cli_init_refuses_bad_org_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], orgs: str, message: str
) -> None:
    assert main(["net", "init", "--dir", str(tmp_path / "n"), f"--orgs={orgs}"]) == 1
    assert message in capsys.readouterr().err
    assert not (tmp_path / "n").exists()


def test_cli_init_refuses_bad_chain_id_and_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["net", "init", "--dir", str(tmp_path), "--chain-id", "a b"]) == 1
    assert "bad chain id 'a b'" in capsys.readouterr().err
    assert main(["net", "init", "--dir", str(tmp_path), "--base-port", "65530"]) == 1
    assert "must be 1024-65535" in capsys.readouterr().err
    assert not (tmp_path / "network.json").exists()


def test_compute_ports_offsets() -> None:
    ports = compute_ports(("a", "b"), 26600)
    assert ports["a"] == Ports(p2p=26600, rpc=26601, abci=26602, api=26603)
    assert ports["b"] == Ports(p2p=26610, rpc=26611, abci=26612, api=26613)


def test_parse_orgs_keeps_order() -> None:
    assert parse_orgs(" gridco, notary ,bank_1") == ("gridco", "notary", "bank_1")


def test_unusable_cometbft_binary_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    not_executable = tmp_path / "cometbft"
    not_executable.write_text("")
    monkeypatch.setenv("GRIDLEDGER_COMETBFT", str(not_executable))
    with pytest.raises(NetError, match=r"GRIDLEDGER_COMETBFT=.* is not an executable"):
        find_cometbft()
    assert main(["net", "init", "--dir", str(tmp_path / "n")]) == 1
    assert "GRIDLEDGER_COMETBFT" in capsys.readouterr().err


def test_set_toml_values_refuses_a_missing_key() -> None:
    text = 'moniker = "x"\n[p2p]\nladdr = "tcp://0.0.0.0:1"\n# pex = true\n'
    out = set_toml_values(text, {("p2p", "laddr"): "tcp://127.0.0.1:2", ("", "moniker"): "y"})
    assert tomllib.loads(out) == {"moniker": "y", "p2p": {"laddr": "tcp://127.0.0.1:2"}}
    with pytest.raises(NetError, match=r"\[p2p\] pex"):
        set_toml_values(text, {("p2p", "pex"): False})


def test_commands_on_a_missing_network_point_to_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("up", "down", "status"):
        assert main(["net", command, "--dir", str(tmp_path)]) == 1
        assert "gridledger net init" in capsys.readouterr().err


@needs_cometbft
def test_commands_on_a_stopped_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    init_network(tmp_path, ports=pick_free_ports(DEFAULT_ORGS))
    capsys.readouterr()
    assert main(["net", "down", "--dir", str(tmp_path)]) == 0
    assert "was not running" in capsys.readouterr().out
    assert main(["net", "stop", "--dir", str(tmp_path), "--org", "exchange"]) == 1
    assert "is not running" in capsys.readouterr().err
    assert main(["net", "start", "--dir", str(tmp_path), "--org", "nobody"]) == 1
    assert "no organization 'nobody'" in capsys.readouterr().err
    assert main(["net", "status", "--dir", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["supervisor"]["running"] is False
    assert doc["orgs"]["gridco"]["processes"]["app"]["state"] == "down"
    assert "error" in doc["orgs"]["gridco"]["chain"]
