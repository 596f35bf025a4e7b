"""``gridledger gov``: propose and vote on consortium changes (members and validators).

gridledger gov propose add-validator --org newco --public-key HEX --power 10 --key admin.json
gridledger gov propose add-member --org newco --name "New Co" --admin-public-key HEX --key ...
gridledger gov vote PROPOSAL_ID yes --key notary-admin.json
gridledger gov list [--status open]
gridledger gov validators | members
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from gridledger.client import DEFAULT_URL, Client
from gridledger.errors import GridledgerError
from gridledger.keys import read_key_file


def add_gov_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gov = sub.add_parser("gov", help="consortium governance: proposals and votes")
    cmds = gov.add_subparsers(dest="gov_cmd", required=True)

    propose = cmds.add_parser("propose", help="propose a change of members or validators")
    kinds = propose.add_subparsers(dest="kind", required=True)
    s = kinds.add_parser("add-validator", help="make an organization's key a validator")
    s.add_argument("--org", required=True)
    s.add_argument("--public-key", required=True, help="the validator's Ed25519 key, 64 hex")
    s.add_argument("--power", type=int, default=10)
    _common(s)
    s = kinds.add_parser("remove-validator", help="take a key out of the validator set")
    s.add_argument("--public-key", required=True)
    _common(s)
    s = kinds.add_parser("add-member", help="admit an organization with its first admin key")
    s.add_argument("--org", required=True, help="organization id: a-z 0-9 - _")
    s.add_argument("--name", default=None)
    s.add_argument("--roles", default="member", help="comma-separated organization roles")
    s.add_argument("--admin-public-key", required=True, help="its first admin's key, 64 hex")
    s.add_argument("--admin-name", default="admin")
    _common(s)
    s = kinds.add_parser("remove-member", help="remove an organization (and its validators)")
    s.add_argument("--org", required=True)
    _common(s)

    s = cmds.add_parser("vote", help="vote on a proposal for your organization")
    s.add_argument("proposal")
    s.add_argument("vote", choices=["yes", "no"])
    _common(s, reason=False)

    s = cmds.add_parser("list", help="proposals, oldest first")
    s.add_argument("--status", default=None, choices=["open", "approved", "rejected", "expired"])
    _node(s)
    s = cmds.add_parser("show", help="one proposal with its tally")
    s.add_argument("proposal")
    _node(s)
    _node(cmds.add_parser("validators", help="the validator set the ledger holds"))
    _node(cmds.add_parser("members", help="the member organizations"))
    gov.set_defaults(func=cmd_gov)


def _node(s: argparse.ArgumentParser) -> None:
    s.add_argument("--node", default=os.environ.get("GRIDLEDGER_NODE", DEFAULT_URL))


def _common(s: argparse.ArgumentParser, *, reason: bool = True) -> None:
    s.add_argument(
        "--key",
        type=Path,
        default=os.environ.get("GRIDLEDGER_KEY"),
        help="an admin key file of your organization (default: $GRIDLEDGER_KEY)",
    )
    if reason:
        s.add_argument("--reason", default="")
    _node(s)


def cmd_gov(args: argparse.Namespace) -> int:
    with Client(args.node) as client:
        if args.gov_cmd == "propose":
            result = _submit(client, args, "propose", _proposal_args(args))
            print(f"proposal {result['tx_id']} opened at height {result['height']}")
        elif args.gov_cmd == "vote":
            result = _submit(client, args, "vote", {"proposal": args.proposal, "vote": args.vote})
            shown = client.get(f"/v1/governance/proposals/{args.proposal}")
            tally = shown["tally"]
            print(
                f"voted {args.vote} at height {result['height']}; proposal {shown['status']} "
                f"({tally['yes']} yes, {tally['no']} no of {tally['members']} members)"
            )
        elif args.gov_cmd == "list":
            params = {"status": args.status} if args.status else {}
            _print(client.get("/v1/governance/proposals", params=params))
        elif args.gov_cmd == "show":
            _print(client.get(f"/v1/governance/proposals/{args.proposal}"))
        else:
            _print(client.get(f"/v1/governance/{args.gov_cmd}"))
    return 0


def _proposal_args(args: argparse.Namespace) -> dict[str, Any]:
    kind = args.kind.replace("-", "_")
    body: dict[str, Any] = {"kind": kind}
    if args.reason:
        body["reason"] = args.reason
    if kind == "add_validator":
        body.update(org=args.org, public_key=args.public_key, power=args.power)
    elif kind == "remove_validator":
        body["public_key"] = args.public_key
    elif kind == "add_member":
        roles = sorted(r for r in args.roles.split(",") if r)
        body["org"] = {"id": args.org, "name": args.name or args.org, "roles": roles}
        body["admin"] = {"public_key": args.admin_public_key, "name": args.admin_name}
    else:
        body["org"] = args.org
    return body


def _submit(
    client: Client, args: argparse.Namespace, method: str, body: dict[str, Any]
) -> dict[str, Any]:
    if args.key is None:
        raise GridledgerError("no signing key: pass --key FILE or set GRIDLEDGER_KEY")
    tx = client.build_tx("governance", method, body, [read_key_file(Path(args.key))])
    result = client.submit(tx)
    if result.get("status") != "committed":
        raise GridledgerError(f"{method} was not committed: {result.get('log') or result}")
    return result


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))
