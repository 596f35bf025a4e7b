// gridledger portal: document verification and a ledger explorer, as one page with #/ routes.
import {
  accountLabel,
  ADDRESS_RE,
  api,
  apiText,
  ApiError,
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
  plural,
  sha256File,
  short,
  statusBadge,
  statusInfo,
  table,
  verifyCommand,
} from "./common.js";

const main = document.getElementById("main");
const ctx = { about: null, orgByKey: {} };
let renderCount = 0;

// -- start and routing -------------------------------------------------------------------------

async function start() {
  try {
    ctx.about = await api("/v1/portal/about");
    const validators = await api("/v1/governance/validators");
    for (const v of validators.validators) ctx.orgByKey[v.public_key] = v.org;
  } catch (err) {
    ctx.about = null;
    document.getElementById("node-line").textContent = `Node unavailable: ${err.message}`;
  }
  showNodeLine();
  window.addEventListener("hashchange", route);
  route();
}

function showNodeLine() {
  const about = ctx.about;
  if (!about) return;
  const line = document.getElementById("node-line");
  const who = about.org ? `${orgLabel(about.org, about.organizations)} node` : "embedded node";
  const mode = about.mode === "cometbft" ? "consortium" : "single node";
  line.replaceChildren(
    h("span", {}, `Chain ${about.chain_id}`),
    h("span", {}, who),
    h("span", {}, `${mode}, height ${about.status.height}`),
  );
}

const ROUTES = [
  [/^\/?$/, () => renderEvidence()],
  [/^\/evidence$/, () => renderEvidence()],
  [/^\/records$/, (m, q) => renderSearch(q.get("q") || "")],
  [/^\/record\/([0-9a-f]{64})$/, (m) => renderRecordPage(m[1])],
  [/^\/network$/, () => renderNetwork()],
  [/^\/blocks$/, (m, q) => renderBlocks(q.get("before"))],
  [/^\/block\/(\d+)$/, (m) => renderBlock(m[1])],
  [/^\/txs$/, () => renderTxs()],
  [/^\/tx\/([0-9a-f]{64})$/, (m) => renderTx(m[1])],
];

async function route() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, ""));
  const [path, query] = raw.split("?");
  const params = new URLSearchParams(query || "");
  const section = (path.split("/")[1] || "evidence").replace(/^(record|block|tx)$/, "$1s");
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const token = ++renderCount;
  main.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  for (const [pattern, render] of ROUTES) {
    const m = path.match(pattern);
    if (m) {
      try {
        const view = await render(m, params);
        if (token !== renderCount) return; // the reader moved on meanwhile
        main.replaceChildren(...[view].flat());
      } catch (err) {
        if (token !== renderCount) return;
        main.replaceChildren(errorView(err));
      }
      const heading = main.querySelector("h1");
      if (heading && token > 1) heading.focus();
      document.title = `${heading ? heading.textContent : "gridledger"} · gridledger portal`;
      return;
    }
  }
  main.replaceChildren(errorView(new Error(`There is no page "${path}".`)));
}

function errorView(err) {
  const notFound = err instanceof ApiError && err.status === 404;
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1" }, notFound ? "Not found" : "Something went wrong"),
    h("p", { class: `notice ${notFound ? "warn" : "bad"}` }, err.message),
  );
}

// -- evidence: choose a file, see the verdict --------------------------------------------------

function renderEvidence() {
  const view = document.getElementById("tpl-evidence").content.cloneNode(true);
  const form = view.getElementById("check-form");
  const fileInput = view.getElementById("file");
  const certInput = view.getElementById("cert-file");
  const digestInput = view.getElementById("digest-input");
  const drop = view.getElementById("drop");
  const result = view.getElementById("result");
  const state = { file: null, heldCert: null, heldCertName: null };

  const check = () => {
    if (state.file) checkFile(state.file, state.heldCert, state.heldCertName, result);
  };
  fileInput.addEventListener("change", () => {
    state.file = fileInput.files[0] || null;
    check();
  });
  certInput.addEventListener("change", async () => {
    const chosen = certInput.files[0];
    state.heldCert = null;
    state.heldCertName = chosen ? chosen.name : null;
    if (chosen) {
      try {
        state.heldCert = JSON.parse(await chosen.text());
      } catch (_) {
        state.heldCert = { unreadable: true };
      }
    }
    check();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const digest = digestInput.value.trim().toLowerCase();
    if (!DIGEST_RE.test(digest)) {
      digestInput.setAttribute("aria-invalid", "true");
      result.replaceChildren(h("p", { class: "notice bad" }, "A SHA-256 digest is 64 hexadecimal characters (0-9, a-f)."));
      return;
    }
    digestInput.removeAttribute("aria-invalid");
    checkDigest({ digest, fileName: null, heldCert: state.heldCert, heldCertName: state.heldCertName }, result);
  });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (event) => {
      event.preventDefault();
      drop.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, () => drop.classList.remove("over"));
  }
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const dropped = event.dataTransfer.files[0];
    if (dropped) {
      state.file = dropped;
      check();
    }
  });
  return [...view.childNodes];
}

async function checkFile(file, heldCert, heldCertName, result) {
  const progress = h("progress", { max: "100", "aria-label": "Hashing progress" });
  result.replaceChildren(
    h("p", { class: "loading" }, `Computing the SHA-256 fingerprint of ${file.name} in this browser… `, progress),
  );
  let hashed;
  try {
    hashed = await sha256File(file, (fraction) => {
      progress.value = Math.round(fraction * 100);
    });
  } catch (err) {
    result.replaceChildren(h("p", { class: "notice bad" }, `The file could not be read: ${err.message}`));
    return;
  }
  await checkDigest(
    { digest: hashed.hex, fileName: file.name, fileSize: file.size, method: hashed.method, heldCert, heldCertName },
    result,
  );
}

async function checkDigest(input, result) {
  result.replaceChildren(h("p", { class: "loading" }, "Looking the digest up on the ledger…"));
  let evidence = null;
  try {
    evidence = await api(`/v1/portal/evidence/${input.digest}`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) {
      result.replaceChildren(h("p", { class: "notice bad" }, `The node could not answer: ${err.message}`));
      return;
    }
  }
  const fileLine = documentFacts(input);
  if (evidence === null) {
    const problems = input.heldCert ? heldCertificateProblems(input.heldCert, input.digest, null) : [];
    result.replaceChildren(
      problems.length
        ? verdictBox("mismatch", "Mismatch", "This document is not on the ledger, and the certificate you chose is not for it.", problems)
        : verdictBox(
            "not-found",
            "Not found",
            "No record on this ledger has this document's SHA-256 digest. If the file was changed in any way, even by one byte, its digest changes and it no longer matches its record.",
          ),
      fileLine,
    );
    return;
  }
  let certText = null;
  let cert = null;
  let certError = null;
  try {
    certText = await apiText(`/v1/certificates/${input.digest}`);
    cert = JSON.parse(certText);
  } catch (err) {
    certError = err;
  }
  const record = withoutPortalFields(evidence.record);
  const problems = cert
    ? compareCertificate(cert, input.digest, record, ctx.about && ctx.about.chain_id)
    : [`this node could not issue a certificate for the digest: ${certError.message}`];
  if (input.heldCert) problems.push(...heldCertificateProblems(input.heldCert, input.digest, evidence.record));
  const info = statusInfo(evidence.record.status);
  let verdict;
  if (problems.length) {
    verdict = verdictBox("mismatch", "Mismatch", "A record exists for this digest, but the evidence does not agree:", problems);
  } else if (info.verified) {
    verdict = verdictBox("verified", "Verified", verifiedSentence(evidence.record, input));
  } else if (evidence.record.status === "pending") {
    verdict = verdictBox("pending", "Recorded, endorsement pending", pendingSentence(evidence.record));
  } else {
    verdict = verdictBox(
      "attention",
      `Record found: ${info.label.toLowerCase()}`,
      `The document is on the ledger, but its record's status is "${evidence.record.status}". It is not confirmed as valid evidence.`,
    );
  }
  verdict.querySelector(".verdict-body").append(actionButtons(input, certText, cert));
  result.replaceChildren(verdict, fileLine, ...recordView(evidence, cert), offlineCard(input));
}

function withoutPortalFields(record) {
  const copy = { ...record };
  delete copy.batch_member;
  return copy;
}

function heldCertificateProblems(held, digest, record) {
  if (held.unreadable || !held.document) return ["the certificate file you chose is not a gridledger certificate (not readable JSON)"];
  const problems = [];
  if (held.document.digest !== digest) {
    problems.push(`the certificate you chose is for another document (digest ${short(held.document.digest, 16)})`);
  } else if (record && held.record && held.record.tx_id !== record.tx_id) {
    problems.push("the certificate you chose names another recording transaction than the ledger");
  }
  return problems;
}

function verifiedSentence(record, input) {
  const what = input.fileName ? "This document" : "This digest";
  if (record.status === "endorsed") {
    const orgs = record.endorsements.map((e) => orgLabel(e.org, ctx.about.organizations)).join(", ");
    return `${what} is recorded on the ledger and endorsed by ${orgs}. The node's certificate agrees with the record.`;
  }
  return `${what} is recorded on the ledger. No endorsement was required. The node's certificate agrees with the record.`;
}

function pendingSentence(record) {
  const done = new Set(record.endorsements.map((e) => e.org));
  const waiting = record.endorsers.filter((o) => !done.has(o)).map((o) => orgLabel(o, ctx.about.organizations));
  return `The document is on the ledger. Still waiting for: ${waiting.join(", ")}.`;
}

const VERDICT_MARK = { verified: "✓", "not-found": "?", mismatch: "✗", pending: "…", attention: "!" };

function verdictBox(kind, title, sentence, problems = []) {
  return h(
    "div",
    { class: `verdict ${kind}`, id: "verdict", "data-verdict": kind },
    h("span", { class: "mark", "aria-hidden": "true" }, VERDICT_MARK[kind]),
    h(
      "div",
      { class: "verdict-body" },
      h("h2", {}, title),
      h("p", {}, sentence),
      problems.length ? h("ul", { class: "problems" }, problems.map((p) => h("li", {}, p))) : null,
    ),
  );
}

function documentFacts(input) {
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Document"),
    facts([
      ["File", input.fileName ? `${input.fileName} (${formatBytes(input.fileSize)})` : null],
      ["SHA-256", hashText(input.digest)],
      ["Computed", input.method ? `in this browser (${input.method}); the file was not uploaded` : null],
      ["Certificate compared", input.heldCertName],
    ]),
  );
}

function formatBytes(n) {
  if (n < 1024) return `${n} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = -1;
  do {
    value /= 1024;
    unit += 1;
  } while (value >= 1024 && unit < units.length - 1);
  return `${value.toFixed(1)} ${units[unit]} (${n.toLocaleString("en")} bytes)`;
}

// -- a record, as both the evidence page and the record page show it ----------------------------

function recordView(evidence, cert) {
  const r = evidence.record;
  const orgs = evidence.organizations;
  const block = evidence.blocks[String(r.height)] || {};
  const parts = [
    h(
      "section",
      { class: "card" },
      h("div", { class: "card-head" }, h("h2", {}, r.title), statusBadge(r.status)),
      facts([
        ["Record type", r.record_type],
        ["Recorded", formatTime(r.time_ms)],
        ["Block", h("span", {}, h("a", { href: `#/block/${r.height}` }, `#${r.height}`), " ", hashText(block.hash))],
        ["Transaction", h("a", { href: `#/tx/${r.tx_id}`, class: "mono" }, r.tx_id)],
        ["Submitted by", accountLabel(r.submitter, evidence.accounts, orgs)],
        ["Evidence log position", String(r.log_index)],
        ["Kind", r.kind === "batch" ? `batch of ${r.count.toLocaleString("en")} documents (Merkle root ${short(r.digest, 16)})` : "single document"],
        ["Position in batch", r.batch_member ? `document ${r.batch_member.index + 1} of ${r.count}` : null],
      ]),
      metadataView(r.metadata),
    ),
    partiesView(r, evidence),
    endorsementsView(r, evidence),
  ];
  if (Array.isArray(r.history) && r.history.length) parts.push(historyView(r.history, evidence));
  if (cert) parts.push(proofView(cert));
  return parts;
}

function metadataView(metadata) {
  const entries = Object.entries(metadata || {});
  if (!entries.length) return null;
  return h(
    "div",
    { class: "sub" },
    h("h3", {}, "Metadata"),
    facts(entries.map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])),
  );
}

function partiesView(r, evidence) {
  const rows = r.parties.map((address, i) => {
    const account = evidence.accounts[address];
    return [
      String(i + 1),
      account ? account.name : "not a registered account (signature only)",
      account ? orgLabel(account.org, evidence.organizations) : "—",
      mono(address, "mono addr"),
    ];
  });
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Parties"),
    h("p", { class: "help" }, "Every party signed the recording transaction with its own key."),
    table(["#", "Name", "Organization", "Address"], rows),
  );
}

function endorsementsView(r, evidence) {
  const orgs = evidence.organizations;
  const done = new Set(r.endorsements.map((e) => e.org));
  const rows = r.endorsements.map((e) => [
    h("strong", {}, orgLabel(e.org, orgs)),
    accountLabel(e.by, evidence.accounts, orgs),
    formatTime(e.time_ms),
    h("a", { href: `#/block/${e.height}` }, `#${e.height}`),
    h("a", { href: `#/tx/${e.tx_id}`, class: "mono", title: e.tx_id }, short(e.tx_id)),
    e.note || "—",
  ]);
  for (const org of r.endorsers.filter((o) => !done.has(o))) {
    const refusal = findRefusal(r, org);
    rows.push([
      h("strong", {}, orgLabel(org, orgs)),
      refusal
        ? h("span", {}, h("span", { class: "badge bad" }, "refused"), " ", accountLabel(refusal.by, evidence.accounts, orgs))
        : h("em", {}, r.status === "pending" ? "not yet endorsed" : "not endorsed"),
      refusal ? formatTime(refusal.time_ms) : "—",
      refusal ? h("a", { href: `#/block/${refusal.height}` }, `#${refusal.height}`) : "—",
      refusal ? h("a", { href: `#/tx/${refusal.tx_id}`, class: "mono", title: refusal.tx_id }, short(refusal.tx_id)) : "—",
      refusal ? refusal.reason || "—" : "—",
    ]);
  }
  const body = rows.length
    ? table(["Organization", "Endorsed by", "Time", "Block", "Transaction", "Note"], rows)
    : h("p", { class: "help" }, "No organization was asked to endorse this record.");
  return h("section", { class: "card", id: "endorsements" }, h("h2", {}, "Endorsements"), body);
}

function historyView(history, evidence) {
  const rows = history.map((item) => [
    formatTime(item.time_ms),
    item.height !== undefined ? h("a", { href: `#/block/${item.height}` }, `#${item.height}`) : "—",
    h("strong", {}, String(item.action || item.status || "—")),
    item.org ? orgLabel(item.org, evidence.organizations) : "—",
    item.by ? accountLabel(item.by, evidence.accounts, evidence.organizations) : "—",
    item.reason || item.note || "—",
    item.tx_id ? h("a", { href: `#/tx/${item.tx_id}`, class: "mono", title: item.tx_id }, short(item.tx_id, 8)) : "—",
  ]);
  return h(
    "section",
    { class: "card", id: "history" },
    h("h2", {}, "History"),
    h("p", { class: "help" }, "Every change to the record, oldest first. Nothing on the ledger is deleted."),
    table(["Time", "Block", "Event", "Organization", "By", "Reason", "Transaction"], rows),
  );
}

function proofView(cert) {
  const proof = certificateProof(cert, ctx.orgByKey);
  const orgs = ctx.about.organizations;
  if (proof.kind === "cometbft") {
    const signers = proof.signers.map((s) => [orgLabel(s.org, orgs), String(s.power), mono(s.address.toLowerCase(), "mono addr")]);
    return h(
      "section",
      { class: "card", id: "proof" },
      h("h2", {}, "Ledger proof in the certificate"),
      facts([
        ["Proven ledger state", `after block #${proof.provenHeight}; evidence log of ${plural(proof.logSize, "entry", "entries")}`],
        ["Signed block", h("span", {}, `#${proof.headerHeight}, `, formatTime(proof.headerTime))],
        ["Block hash", hashText(proof.headerHash)],
        ["App hash", hashText(proof.appHash)],
        [
          "Signatures",
          `${proof.signers.length} of ${proof.validators.length} validators, ${proof.signedPower} of ${proof.totalPower} voting power` +
            (proof.quorum ? " (more than two thirds)" : " (NOT more than two thirds)"),
        ],
      ]),
      table(["Validator that signed", "Power", "Validator address"], signers),
    );
  }
  return h(
    "section",
    { class: "card", id: "proof" },
    h("h2", {}, "Ledger proof in the certificate"),
    facts([
      ["Signed block", h("span", {}, `#${proof.headerHeight}, `, formatTime(proof.headerTime))],
      ["Evidence log", h("span", {}, `${plural(proof.logSize, "entry", "entries")}, root `, hashText(proof.logRoot))],
      ["Signed by node key", hashText(proof.nodeKey)],
    ]),
  );
}

function actionButtons(input, certText, cert) {
  const digest = input.digest;
  const certName = certificateFileName(digest);
  const printHref = `print?digest=${digest}${input.fileName ? `#name=${encodeURIComponent(input.fileName)}` : ""}`;
  return h(
    "div",
    { class: "actions" },
    h(
      "button",
      { type: "button", class: "button primary", id: "download-cert", disabled: cert ? null : true, onclick: () => downloadText(certText, certName) },
      "Download certificate (JSON)",
    ),
    h("a", { class: "button", id: "print-link", href: printHref, target: "_blank" }, "Printable certificate"),
  );
}

function offlineCard(input) {
  const command = verifyCommand(input.fileName || "FILE", certificateFileName(input.digest), ctx.about.mode);
  return h(
    "section",
    { class: "card offline" },
    h("h2", {}, "Full, independent verification"),
    h(
      "p",
      {},
      "This page checks that the ledger holds a record for this digest and that the node's certificate agrees with it. " +
        "It does not check signatures. To verify the certificate cryptographically, without trusting this server, download it and run:",
    ),
    h("pre", { class: "command", id: "verify-command" }, command),
    h(
      "p",
      { class: "help" },
      ctx.about.mode === "cometbft"
        ? "genesis.json is the network's genesis file (CometBFT config/genesis.json), obtained from a member organization you trust."
        : "NODE_PUBLIC_KEY is the node key shown by the operator's own records (gridledger status).",
    ),
  );
}

// -- record page (by digest, without a file) ---------------------------------------------------

async function renderRecordPage(digest) {
  const evidence = await api(`/v1/portal/evidence/${digest}`);
  let certText = null;
  let cert = null;
  try {
    certText = await apiText(`/v1/certificates/${digest}`);
    cert = JSON.parse(certText);
  } catch (_) {
    cert = null;
  }
  return [
    h("h1", { tabindex: "-1" }, "Record"),
    h("p", { class: "lead" }, "A record on the ledger, looked up by its digest. To check a file against it, use ", h("a", { href: "#/evidence" }, "Verify a document"), "."),
    actionButtons({ digest, fileName: null }, certText, cert),
    documentFacts({ digest }),
    recordView(evidence, cert),
    offlineCard({ digest, fileName: null }),
  ].flat();
}

// -- record search -----------------------------------------------------------------------------

async function renderSearch(query) {
  const input = h("input", {
    type: "search", id: "search-input", name: "q", value: query, autocomplete: "off", spellcheck: "false",
    "aria-describedby": "search-help", placeholder: "64-hex digest or gl… address",
  });
  const form = h(
    "form",
    { class: "card search", role: "search", onsubmit: (event) => {
      event.preventDefault();
      location.hash = `#/records?q=${encodeURIComponent(input.value.trim())}`;
    } },
    h("label", { for: "search-input" }, "Document digest or party address"),
    h("div", { class: "field inline" }, input, h("button", { type: "submit", class: "button primary" }, "Search")),
    h("p", { id: "search-help", class: "help" }, "A SHA-256 digest opens its record; a party address (gl followed by 40 hex characters) lists every record naming that party."),
  );
  const out = [h("h1", { tabindex: "-1" }, "Search records"), form];
  const q = query.trim().toLowerCase();
  if (!q) return out;
  if (DIGEST_RE.test(q)) {
    location.replace(`#/record/${q}`);
    return out;
  }
  if (!ADDRESS_RE.test(q)) {
    out.push(h("p", { class: "notice bad", role: "alert" }, `"${query}" is neither a 64-hex digest nor a gl… address.`));
    return out;
  }
  const found = await api(`/v1/records?party=${q}&limit=200`);
  if (!found.records.length) {
    out.push(h("p", { class: "notice warn" }, "No record names this party."));
    return out;
  }
  const rows = found.records.map((r) => [
    h("a", { href: `#/record/${r.digest}` }, r.title),
    r.record_type,
    statusBadge(r.status),
    formatTime(r.time_ms),
    h("a", { href: `#/record/${r.digest}`, class: "mono" }, short(r.digest, 16)),
  ]);
  out.push(h("section", { class: "card" }, h("h2", {}, `${rows.length} record${rows.length === 1 ? "" : "s"} naming ${q}`), table(["Title", "Type", "Status", "Recorded", "Digest"], rows)));
  return out;
}

// -- network -----------------------------------------------------------------------------------

async function renderNetwork() {
  const net = await api("/v1/portal/network");
  const s = net.status;
  const orgs = ctx.about.organizations;
  const consensus = s.consensus || {};
  const node = h(
    "section",
    { class: "card" },
    h("h2", {}, "This node"),
    facts([
      ["Organization", ctx.about.org ? orgLabel(ctx.about.org, orgs) : "embedded single node"],
      ["Chain", s.chain_id],
      ["Consensus", s.mode === "cometbft" ? "CometBFT (Byzantine fault tolerant), one validator per organization" : "single embedded node"],
      ["Height", h("a", { href: `#/block/${s.height}` }, `#${s.height}`)],
      ["App hash", hashText(s.app_hash)],
      ["Last block", formatTime(s.last_block_time_ms)],
      ["Evidence log", h("span", {}, `${plural(s.log.size, "entry", "entries")}, root `, hashText(s.log.root))],
      ["Genesis hash", hashText(s.genesis_hash)],
      ["CometBFT node", consensus.node_id ? mono(consensus.node_id) : null],
      ["State", s.healthy ? h("span", { class: "badge good" }, "healthy") : h("span", { class: "badge bad" }, consensus.catching_up ? "catching up" : "not healthy")],
      ["Software", `gridledger ${s.version}`],
    ]),
  );
  const total = net.validators.filter((v) => v.in_consensus).reduce((sum, v) => sum + v.power, 0);
  const validatorRows = net.validators.map((v) => [
    h("strong", {}, orgLabel(v.org, orgs)),
    `${v.power}${total && v.in_consensus ? ` (${Math.round((100 * v.power) / total)} %)` : ""}`,
    mono(v.address, "mono addr"),
    h("span", { class: "mono", title: v.public_key }, short(v.public_key, 16)),
    v.in_consensus ? (v.in_ledger ? "active" : "active (not in the ledger's list)") : "in the ledger's list only",
  ]);
  const quorum = total ? Math.floor((2 * total) / 3) + 1 : null;
  const validators = h(
    "section",
    { class: "card", id: "validators" },
    h("h2", {}, "Validators"),
    h(
      "p",
      { class: "help" },
      s.mode === "cometbft"
        ? `As reported by this node's CometBFT. A block is final when validators holding more than two thirds of the ${total} voting power (at least ${quorum}) sign it.`
        : "The ledger's validator list. An embedded node signs its own blocks with its node key.",
    ),
    table(["Organization", "Voting power", "Validator address", "Public key", "State"], validatorRows),
  );
  const parts = [h("h1", { tabindex: "-1" }, "Network"), node, validators, membersView(net, orgs)];
  parts.push(
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Member organizations"),
      h("p", { class: "help" }, "Members vote on changes to the membership and to the validator set."),
      h("ul", { class: "plain" }, net.members.map((m) => h("li", {}, orgLabel(m, orgs)))),
    ),
  );
  return parts;
}

function membersView(net, orgs) {
  if (!net.peers.length) {
    return h(
      "section",
      { class: "card" },
      h("h2", {}, "Members' nodes"),
      h("p", { class: "help" }, "Only this node's view is shown: the other members' API addresses are not configured here (GRIDLEDGER_PORTAL_PEERS)."),
    );
  }
  const reachable = net.peers.filter((p) => p.reachable);
  const heights = new Set(reachable.map((p) => p.height));
  const hashes = new Set(reachable.map((p) => p.app_hash));
  let summary;
  if (reachable.length === net.peers.length && heights.size === 1 && hashes.size === 1) {
    summary = h("p", { class: "notice good" }, `All ${net.peers.length} members report height ${[...heights][0]} and the same app hash.`);
  } else if (heights.size > 1) {
    summary = h("p", { class: "notice warn" }, "Members report different heights: some are still applying the newest block, catching up, or stopped.");
  } else {
    summary = h("p", { class: "notice warn" }, `${net.peers.length - reachable.length} member node(s) did not answer.`);
  }
  const rows = net.peers.map((p) => [
    h("strong", {}, orgLabel(p.org, orgs), p.self ? " (this node)" : ""),
    h("a", { href: `${p.api_url}/portal/`, class: "mono" }, p.api_url),
    p.reachable ? String(p.height) : "—",
    p.reachable ? h("span", { class: "mono", title: p.app_hash }, short(p.app_hash, 16)) : "—",
    p.reachable ? formatTime(p.last_block_time_ms) : "—",
    p.reachable ? h("span", { class: `badge ${p.healthy ? "good" : "warn"}` }, p.healthy ? "healthy" : "not healthy") : h("span", { class: "badge bad", title: p.error }, "no answer"),
  ]);
  return h(
    "section",
    { class: "card", id: "members" },
    h("h2", {}, "Members' nodes"),
    summary,
    table(["Organization", "API", "Height", "App hash", "Last block", "State"], rows),
  );
}

// -- blocks and transactions -------------------------------------------------------------------

async function renderBlocks(before) {
  const query = before && /^\d+$/.test(before) ? `&before=${before}` : "";
  const data = await api(`/v1/portal/blocks?limit=20${query}`);
  const orgs = ctx.about.organizations;
  const rows = data.blocks.map((b) => [
    h("a", { href: `#/block/${b.height}` }, `#${b.height}`),
    formatTime(b.time_ms),
    String(b.num_txs),
    orgLabel(b.proposer_org, orgs),
    h("span", { class: "mono", title: b.hash }, short(b.hash, 20)),
  ]);
  const lowest = data.blocks.length ? data.blocks[data.blocks.length - 1].height : 0;
  const nav = h(
    "p",
    { class: "pager" },
    before ? h("a", { href: "#/blocks" }, "← Newest blocks") : null,
    lowest > 1 ? h("a", { href: `#/blocks?before=${lowest}` }, "Older blocks →") : null,
  );
  return [
    h("h1", { tabindex: "-1" }, "Blocks"),
    h("p", { class: "lead" }, `The ledger is at height ${data.last_height}. Newest blocks first.`),
    h("section", { class: "card", id: "blocks" }, rows.length ? table(["Height", "Time", "Transactions", "Proposer", "Block hash"], rows) : h("p", {}, "No blocks yet.")),
    nav,
  ];
}

async function renderBlock(height) {
  const block = await api(`/v1/blocks/${height}`);
  const header = block.header;
  const rows = block.txs.map((t, i) => [
    String(i),
    t.tx_id ? h("a", { href: `#/tx/${t.tx_id}`, class: "mono" }, t.tx_id) : "undecodable",
    resultBadge(t.code, t.error),
  ]);
  const h0 = Number(height);
  return [
    h("h1", { tabindex: "-1" }, `Block #${block.height}`),
    h(
      "section",
      { class: "card" },
      facts([
        ["Block hash", hashText(block.hash)],
        ["Time", formatTime(header.time_ms)],
        ["Proposer", mono(String(header.proposer_address || header.proposer || "—"), "mono addr")],
        ["App hash after it", header.app_hash ? hashText(header.app_hash) : null],
        ["Evidence log size", header.log_size !== undefined ? String(header.log_size) : null],
      ]),
      h("p", { class: "pager" }, h0 > 1 ? h("a", { href: `#/block/${h0 - 1}` }, "← Previous block") : null, h("a", { href: `#/block/${h0 + 1}` }, "Next block →")),
    ),
    h("section", { class: "card" }, h("h2", {}, `${rows.length} transaction${rows.length === 1 ? "" : "s"}`), rows.length ? table(["#", "Transaction", "Result"], rows) : null),
  ];
}

function resultBadge(code, error) {
  return code === 0 ? h("span", { class: "badge good" }, "committed") : h("span", { class: "badge bad", title: error }, `failed: ${error || code}`);
}

async function renderTxs() {
  const data = await api("/v1/portal/txs?limit=30");
  const orgs = ctx.about.organizations;
  const rows = data.txs.map((t) => [
    formatTime(t.time_ms),
    h("a", { href: `#/block/${t.height}` }, `#${t.height}`),
    t.tx_id ? h("a", { href: `#/tx/${t.tx_id}` }, t.contract ? `${t.contract}.${t.method}` : "undecodable") : "undecodable",
    t.subject && t.contract === "notary" ? h("a", { href: `#/record/${t.subject}`, class: "mono" }, short(t.subject, 12)) : t.subject ? mono(short(t.subject, 12)) : "—",
    t.sender ? accountLabel(t.sender, data.accounts, orgs) : "—",
    resultBadge(t.code, t.error),
  ]);
  return [
    h("h1", { tabindex: "-1" }, "Transactions"),
    h("p", { class: "lead" }, "The latest transactions, newest first."),
    h("section", { class: "card", id: "txs" }, rows.length ? table(["Time", "Block", "Operation", "Subject", "Sender", "Result"], rows) : h("p", {}, "No transactions yet.")),
  ];
}

async function renderTx(txId) {
  const t = await api(`/v1/txs/${txId}`);
  const body = (t.tx && t.tx.body) || {};
  const args = Object.entries(body.args || {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v, null, 1)]);
  const signers = ((t.tx && t.tx.signatures) || []).map((s, i) => [String(i + 1), i === 0 ? "sender" : "co-signer", mono(s.public_key, "mono addr")]);
  return [
    h("h1", { tabindex: "-1" }, "Transaction"),
    h(
      "section",
      { class: "card" },
      facts([
        ["Transaction id", hashText(t.tx_id)],
        ["Operation", `${body.contract}.${body.method}`],
        ["Block", h("a", { href: `#/block/${t.height}` }, `#${t.height}`)],
        ["Position in block", String(t.index)],
        ["Result", resultBadge(t.code, t.error)],
        ["Message", t.log || null],
        ["Chain", body.chain_id],
        ["Valid until height", body.expiry_height !== undefined ? String(body.expiry_height) : null],
      ]),
    ),
    h("section", { class: "card" }, h("h2", {}, "Arguments"), args.length ? facts(args.map(([k, v]) => [k, h("span", { class: "mono break" }, v)])) : h("p", {}, "None.")),
    h("section", { class: "card" }, h("h2", {}, "Signatures"), table(["#", "Role", "Public key"], signers)),
    h("section", { class: "card" }, h("h2", {}, "Events"), h("pre", { class: "json" }, JSON.stringify(t.events, null, 2))),
  ];
}

start();
