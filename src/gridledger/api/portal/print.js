// gridledger portal: the printable evidence certificate (print?digest=<64 hex>#name=<file name>).
// A plain page for paper or PDF: everything in the certificate a reader needs, with full hashes,
// and the command that verifies the JSON certificate independently.
import {
  api,
  apiText,
  certificateFileName,
  certificateProof,
  compareCertificate,
  DIGEST_RE,
  downloadText,
  facts,
  findRefusal,
  formatTime,
  h,
  hashText,
  mono,
  orgLabel,
  parseRfc3339,
  plural,
  sha256File,
  statusInfo,
  table,
  verifyCommand,
} from "./common.js";

const sheet = document.getElementById("sheet");

async function start() {
  const digest = (new URLSearchParams(location.search).get("digest") || "").toLowerCase();
  const fileName = new URLSearchParams(location.hash.replace(/^#/, "")).get("name");
  if (!DIGEST_RE.test(digest)) {
    fail("This page needs ?digest= followed by a 64-hex SHA-256 digest.");
    return;
  }
  let about;
  let evidence;
  let certText;
  const orgByKey = {};
  try {
    about = await api("/v1/portal/about");
    for (const v of (await api("/v1/governance/validators")).validators) orgByKey[v.public_key] = v.org;
    evidence = await api(`/v1/portal/evidence/${digest}`);
    certText = await apiText(`/v1/certificates/${digest}`);
  } catch (err) {
    fail(err.message);
    return;
  }
  const cert = JSON.parse(certText);
  const certDigest = (await sha256File(new Blob([certText]))).hex;
  const record = { ...evidence.record };
  delete record.batch_member;
  const problems = compareCertificate(cert, digest, record, about.chain_id);
  const certName = certificateFileName(digest);
  const parts = render({ about, evidence, cert, certDigest, certName, digest, fileName, problems, orgByKey });
  sheet.replaceChildren(...parts.filter((part) => part !== null));
  document.title = `Evidence certificate ${digest.slice(0, 16)}`;
  const printButton = document.getElementById("print-button");
  const downloadButton = document.getElementById("download-button");
  printButton.disabled = false;
  downloadButton.disabled = false;
  printButton.addEventListener("click", () => window.print());
  downloadButton.addEventListener("click", () => downloadText(certText, certName));
}

function fail(message) {
  sheet.replaceChildren(h("h1", {}, "Certificate not available"), h("p", { class: "notice bad" }, message));
}

function render(c) {
  const r = c.evidence.record;
  const orgs = c.evidence.organizations;
  const info = statusInfo(r.status);
  const proof = certificateProof(c.cert, c.orgByKey);
  const block = c.evidence.blocks[String(r.height)] || {};
  const issuer = c.about.org ? `${orgLabel(c.about.org, orgs)} node` : "embedded node";
  return [
    h(
      "header",
      { class: "cert-head" },
      h(
        "div",
        {},
        h("p", { class: "eyebrow" }, `gridledger ledger · chain ${c.about.chain_id}`),
        h("h1", {}, "Evidence Certificate"),
        h("p", { class: "subtitle" }, "Record of a document's SHA-256 digest, its parties and its endorsements"),
      ),
      h("p", { class: `stamp ${info.tone}`, id: "stamp" }, info.label),
    ),
    summary(c, r, info, orgs),
    c.problems.length
      ? h("div", { class: "notice bad" }, h("strong", {}, "Warning: "), c.problems.join("; "), ".")
      : null,
    h(
      "section",
      {},
      h("h2", {}, "1. Document"),
      facts([
        ["File name", c.fileName ? `${c.fileName} (as chosen by the reader; not part of the record)` : null],
        ["SHA-256 digest", hashText(c.digest)],
        ["In a batch", r.batch_member ? `document ${r.batch_member.index + 1} of ${r.count}, batch root ${r.digest}` : null],
      ]),
    ),
    h(
      "section",
      {},
      h("h2", {}, "2. Record"),
      facts([
        ["Title", r.title],
        ["Record type", r.record_type],
        ["Status", info.label],
        ["Recorded at", formatTime(r.time_ms)],
        ["Block height", String(r.height)],
        ["Block hash", hashText(block.hash)],
        ["Transaction ID", hashText(r.tx_id)],
        ["Submitted by", person(r.submitter, c.evidence)],
        ["Evidence log position", String(r.log_index)],
        ...Object.entries(r.metadata || {}).map(([k, v]) => [`Metadata: ${k}`, typeof v === "string" ? v : JSON.stringify(v)]),
      ]),
    ),
    h(
      "section",
      {},
      h("h2", {}, "3. Parties"),
      h("p", { class: "help" }, "Each party signed the recording transaction with its own key."),
      table(
        ["#", "Party", "Address"],
        r.parties.map((a, i) => [String(i + 1), partyName(a, c.evidence), mono(a, "mono addr")]),
      ),
    ),
    endorsements(r, c.evidence),
    proofSection(proof, c.about.organizations),
    h(
      "section",
      { class: "verify-howto" },
      h("h2", {}, "6. Independent verification"),
      h(
        "p",
        {},
        "This page is a readable rendering. The evidence is the certificate file (JSON) issued with it; " +
          "anyone can verify that file offline, without trusting the node that issued it:",
      ),
      h("pre", { class: "command" }, verifyCommand(c.fileName || "FILE", c.certName, c.about.mode)),
      facts([
        ["Certificate file", c.certName],
        ["SHA-256 of the certificate file", hashText(c.certDigest)],
        ["Genesis hash of the ledger", hashText(c.about.status.genesis_hash)],
      ]),
      h(
        "p",
        { class: "help" },
        c.about.mode === "cometbft"
          ? "genesis.json: the network's genesis file, obtained from a member organization you trust. The command checks the file's digest, the log inclusion proofs, every signature and that validators holding more than two thirds of the voting power signed the block."
          : "Pin the node key with --trust-key, taken from the operator's own records.",
      ),
    ),
    h(
      "footer",
      { class: "cert-foot" },
      h("p", {}, `Issued by the ${issuer}, ${location.origin}, on ${formatTime(Date.now())}.`),
    ),
  ];
}

function summary(c, r, info, orgs) {
  let text;
  if (info.verified && r.status === "endorsed") {
    const names = r.endorsements.map((e) => orgLabel(e.org, orgs)).join(", ");
    text = `The document with the SHA-256 digest below was recorded on the ledger on ${formatTime(r.time_ms)} by the parties listed, and endorsed by ${names}.`;
  } else if (info.verified) {
    text = `The document with the SHA-256 digest below was recorded on the ledger on ${formatTime(r.time_ms)} by the parties listed. No endorsement was required.`;
  } else {
    text = `The document with the SHA-256 digest below is recorded on the ledger, but the record's status is "${r.status}" (${info.label}). It is not confirmed evidence.`;
  }
  return h("p", { class: "cert-summary" }, text);
}

function partyName(address, evidence) {
  const account = evidence.accounts[address];
  if (!account) return "key holder (not a registered account)";
  const org = evidence.organizations[account.org] || account.org;
  return account.name.startsWith(org) ? account.name : `${account.name}, ${org}`;
}

function person(address, evidence) {
  const account = evidence.accounts[address];
  return h("span", {}, account ? h("span", { class: "who" }, partyName(address, evidence)) : null, mono(address, "mono addr"));
}

// One block per organization asked to endorse: easier to read on paper than a wide table.
function endorsements(r, evidence) {
  const orgs = evidence.organizations;
  const done = new Map(r.endorsements.map((e) => [e.org, e]));
  const blocks = r.endorsers.map((org) => {
    const e = done.get(org);
    const refusal = e ? null : findRefusal(r, org);
    const change = e || refusal;
    const state = e ? ["good", "Endorsed"] : refusal ? ["bad", "Refused"] : ["warn", "Not endorsed"];
    return h(
      "div",
      { class: "endorsement" },
      h("p", { class: "endorsement-head" }, h("strong", {}, orgLabel(org, orgs)), h("span", { class: `badge ${state[0]}` }, state[1])),
      change
        ? facts([
            [e ? "Endorsed by" : "Refused by", person(change.by, evidence)],
            ["Time", formatTime(change.time_ms)],
            ["Block height", String(change.height)],
            ["Transaction ID", hashText(change.tx_id)],
            [e ? "Note" : "Reason", (e ? e.note : refusal.reason) || null],
          ])
        : null,
    );
  });
  // Endorsements by organizations the record did not name cannot happen, but show any found.
  for (const e of r.endorsements.filter((x) => !r.endorsers.includes(x.org))) {
    blocks.push(h("div", { class: "endorsement" }, h("strong", {}, orgLabel(e.org, orgs)), facts([["Time", formatTime(e.time_ms)]])));
  }
  return h(
    "section",
    {},
    h("h2", {}, "4. Endorsements"),
    blocks.length ? blocks : h("p", {}, "No organization was asked to endorse this record."),
  );
}

function proofSection(proof, orgs) {
  if (proof.kind !== "cometbft") {
    return h(
      "section",
      {},
      h("h2", {}, "5. Ledger proof"),
      facts([
        ["Signed block", `height ${proof.headerHeight}, ${formatTime(proof.headerTime)}`],
        ["Evidence log", h("span", {}, `${plural(proof.logSize, "entry", "entries")}, root `, hashText(proof.logRoot))],
        ["Signed by node key", hashText(proof.nodeKey)],
      ]),
    );
  }
  return h(
    "section",
    {},
    h("h2", {}, "5. Ledger proof"),
    facts([
      ["Ledger state proven", `after block ${proof.provenHeight}; evidence log of ${plural(proof.logSize, "entry", "entries")}`],
      ["App hash", hashText(proof.appHash)],
      ["Evidence log root", hashText(proof.logRoot)],
      ["Signed block", `height ${proof.headerHeight}, ${formatTime(proof.headerTime)}`],
      ["Signed block hash", hashText(proof.headerHash)],
      [
        "Signatures",
        `${proof.signers.length} of ${proof.validators.length} validators, ${proof.signedPower} of ${proof.totalPower} voting power` +
          (proof.quorum ? " — more than two thirds, as consensus requires" : " — NOT more than two thirds"),
      ],
      ["Validator set changes since genesis", proof.transitions ? String(proof.transitions) : "none"],
    ]),
    table(
      ["Validators that signed", "Voting power", "Validator address", "Signed at"],
      proof.signers.map((s) => [orgLabel(s.org, orgs), String(s.power), mono(s.address.toLowerCase(), "mono addr"), formatTime(parseRfc3339(s.time))]),
    ),
  );
}

start();
