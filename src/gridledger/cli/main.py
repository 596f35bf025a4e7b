"""The ``gridledger`` command.

Every failure prints one readable line to stderr and exits non-zero (1 for a refused operation
or invalid evidence, 2 for bad usage). Progress goes to stderr; results go to stdout.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gridledger import __version__, codec, merkle
from gridledger.cli.audit import add_audit_commands
from gridledger.cli.endorse import add_endorse_commands
from gridledger.cli.gov import add_gov_commands
from gridledger.cli.market import add_market_commands
from gridledger.cli.net import add_net_commands
from gridledger.client import DEFAULT_URL, Client, file_digest
from gridledger.crypto import PrivateKey
from gridledger.errors import GridledgerError, InvalidProof
from gridledger.keys import generate_key, read_key_file, write_key_file

NOTARIZE_CHUNK = 250


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result: int = args.func(args)
        return result
    except GridledgerError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gridledger",
        description="gridledger: a consortium blockchain for the electric power industry.",
    )
    p.add_argument("--version", action="version", version=f"gridledger {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("init", help="create a node home: keys, genesis, config")
    s.add_argument("--home", type=Path, required=True)
    s.add_argument("--chain-id", default="gridledger-local")
    s.add_argument("--orgs", default="gridco,notary,judicial,exchange")
    s.add_argument("--port", type=int, default=8700)
    s.set_defaults(func=cmd_init)

    node = sub.add_parser("node", help="run a node").add_subparsers(dest="node_cmd", required=True)
    s = node.add_parser("start", help="start the embedded node and its API")
    s.add_argument("--home", type=Path, required=True)
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("-v", "--verbose", action="store_true")
    s.set_defaults(func=cmd_node_start)

    keys = sub.add_parser("keys", help="manage keys").add_subparsers(dest="keys_cmd", required=True)
    s = keys.add_parser("new", help="create a new Ed25519 key file (mode 0600)")
    s.add_argument("-o", "--output", type=Path, required=True)
    s.set_defaults(func=cmd_keys_new)
    s = keys.add_parser("show", help="print a key file's address and public key")
    s.add_argument("file", type=Path)
    s.set_defaults(func=cmd_keys_show)

    _add_evidence_commands(sub)
    _add_node_commands(sub)
    add_net_commands(sub)
    add_gov_commands(sub)
    add_endorse_commands(sub)
    add_audit_commands(sub)
    add_market_commands(sub)
    return p


def _add_evidence_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("notarize", help="record files' SHA-256 digests on the ledger")
    s.add_argument("files", nargs="+", type=Path)
    s.add_argument("--batch", action="store_true", help="one transaction for all files")
    _key_args(s)
    s.add_argument(
        "--cosign",
        type=Path,
        action="append",
        default=[],
        help="key file of another party who co-signs (repeatable)",
    )
    s.add_argument(
        "--endorsers", default="", help="organizations that must endorse, e.g. notary,judicial"
    )
    s.add_argument("--title", default=None)
    s.add_argument("--type", dest="record_type", default="business_record")
    s.set_defaults(func=cmd_notarize)

    s = sub.add_parser("endorse", help="endorse a record for an organization")
    s.add_argument("digest")
    s.add_argument("--org", required=True)
    s.add_argument("--note", default="")
    _key_args(s)
    s.set_defaults(func=cmd_endorse)

    s = sub.add_parser("certificate", help="fetch the evidence certificate of a file or digest")
    s.add_argument("target", help="a SHA-256 digest (64 hex) or a file to hash")
    s.add_argument("-o", "--output", type=Path, default=None)
    s.add_argument("--node", default=os.environ.get("GRIDLEDGER_NODE", DEFAULT_URL))
    s.set_defaults(func=cmd_certificate)

    s = sub.add_parser("verify", help="verify a file against a certificate, offline")
    s.add_argument("file", type=Path)
    s.add_argument("cert", type=Path)
    s.add_argument("--trust-key", action="append", default=[], help="pin a node public key (hex)")
    s.add_argument(
        "--genesis",
        type=Path,
        default=None,
        help="pin the validators of a genesis file (gridledger's or CometBFT's genesis.json)",
    )
    s.add_argument(
        "--trust-validators-hash",
        action="append",
        default=[],
        help="pin a CometBFT validator-set hash (hex), e.g. the genesis set's",
    )
    s.set_defaults(func=cmd_verify)


def _add_node_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("status", help="show a node's chain, height and log checkpoint")
    s.add_argument("--node", default=os.environ.get("GRIDLEDGER_NODE", DEFAULT_URL))
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("demo", help="init (once), start a node, load demo records, serve")
    s.add_argument("--home", type=Path, default=Path(".gridledger/demo"))
    s.add_argument("--port", type=int, default=8700)
    s.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="benchmarks (print figures)").add_subparsers(
        dest="bench_cmd", required=True
    )
    s = bench.add_parser("notarize", help="notarizations/s, batch documents/s, verifications/s")
    s.add_argument("--txs", type=int, default=20_000)
    s.add_argument("--docs", type=int, default=1_000_000)
    s.add_argument("--certs", type=int, default=5_000)
    s.add_argument("--http", action="store_true", help="also measure through the REST API")
    s.set_defaults(func=cmd_bench_notarize)
    s = bench.add_parser(
        "net", help="4-validator network: tx/s and commit latency, beside CometBFT's kvstore"
    )
    s.add_argument("--txs", type=int, default=20_000)
    s.add_argument("--in-flight", type=int, default=16, help="requests in flight")
    s.add_argument("--window", type=int, default=1_000, help="transactions sent, not yet committed")
    s.add_argument("--keep", action="store_true", help="keep the networks' directories")
    s.set_defaults(func=cmd_bench_net)
    s = bench.add_parser("market", help="clearing one interval's orders, alone and on the ledger")
    s.add_argument("--orders", type=int, default=100_000)
    s.add_argument("--repeats", type=int, default=5)
    s.add_argument("--no-ledger", action="store_true", help="only time compute_clearing")
    s.set_defaults(func=cmd_bench_market)
    s = bench.add_parser("readings", help="4-validator network: meter readings/s, both signings")
    s.add_argument("--readings", type=int, default=150_000, help="meter-signed readings")
    s.add_argument("--head-end-readings", type=int, default=900_000, help="head-end readings")
    s.add_argument("--batch-size", type=int, default=1_000, help="readings per transaction")
    s.add_argument("--meters", type=int, default=1_000)
    s.add_argument(
        "--window", type=int, default=30_000, help="meter-signed readings sent, not yet committed"
    )
    s.add_argument(
        "--head-end-window", type=int, default=90_000, help="head-end readings not yet committed"
    )
    s.add_argument("--in-flight", type=int, default=8)
    s.add_argument("--keep", action="store_true", help="keep the network's directory")
    s.set_defaults(func=cmd_bench_readings)


def _key_args(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--key",
        type=Path,
        default=os.environ.get("GRIDLEDGER_KEY"),
        help="signing key file (default: $GRIDLEDGER_KEY)",
    )
    s.add_argument(
        "--node",
        default=os.environ.get("GRIDLEDGER_NODE", DEFAULT_URL),
        help=f"node API URL (default: $GRIDLEDGER_NODE or {DEFAULT_URL})",
    )


def _require_key(path: Path | None) -> PrivateKey:
    if path is None:
        raise GridledgerError("no signing key: pass --key FILE or set GRIDLEDGER_KEY")
    return read_key_file(Path(path))


# -- commands ----------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from gridledger.node.home import init_home

    orgs = tuple(o.strip() for o in args.orgs.split(",") if o.strip())
    home = init_home(args.home, chain_id=args.chain_id, orgs=orgs, port=args.port)
    print(f"initialized {home.path} for chain {args.chain_id} with organizations {', '.join(orgs)}")
    print(f"start the node with: gridledger node start --home {home.path}")
    return 0


def cmd_node_start(args: argparse.Namespace) -> int:
    from gridledger.node.server import serve

    serve(args.home, host=args.host, port=args.port)
    return 0


def cmd_keys_new(args: argparse.Namespace) -> int:
    key = generate_key()
    write_key_file(args.output, key)
    print(f"{key.address}  {args.output}")
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    key = read_key_file(args.file)
    print(json.dumps({"address": key.address, "alg": key.alg, "public_key": key.public_key.hex()}))
    return 0


def cmd_notarize(args: argparse.Namespace) -> int:
    signer = _require_key(args.key)
    signers = [signer, *(read_key_file(p) for p in args.cosign)]
    endorsers = [e.strip() for e in args.endorsers.split(",") if e.strip()]
    for f in args.files:
        if not f.is_file():
            raise GridledgerError(f"{f} is not a readable file")
    with Client(args.node) as client:
        progress = Progress("hashing", len(args.files))
        digests = []
        for f in args.files:
            digests.append(file_digest(f))
            progress.advance()
        progress.done()
        common = {
            "record_type": args.record_type,
            "parties": [s.address for s in signers],
            "endorsers": endorsers,
        }
        if args.batch:
            return _notarize_batch(client, args, signers, digests, common)
        return _notarize_each(client, args, signers, digests, common)


def _notarize_each(
    client: Client,
    args: argparse.Namespace,
    signers: list[PrivateKey],
    digests: list[str],
    common: dict[str, object],
) -> int:
    height = int(client.status()["height"])
    failures = 0
    progress = Progress("notarizing", len(digests))
    for start in range(0, len(digests), NOTARIZE_CHUNK):
        chunk = list(
            zip(
                args.files[start : start + NOTARIZE_CHUNK],
                digests[start : start + NOTARIZE_CHUNK],
                strict=True,
            )
        )
        txs = [
            client.build_tx(
                "notary",
                "record",
                {**common, "digest": d, "title": args.title or f.name[:200]},
                signers,
                height=height,
            )
            for f, d in chunk
        ]
        for (f, d), result in zip(chunk, client.submit_many(txs), strict=True):
            if result.get("status") == "committed":
                print(f"{d}  {f}  height {result['height']}")
            else:
                failures += 1
                message = result.get("error", {}).get("message") or result.get("log") or result
                print(f"error: {f}: {message}", file=sys.stderr)
            progress.advance()
    progress.done()
    return 1 if failures else 0


def _notarize_batch(
    client: Client,
    args: argparse.Namespace,
    signers: list[PrivateKey],
    digests: list[str],
    common: dict[str, object],
) -> int:
    root = merkle.root([bytes.fromhex(d) for d in digests]).hex()
    title = args.title or f"batch of {len(digests)} documents"
    tx = client.build_tx(
        "notary",
        "record_batch",
        {**common, "root": root, "count": len(digests), "title": title[:200]},
        signers,
    )
    result = client.submit(tx)
    if result.get("status") != "committed":
        raise GridledgerError(f"batch not committed: {result}")
    client.put_manifest(root, digests)
    print(f"batch root {root}: {len(digests)} documents recorded at height {result['height']}")
    return 0


def cmd_endorse(args: argparse.Namespace) -> int:
    signer = _require_key(args.key)
    with Client(args.node) as client:
        tx = client.build_tx(
            "notary",
            "endorse",
            {"digest": args.digest, "org": args.org, "note": args.note},
            [signer],
        )
        result = client.submit(tx)
    print(f"endorsed {args.digest} for {args.org} at height {result['height']}")
    return 0


def cmd_certificate(args: argparse.Namespace) -> int:
    target = str(args.target)
    digest = target if _is_digest(target) else file_digest(Path(target))
    with Client(args.node) as client:
        cert = client.certificate(digest)
    text = json.dumps(cert, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"certificate for {digest} written to {args.output}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from gridledger.evidence.verify import verify_certificate

    try:
        cert = codec.decode(args.cert.read_bytes(), canonical=False)
    except OSError as exc:
        raise GridledgerError(f"cannot read certificate {args.cert}: {exc.strerror}") from exc
    except GridledgerError as exc:
        print(f"INVALID: {args.cert} is not a certificate: {exc.message}", file=sys.stderr)
        return 1
    if not args.file.is_file():
        raise GridledgerError(f"{args.file} is not a readable file")
    chain_id = cert.get("chain_id") if isinstance(cert, dict) else None
    trusted, trusted_sets = _trusted_anchors(args, chain_id)
    try:
        evidence = verify_certificate(
            cert,
            bytes.fromhex(file_digest(args.file)),
            trusted_node_keys=trusted,
            trusted_validators_hashes=trusted_sets,
        )
    except InvalidProof as exc:
        print(f"INVALID: {exc.message}", file=sys.stderr)
        return 1
    pin = (
        ""
        if trusted is not None
        else " — NOT PINNED: the signers come from the certificate itself; pass --genesis, "
        "--trust-validators-hash or --trust-key to check them against the network you trust"
    )
    print(f"{evidence.summary()}{pin}")
    return 0


def _trusted_anchors(
    args: argparse.Namespace, chain_id: object
) -> tuple[set[bytes] | None, set[bytes] | None]:
    """What the user pins: embedded-node keys (--trust-key, or a gridledger genesis's
    validators) and CometBFT validator-set hashes (--trust-validators-hash, or any genesis's
    validator set). (None, None) when nothing is pinned."""
    from gridledger.cometbft.lightclient import genesis_validators_hash

    keys: set[bytes] = set()
    sets: set[bytes] = set()
    for hexkey in args.trust_key:
        keys.add(_pinned_hex(hexkey, "--trust-key"))
    for hexhash in args.trust_validators_hash:
        sets.add(_pinned_hex(hexhash, "--trust-validators-hash"))
    if args.genesis is not None:
        doc = _read_genesis(args.genesis)
        if doc.get("chain_id") != chain_id:
            raise GridledgerError(
                f"certificate is for chain {chain_id!r}, the genesis for {doc.get('chain_id')!r}"
            )
        if "app_state" in doc:  # CometBFT's genesis.json: validators as CometBFT lists them
            sets.add(genesis_validators_hash(doc))
        else:  # gridledger's genesis: the embedded node's key, or the consortium's validators
            validators = [_validator_key_and_power(v, args.genesis) for v in doc["validators"]]
            keys.update(public_key for public_key, _ in validators)
            if validators:
                sets.add(genesis_validators_hash({"validators": _cometbft_form(validators)}))
    if not (args.trust_key or args.trust_validators_hash or args.genesis):
        return None, None
    return keys, sets


def _pinned_hex(value: str, option: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise GridledgerError(f"{option} {value!r} is not hex") from exc


def _read_genesis(path: Path) -> dict[str, Any]:
    try:
        doc = codec.decode(path.read_bytes(), canonical=False)
    except OSError as exc:
        raise GridledgerError(f"cannot read genesis {path}: {exc.strerror}") from exc
    except GridledgerError as exc:
        raise GridledgerError(f"{path} is not a genesis file: {exc.message}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("validators"), list):
        raise GridledgerError(f"{path} is not a genesis file: it lists no validators")
    return doc


def _validator_key_and_power(v: Any, path: Path) -> tuple[bytes, int]:
    try:
        return bytes.fromhex(str(v["public_key"])), int(v.get("power", 10))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GridledgerError(f"{path}: each validator needs a hex public_key") from exc


def _cometbft_form(validators: list[tuple[bytes, int]]) -> list[dict[str, Any]]:
    """Our genesis validators as CometBFT's genesis.json writes them."""
    return [
        {
            "address": hashlib.sha256(public_key).digest()[:20].hex().upper(),
            "pub_key": {
                "type": "tendermint/PubKeyEd25519",
                "value": base64.b64encode(public_key).decode("ascii"),
            },
            "power": str(power),
        }
        for public_key, power in validators
    ]


def cmd_status(args: argparse.Namespace) -> int:
    with Client(args.node) as client:
        print(json.dumps(client.status(), indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from gridledger.node.demo import run_demo

    run_demo(args.home, port=args.port)
    return 0


def cmd_bench_net(args: argparse.Namespace) -> int:
    from gridledger.bench.network import run

    run(txs=args.txs, in_flight=args.in_flight, window=args.window, keep=args.keep)
    return 0


def cmd_bench_market(args: argparse.Namespace) -> int:
    from gridledger.bench.market import run

    run(orders=args.orders, repeats=args.repeats, ledger=not args.no_ledger)
    return 0


def cmd_bench_readings(args: argparse.Namespace) -> int:
    from gridledger.bench.readings import run

    run(
        readings=args.readings,
        head_end_readings=args.head_end_readings,
        batch_size=args.batch_size,
        meters=args.meters,
        in_flight=args.in_flight,
        window=args.window,
        head_end_window=args.head_end_window,
        keep=args.keep,
    )
    return 0


def cmd_bench_notarize(args: argparse.Namespace) -> int:
    from gridledger.bench.notarize import run

    run(txs=args.txs, docs=args.docs, certs=args.certs, http=args.http)
    return 0


def _is_digest(text: str) -> bool:
    return (
        len(text) == 64 and all(c in "0123456789abcdef" for c in text) and not Path(text).exists()
    )


class Progress:
    """A one-line progress bar on stderr (only when stderr is a terminal or there is much to do)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.count = label, total, 0
        self.enabled = total >= 20
        self._last_drawn = -1

    def advance(self, n: int = 1) -> None:
        self.count += n
        percent = self.count * 100 // max(self.total, 1)
        tty = sys.stderr.isatty()
        if not self.enabled or percent == self._last_drawn or (not tty and percent % 25):
            return
        self._last_drawn = percent
        bar = "#" * (percent * 30 // 100) + "." * (30 - percent * 30 // 100)
        sys.stderr.write(
            f"\r{self.label} [{bar}] {self.count}/{self.total}" + ("" if tty else "\n")
        )
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and sys.stderr.isatty():
            sys.stderr.write("\n")
            sys.stderr.flush()


if __name__ == "__main__":
    raise SystemExit(main())
