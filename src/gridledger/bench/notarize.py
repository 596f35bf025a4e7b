"""``gridledger bench notarize``: throughput of evidence preservation on this machine.

1. signed notarizations/s through the embedded node (CheckTx with signature checks, block
   production, SQLite commit with fsync), transactions signed beforehand as clients would;
2. documents/s in batch mode: SHA-256 of each document, the RFC 9162 root, one record_batch
   transaction committed, and the manifest stored;
3. offline certificate verifications/s (each certificate: 2 party signatures, 2 endorsements,
   the block signature, 3 inclusion proofs), on one core and on every core.

Optionally (--http) the same notarizations through the REST API of a node in another process.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gridledger import codec, merkle
from gridledger.client import Client
from gridledger.crypto import ED25519, PrivateKey, verify_signature
from gridledger.evidence.certificate import build_certificate
from gridledger.evidence.verify import verify_certificate
from gridledger.keys import generate_key, read_key_file
from gridledger.ledger.tx import Transaction, TxBody, sign_transaction
from gridledger.node.home import Home, init_home
from gridledger.node.service import EmbeddedNode

CHAIN_ID = "gridledger-bench"
SUBMITTERS = 1  # more threads in one process only contend for the GIL (measured: slower)


def run(*, txs: int, docs: int, certs: int, http: bool) -> None:
    print(f"gridledger bench notarize — {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="gridledger-bench-") as tmp:
        home = init_home(Path(tmp) / "home", chain_id=CHAIN_ID)
        node = EmbeddedNode(home.path)
        node.start()
        try:
            bench_notarizations(node, home, txs)
            bench_batch(node, home, docs)
            bench_verification(node, home, certs)
        finally:
            node.stop()
        if http:
            bench_http(Path(tmp), txs)


def _record_txs(
    home: Home, n: int, *, start_height: int, endorsers: list[str], cosigned: bool = True
) -> list[Transaction]:
    """Records signed by the grid company, and (``cosigned``) by a customer as second party."""
    gridco = read_key_file(home.key_file("gridco", "admin"))
    customer = generate_key()
    signers = [gridco, customer] if cosigned else [gridco]
    out = []
    for i in range(n):
        digest = hashlib.sha256(f"bench document {i} {customer.address}".encode()).hexdigest()
        args = {
            "digest": digest,
            "title": f"Contract {i}" if cosigned else f"Business record {i}",
            "record_type": "contract" if cosigned else "business_record",
            "parties": [s.address for s in signers],
            "endorsers": endorsers,
        }
        out.append(_tx("notary", "record", args, signers, start_height, i))
    return out


def _tx(
    contract: str, method: str, args: dict[str, Any], signers: list[PrivateKey], height: int, i: int
) -> Transaction:
    body = TxBody(
        chain_id=CHAIN_ID,
        expiry_height=height + 5_000,
        nonce=f"n{i}",
        contract=contract,
        method=method,
        args=args,
    )
    return sign_transaction(body, signers)


def _submit_all(node: EmbeddedNode, raws: list[bytes]) -> float:
    """Submit everything, return seconds until the last one is committed."""
    remaining = len(raws)
    done = threading.Event()
    lock = threading.Lock()

    def on_commit(_: object) -> None:
        nonlocal remaining
        with lock:
            remaining -= 1
            if remaining == 0:
                done.set()

    def feed(part: list[bytes]) -> None:
        for raw in part:
            result = node.solo.submit(raw, on_commit)
            if not result.ok:
                raise SystemExit(f"bench transaction refused: {result.log}")

    start = time.perf_counter()
    feeders = [
        threading.Thread(target=feed, args=(raws[k::SUBMITTERS],)) for k in range(SUBMITTERS)
    ]
    for t in feeders:
        t.start()
    for t in feeders:
        t.join()
    done.wait(600)
    return time.perf_counter() - start


def bench_notarizations(node: EmbeddedNode, home: Home, n: int) -> None:
    for cosigned, label in ((False, "signed by 1 party"), (True, "co-signed by 2 parties")):
        t0 = time.perf_counter()
        height = node.app.info().last_height
        txs = _record_txs(home, n, start_height=height, endorsers=[], cosigned=cosigned)
        signing = time.perf_counter() - t0
        elapsed = _submit_all(node, [tx.raw for tx in txs])
        blocks = node.app.info().last_height - height
        print(
            f"notarize (embedded node), records {label}: {n} in {elapsed:.2f} s = "
            f"{n / elapsed:,.0f} tx/s (target >= 2,000); {blocks} blocks; "
            f"client-side signing {n / signing:,.0f} tx/s"
        )


def bench_batch(node: EmbeddedNode, home: Home, n: int) -> None:
    documents = [f"metering export {i:09d};".encode() * 32 for i in range(n)]  # ~1 KiB each
    gridco = read_key_file(home.key_file("gridco", "admin"))
    start = time.perf_counter()
    digests = [hashlib.sha256(d).digest() for d in documents]
    hashed = time.perf_counter()
    root = merkle.root(digests).hex()
    rooted = time.perf_counter()
    args = {
        "root": root,
        "count": n,
        "title": "bench batch",
        "record_type": "metering_export",
        "parties": [gridco.address],
    }
    tx = _tx("notary", "record_batch", args, [gridco], node.app.info().last_height, 0)
    _submit_all(node, [tx.raw])
    committed = time.perf_counter()
    node.store.put_batch_manifest(root, [d.hex() for d in digests])
    end = time.perf_counter()
    total = end - start
    print(
        f"batch mode: {n:,} documents (1 KiB) in {total:.2f} s = {n / total:,.0f} docs/s "
        f"(target >= 100,000); hash {hashed - start:.2f} s, root {rooted - hashed:.2f} s, "
        f"commit {committed - rooted:.3f} s, manifest {end - committed:.2f} s"
    )


def bench_verification(node: EmbeddedNode, home: Home, n: int) -> None:
    distinct = min(n, 200)
    height = node.app.info().last_height
    records = _record_txs(home, distinct, start_height=height, endorsers=["notary", "judicial"])
    _submit_all(node, [tx.raw for tx in records])
    raws = []
    for org in ("notary", "judicial"):
        key = read_key_file(home.key_file(org, "endorser"))
        for i, tx in enumerate(records):
            args = {"digest": tx.body.args["digest"], "org": org}
            raws.append(_tx("notary", "endorse", args, [key], height, i).raw)
    _submit_all(node, raws)
    digests = [str(tx.body.args["digest"]) for tx in records]
    certs = [build_certificate(node.store, d) for d in digests]
    jobs = [
        (codec.encode(certs[i % distinct]), bytes.fromhex(digests[i % distinct])) for i in range(n)
    ]
    # Each figure comes from a fresh verifier process, as `gridledger verify` runs: the large
    # heap this process built for the earlier benchmarks would slow its garbage collector.
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(1) as pool:
        one, signatures = pool.apply(_verify_and_time_signatures, (jobs,))
    print(
        f"offline certificate verification: {n} in {one:.2f} s = {n / one:,.0f}/s on 1 core "
        f"(target >= 2,000); of which the 5 Ed25519 checks per certificate take "
        f"{signatures:.2f} s ({signatures / one:.0%})"
    )
    workers = os.cpu_count() or 1
    if workers > 1:
        chunks = [jobs[i::workers] for i in range(workers)]
        start = time.perf_counter()
        with spawn.Pool(workers) as pool:
            busy = max(pool.map(_verify_jobs, chunks))
        elapsed = time.perf_counter() - start
        print(
            f"offline certificate verification: {n / busy:,.0f}/s on {workers} cores "
            f"({n / elapsed:,.0f}/s including process start-up)"
        )


def _verify_and_time_signatures(jobs: list[tuple[bytes, bytes]]) -> tuple[float, float]:
    return _verify_jobs(jobs), _signature_time(5 * len(jobs))


def _signature_time(count: int) -> float:
    """Seconds for ``count`` Ed25519 verifications of a 600-byte message, alone."""
    key = PrivateKey.from_seed(bytes(range(32)))
    public_key = key.public_key  # outside the timed loop: only the checks are timed
    message = bytes(600)
    signature = key.sign(message)
    start = time.perf_counter()
    for _ in range(count):
        verify_signature(ED25519, public_key, message, signature)
    return time.perf_counter() - start


def _verify_jobs(jobs: list[tuple[bytes, bytes]]) -> float:
    start = time.perf_counter()
    for cert, digest in jobs:
        verify_certificate(codec.decode(cert, canonical=False), digest)
    return time.perf_counter() - start


def bench_http(tmp: Path, n: int) -> None:
    home = init_home(tmp / "http-home", chain_id=CHAIN_ID, port=_free_port())
    url = f"http://127.0.0.1:{home.read_config()['api']['port']}"
    exe = shutil.which("gridledger") or str(Path(sys.executable).with_name("gridledger"))
    proc = subprocess.Popen(  # noqa: S603 - our own console script
        [exe, "node", "start", "--home", str(home.path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client(url) as client:
            _wait_ready(client)
            txs = _record_txs(home, n, start_height=0, endorsers=[])
            chunks = [txs[i : i + 500] for i in range(0, n, 500)]
            start = time.perf_counter()
            threads = [
                threading.Thread(target=_post_chunks, args=(url, chunks[k::4])) for k in range(4)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
        print(f"notarize (REST API, batches of 500, 4 client threads): {n / elapsed:,.0f} tx/s")
    finally:
        proc.terminate()
        proc.wait(30)


def _post_chunks(url: str, chunks: list[list[Transaction]]) -> None:
    with Client(url) as client:
        for chunk in chunks:
            client.submit_many(chunk, wait=True)


def _wait_ready(client: Any) -> None:
    for _ in range(200):
        try:
            client.status()
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit("node did not start")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
