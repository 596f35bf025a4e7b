"""`gridledger verify` refuses malformed pins with a message that names them, before checking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.nodeproc import cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    document = tmp_path / "doc.txt"
    document.write_text("a document\n")
    cert = tmp_path / "cert.json"
    cert.write_text(json.dumps({"chain_id": "gridledger-net"}))
    return document, cert


def test_bad_validator_set_hash_is_named(files: tuple[Path, Path]) -> None:
    document, cert = files
    result = cli("verify", str(document), str(cert), "--trust-validators-hash", "zz")
    assert result.returncode != 0
    assert "--trust-validators-hash 'zz' is not hex" in result.stderr


def test_genesis_without_validators_is_named(files: tuple[Path, Path], tmp_path: Path) -> None:
    document, cert = files
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps({"chain_id": "gridledger-net"}))
    result = cli("verify", str(document), str(cert), "--genesis", str(genesis))
    assert result.returncode != 0
    assert "is not a genesis file: it lists no validators" in result.stderr


def test_genesis_of_another_chain_is_named(files: tuple[Path, Path], tmp_path: Path) -> None:
    document, cert = files
    genesis = tmp_path / "genesis.json"
    genesis.write_text(json.dumps({"chain_id": "other", "validators": []}))
    result = cli("verify", str(document), str(cert), "--genesis", str(genesis))
    assert result.returncode != 0
    assert "certificate is for chain 'gridledger-net', the genesis for 'other'" in result.stderr
