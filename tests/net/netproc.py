"""A real four-validator network for end-to-end tests: init on free ports, up, always down."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridledger.net.init import GridClockPlan, init_network
from gridledger.net.layout import DEFAULT_ORGS, Network, pick_free_ports
from tests.e2e.nodeproc import cli
from tests.net.test_network_e2e import COMETBFT, _kill_leftovers, _ok


@contextlib.contextmanager
def running_network(
    directory: Path, chain_id: str, grid_clock: GridClockPlan | None = None
) -> Iterator[Network]:
    """``net init`` in ``directory`` on free loopback ports, ``net up``, then ``net down`` (and
    SIGKILL for anything left) whatever the test did."""
    if not COMETBFT.exists():
        pytest.skip("CometBFT is not installed (`make setup` installs it)")
    ports = pick_free_ports(DEFAULT_ORGS)  # held open together: sixteen distinct ports
    net = init_network(directory, chain_id=chain_id, ports=ports, grid_clock=grid_clock)
    try:
        _ok("up", "--dir", str(net.dir), "--timeout", "120")
        yield net
    finally:
        cli("net", "down", "--dir", str(net.dir), timeout=120)
        _kill_leftovers(net)
