"""``gridledger audit``: has a node's evidence log been rewritten, forked or edited by hand?

::

    gridledger audit --peer URL [--node URL | --db PATH] [--peer-key KEY] [--key KEY] [--json]
        compare the peer's signed checkpoints and log with our node's (over its API, or its
        store file); without --node/--db, the peer's log against its own checkpoints only
    gridledger audit --local --db PATH [--key KEY] [--json]
        replay the node's own store from genesis and compare it row by row (offline)

KEY pins a checkpoint key: 64 hex characters, or a JSON file with a ``public_key`` field (a node
key file, or a saved answer of ``GET /v1/checkpoints/key``). The first line printed is the verdict
(``consistent`` / ``FORK/REWRITE`` / ``INVALID``, or ``clean`` / ``TAMPERED``); each problem follows
on its own line. Exit code 0 when nothing is wrong, 1 otherwise, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gridledger.audit.checkpoint import decode_public_key
from gridledger.audit.local import audit_local
from gridledger.audit.peer import CONSISTENT, audit_peer
from gridledger.audit.source import HttpLogSource, LogSource, StoreLogSource
from gridledger.errors import DecodeError

USAGE_ERROR = 2


def add_audit_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "audit",
        help="check a node's log against a peer's (--peer) or its own store (--local)",
        description="Exit 0: consistent/clean; 1: fork, rewrite, edit or invalid signature.",
    )
    mode = s.add_mutually_exclusive_group(required=True)
    mode.add_argument("--peer", metavar="URL", help="the other node's API")
    mode.add_argument("--local", action="store_true", help="recompute --db offline")
    ours = s.add_mutually_exclusive_group()
    ours.add_argument("--node", metavar="URL", help="our node's API (with --peer)")
    ours.add_argument("--db", type=Path, help="our node's ledger.sqlite")
    s.add_argument("--peer-key", metavar="KEY", help="pin the peer's checkpoint key")
    s.add_argument("--key", metavar="KEY", help="pin our node's checkpoint key")
    s.add_argument("--timeout", type=float, default=30.0, help="per HTTP request, seconds")
    s.add_argument("--json", action="store_true", help="print the whole report as JSON")
    s.set_defaults(func=cmd_audit)


def cmd_audit(args: argparse.Namespace) -> int:
    if args.local:
        if args.db is None or args.node is not None or args.peer_key is not None:
            print(
                "error: audit --local needs --db PATH (and takes no --node/--peer-key)",
                file=sys.stderr,
            )
            return USAGE_ERROR
        return _local(args)
    return _peer(args)


def _local(args: argparse.Namespace) -> int:
    report = audit_local(args.db, checkpoint_key=read_pinned_key(args.key))
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"{report.summary()} in {report.seconds:.1f} s")
        for f in report.findings:
            print(f"  {f.area}: {f.message}")
    return 0 if report.clean else 1


def _peer(args: argparse.Namespace) -> int:
    peer = HttpLogSource(args.peer, "the peer", timeout_s=args.timeout)
    ours: LogSource | None = None
    try:
        if args.node is not None:
            ours = HttpLogSource(args.node, "our node", timeout_s=args.timeout)
        elif args.db is not None:
            ours = StoreLogSource(args.db, "our node")
        report = audit_peer(
            peer,
            ours,
            peer_key=read_pinned_key(args.peer_key),
            our_key=read_pinned_key(args.key),
        )
    finally:
        peer.close()
        if isinstance(ours, HttpLogSource | StoreLogSource):
            ours.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.summary())
        for p in report.problems:
            print(f"  {p.kind}: {p.message}")
    return 0 if report.verdict == CONSISTENT else 1


def read_pinned_key(text: str | None) -> bytes | None:
    """A pinned key: 64 hex characters, or a JSON file holding ``public_key``."""
    if text is None:
        return None
    if len(text) == 64 and not Path(text).exists():
        return decode_public_key(text)
    try:
        doc: Any = json.loads(Path(text).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DecodeError(
            f"{text!r} is neither 64 hex characters nor a readable JSON key file"
        ) from exc
    if not isinstance(doc, dict) or "public_key" not in doc:
        raise DecodeError(f"{text} has no public_key field")
    return decode_public_key(doc["public_key"])
