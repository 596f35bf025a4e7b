"""A node's home directory: configuration, genesis, keys and data.

::

    HOME/config.json         chain id, API address
    HOME/genesis.json        the network's genesis document
    HOME/node_key.json       the key this node signs block headers with (mode 0600)
    HOME/keys/<org>-<role>.json   keys of the demo organizations' accounts (local networks only)
    HOME/keys/<org>-delivery.json their X25519 delivery keys (private documents are sealed to them)
    HOME/data/ledger.sqlite  the store
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridledger.crypto import PrivateKey
from gridledger.errors import GridledgerError
from gridledger.keys import generate_key, read_key_file, write_key_file
from gridledger.privstore.sealed import generate_delivery_key, write_delivery_key_file

DEFAULT_ORGS = ("gridco", "notary", "judicial", "exchange")
ORG_PROFILES: dict[str, tuple[str, list[str]]] = {
    "gridco": ("Provincial Grid Company", ["operator"]),
    "notary": ("Municipal Notary Office", ["endorser"]),
    "judicial": ("Judicial Authentication Institution", ["endorser"]),
    "exchange": ("Power Trading Center", ["market_operator"]),
}
DEFAULT_PORT = 8700


class HomeError(GridledgerError):
    code = "home_error"


@dataclass(frozen=True, slots=True)
class Home:
    path: Path

    @property
    def genesis_file(self) -> Path:
        return self.path / "genesis.json"

    @property
    def config_file(self) -> Path:
        return self.path / "config.json"

    @property
    def node_key_file(self) -> Path:
        return self.path / "node_key.json"

    @property
    def db_file(self) -> Path:
        return self.path / "data" / "ledger.sqlite"

    def key_file(self, org: str, role: str) -> Path:
        return self.path / "keys" / f"{org}-{role}.json"

    def delivery_key_file(self, org: str) -> Path:
        return self.key_file(org, "delivery")

    def is_initialized(self) -> bool:
        return self.genesis_file.exists() and self.node_key_file.exists()

    def read_genesis(self) -> dict[str, Any]:
        try:
            doc: dict[str, Any] = json.loads(self.genesis_file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise HomeError(
                f"{self.path} is not initialized; run: gridledger init --home {self.path}"
            ) from exc
        except ValueError as exc:
            raise HomeError(f"{self.genesis_file} is not valid JSON") from exc
        return doc

    def read_config(self) -> dict[str, Any]:
        try:
            cfg: dict[str, Any] = json.loads(self.config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise HomeError(f"{self.config_file} is not valid JSON") from exc
        return cfg

    def read_node_key(self) -> PrivateKey:
        return read_key_file(self.node_key_file)


def init_home(
    path: Path,
    *,
    chain_id: str = "gridledger-local",
    orgs: tuple[str, ...] = DEFAULT_ORGS,
    port: int = DEFAULT_PORT,
) -> Home:
    """Create keys for each organization and the node, and a genesis naming them."""
    home = Home(Path(path))
    if home.is_initialized():
        raise HomeError(f"{home.path} is already initialized; choose another --home or delete it")
    home.path.mkdir(parents=True, exist_ok=True)
    node_key = generate_key()
    write_key_file(home.node_key_file, node_key)
    organizations, accounts = [], []
    for org in orgs:
        name, org_roles = ORG_PROFILES.get(org, (org, ["member"]))
        delivery_key = generate_delivery_key()
        write_delivery_key_file(home.delivery_key_file(org), delivery_key)
        organizations.append(
            {
                "id": org,
                "name": name,
                "roles": org_roles,
                "delivery_public_key": delivery_key.public_key.hex(),
            }
        )
        roles_by_key = {"admin": ["admin", "submitter"]}
        if "endorser" in org_roles:
            roles_by_key["endorser"] = ["endorser", "submitter"]
        for key_name, roles in roles_by_key.items():
            key = generate_key()
            write_key_file(home.key_file(org, key_name), key)
            accounts.append(
                {
                    "address": key.address,
                    "alg": key.alg,
                    "public_key": key.public_key.hex(),
                    "org": org,
                    "roles": roles,
                    "name": f"{name} ({key_name})",
                }
            )
    genesis = {
        "chain_id": chain_id,
        "genesis_time_ms": time.time_ns() // 1_000_000,
        "organizations": organizations,
        "accounts": accounts,
        "validators": [{"org": orgs[0], "public_key": node_key.public_key.hex(), "power": 10}],
        "params": {"max_expiry_window": 10_000},
    }
    home.genesis_file.write_text(
        json.dumps(genesis, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    home.config_file.write_text(
        json.dumps({"api": {"host": "127.0.0.1", "port": port}, "chain_id": chain_id}, indent=2)
        + "\n",
        encoding="utf-8",
    )
    return home
