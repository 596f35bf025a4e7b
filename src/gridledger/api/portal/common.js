// gridledger portal: what both the portal and the printable certificate use.
// Plain ES module, no dependencies. Values from the ledger are only ever put into the page as
// text (textContent), never as HTML.

// -- DOM ---------------------------------------------------------------------------------------

// h("p", {class: "x", onclick: fn}, "text", child, [more]) -> element
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// A definition list from [label, value] pairs; pairs whose value is null are left out.
export function facts(pairs, cls = "facts") {
  const dl = h("dl", { class: cls });
  for (const [label, value] of pairs) {
    if (value === null || value === undefined) continue;
    dl.append(h("div", {}, h("dt", {}, label), h("dd", {}, value)));
  }
  return dl;
}

export function table(headers, rows, caption) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
    ),
  );
}

export function mono(text, cls = "mono") {
  return h("span", { class: cls }, text);
}

// A hash shown whole, in groups of 8 so a person can compare it by eye (copying gives it whole).
export function hashText(value) {
  if (typeof value !== "string") return "—";
  const groups = value.match(/.{1,8}/g) || [value];
  return h("span", { class: "mono hash", title: value }, groups.join("\u200b"));
}

export function plural(n, one, many) {
  return `${Number(n).toLocaleString("en")} ${n === 1 ? one : many}`;
}

export function short(value, n = 12) {
  if (typeof value !== "string") return "—";
  return value.length > n + 2 ? `${value.slice(0, n)}…` : value;
}

// -- API ---------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function apiText(path) {
  let response;
  try {
    response = await fetch(path, { headers: { accept: "application/json" } });
  } catch (err) {
    throw new ApiError(0, "unreachable", `the node did not answer (${err.message})`);
  }
  const text = await response.text();
  if (!response.ok) {
    let code = "http_error";
    let message = `HTTP ${response.status}`;
    try {
      const body = JSON.parse(text);
      code = body.error.code;
      message = body.error.message;
    } catch (_) {
      /* not our JSON error body: keep the status line */
    }
    throw new ApiError(response.status, code, message);
  }
  return text;
}

export async function api(path) {
  return JSON.parse(await apiText(path));
}

// -- hashing -----------------------------------------------------------------------------------

const WEBCRYPTO_MAX_BYTES = 512 * 1024 * 1024; // larger files are hashed in slices below
const SLICE_BYTES = 8 * 1024 * 1024;

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// SHA-256 of a File or Blob, as lowercase hex. WebCrypto where the browser offers it (pages
// served from localhost or https); otherwise, and for very large files, the incremental
// implementation below, reading the file slice by slice. Nothing is sent anywhere.
export async function sha256File(file, onProgress) {
  if (globalThis.crypto && crypto.subtle && file.size <= WEBCRYPTO_MAX_BYTES) {
    const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
    return { hex: toHex(new Uint8Array(digest)), method: "WebCrypto" };
  }
  const hasher = new Sha256();
  for (let offset = 0; offset < file.size; offset += SLICE_BYTES) {
    const slice = file.slice(offset, offset + SLICE_BYTES);
    hasher.update(new Uint8Array(await slice.arrayBuffer()));
    if (onProgress) onProgress(Math.min(1, (offset + SLICE_BYTES) / file.size));
  }
  return { hex: toHex(hasher.digest()), method: "built-in SHA-256" };
}

// FIPS 180-4 SHA-256, incremental: for browsers without WebCrypto on plain-http pages.
const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

const rotr = (x, n) => (x >>> n) | (x << (32 - n));

export class Sha256 {
  constructor() {
    this.state = new Uint32Array([
      0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    ]);
    this.pending = new Uint8Array(64);
    this.pendingLength = 0;
    this.length = 0; // bytes hashed so far
    this.w = new Uint32Array(64);
  }

  update(data) {
    let i = 0;
    this.length += data.length;
    if (this.pendingLength > 0) {
      const take = Math.min(64 - this.pendingLength, data.length);
      this.pending.set(data.subarray(0, take), this.pendingLength);
      this.pendingLength += take;
      i = take;
      if (this.pendingLength === 64) {
        this.compress(this.pending, 0);
        this.pendingLength = 0;
      }
    }
    for (; i + 64 <= data.length; i += 64) this.compress(data, i);
    if (i < data.length) {
      this.pending.set(data.subarray(i), 0);
      this.pendingLength = data.length - i;
    }
    return this;
  }

  compress(d, o) {
    const w = this.w;
    for (let t = 0; t < 16; t++) {
      const j = o + 4 * t;
      w[t] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15];
      const y = w[t - 2];
      const s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
      const s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    const s = this.state;
    let [a, b, c, d4, e, f, g, k] = s;
    for (let t = 0; t < 64; t++) {
      const t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      k = g;
      g = f;
      f = e;
      e = (d4 + t1) | 0;
      d4 = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    s[0] += a;
    s[1] += b;
    s[2] += c;
    s[3] += d4;
    s[4] += e;
    s[5] += f;
    s[6] += g;
    s[7] += k;
  }

  digest() {
    const bits = this.length * 8;
    const padLength = (this.pendingLength < 56 ? 56 : 120) - this.pendingLength + 8;
    const pad = new Uint8Array(padLength);
    pad[0] = 0x80;
    const view = new DataView(pad.buffer);
    view.setUint32(padLength - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(padLength - 4, bits >>> 0);
    this.update(pad);
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    this.state.forEach((word, i) => outView.setUint32(4 * i, word));
    return out;
  }
}

// -- encodings ---------------------------------------------------------------------------------

export function base64ToHex(value) {
  try {
    return toHex(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
  } catch (_) {
    return "";
  }
}

// Sorted-key JSON: enough to compare two decoded values for equality.
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export const DIGEST_RE = /^[0-9a-f]{64}$/;
export const ADDRESS_RE = /^gl[0-9a-f]{40}$/;

// -- times -------------------------------------------------------------------------------------

const pad2 = (n) => String(n).padStart(2, "0");

function isoParts(date, utc) {
  const get = (name) => (utc ? date[`getUTC${name}`]() : date[`get${name}`]());
  return (
    `${get("FullYear")}-${pad2(get("Month") + 1)}-${pad2(get("Date"))} ` +
    `${pad2(get("Hours"))}:${pad2(get("Minutes"))}:${pad2(get("Seconds"))}`
  );
}

// "2026-11-23 22:03:52 UTC", followed by the reader's local time when it is not UTC.
export function formatTime(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  const date = new Date(ms);
  const utc = `${isoParts(date, true)} UTC`;
  const offset = -date.getTimezoneOffset();
  if (offset === 0) return utc;
  const sign = offset > 0 ? "+" : "-";
  const zone = `UTC${sign}${pad2(Math.floor(Math.abs(offset) / 60))}:${pad2(Math.abs(offset) % 60)}`;
  return `${utc} (${isoParts(date, false)} ${zone})`;
}

// CometBFT's RFC 3339 times carry nanoseconds; Date wants at most milliseconds.
export function parseRfc3339(value) {
  if (typeof value !== "string") return NaN;
  return Date.parse(value.replace(/(\.\d{3})\d+/, "$1"));
}

// -- records -----------------------------------------------------------------------------------

// How each record status reads. Statuses this portal does not know yet are shown as they are,
// and never as verified.
export const STATUS = {
  endorsed: { label: "Endorsed", tone: "good", verified: true },
  recorded: { label: "Recorded", tone: "good", verified: true },
  pending: { label: "Awaiting endorsement", tone: "warn", verified: false },
  disputed: { label: "Disputed", tone: "warn", verified: false },
  refused: { label: "Endorsement refused", tone: "bad", verified: false },
  revoked: { label: "Revoked", tone: "bad", verified: false },
};

export function statusInfo(status) {
  return STATUS[status] || { label: String(status || "unknown"), tone: "warn", verified: false };
}

export function statusBadge(status) {
  const info = statusInfo(status);
  return h("span", { class: `badge ${info.tone}`, "data-status": status }, info.label);
}

// The history entry in which ``org`` declined the record, if it did.
export function findRefusal(record, org) {
  return (record.history || []).find((c) => c && c.action === "refuse" && c.org === org) || null;
}

export function orgLabel(id, organizations) {
  if (!id) return "—";
  const name = organizations && organizations[id];
  return name && name !== id ? `${name} (${id})` : id;
}

export function accountLabel(address, accounts, organizations) {
  const account = accounts && accounts[address];
  const who = account
    ? h("span", { class: "who" }, account.name || orgLabel(account.org, organizations))
    : null;
  return h("span", { class: "account" }, who, mono(address, "mono addr"));
}

// What a certificate says about the block it rests on, read without checking signatures (that
// is `gridledger verify`'s job): height, hash, time, who signed and with how much power.
export function certificateProof(cert, orgByKey) {
  const block = cert.block || {};
  if (block.type === "cometbft") {
    const header = block.signed_header.header;
    const commit = block.signed_header.commit;
    const genesisNames = {};
    for (const v of cert.trust_anchor.genesis_validators || []) {
      genesisNames[String(v.address).toUpperCase()] = v.name;
    }
    const validators = (block.validators || []).map((v) => {
      const key = base64ToHex(v.pub_key.value);
      const address = String(v.address).toUpperCase();
      return { address, key, power: Number(v.voting_power), org: orgByKey[key] || genesisNames[address] || null };
    });
    const total = validators.reduce((sum, v) => sum + v.power, 0);
    const signers = [];
    for (const sig of commit.signatures || []) {
      if (sig.block_id_flag !== 2) continue;
      const v = validators.find((x) => x.address === String(sig.validator_address).toUpperCase());
      if (v) signers.push({ ...v, time: sig.timestamp });
    }
    const signed = signers.reduce((sum, v) => sum + v.power, 0);
    return {
      kind: "cometbft",
      provenHeight: block.app_state.height,
      appHash: block.app_state.app_hash,
      logSize: block.app_state.log_size,
      logRoot: block.app_state.log_root,
      headerHeight: Number(header.height),
      headerHash: String(commit.block_id.hash).toLowerCase(),
      headerTime: parseRfc3339(header.time),
      validators,
      signers,
      signedPower: signed,
      totalPower: total,
      quorum: 3 * signed > 2 * total,
      transitions: (cert.trust_anchor.transitions || []).length,
    };
  }
  const header = block.header || {};
  return {
    kind: "solo",
    provenHeight: header.height,
    headerHeight: header.height,
    appHash: header.app_hash,
    logSize: header.log_size,
    logRoot: header.log_root,
    headerTime: header.time_ms,
    nodeKey: (cert.trust_anchor || {}).node_public_key,
  };
}

// The checks this page can make on the API's certificate without a verifier: it is about this
// digest, on this chain, and says what the ledger's record says. Returns a list of problems.
export function compareCertificate(cert, digest, record, chainId) {
  const problems = [];
  if (!cert || cert.format !== "gridledger/evidence-certificate/v1") {
    return ["the certificate is not in the gridledger/evidence-certificate/v1 format"];
  }
  if (!cert.document || cert.document.digest !== digest) {
    problems.push(`the certificate is for the digest ${short(cert.document && cert.document.digest, 16)}, not this file's`);
  }
  if (chainId && cert.chain_id !== chainId) {
    problems.push(`the certificate is for chain ${cert.chain_id}, this node serves ${chainId}`);
  }
  if (record && cert.record) {
    for (const key of Object.keys(cert.record)) {
      if (canonical(cert.record[key]) !== canonical(record[key])) {
        problems.push(`the certificate's record differs from the ledger's in "${key}"`);
      }
    }
  }
  const first = cert.entries && cert.entries[0] && cert.entries[0].entry;
  if (record && first && first.tx_id !== record.tx_id) {
    problems.push("the certificate's first log entry is not the recording transaction");
  }
  return problems;
}

export function downloadText(text, filename) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const link = h("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function certificateFileName(digest) {
  return `certificate-${digest.slice(0, 16)}.json`;
}

export function verifyCommand(fileName, certName, mode) {
  const name = fileName || "FILE";
  const file = /^[\w.@+/-]+$/.test(name) ? name : `'${name.replaceAll("'", "'\\''")}'`;
  const pin = mode === "cometbft" ? "--genesis genesis.json" : "--trust-key NODE_PUBLIC_KEY";
  return `gridledger verify ${file} ${certName} ${pin}`;
}
