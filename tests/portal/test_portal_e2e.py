"""The web portal in a real Chromium against the real four-validator network.

A contract is notarized with the command line (co-signed by the grid company and a customer,
endorsed by the notary office and the judicial institution, each with its own endorser key at its
own member's API). Then, in the browser: choosing the file shows "Verified" with both
endorsements; an altered file is "Not found"; a certificate of another document is a
"Mismatch"; the downloaded certificate verifies offline against the genesis validators; the
printable certificate renders and prints to PDF; the explorer shows blocks, transactions,
validators and every member's height; the built-in SHA-256 matches hashlib. Screenshots go to
test-artifacts/portal/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gridledger.client import Client
from gridledger.cometbft.lightclient import genesis_validators_hash
from gridledger.evidence.verify import verify_certificate
from gridledger.keys import generate_key, read_key_file, write_key_file
from gridledger.net.layout import Network
from tests.e2e.nodeproc import NodeProcess, cli
from tests.net.netproc import running_network

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

CHAIN_ID = "gridledger-portal-e2e"
ORG_NAMES = {
    "gridco": "Provincial Grid Company",
    "notary": "Municipal Notary Office",
    "judicial": "Judicial Authentication Institution",
    "exchange": "Power Trading Center",
}
CONTRACT = (
    b"%PDF-1.7\nELECTRICITY SUPPLY CONTRACT GC-2027-0042\n"
    b"Supplier: Provincial Grid Company. Customer: Riverside Cold Storage Ltd.\n" * 40
)


@dataclass(frozen=True)
class Notarized:
    contract: Path
    digest: str
    altered: Path
    report: Path
    report_digest: str
    pending: Path
    refused: Path
    customer: str
    genesis: Path


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with running_network(tmp_path_factory.mktemp("portal") / "net", CHAIN_ID) as net:
        yield net


@pytest.fixture(scope="module")
def notarized(network: Network, tmp_path_factory: pytest.TempPathFactory) -> Notarized:
    folder = tmp_path_factory.mktemp("files")
    contract = folder / "supply-contract.pdf"
    contract.write_bytes(CONTRACT)
    altered = folder / "supply-contract-altered.pdf"
    altered.write_bytes(CONTRACT.replace(b"0042", b"0043", 1))  # one character differs
    report = folder / "maintenance-report.txt"
    report.write_bytes(b"Q3 2026 Eastgate 110 kV maintenance report\n")
    customer_key = folder / "customer.key.json"
    customer = generate_key()
    write_key_file(customer_key, customer)
    gridco = network.node("gridco")

    def run(*args: str) -> None:
        done = cli(*args, timeout=120)
        assert done.returncode == 0, f"{args[0]}: {done.stdout}\n{done.stderr}"

    run(
        "notarize", str(contract), "--key", str(gridco.key_file("admin")),
        "--cosign", str(customer_key), "--endorsers", "notary,judicial",
        "--title", "Electricity supply contract GC-2027-0042", "--type", "contract",
        "--node", gridco.api_url,
    )  # fmt: skip
    digest = hashlib.sha256(CONTRACT).hexdigest()
    for org, note in (("notary", "document received and checked"), ("judicial", "")):
        node = network.node(org)
        run(
            "endorse", digest, "--org", org, "--note", note,
            "--key", str(node.key_file("endorser")), "--node", node.api_url,
        )  # fmt: skip
    run(
        "notarize", str(report), "--key", str(gridco.key_file("admin")),
        "--title", "Q3 2026 maintenance report", "--node", gridco.api_url,
    )  # fmt: skip
    pending, refused = folder / "pending-lease.txt", folder / "refused-tender.txt"
    pending.write_bytes(b"Lease of the Eastgate substation yard, 2027\n")
    refused.write_bytes(b"Tender document, lot 7\n")
    with Client(gridco.api_url) as client:
        admin = read_key_file(gridco.key_file("admin"))
        for path, title in ((pending, "Substation yard lease"), (refused, "Tender, lot 7")):
            args = {
                "digest": hashlib.sha256(path.read_bytes()).hexdigest(),
                "title": title,
                "record_type": "contract",
                "parties": [admin.address],
                "endorsers": ["notary"],
            }
            client.submit(client.build_tx("notary", "record", args, [admin]))
        refusal = {
            "digest": hashlib.sha256(refused.read_bytes()).hexdigest(),
            "org": "notary",
            "reason": "the document received does not match the digest",
        }
        notary = read_key_file(network.node("notary").key_file("endorser"))
        client.submit(client.build_tx("notary", "refuse", refusal, [notary]))
    return Notarized(
        contract=contract,
        digest=digest,
        altered=altered,
        report=report,
        report_digest=hashlib.sha256(report.read_bytes()).hexdigest(),
        pending=pending,
        refused=refused,
        customer=customer.address,
        genesis=gridco.cometbft_home / "config" / "genesis.json",
    )


@pytest.fixture
def page(browser: Any, artifacts: Path) -> Iterator[Any]:
    """A fresh browser tab (Beijing time, so local times show beside UTC). Fails the test on
    any uncaught JavaScript error."""
    context = browser.new_context(
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
        timezone_id="Asia/Shanghai",
        locale="en-GB",
    )
    context.set_default_timeout(20_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
        assert not errors, f"JavaScript errors on the page: {errors}"
    finally:
        context.close()


def _portal(network: Network, org: str = "gridco") -> str:
    return f"{network.node(org).api_url}/portal/"


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


# -- evidence ----------------------------------------------------------------------------------


def test_chosen_file_is_verified_with_both_endorsements_and_never_uploaded(
    network: Network, notarized: Notarized, page: Any, artifacts: Path
) -> None:
    expect = _expect()
    requests: list[Any] = []

    def seen(request: Any) -> None:  # not list.append: Playwright tags the handler it is given
        requests.append(request)

    page.on("request", seen)
    page.goto(network.node("gridco").api_url + "/")  # the root leads to the portal
    assert page.url.endswith("/portal/")
    page.set_input_files("#file", str(notarized.contract))
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-verdict", "verified")
    expect(verdict).to_contain_text("Verified")
    expect(verdict).to_contain_text("Municipal Notary Office (notary)")
    expect(verdict).to_contain_text("Judicial Authentication Institution (judicial)")
    expect(page.locator("#result")).to_contain_text(notarized.digest)
    rows = page.locator("#endorsements tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Municipal Notary Office")
    expect(rows.nth(0)).to_contain_text("document received and checked")
    expect(rows.nth(1)).to_contain_text("Judicial Authentication Institution")
    expect(page.locator("#result")).to_contain_text(notarized.customer)
    expect(page.locator("#result")).to_contain_text("UTC+08:00")  # local time beside UTC
    expect(page.locator("#proof")).to_contain_text("more than two thirds")
    expect(page.locator("#verify-command")).to_have_text(
        f"gridledger verify supply-contract.pdf certificate-{notarized.digest[:16]}.json "
        "--genesis genesis.json"
    )
    page.screenshot(path=str(artifacts / "evidence-verified.png"), full_page=True)
    # nothing but GETs left the page: the file was hashed here, not sent
    assert requests and all(r.method == "GET" and r.post_data is None for r in requests)


def test_downloaded_certificate_verifies_offline_against_the_genesis_validators(
    network: Network, notarized: Notarized, page: Any, tmp_path: Path
) -> None:
    expect = _expect()
    page.goto(_portal(network, "judicial"))
    page.set_input_files("#file", str(notarized.contract))
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "verified")
    with page.expect_download() as info:
        page.click("#download-cert")
    download = info.value
    assert download.suggested_filename == f"certificate-{notarized.digest[:16]}.json"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    cert = json.loads(saved.read_text())
    pinned = {genesis_validators_hash(json.loads(notarized.genesis.read_text()))}
    evidence = verify_certificate(
        cert, bytes.fromhex(notarized.digest), trusted_validators_hashes=pinned
    )
    assert evidence.digest == notarized.digest
    assert evidence.status == "endorsed"
    assert set(evidence.endorsed_by) == {"notary", "judicial"}
    ok = cli("verify", str(notarized.contract), str(saved), "--genesis", str(notarized.genesis))
    assert ok.returncode == 0 and ok.stdout.startswith("VALID"), ok.stdout + ok.stderr


def test_altered_file_is_not_found(
    network: Network, notarized: Notarized, page: Any, artifacts: Path
) -> None:
    expect = _expect()
    page.goto(_portal(network, "notary"))
    page.set_input_files("#file", str(notarized.altered))
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-verdict", "not-found")
    expect(verdict).to_contain_text("Not found")
    altered = hashlib.sha256(notarized.altered.read_bytes()).hexdigest()
    expect(page.locator("#result")).to_contain_text(altered)
    expect(page.locator("#download-cert")).to_have_count(0)
    page.screenshot(path=str(artifacts / "evidence-not-found.png"), full_page=True)


def test_certificate_of_another_document_is_a_mismatch(
    network: Network, notarized: Notarized, page: Any, artifacts: Path, tmp_path: Path
) -> None:
    expect = _expect()
    other = tmp_path / "report-certificate.json"
    fetched = cli(
        "certificate", notarized.report_digest, "--node", network.node("exchange").api_url,
        "-o", str(other),
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    page.goto(_portal(network, "exchange"))
    page.click("#more summary")
    page.set_input_files("#cert-file", str(other))
    page.set_input_files("#file", str(notarized.contract))
    verdict = page.locator("#verdict")
    expect(verdict).to_have_attribute("data-verdict", "mismatch")
    expect(verdict).to_contain_text("for another document")
    page.screenshot(path=str(artifacts / "evidence-mismatch.png"), full_page=True)
    # the same certificate with its own document is fine
    page.set_input_files("#file", str(notarized.report))
    expect(verdict).to_have_attribute("data-verdict", "verified")
    expect(verdict).to_contain_text("No endorsement was required")


def test_pending_and_refused_records_are_not_verified(
    network: Network, notarized: Notarized, page: Any, artifacts: Path
) -> None:
    expect = _expect()
    page.goto(_portal(network))
    verdict = page.locator("#verdict")
    page.set_input_files("#file", str(notarized.pending))
    expect(verdict).to_have_attribute("data-verdict", "pending")
    expect(verdict).to_contain_text("Still waiting for: Municipal Notary Office (notary)")
    expect(page.locator("#endorsements")).to_contain_text("not yet endorsed")
    page.set_input_files("#file", str(notarized.refused))
    expect(verdict).to_have_attribute("data-verdict", "attention")
    expect(verdict).to_contain_text("Record found: endorsement refused")
    expect(page.locator("#endorsements")).to_contain_text("refused")
    expect(page.locator("#endorsements")).to_contain_text("does not match the digest")
    expect(page.locator("#history tbody tr")).to_have_count(2)
    page.screenshot(path=str(artifacts / "evidence-refused.png"), full_page=True)
    digest = hashlib.sha256(notarized.refused.read_bytes()).hexdigest()
    page.goto(_portal(network) + f"print?digest={digest}")
    expect(page.locator("#stamp")).to_have_text("Endorsement refused")
    expect(page.locator(".endorsement")).to_contain_text("Refused by")
    expect(page.locator(".cert-summary")).to_contain_text("It is not confirmed evidence")


def test_unknown_statuses_are_shown_as_they_are_and_never_verified(
    network: Network, page: Any
) -> None:
    page.goto(_portal(network))
    shown = page.evaluate(
        """async () => {
            const m = await import("./common.js");
            return ["endorsed", "recorded", "pending", "revoked", "frozen"].map((s) => {
                const info = m.statusInfo(s);
                return [info.label, info.verified];
            });
        }"""
    )
    assert shown == [
        ["Endorsed", True],
        ["Recorded", True],
        ["Awaiting endorsement", False],
        ["Revoked", False],
        ["frozen", False],
    ]


def test_digest_lookup_refuses_a_malformed_digest(network: Network, page: Any) -> None:
    expect = _expect()
    page.goto(_portal(network))
    page.click("text=Look up a digest instead of a file")
    page.fill("#digest-input", "not-a-digest")
    page.click("button:text('Look up')")
    expect(page.locator("#result .notice")).to_contain_text("64 hexadecimal characters")
    expect(page.locator("#digest-input")).to_have_attribute("aria-invalid", "true")


# -- printable certificate ---------------------------------------------------------------------


def test_printable_certificate_renders_and_prints_to_pdf(
    network: Network, notarized: Notarized, page: Any, artifacts: Path
) -> None:
    expect = _expect()
    page.goto(_portal(network))
    page.set_input_files("#file", str(notarized.contract))
    expect(page.locator("#verdict")).to_have_attribute("data-verdict", "verified")
    with page.context.expect_page() as opened:
        page.click("#print-link")
    sheet = opened.value
    expect(sheet.locator("#stamp")).to_have_text("Endorsed")
    expect(sheet.locator("h1")).to_have_text("Evidence Certificate")
    text = sheet.locator("#sheet")
    expect(text).to_contain_text("supply-contract.pdf")
    expect(text).to_contain_text("Electricity supply contract GC-2027-0042")
    for org in ("notary", "judicial"):
        expect(text).to_contain_text(f"{ORG_NAMES[org]} ({org})")
    expect(sheet.locator(".endorsement")).to_have_count(2)
    signed = sheet.locator("section", has_text="5. Ledger proof").locator("tbody tr")
    assert signed.count() >= 3  # more than two thirds of four equal validators
    expect(text).to_contain_text("more than two thirds")
    shown = re.sub(r"\s|\u200b", "", text.inner_text())
    assert notarized.digest in shown
    sheet.screenshot(path=str(artifacts / "certificate-print.png"), full_page=True)
    sheet.emulate_media(media="print")
    expect(sheet.locator(".toolbar")).to_be_hidden()
    pdf = sheet.pdf(format="A4", path=str(artifacts / "certificate.pdf"))
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    sheet.close()


def test_printable_certificate_of_an_unknown_digest_says_so(network: Network, page: Any) -> None:
    expect = _expect()
    page.goto(_portal(network) + "print?digest=" + "ab" * 32)
    expect(page.locator("#sheet")).to_contain_text("no record with digest")
    page.goto(_portal(network) + "print?digest=xyz")
    expect(page.locator("#sheet")).to_contain_text("64-hex SHA-256 digest")


# -- explorer ----------------------------------------------------------------------------------


def test_network_page_shows_validators_and_every_members_height(
    network: Network, notarized: Notarized, page: Any, artifacts: Path
) -> None:
    expect = _expect()
    page.goto(_portal(network, "notary") + "#/network")
    validators = page.locator("#validators tbody tr")
    expect(validators).to_have_count(4)
    for org, name in ORG_NAMES.items():
        expect(page.locator("#validators")).to_contain_text(f"{name} ({org})")
    expect(validators.first).to_contain_text("10 (25 %)")
    expect(page.locator("#members tbody tr")).to_have_count(4)
    expect(page.locator("#members")).to_contain_text("Municipal Notary Office (notary) (this node)")
    for _attempt in range(20):  # a block may be in flight between two members' answers
        if "the same app hash" in page.locator("#members").inner_text():
            break
        page.wait_for_timeout(500)
        page.reload()
        page.locator("#members").wait_for()
    expect(page.locator("#members .notice")).to_contain_text("All 4 members report height")
    page.screenshot(path=str(artifacts / "explorer-network.png"), full_page=True)


def test_blocks_transactions_and_record_search(
    network: Network, notarized: Notarized, page: Any, artifacts: Path
) -> None:
    expect = _expect()
    record = httpx.get(f"{network.node('gridco').api_url}/v1/records/{notarized.digest}").json()
    page.goto(_portal(network) + "#/blocks")
    expect(page.locator("#blocks tbody tr").first).to_be_visible()
    expect(page.locator("#blocks")).to_contain_text(f"#{record['height']}")
    page.screenshot(path=str(artifacts / "explorer-blocks.png"), full_page=True)
    page.click(f"#blocks a:text-is('#{record['height']}')")
    expect(page.locator("h1")).to_have_text(f"Block #{record['height']}")
    expect(page.locator("main")).to_contain_text(record["tx_id"])

    page.goto(_portal(network) + "#/txs")
    expect(page.locator("#txs")).to_contain_text("notary.record")
    expect(page.locator("#txs")).to_contain_text("notary.endorse")
    expect(page.locator("#txs")).to_contain_text("Municipal Notary Office (endorser)")
    page.screenshot(path=str(artifacts / "explorer-transactions.png"), full_page=True)

    page.goto(_portal(network) + "#/records")
    page.fill("#search-input", notarized.customer)
    page.click("button:text('Search')")
    expect(page.locator("main")).to_contain_text("1 record naming")
    expect(page.locator("main")).to_contain_text("Electricity supply contract GC-2027-0042")
    page.screenshot(path=str(artifacts / "explorer-records.png"), full_page=True)
    page.fill("#search-input", notarized.digest.upper())
    page.click("button:text('Search')")
    expect(page.locator("h1")).to_have_text("Record")
    expect(page.locator("main [data-status]").first).to_have_text("Endorsed")
    page.goto(_portal(network) + "#/records?q=hello")
    expect(page.locator("main [role=alert]")).to_contain_text("neither a 64-hex digest")


def test_built_in_sha256_matches_hashlib(network: Network, page: Any) -> None:
    """The fallback for pages served over plain http from another host, where WebCrypto is
    missing: every padding boundary, and data fed in uneven pieces."""
    page.goto(_portal(network))
    blob = os.urandom(300_000)
    lengths = [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 1000, len(blob)]
    got = page.evaluate(
        """async ([hex, lengths]) => {
            const m = await import("./common.js");
            const bytes = Uint8Array.from(hex.match(/../g) || [], (b) => parseInt(b, 16));
            return lengths.map((n) => {
                const data = bytes.subarray(0, n);
                const hasher = new m.Sha256();
                for (let i = 0; i < n; i += 7919) hasher.update(data.subarray(i, i + 7919));
                return m.toHex(hasher.digest());
            });
        }""",
        [blob.hex(), lengths],
    )
    assert got == [hashlib.sha256(blob[:n]).hexdigest() for n in lengths]


# -- the API side of the portal ----------------------------------------------------------------


def test_portal_routes_serve_pages_and_refuse_bad_input(network: Network) -> None:
    api = network.node("gridco").api_url
    with httpx.Client(base_url=api, timeout=30) as client:
        index = client.get("/portal/")
        assert index.status_code == 200 and "Verify a document" in index.text
        assert "default-src 'self'" in index.headers["content-security-policy"]
        assert client.get("/portal").status_code == 307
        for name, kind in (("app.js", "javascript"), ("style.css", "css"), ("print", "html")):
            served = client.get(f"/portal/{name}")
            assert served.status_code == 200 and kind in served.headers["content-type"]
        assert client.get("/portal/secrets.txt").status_code == 404
        assert client.get("/portal/..%2Fapp.py").status_code == 404
        assert client.get("/v1/portal/evidence/XYZ").json()["error"]["code"] == "decode_error"
        assert client.get("/v1/portal/evidence/" + "0" * 64).status_code == 404
        assert client.get("/v1/portal/blocks", params={"limit": 0}).status_code == 400
        assert client.get("/v1/portal/txs", params={"limit": 101}).status_code == 400
        blocks = client.get("/v1/portal/blocks", params={"limit": 3}).json()
        assert [b["height"] for b in blocks["blocks"]] == list(
            range(blocks["last_height"], blocks["last_height"] - 3, -1)
        )
        assert all(b["proposer_org"] in ORG_NAMES for b in blocks["blocks"])
        about = client.get("/v1/portal/about").json()
        assert about["org"] == "gridco" and about["organizations"] == ORG_NAMES


# -- the embedded node -------------------------------------------------------------------------


def test_portal_on_the_embedded_node(
    page: Any, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    expect = _expect()
    node = NodeProcess.create(tmp_path_factory.mktemp("embedded"))
    node.start()
    try:
        document = node.home / "minutes.txt"
        document.write_text("Board minutes, 2026-11-02: tariff review approved.\n")
        done = cli("notarize", str(document), "--key", str(node.key("gridco")), "--node", node.url)
        assert done.returncode == 0, done.stderr
        page.goto(f"{node.url}/")
        page.set_input_files("#file", str(document))
        expect(page.locator("#verdict")).to_have_attribute("data-verdict", "verified")
        expect(page.locator("#proof")).to_contain_text("Signed by node key")
        expect(page.locator("#verify-command")).to_contain_text("--trust-key")
        page.screenshot(path=str(artifacts / "embedded-evidence.png"), full_page=True)
        page.goto(f"{node.url}/portal/#/network")
        expect(page.locator("main")).to_contain_text("embedded single node")
        expect(page.locator("#validators")).to_contain_text("in the ledger's list only")
    finally:
        node.stop()
