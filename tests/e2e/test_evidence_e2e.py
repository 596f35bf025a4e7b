"""End to end with real processes: notarize with the CLI, fetch certificates, verify offline."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gridledger import codec
from gridledger.client import Client, file_digest
from gridledger.evidence.verify import verify_certificate
from gridledger.keys import read_key_file
from tests.e2e.nodeproc import NodeProcess, cli

pytestmark = pytest.mark.e2e


def _write_files(folder: Path, count: int, stem: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(count):
        path = folder / f"{stem}-{i:04d}.txt"
        path.write_text(f"{stem} document {i}\nline two of {i}\n", encoding="utf-8")
        files.append(path)
    return files


def test_notarize_100_files_then_verify_each_certificate_offline(
    node: NodeProcess, tmp_path: Path
) -> None:
    files = _write_files(tmp_path / "docs", 100, "contract")
    done = cli(
        "notarize",
        *map(str, files),
        "--key",
        str(node.key("gridco")),
        "--node",
        node.url,
        "--endorsers",
        "notary,judicial",
        "--type",
        "contract",
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 100

    digests = [file_digest(path) for path in files]
    with Client(node.url) as client:
        endorsements = [
            client.build_tx(
                "notary",
                "endorse",
                {"digest": d, "org": org},
                [read_key_file(node.key(org, "endorser"))],
            )
            for org in ("notary", "judicial")
            for d in digests
        ]
        results = client.submit_many(endorsements)
        assert [r["status"] for r in results] == ["committed"] * 200
        for digest in digests:
            cert = client.certificate(digest)
            evidence = verify_certificate(cert, bytes.fromhex(digest))
            assert evidence.status == "endorsed"
            assert evidence.endorsed_by == ("notary", "judicial")

    # the CLI round trip for one of them, as a judge would do it
    cert_file = tmp_path / "cert.json"
    fetched = cli("certificate", str(files[7]), "--node", node.url, "-o", str(cert_file))
    assert fetched.returncode == 0, fetched.stderr
    verified = cli(
        "verify", str(files[7]), str(cert_file), "--genesis", str(node.home / "genesis.json")
    )
    assert verified.returncode == 0, verified.stderr
    assert (
        verified.stdout.startswith("VALID: ") and "endorsed by notary, judicial" in verified.stdout
    )


def test_batch_of_1000_files_each_provable_by_its_own_path(
    node: NodeProcess, tmp_path: Path
) -> None:
    files = _write_files(tmp_path / "exports", 1000, "meter-export")
    done = cli(
        "notarize",
        *map(str, files),
        "--batch",
        "--key",
        str(node.key("gridco")),
        "--node",
        node.url,
        "--type",
        "metering_export",
    )
    assert done.returncode == 0, done.stderr
    assert "1000 documents recorded" in done.stdout

    with Client(node.url) as client:
        roots = set()
        for path in files:
            digest = file_digest(path)
            cert = client.certificate(digest)
            evidence = verify_certificate(cert, bytes.fromhex(digest))
            assert evidence.batch_root is not None
            roots.add(evidence.batch_root)
        assert len(roots) == 1

    cert_file = tmp_path / "batch-cert.json"
    assert (
        cli("certificate", str(files[999]), "--node", node.url, "-o", str(cert_file)).returncode
        == 0
    )
    ok = cli("verify", str(files[999]), str(cert_file))
    assert ok.returncode == 0 and "in batch" in ok.stdout
    other = cli("verify", str(files[998]), str(cert_file))
    assert other.returncode == 1 and "does not match the certified digest" in other.stderr


def test_verify_fails_with_a_reason_when_file_or_certificate_is_altered(
    node: NodeProcess, tmp_path: Path
) -> None:
    (doc,) = _write_files(tmp_path / "one", 1, "lease")
    assert (
        cli("notarize", str(doc), "--key", str(node.key("gridco")), "--node", node.url).returncode
        == 0
    )
    cert_file = tmp_path / "cert.json"
    assert cli("certificate", str(doc), "--node", node.url, "-o", str(cert_file)).returncode == 0
    assert cli("verify", str(doc), str(cert_file)).returncode == 0

    altered = tmp_path / "altered.txt"
    data = bytearray(doc.read_bytes())
    data[3] ^= 0x01
    altered.write_bytes(bytes(data))
    bad_file = cli("verify", str(altered), str(cert_file))
    assert bad_file.returncode == 1
    assert "INVALID" in bad_file.stderr and "altered" in bad_file.stderr

    cert = json.loads(cert_file.read_text())
    edits: dict[str, Callable[[dict[str, Any]], object]] = {
        "title": lambda c: c["record"].__setitem__("title", "Another title"),
        "block height": lambda c: c["block"]["header"].__setitem__(
            "height", c["block"]["header"]["height"] + 1
        ),
        "signature": lambda c: c["block"].__setitem__("signature", "00" * 64),
        "log index": lambda c: c["entries"][0].__setitem__("index", c["entries"][0]["index"] + 1),
        "party": lambda c: c["entries"][0]["entry"]["tx"]["body"]["args"]["parties"].append(
            "gl" + "0" * 40
        ),
        "trust anchor": lambda c: c["trust_anchor"].__setitem__("node_public_key", "11" * 32),
    }
    for name, edit in edits.items():
        changed = json.loads(json.dumps(cert))
        edit(changed)
        path = tmp_path / f"cert-{name.replace(' ', '-')}.json"
        path.write_text(json.dumps(changed))
        result = cli("verify", str(doc), str(path))
        assert result.returncode == 1, name
        assert result.stderr.startswith("INVALID: "), (name, result.stderr)

    not_json = tmp_path / "garbage.json"
    not_json.write_text("{not json")
    garbage = cli("verify", str(doc), str(not_json))
    assert garbage.returncode == 1 and "not a certificate" in garbage.stderr
    assert codec.decode(cert_file.read_bytes(), canonical=False)["format"].startswith("gridledger/")


def test_verify_with_a_bad_or_foreign_genesis_says_why(node: NodeProcess, tmp_path: Path) -> None:
    (doc,) = _write_files(tmp_path / "g", 1, "deed")
    assert (
        cli("notarize", str(doc), "--key", str(node.key("gridco")), "--node", node.url).returncode
        == 0
    )
    cert_file = tmp_path / "cert.json"
    assert cli("certificate", str(doc), "--node", node.url, "-o", str(cert_file)).returncode == 0

    missing = cli("verify", str(doc), str(cert_file), "--genesis", str(tmp_path / "nope.json"))
    assert missing.returncode == 1 and "cannot read genesis" in missing.stderr

    not_genesis = tmp_path / "list.json"
    not_genesis.write_text("[1, 2]")
    wrong = cli("verify", str(doc), str(cert_file), "--genesis", str(not_genesis))
    assert wrong.returncode == 1 and "is not a genesis file" in wrong.stderr

    foreign = json.loads((node.home / "genesis.json").read_text())
    foreign["chain_id"] = "another-network"
    foreign_file = tmp_path / "foreign.json"
    foreign_file.write_text(json.dumps(foreign))
    other = cli("verify", str(doc), str(cert_file), "--genesis", str(foreign_file))
    assert other.returncode == 1 and "another-network" in other.stderr

    unpinned = cli("verify", str(doc), str(cert_file))
    assert unpinned.returncode == 0 and "NOT PINNED" in unpinned.stdout
    traceback_free = [r.stderr for r in (missing, wrong, other)]
    assert not any("Traceback" in err for err in traceback_free)
