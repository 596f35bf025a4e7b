"""``make run``: a local node with its API, seeded once with a few demo records.

The seed goes through the public SDK and REST API like any client: a supply contract co-signed by
the grid company and a customer and endorsed by the notary office and the judicial institution,
a business record, and a batch of metering exports. The files are written to HOME/demo-files so
they can be verified against their certificates.
"""

from __future__ import annotations

import json
from pathlib import Path

from gridledger import merkle
from gridledger.client import Client, file_digest
from gridledger.keys import generate_key, read_key_file, write_key_file
from gridledger.node.home import Home, init_home
from gridledger.node.server import serve
from gridledger.node.service import EmbeddedNode

CONTRACT_TEXT = """ELECTRICITY SUPPLY CONTRACT (demo)
Supplier: Provincial Grid Company
Customer: Riverside Cold Storage Ltd., meter 4403-118-2207
Term: 2027-01-01 to 2027-12-31; contracted capacity 800 kW; tariff per the provincial schedule.
"""
REPORT_TEXT = """Q3 2026 substation maintenance report (demo)
Substation: Eastgate 110 kV. Transformer T2 oil test passed. Breaker 1102 contacts replaced.
"""


def run_demo(home_path: Path, *, port: int = 8700) -> None:
    home = Home(Path(home_path))
    if not home.is_initialized():
        init_home(home.path, chain_id="gridledger-demo", port=port)
    serve(home.path, port=port, on_ready=_seed_and_announce)


def _seed_and_announce(node: EmbeddedNode, url: str) -> None:
    home = node.home
    marker = home.path / "demo-seeded.json"
    if not marker.exists():
        seeded = seed_demo(home, url)
        marker.write_text(json.dumps(seeded, indent=2) + "\n", encoding="utf-8")
    files = home.path / "demo-files"
    print(
        f"""
gridledger demo is running (chain {node.genesis.chain_id}).
  API        {url}          OpenAPI: {url}/docs
  portal     {url}/          (verify a file in the browser)
  status     .venv/bin/gridledger status --node {url}
  files      {files}/
  try        .venv/bin/gridledger certificate {files}/supply-contract.txt --node {url} -o cert.json
             .venv/bin/gridledger verify {files}/supply-contract.txt cert.json
  keys       {home.path}/keys/  (GRIDLEDGER_KEY={home.path}/keys/gridco-admin.json to notarize)
Press Ctrl-C to stop.
""",
        flush=True,
    )


def seed_demo(home: Home, url: str) -> dict[str, object]:
    files = home.path / "demo-files"
    (files / "metering").mkdir(parents=True, exist_ok=True)
    gridco = read_key_file(home.key_file("gridco", "admin"))
    customer_file = home.path / "keys" / "customer-demo.json"
    if not customer_file.exists():
        write_key_file(customer_file, generate_key())
    customer = read_key_file(customer_file)
    contract = files / "supply-contract.txt"
    contract.write_text(CONTRACT_TEXT, encoding="utf-8")
    report = files / "maintenance-report.txt"
    report.write_text(REPORT_TEXT, encoding="utf-8")
    exports = []
    for hour in range(24):
        path = files / "metering" / f"eastgate-2026-11-01T{hour:02d}.csv"
        rows = [
            f"4403-118-{m:04d},2026-11-01T{hour:02d}:00,{1000 + m * 7 + hour * 13}"
            for m in range(8)
        ]
        path.write_text(
            "meter,interval_start,register_wh\n" + "\n".join(rows) + "\n", encoding="utf-8"
        )
        exports.append(path)
    with Client(url) as client:
        c_digest = file_digest(contract)
        client.submit(
            client.build_tx(
                "notary",
                "record",
                {
                    "digest": c_digest,
                    "title": "Electricity supply contract 2027 (Riverside Cold Storage)",
                    "record_type": "contract",
                    "parties": [gridco.address, customer.address],
                    "endorsers": ["notary", "judicial"],
                    "metadata": {"contract_no": "GC-2027-0042"},
                },
                [gridco, customer],
            )
        )
        for org in ("notary", "judicial"):
            endorser = read_key_file(home.key_file(org, "endorser"))
            client.submit(
                client.build_tx(
                    "notary",
                    "endorse",
                    {"digest": c_digest, "org": org, "note": "document received and checked"},
                    [endorser],
                )
            )
        client.submit(
            client.build_tx(
                "notary",
                "record",
                {
                    "digest": file_digest(report),
                    "title": "Q3 2026 Eastgate maintenance report",
                    "record_type": "business_record",
                    "parties": [gridco.address],
                },
                [gridco],
            )
        )
        digests = [file_digest(p) for p in exports]
        root = merkle.root([bytes.fromhex(d) for d in digests]).hex()
        client.submit(
            client.build_tx(
                "notary",
                "record_batch",
                {
                    "root": root,
                    "count": len(digests),
                    "title": "Eastgate metering exports 2026-11-01",
                    "record_type": "metering_export",
                    "parties": [gridco.address],
                },
                [gridco],
            )
        )
        client.put_manifest(root, digests)
    return {"contract": c_digest, "report": file_digest(report), "metering_batch_root": root}
