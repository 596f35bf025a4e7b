"""``gridledger net ...``: a local four-organization consortium on CometBFT.

::

    gridledger net init   --dir DIR [--orgs a,b,c,d] [--chain-id ID] [--base-port N | --free-ports]
                          [--force]
    gridledger net up     --dir DIR [--timeout S]
    gridledger net down   --dir DIR
    gridledger net status --dir DIR [--json]
    gridledger net stop   --dir DIR --org ORG [--process app|cometbft|api|all]
    gridledger net start  --dir DIR --org ORG [--process app|cometbft|api|all]
    gridledger net join   --dir DIR --org ORG [--free-ports] [--timeout S]
                          a node for a new organization; members then vote it in (gov ...)
    gridledger net demo   [--dir DIR]      init once, up, seed demo records, wait for Ctrl-C, down
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import httpx

from gridledger.errors import GridledgerError
from gridledger.net.layout import (
    DEFAULT_BASE_PORT,
    DEFAULT_CHAIN_ID,
    DEFAULT_ORGS,
    KEY_ROLES,
    PROCESSES,
    Network,
    network_file,
    parse_orgs,
    pick_free_ports,
)

PROCESS_CHOICES = (*PROCESSES, "all")
DEMO_DIR = Path(".run/net")
DEMO_CHAIN_ID = "gridledger-demo"
# The demo chain's grid clock: a 15-minute market interval every 3 s, the simulated day starting
# 90 s after genesis (time to start the validators and load the demo records).
DEMO_GRID_SPEEDUP = 300
DEMO_GRID_DAY_AFTER_S = 90
DEMO_DAY_SEED = 2026
API_WAIT_S = 30.0


def add_net_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    net = sub.add_parser(
        "net", help="a local consortium network: one CometBFT validator per organization"
    ).add_subparsers(dest="net_cmd", required=True)

    s = net.add_parser("init", help="write a network: CometBFT homes, keys, one shared genesis")
    s.add_argument("--dir", type=Path, required=True)
    s.add_argument("--orgs", default=",".join(DEFAULT_ORGS))
    s.add_argument("--chain-id", default=DEFAULT_CHAIN_ID)
    ports = s.add_mutually_exclusive_group()
    ports.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help="org i uses base+10i (p2p), +1 (rpc), +2 (abci), +3 (api)",
    )
    ports.add_argument("--free-ports", action="store_true", help="ports the OS reports free now")
    s.add_argument("--force", action="store_true", help="replace an existing network")
    s.set_defaults(func=cmd_net_init)

    s = net.add_parser("up", help="start the supervisor and every node; wait for height 1")
    s.add_argument("--dir", type=Path, required=True)
    s.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    s.set_defaults(func=cmd_net_up)

    s = net.add_parser("down", help="stop every process and the supervisor")
    s.add_argument("--dir", type=Path, required=True)
    s.set_defaults(func=cmd_net_down)

    s = net.add_parser("status", help="processes, heights, app hashes, agreement")
    s.add_argument("--dir", type=Path, required=True)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_net_status)

    for name, func, verb in (("stop", cmd_net_stop, "stop"), ("start", cmd_net_start, "start")):
        s = net.add_parser(name, help=f"{verb} one organization's processes (no auto-restart)")
        s.add_argument("--dir", type=Path, required=True)
        s.add_argument("--org", required=True)
        s.add_argument("--process", choices=PROCESS_CHOICES, default="all")
        s.set_defaults(func=func)

    s = net.add_parser(
        "join",
        help="add a node for a new organization (not in genesis: members vote it in)",
        description=(
            "Add a node for a new organization: fresh CometBFT validator and node keys, admin "
            "and endorser account keys, the network's genesis.json unchanged, every node as a "
            "peer. If the network runs, the node is started and replays the chain as a "
            "non-validator; the command waits until it has caught up. It then prints the two "
            "governance votes (gov propose add-member, gov propose add-validator) that make "
            "the organization a member and its node a validator."
        ),
    )
    s.add_argument("--dir", type=Path, required=True)
    s.add_argument("--org", required=True, help="the new organization's id: a-z 0-9 _ -")
    s.add_argument(
        "--free-ports",
        action="store_true",
        help="ports the OS reports free now (default: the next --base-port slot if free)",
    )
    s.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for it to catch up"
    )
    s.set_defaults(func=cmd_net_join)

    s = net.add_parser("demo", help="init (once), up, load demo records, serve until Ctrl-C")
    s.add_argument("--dir", type=Path, default=DEMO_DIR)
    s.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT)
    s.add_argument("--timeout", type=float, default=180.0)
    s.set_defaults(func=cmd_net_demo)


def cmd_net_init(args: argparse.Namespace) -> int:
    from gridledger.net.init import init_network

    orgs = parse_orgs(args.orgs)
    network = init_network(
        args.dir,
        orgs=orgs,
        chain_id=args.chain_id,
        base_port=args.base_port,
        ports=pick_free_ports(orgs) if args.free_ports else None,
        force=args.force,
    )
    print(f"initialized network {network.chain_id} in {network.dir} ({len(orgs)} validators)")
    _print_urls(network)
    print(f"start it with: gridledger net up --dir {args.dir}")
    return 0


def cmd_net_up(args: argparse.Namespace) -> int:
    from gridledger.net.control import up

    print(f"starting the network in {args.dir} ...", file=sys.stderr, flush=True)
    network = up(args.dir, timeout_s=args.timeout)
    print(f"network {network.chain_id} is up ({len(network.nodes)} nodes)")
    _print_urls(network)
    return 0


def cmd_net_down(args: argparse.Namespace) -> int:
    from gridledger.net.control import down

    stopped = down(args.dir)
    print(f"network in {args.dir} stopped" if stopped else f"network in {args.dir} was not running")
    return 0


def cmd_net_status(args: argparse.Namespace) -> int:
    from gridledger.net.layout import read_network
    from gridledger.net.status import collect_status, format_status

    doc = collect_status(read_network(args.dir))
    print(json.dumps(doc, indent=2) if args.json else format_status(doc))
    return 0


def cmd_net_stop(args: argparse.Namespace) -> int:
    from gridledger.net.control import stop

    stop(args.dir, args.org, args.process)
    print(f"stopped {args.org} {args.process}")
    return 0


def cmd_net_start(args: argparse.Namespace) -> int:
    from gridledger.net.control import start

    start(args.dir, args.org, args.process)
    print(f"started {args.org} {args.process}")
    return 0


def cmd_net_join(args: argparse.Namespace) -> int:
    from gridledger.net.join import format_next_steps, join_network

    if _is_running(args.dir):
        print(f"adding {args.org} and syncing its node ...", file=sys.stderr, flush=True)
    joined = join_network(args.dir, args.org, free_ports=args.free_ports, timeout_s=args.timeout)
    node = joined.node
    print(f"added {node.org} to network {joined.network.chain_id} in {joined.network.dir}")
    print(f"  {node.org:<10} RPC {node.rpc_url:<24} API {node.api_url}")
    if joined.started:
        print("its node runs and has caught up (a non-validator until the vote)")
    else:
        print(f"the network is not running; `gridledger net up --dir {args.dir}` starts it too")
    print()
    print(format_next_steps(joined))
    return 0


def _is_running(directory: Path) -> bool:
    from gridledger.net.layout import is_supervisor_running

    return is_supervisor_running(directory)


def _print_urls(network: Network) -> None:
    for node in network.nodes:
        print(f"  {node.org:<10} RPC {node.rpc_url:<24} API {node.api_url}")


# -- demo ------------------------------------------------------------------------------------


def cmd_net_demo(args: argparse.Namespace) -> int:
    from gridledger.net.control import down, up
    from gridledger.net.init import GridClockPlan, init_network

    directory = Path(args.dir)
    if not network_file(directory).exists():
        print(f"creating a four-organization network in {directory} ...", file=sys.stderr)
        plan = GridClockPlan(speedup=DEMO_GRID_SPEEDUP, day_after_s=DEMO_GRID_DAY_AFTER_S)
        init_network(directory, chain_id=DEMO_CHAIN_ID, base_port=args.base_port, grid_clock=plan)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print("starting four validators (app, CometBFT, API each) ...", file=sys.stderr, flush=True)
        network = up(directory, timeout_s=args.timeout)
        demo_dir = _seed_demo(network)
        _print_demo_banner(network, directory, demo_dir)
        _start_market_day(network, demo_dir)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip `down`
        print("\nstopping the network ...", file=sys.stderr, flush=True)
        down(directory)
        print("network stopped; `make run` starts it again where it left off", file=sys.stderr)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _seed_demo(network: Network) -> Path:
    """Seed the demo records through gridco's REST API once (node/demo.py's seed, unchanged:
    it finds the organizations' keys in DIR/demo/keys, links to each org's own key files)."""
    from gridledger.node.demo import seed_demo
    from gridledger.node.home import Home

    home = Home(network.dir / "demo")
    keys = home.path / "keys"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    for node in network.nodes:
        for role in KEY_ROLES:
            link = keys / node.key_file(role).name
            if not link.is_symlink():
                link.symlink_to(Path("..", "..", node.org, "keys", link.name))
    marker = home.path / "demo-seeded.json"
    if marker.exists():
        return home.path
    url = network.node(network.orgs[0]).api_url
    try:
        _wait_for_api(url)
        seeded = seed_demo(home, url)
    except (GridledgerError, httpx.HTTPError, OSError, KeyError) as exc:
        print(f"warning: demo records not loaded ({exc}); the network runs without them")
        return home.path
    marker.write_text(json.dumps(seeded, indent=2) + "\n", encoding="utf-8")
    return home.path


def _start_market_day(network: Network, demo_dir: Path) -> None:
    """Run the simulated market day (gridledger.sim) through gridco's API in the background,
    logging to DIR/logs/market-day.log; resumes where a previous run stopped."""
    import threading

    from gridledger.client import Client
    from gridledger.keys import read_key_file
    from gridledger.sim import generate_day
    from gridledger.sim.runner import DayRunner, compute_day_start_s

    log_path = network.logs_dir / "market-day.log"
    progress = demo_dir / "market-day.json"

    def log(line: str) -> None:
        with log_path.open("a", encoding="utf-8") as out:
            out.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    def run() -> None:
        gridco, exchange = network.node("gridco"), network.node("exchange")
        try:
            with Client(gridco.api_url) as client:
                genesis = client.genesis()
                if "grid_clock_speedup" not in genesis.get("params", {}):
                    log("this network has no grid clock (made before it existed): no market day")
                    return
                day = generate_day(DEMO_DAY_SEED, day_start_s=compute_day_start_s(genesis))
                runner = DayRunner(
                    client,
                    day,
                    operator=read_key_file(gridco.key_file("admin")),
                    market_admin=read_key_file(exchange.key_file("admin")),
                    progress_path=progress,
                    log=log,
                )
                report = runner.run(timeout_s=3 * 3600)
                log(f"market day done: {report.format()}")
        except (GridledgerError, httpx.HTTPError, OSError, TimeoutError) as exc:
            log(f"market day stopped: {exc}")

    threading.Thread(target=run, name="market-day", daemon=True).start()
    print(
        f"  market     a simulated day of {DEMO_DAY_SEED} (44 prosumers and consumers, 96 "
        f"intervals, one every {900 // DEMO_GRID_SPEEDUP} s): progress in {log_path}"
    )


def _wait_for_api(url: str) -> None:
    deadline = time.monotonic() + API_WAIT_S
    while True:
        try:
            httpx.get(f"{url}/v1/status", timeout=2).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _print_demo_banner(network: Network, directory: Path, demo_dir: Path) -> None:
    first = network.node(network.orgs[0])
    files = demo_dir / "demo-files"
    print(f"\ngridledger consortium demo is running (chain {network.chain_id}).")
    for node in network.nodes:
        print(f"  {node.org:<10} API {node.api_url:<24} RPC {node.rpc_url}")
    print(
        f"""  status     .venv/bin/gridledger net status --dir {directory}
  files      {files}/
  portal     {first.api_url}/   (every member's API serves it: verify a file in the browser)
  OpenAPI    {first.api_url}/docs
  try        .venv/bin/gridledger certificate {files}/supply-contract.txt \\
               --node {first.api_url} -o cert.json
             .venv/bin/gridledger verify {files}/supply-contract.txt cert.json \\
               --genesis {first.cometbft_home}/config/genesis.json
  keys       {directory}/<org>/keys/  (GRIDLEDGER_KEY={first.key_file("admin")} to notarize)
  faults     .venv/bin/gridledger net stop --dir {directory} --org exchange   (and net start ...)
  logs       {network.logs_dir}/
Press Ctrl-C to stop.""",
        flush=True,
    )
