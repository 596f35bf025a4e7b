"""Commands of the energy features: ``gridledger market``, ``token`` and ``meter``.

::

    gridledger market clock | params | participants | participant ADDRESS
    gridledger market intervals [--from T] [--to T]
    gridledger market interval START [--invoices]
    gridledger market order --side buy|sell --qty-wh N --price P --interval-start START|next
    gridledger market order-status ORDER_ID
    gridledger market cancel ORDER_ID
    gridledger market settle START
    gridledger market invoices ADDRESS [--from T] [--limit N]
    gridledger market configure --params FILE.json                      (grid operator admin)
    gridledger market register-participant ADDRESS --role R --zone Z --meter M ...
    gridledger token balance [ADDRESS] | supply
    gridledger token transfer --to ADDRESS --amount-ucny N [--memo TEXT]
    gridledger token issue --to ADDRESS --amount-ucny N                  (grid operator admin)
    gridledger meter show METER | intervals METER [--channel C] [--from T] [--to T]
    gridledger meter reading METER START [--channel C]        (checks the inclusion proof)
    gridledger meter register METER --owner A --public-key HEX|KEYFILE --direction D --zone Z
                               --max-power-w W [--register-bits B]
    gridledger meter register-head-end HEAD_END --public-key HEX|KEYFILE [--name TEXT]
    gridledger meter submit-readings FILE.csv (--meter-key [METER=]KEYFILE ... |
                                               --head-end ID --head-end-key KEYFILE)

Times (START, T) are Unix seconds or ISO 8601 (``2026-11-20T10:15Z``; UTC when no offset is
given). Amounts are µCNY, energy Wh, prices CNY/MWh. Every command takes ``--node URL`` (default
$GRIDLEDGER_NODE); those that sign take ``--key FILE`` (default $GRIDLEDGER_KEY). Reads print
JSON; writes print one line naming what was committed and at which height.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridledger.client import DEFAULT_URL, Client
from gridledger.client.metering import iter_batches, parse_readings_csv, parse_time_s
from gridledger.crypto import PrivateKey, Signer
from gridledger.errors import GridledgerError
from gridledger.keys import read_key_file

Command = Callable[[Client, argparse.Namespace], int]
if TYPE_CHECKING:
    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def add_market_commands(sub: Sub) -> None:
    _add_market(sub)
    _add_token(sub)
    _add_meter(sub)


def _command(
    cmds: Sub, name: str, run: Command, help_: str, *, signs: bool = False
) -> argparse.ArgumentParser:
    s = cmds.add_parser(name, help=help_)
    s.add_argument(
        "--node",
        default=os.environ.get("GRIDLEDGER_NODE", DEFAULT_URL),
        help=f"node API URL (default: $GRIDLEDGER_NODE or {DEFAULT_URL})",
    )
    if signs:
        s.add_argument(
            "--key",
            type=Path,
            default=os.environ.get("GRIDLEDGER_KEY"),
            help="signing key file (default: $GRIDLEDGER_KEY)",
        )
    s.set_defaults(func=lambda args: _run(run, args))
    return s


def _run(run: Command, args: argparse.Namespace) -> int:
    with Client(args.node) as client:
        return run(client, args)


def _signer(args: argparse.Namespace) -> PrivateKey:
    if args.key is None:
        raise GridledgerError("no signing key: pass --key FILE or set GRIDLEDGER_KEY")
    return read_key_file(Path(args.key))


def _time(text: str) -> int:
    try:
        return parse_time_s(text)
    except GridledgerError as exc:
        raise argparse.ArgumentTypeError(exc.message) from exc


def _print(value: Any) -> int:
    print(json.dumps(value, indent=2, ensure_ascii=False))
    return 0


# -- market ------------------------------------------------------------------------------------


def _add_market(sub: Sub) -> None:
    cmds = sub.add_parser("market", help="the local energy market").add_subparsers(
        dest="market_cmd", required=True
    )
    _command(cmds, "clock", lambda c, a: _print(c.market_clock()), "grid time, next open interval")
    _command(cmds, "params", lambda c, a: _print(c.market_params()), "market parameters")
    s = _command(cmds, "participants", _participants, "market participants, by address")
    s.add_argument("--after", default=None)
    s.add_argument("--limit", type=int, default=100)
    s = _command(cmds, "participant", lambda c, a: _print(c.participant(a.address)), "one")
    s.add_argument("address")
    s = _command(cmds, "intervals", _intervals, "intervals and settlements over a time range")
    s.add_argument("--from", dest="from_s", type=_time, default=None)
    s.add_argument("--to", dest="to_s", type=_time, default=None)
    s = _command(cmds, "interval", _interval, "one interval: orders, trades, settlement")
    s.add_argument("start", type=_time)
    s.add_argument("--invoices", action="store_true", help="print its invoices instead")
    s = _command(cmds, "order", _order, "place a limit order for one interval", signs=True)
    s.add_argument("--side", required=True, choices=["buy", "sell"])
    s.add_argument("--qty-wh", type=int, required=True)
    s.add_argument("--price", type=int, required=True, help="limit price, CNY/MWh")
    s.add_argument(
        "--interval-start", required=True, help="Unix seconds, ISO 8601, or 'next' (open now)"
    )
    s = _command(cmds, "order-status", lambda c, a: _print(c.order(a.order)), "one order")
    s.add_argument("order")
    s = _command(cmds, "cancel", _cancel, "cancel an open order before gate closure", signs=True)
    s.add_argument("order")
    s = _command(cmds, "settle", _settle, "settle an ended interval against meters", signs=True)
    s.add_argument("start", type=_time)
    s = _command(cmds, "invoices", _invoices, "a participant's invoices, oldest first")
    s.add_argument("address")
    s.add_argument("--from", dest="from_s", type=_time, default=0)
    s.add_argument("--limit", type=int, default=96)
    s = _command(cmds, "configure", _configure, "set market parameters (JSON file)", signs=True)
    s.add_argument("--params", type=Path, required=True)
    s = _command(cmds, "register-participant", _register, "admit a participant", signs=True)
    s.add_argument("address")
    s.add_argument("--role", required=True, choices=["consumer", "prosumer"])
    s.add_argument("--zone", required=True)
    s.add_argument("--meter", action="append", required=True, help="a meter it settles against")


def _participants(client: Client, args: argparse.Namespace) -> int:
    return _print(client.participants(after=args.after, limit=args.limit))


def _intervals(client: Client, args: argparse.Namespace) -> int:
    return _print(client.market_intervals(from_s=args.from_s, to_s=args.to_s))


def _interval(client: Client, args: argparse.Namespace) -> int:
    if args.invoices:
        return _print(client.interval_invoices(args.start))
    return _print(client.market_interval(args.start))


def _order(client: Client, args: argparse.Namespace) -> int:
    signer = _signer(args)
    if args.interval_start == "next":
        start = client.market_clock().get("next_open_interval")
        if start is None:
            raise GridledgerError("the market is not configured yet: no interval is open")
    else:
        start = parse_time_s(args.interval_start)
    result = client.place_order(
        signer, interval_start=int(start), side=args.side, qty_wh=args.qty_wh, price=args.price
    )
    order = client.order(result["tx_id"])
    escrow = f", escrow {order['escrow_ucny']} µCNY" if order["escrow_ucny"] else ""
    print(
        f"order {result['tx_id']} placed at height {result['height']}: {args.side} "
        f"{args.qty_wh} Wh at {args.price} CNY/MWh for interval {start}{escrow}"
    )
    return 0


def _cancel(client: Client, args: argparse.Namespace) -> int:
    result = client.cancel_order(_signer(args), args.order)
    print(f"order {args.order} cancelled at height {result['height']}")
    return 0


def _settle(client: Client, args: argparse.Namespace) -> int:
    result = client.settle(_signer(args), args.start)
    summary = client.market_interval(args.start)["settlement"] or {}
    print(
        f"interval {args.start} settled at height {result['height']}: "
        f"{summary.get('invoices', 0)} invoices, {summary.get('settled_wh', 0)} Wh traded "
        f"peer to peer, {summary.get('p2p_ucny', 0)} µCNY"
    )
    return 0


def _invoices(client: Client, args: argparse.Namespace) -> int:
    return _print(client.invoices(args.address, from_s=args.from_s, limit=args.limit))


def _configure(client: Client, args: argparse.Namespace) -> int:
    try:
        params = json.loads(args.params.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GridledgerError(f"cannot read {args.params}: {exc.strerror}") from exc
    except ValueError as exc:
        raise GridledgerError(f"{args.params} is not JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise GridledgerError(f"{args.params} must hold a JSON object of market parameters")
    result = client.configure_market(_signer(args), params)
    print(f"market configured at height {result['height']}")
    return 0


def _register(client: Client, args: argparse.Namespace) -> int:
    result = client.register_participant(
        _signer(args), account=args.address, role=args.role, zone=args.zone, meters=args.meter
    )
    print(
        f"participant {args.address} ({args.role}, {args.zone}) registered at height "
        f"{result['height']}"
    )
    return 0


# -- token -------------------------------------------------------------------------------------


def _add_token(sub: Sub) -> None:
    cmds = sub.add_parser("token", help="the µCNY settlement token").add_subparsers(
        dest="token_cmd", required=True
    )
    s = _command(cmds, "balance", _balance, "an account's balance (or the --key's)", signs=True)
    s.add_argument("address", nargs="?", default=None)
    _command(cmds, "supply", lambda c, a: _print(c.get("/v1/token/supply")), "total issued")
    for name, help_ in (("transfer", "send µCNY"), ("issue", "create µCNY (operator admin)")):
        s = _command(cmds, name, _move, help_, signs=True)
        s.set_defaults(issue=name == "issue")
        s.add_argument("--to", required=True)
        s.add_argument("--amount-ucny", type=int, required=True)
        if name == "transfer":
            s.add_argument("--memo", default="")


def _balance(client: Client, args: argparse.Namespace) -> int:
    address = args.address or _signer(args).address
    return _print(client.get(f"/v1/token/balances/{address}"))


def _move(client: Client, args: argparse.Namespace) -> int:
    signer = _signer(args)
    if args.issue:
        result = client.issue_tokens(signer, args.to, args.amount_ucny)
    else:
        result = client.transfer_tokens(signer, args.to, args.amount_ucny, args.memo)
    verb = "issued to" if args.issue else "sent to"
    print(f"{args.amount_ucny} µCNY {verb} {args.to} at height {result['height']}")
    return 0


# -- meter -------------------------------------------------------------------------------------


def _add_meter(sub: Sub) -> None:
    cmds = sub.add_parser("meter", help="meters and their readings").add_subparsers(
        dest="meter_cmd", required=True
    )
    s = _command(cmds, "show", lambda c, a: _print(c.meter(a.meter)), "a meter, latest readings")
    s.add_argument("meter")
    s = _command(cmds, "intervals", _meter_intervals, "interval energy over a time range")
    s.add_argument("meter")
    s.add_argument("--channel", default=None, choices=["import", "export"])
    s.add_argument("--from", dest="from_s", type=_time, default=None)
    s.add_argument("--to", dest="to_s", type=_time, default=None)
    s = _command(cmds, "reading", _reading, "a reading and its checked inclusion proof")
    s.add_argument("meter")
    s.add_argument("start", type=_time)
    s.add_argument("--channel", default=None, choices=["import", "export"])
    s = _command(cmds, "register", _register_meter, "register a meter (operator)", signs=True)
    s.add_argument("meter")
    s.add_argument("--owner", required=True)
    s.add_argument("--public-key", required=True, help="device key: 64 hex or a key file")
    s.add_argument("--direction", required=True, choices=["import", "export", "both"])
    s.add_argument("--zone", required=True)
    s.add_argument("--max-power-w", type=int, required=True)
    s.add_argument("--register-bits", type=int, default=None)
    s = _command(cmds, "register-head-end", _register_head_end, "(operator)", signs=True)
    s.add_argument("head_end")
    s.add_argument("--public-key", required=True, help="64 hex or a key file")
    s.add_argument("--name", default="")
    s = _command(cmds, "submit-readings", _submit_readings, "submit CSV readings", signs=True)
    s.add_argument("csv", type=Path, help="rows: meter,channel,interval_start,register_wh")
    s.add_argument(
        "--meter-key",
        action="append",
        default=[],
        help="METER=KEYFILE (repeatable), or KEYFILE when the CSV holds one meter",
    )
    s.add_argument("--head-end", default=None, help="sign the batch as this head-end system")
    s.add_argument("--head-end-key", type=Path, default=None)


def _meter_intervals(client: Client, args: argparse.Namespace) -> int:
    found = client.meter_intervals(
        args.meter, channel=args.channel, from_s=args.from_s, to_s=args.to_s
    )
    return _print(found)


def _reading(client: Client, args: argparse.Namespace) -> int:
    found = client.reading(args.meter, args.start, channel=args.channel, verify=True)
    _print(found)
    print(f"inclusion proof verified under batch root {found['proof']['root']}")
    return 0


def _public_key(value: str) -> bytes:
    path = Path(value)
    if path.is_file():
        return read_key_file(path).public_key
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise GridledgerError(f"--public-key {value!r} is neither 64 hex characters nor a key file")
    return key


def _register_meter(client: Client, args: argparse.Namespace) -> int:
    result = client.register_meter(
        _signer(args),
        meter=args.meter,
        owner=args.owner,
        public_key=_public_key(args.public_key),
        direction=args.direction,
        zone=args.zone,
        max_power_w=args.max_power_w,
        register_bits=args.register_bits,
    )
    print(f"meter {args.meter} registered at height {result['height']}")
    return 0


def _register_head_end(client: Client, args: argparse.Namespace) -> int:
    result = client.register_head_end(
        _signer(args),
        head_end=args.head_end,
        public_key=_public_key(args.public_key),
        name=args.name,
    )
    print(f"head-end system {args.head_end} registered at height {result['height']}")
    return 0


def _submit_readings(client: Client, args: argparse.Namespace) -> int:
    try:
        text = args.csv.read_text(encoding="utf-8")
    except OSError as exc:
        raise GridledgerError(f"cannot read {args.csv}: {exc.strerror}") from exc
    readings = parse_readings_csv(text)
    meters = sorted({r.meter for r in readings})
    signer = _signer(args)
    head_end_mode = args.head_end is not None or args.head_end_key is not None
    if head_end_mode == bool(args.meter_key):
        raise GridledgerError(
            "sign with --meter-key (per meter) or with --head-end and --head-end-key, not both"
        )
    if head_end_mode and (args.head_end is None or args.head_end_key is None):
        raise GridledgerError("a head-end-signed batch needs both --head-end and --head-end-key")
    head_end_key = read_key_file(args.head_end_key) if head_end_mode else None
    meter_keys = None if head_end_mode else _meter_keys(args.meter_key, meters)
    for batch in iter_batches(readings):
        result = client.submit_readings(
            signer, batch, meter_keys=meter_keys, head_end=args.head_end, head_end_key=head_end_key
        )
        print(f"{len(batch)} readings accepted at height {result['height']} (tx {result['tx_id']})")
    return 0


def _meter_keys(values: list[str], meters: list[str]) -> dict[str, Signer]:
    keys: dict[str, Signer] = {}
    for value in values:
        meter, sep, path = value.partition("=")
        if not sep or Path(value).is_file():
            if len(meters) != 1:
                raise GridledgerError(
                    f"the CSV holds meters {', '.join(meters)}: name each key as METER=KEYFILE"
                )
            meter, path = meters[0], value
        keys[meter] = read_key_file(Path(path))
    missing = [m for m in meters if m not in keys]
    if missing:
        raise GridledgerError(f"no --meter-key for meter(s) {', '.join(missing)}")
    return keys
