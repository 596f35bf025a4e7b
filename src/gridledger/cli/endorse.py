"""Commands of private delivery, endorsement and a record's later life.

::

    gridledger deliver FILE --to notary,judicial [--net DIR | --nodes org=URL,... | --node URL]
    gridledger endorser run --org ORG [--net DIR | --node URL --key KEY --delivery-key FILE]
                            [--policy FILE] [--grace-s 30]
    gridledger endorser queue --org ORG [--net DIR | --state-dir DIR]
    gridledger endorser approve DIGEST --org ORG [...] [--note TEXT]
    gridledger endorser reject DIGEST --org ORG --reason TEXT [...]
    gridledger dispute DIGEST --reason TEXT      (a party)
    gridledger revoke DIGEST [--reason TEXT]     (a party)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from gridledger.client import DEFAULT_URL, Client, file_digest
from gridledger.crypto import PrivateKey
from gridledger.endorser.policy import load_policy
from gridledger.endorser.queue import ReviewQueue
from gridledger.endorser.service import (
    DEFAULT_GRACE_S,
    Decision,
    EndorserConfig,
    EndorserService,
    config_from_network,
)
from gridledger.errors import GridledgerError, NotFound
from gridledger.keys import read_key_file
from gridledger.net.layout import read_network
from gridledger.privstore.sealed import read_delivery_key_file


def add_endorse_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("deliver", help="deliver a recorded document privately to endorsers")
    s.add_argument("file", type=Path)
    s.add_argument("--to", required=True, help="organizations, e.g. notary,judicial")
    _key_arg(s)
    s.add_argument("--net", type=Path, default=None, help="network directory: each org's API")
    s.add_argument("--nodes", default="", help="org=URL,... (each organization's own node)")
    s.add_argument(
        "--node",
        default=os.environ.get("GRIDLEDGER_NODE", DEFAULT_URL),
        help="the node for organizations not in --nodes/--net (an embedded node serves all)",
    )
    s.add_argument(
        "--wait-s",
        type=float,
        default=5.0,
        help="how long to wait for a node that has not yet applied the record's block",
    )
    s.set_defaults(func=cmd_deliver)

    for name, needs_reason in (("dispute", True), ("revoke", False)):
        s = sub.add_parser(name, help=f"{name} a record (signed by one of its parties)")
        s.add_argument("digest")
        s.add_argument("--reason", required=needs_reason, default="")
        _key_arg(s)
        s.add_argument("--cosign", type=Path, action="append", default=[], help="a party's key")
        s.add_argument("--node", default=os.environ.get("GRIDLEDGER_NODE", DEFAULT_URL))
        s.set_defaults(func=cmd_party_action, action=name)

    endorser = sub.add_parser("endorser", help="an endorsing organization's service")
    cmds = endorser.add_subparsers(dest="endorser_cmd", required=True)
    s = cmds.add_parser("run", help="follow records naming the org; check, endorse or refuse")
    _service_args(s)
    s.add_argument("--policy", type=Path, default=None, help="JSON: auto|manual per record_type")
    s.add_argument("--grace-s", type=float, default=DEFAULT_GRACE_S)
    s.add_argument("--once", action="store_true", help="one round, then exit")
    s.set_defaults(func=cmd_endorser_run)
    s = cmds.add_parser("queue", help="records waiting for a person's decision")
    _service_args(s, connect=False)
    s.add_argument("--all", action="store_true", help="decided ones too")
    s.set_defaults(func=cmd_endorser_queue)
    s = cmds.add_parser("approve", help="endorse a queued record after review")
    s.add_argument("digest")
    _service_args(s)
    s.add_argument("--note", default="")
    s.set_defaults(func=cmd_endorser_approve)
    s = cmds.add_parser("reject", help="refuse a queued record, with the reason")
    s.add_argument("digest")
    _service_args(s)
    s.add_argument("--reason", required=True)
    s.set_defaults(func=cmd_endorser_reject)


def _key_arg(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--key",
        type=Path,
        default=os.environ.get("GRIDLEDGER_KEY"),
        help="signing key file (default: $GRIDLEDGER_KEY)",
    )


def _service_args(s: argparse.ArgumentParser, *, connect: bool = True) -> None:
    s.add_argument("--org", required=True)
    s.add_argument("--net", type=Path, default=None, help="network directory (gridledger net)")
    s.add_argument("--state-dir", type=Path, default=None, help="review queue directory")
    if connect:
        s.add_argument("--node", default=None, help="the org's own node API URL")
        s.add_argument("--key", type=Path, default=None, help="an endorser account's key file")
        s.add_argument("--delivery-key", type=Path, default=None, help="the org's delivery key")


# -- deliver -----------------------------------------------------------------------------------


def cmd_deliver(args: argparse.Namespace) -> int:
    signer = _require_key(args.key)
    orgs = [o.strip() for o in args.to.split(",") if o.strip()]
    if not orgs:
        raise GridledgerError("--to names no organization; e.g. --to notary,judicial")
    if not args.file.is_file():
        raise GridledgerError(f"{args.file} is not a readable file")
    urls = _node_urls(args, orgs)
    document = args.file.read_bytes()
    digest = file_digest(args.file)
    failures = 0
    for org in orgs:
        try:
            with Client(urls[org]) as client:
                result = _deliver_when_recorded(client, digest, org, document, signer, args.wait_s)
        except GridledgerError as exc:
            failures += 1
            print(f"error: {org} ({urls[org]}): {exc.message}", file=sys.stderr)
            continue
        print(f"delivered {digest} to {org} at {urls[org]}: {result['bytes']} bytes sealed")
    return 1 if failures else 0


def _deliver_when_recorded(
    client: Client, digest: str, org: str, document: bytes, signer: PrivateKey, wait_s: float
) -> dict[str, Any]:
    """Deliver; a node that has not yet applied the record's block (it answers "no record")
    is asked again for up to ``wait_s``, since the record was committed through another node."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return client.deliver(digest, org, document, signer)
        except NotFound as exc:
            if not exc.message.startswith("no record") or time.monotonic() >= deadline:
                raise
        time.sleep(0.2)


def _node_urls(args: argparse.Namespace, orgs: list[str]) -> dict[str, str]:
    urls: dict[str, str] = {}
    if args.net is not None:
        network = read_network(args.net)
        urls.update({o: network.node(o).api_url for o in orgs if o in network.orgs})
    for item in (i.strip() for i in args.nodes.split(",") if i.strip()):
        org, sep, url = item.partition("=")
        if not sep or not org or not url:
            raise GridledgerError(f"--nodes item {item!r} is not org=URL")
        urls[org.strip()] = url.strip()
    return {o: urls.get(o, args.node) for o in orgs}


def _require_key(path: Path | None) -> PrivateKey:
    if path is None:
        raise GridledgerError("no signing key: pass --key FILE or set GRIDLEDGER_KEY")
    return read_key_file(Path(path))


# -- dispute and revoke ------------------------------------------------------------------------


def cmd_party_action(args: argparse.Namespace) -> int:
    signers = [_require_key(args.key), *(read_key_file(p) for p in args.cosign)]
    call = {"digest": args.digest}
    if args.reason or args.action == "dispute":
        call["reason"] = args.reason
    with Client(args.node) as client:
        tx = client.build_tx("notary", args.action, call, signers)
        result = client.submit(tx)
    print(f"{args.action}d {args.digest} at height {result['height']}")
    return 0


# -- endorser ----------------------------------------------------------------------------------


def _config(args: argparse.Namespace, *, grace_s: float = DEFAULT_GRACE_S) -> EndorserConfig:
    policy = load_policy(getattr(args, "policy", None))
    if args.net is not None:
        config = config_from_network(args.net, args.org, policy=policy, grace_s=grace_s)
        if args.state_dir is not None:
            config = replace(config, state_dir=args.state_dir)
        return config
    missing = [
        f"--{n}" for n in ("node", "key", "delivery-key") if not getattr(args, n.replace("-", "_"))
    ]
    if missing:
        raise GridledgerError(f"pass --net DIR, or {', '.join(missing)}")
    return EndorserConfig(
        org=args.org,
        node_url=args.node,
        key=read_key_file(args.key),
        delivery_key=read_delivery_key_file(args.delivery_key),
        state_dir=args.state_dir or Path(".gridledger") / "endorser" / args.org,
        policy=policy,
        grace_s=grace_s,
    )


def cmd_endorser_run(args: argparse.Namespace) -> int:
    if args.grace_s < 0:
        raise GridledgerError("--grace-s must not be negative")
    service = EndorserService(_config(args, grace_s=args.grace_s))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Leave at once, even from inside a long poll: a decision interrupted before its
        # commit is simply made again by the next run.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(
        f"endorser for {service.config.org} following {service.config.node_url} "
        f"(endorser {service.config.key.address}, grace {service.config.grace_s:g} s)",
        flush=True,
    )
    try:
        if args.once:
            for decision in service.run_once():
                _print_decision(decision)
        else:
            service.run(on_decision=_print_decision)
    finally:
        service.close()
    return 0


def _print_decision(decision: Decision) -> None:
    print(f"{decision.action} {decision.digest}: {decision.reason}", flush=True)


def cmd_endorser_queue(args: argparse.Namespace) -> int:
    if args.net is not None and args.state_dir is None:
        state_dir = read_network(args.net).node(args.org).root / "endorser"
    else:
        state_dir = args.state_dir or Path(".gridledger") / "endorser" / args.org
    queue = ReviewQueue(state_dir)
    try:
        for item in queue.entries(None if args.all else "waiting"):
            print(json.dumps(item.to_json(), ensure_ascii=False))
    finally:
        queue.close()
    return 0


def cmd_endorser_approve(args: argparse.Namespace) -> int:
    service = EndorserService(_config(args))
    try:
        result = service.approve(args.digest, args.note)
    finally:
        service.close()
    print(f"endorsed {args.digest} for {args.org} at height {result['height']}")
    return 0


def cmd_endorser_reject(args: argparse.Namespace) -> int:
    service = EndorserService(_config(args))
    try:
        result = service.reject(args.digest, args.reason)
    finally:
        service.close()
    print(f"refused {args.digest} for {args.org} at height {result['height']}")
    return 0
