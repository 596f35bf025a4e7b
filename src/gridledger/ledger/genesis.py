"""The genesis document: chain id, member organizations, accounts and their roles, validators,
and chain parameters. Every node of a network starts from the same document, so its canonical hash
is the root of the app-hash chain.

::

    {"chain_id": "gridledger-demo",
     "genesis_time_ms": 1795000000000,
     "organizations": [{"id": "gridco", "name": "...", "roles": ["operator"],
                        "delivery_public_key": "<hex>"}, ...],
     "accounts": [{"address": "gl…", "alg": "ed25519", "public_key": "<hex>", "org": "gridco",
                   "roles": ["admin", "submitter"], "name": "..."}, ...],
     "validators": [{"org": "gridco", "public_key": "<hex>", "power": 10}, ...],
     "params": {"max_expiry_window": 10000, "voting_period": 10000}}

``params`` may also set the grid clock, ``grid_clock_speedup`` (1 to 3,600) and
``grid_clock_origin_ms`` (the grid time at ``genesis_time_ms``; default the genesis time); see
``gridledger.ledger.gridclock``.

``validators`` are the CometBFT validators the chain starts with (Ed25519 keys, as CometBFT's own
genesis lists them; the ABCI server refuses an InitChain whose validators differ). The list may be
empty for the embedded single-node mode. An organization's optional ``delivery_public_key``
(X25519) is the key that documents delivered to it privately are sealed to. The organizations are
the consortium's first members; after genesis, the ``governance`` contract changes both sets by a
vote of the members.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridledger import codec
from gridledger.crypto import SUITES, compute_address
from gridledger.errors import DecodeError
from gridledger.ledger.state import State

GENESIS_DOMAIN = b"gridledger/genesis/v1\n"
ORG_ROLES = frozenset({"operator", "endorser", "market_operator", "member"})
ACCOUNT_ROLES = frozenset({"admin", "submitter", "endorser", "auditor"})
DEFAULT_PARAMS: Mapping[str, int] = {"max_expiry_window": 10_000, "voting_period": 10_000}
# The grid clock (see gridledger.ledger.gridclock): absent on a production chain, where market and
# metering time is block time; a demo or test chain sets a speed-up to live a day in minutes.
GRID_CLOCK_PARAMS: Mapping[str, int] = {"grid_clock_speedup": 3_600, "grid_clock_origin_ms": 10**14}
PARAMS_KEY = "chain/params"
VALIDATOR_FIELDS = frozenset({"org", "power", "public_key"})
MAX_VALIDATOR_POWER = 1_000_000  # far below CometBFT's total limit of 2**63 / 8
# The governance contract's keys; genesis writes the first validator and member sets.
VALIDATOR_PREFIX = "gov/validator/"
MEMBER_PREFIX = "gov/member/"
ORG_ID = re.compile(r"[a-z0-9_-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True, kw_only=True)
class Genesis:
    chain_id: str
    genesis_time_ms: int
    organizations: tuple[Mapping[str, Any], ...]
    accounts: tuple[Mapping[str, Any], ...]
    validators: tuple[Mapping[str, Any], ...]
    params: Mapping[str, int]
    document: Mapping[str, Any]

    @property
    def genesis_hash(self) -> bytes:
        return hashlib.sha256(GENESIS_DOMAIN + codec.encode(dict(self.document))).digest()


def decode_genesis(doc: Any) -> Genesis:
    """Parse and check a genesis document; raise DecodeError naming the first problem."""
    if not isinstance(doc, dict):
        raise DecodeError("genesis must be a JSON object")
    for name in ("chain_id", "genesis_time_ms", "organizations", "accounts", "validators"):
        if name not in doc:
            raise DecodeError(f"genesis is missing {name}")
    orgs = tuple(_decode_org(o) for o in _list(doc["organizations"], "organizations"))
    org_ids = [o["id"] for o in orgs]
    if len(set(org_ids)) != len(org_ids):
        raise DecodeError("genesis lists an organization twice")
    accounts = tuple(_decode_account(a, set(org_ids)) for a in _list(doc["accounts"], "accounts"))
    if len({a["address"] for a in accounts}) != len(accounts):
        raise DecodeError("genesis lists an account twice")
    validators = _decode_validators(_list(doc["validators"], "validators"), set(org_ids))
    params = _decode_params(doc.get("params", {}))
    if not isinstance(doc["genesis_time_ms"], int):
        raise DecodeError("genesis_time_ms must be an integer (milliseconds since 1970)")
    if "grid_clock_speedup" in params:
        params.setdefault("grid_clock_origin_ms", doc["genesis_time_ms"])
        params["grid_clock_anchor_ms"] = doc["genesis_time_ms"]
    elif "grid_clock_origin_ms" in params:
        raise DecodeError("genesis param grid_clock_origin_ms needs grid_clock_speedup")
    if not isinstance(doc["chain_id"], str) or not _NAME.fullmatch(doc["chain_id"]):
        raise DecodeError("genesis chain_id must be 1 to 64 ASCII letters, digits, - _ .")
    codec.encode(doc)  # refuses floats anywhere in the document
    return Genesis(
        chain_id=doc["chain_id"],
        genesis_time_ms=doc["genesis_time_ms"],
        organizations=orgs,
        accounts=accounts,
        validators=validators,
        params=params,
        document=doc,
    )


def apply_genesis(state: State, genesis: Genesis) -> None:
    """Write the genesis organizations (the first members), accounts, validators and parameters
    into an empty state."""
    for org in genesis.organizations:
        state.put_json(f"identity/org/{org['id']}", dict(org))
        state.put_json(f"{MEMBER_PREFIX}{org['id']}", {"org": org["id"], "since_height": 0})
    for validator in genesis.validators:
        state.put_json(f"{VALIDATOR_PREFIX}{validator['public_key']}", dict(validator))
    for account in genesis.accounts:
        state.put_json(f"identity/account/{account['address']}", dict(account))
        state.put(f"identity/member/{account['org']}/{account['address']}", b"")
    state.put_json(PARAMS_KEY, dict(genesis.params))


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise DecodeError(f"genesis {name} must be a list")
    return value


def _decode_params(params: Any) -> dict[str, int]:
    if not isinstance(params, dict):
        raise DecodeError("genesis params must be an object")
    for name, value in params.items():
        if name not in DEFAULT_PARAMS and name not in GRID_CLOCK_PARAMS:
            raise DecodeError(f"unknown genesis param {name!r}")
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DecodeError(f"genesis param {name} must be a positive integer")
        if value > GRID_CLOCK_PARAMS.get(name, value):
            raise DecodeError(f"genesis param {name} must be at most {GRID_CLOCK_PARAMS[name]}")
    return {**DEFAULT_PARAMS, **params}


def _decode_org(org: Any) -> dict[str, Any]:
    if not isinstance(org, dict) or not isinstance(org.get("id"), str):
        raise DecodeError("each genesis organization needs a string id")
    if not ORG_ID.fullmatch(org["id"]):
        raise DecodeError(f"organization id {org['id']!r} must be 1 to 64 of a-z 0-9 - _")
    roles = org.get("roles", [])
    unknown = sorted(set(roles) - ORG_ROLES) if isinstance(roles, list) else ["(not a list)"]
    if unknown:
        raise DecodeError(f"organization {org['id']}: unknown role(s) {', '.join(unknown)}")
    decoded: dict[str, Any] = {
        "id": org["id"],
        "name": str(org.get("name", org["id"])),
        "roles": sorted(roles),
    }
    if "delivery_public_key" in org:  # X25519 key that private documents are sealed to
        key = org["delivery_public_key"]
        if not isinstance(key, str) or len(key) != 64 or not set(key) <= _HEX:
            raise DecodeError(
                f"organization {org['id']}: delivery_public_key must be 64 lowercase hex "
                "characters (a 32-byte X25519 public key)"
            )
        decoded["delivery_public_key"] = key
    return decoded


def _decode_account(acc: Any, org_ids: set[str]) -> dict[str, Any]:
    if not isinstance(acc, dict):
        raise DecodeError("each genesis account must be an object")
    alg = acc.get("alg", "ed25519")
    if alg not in SUITES:
        raise DecodeError(f"account uses unsupported suite {alg!r}")
    try:
        public_key = bytes.fromhex(acc["public_key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError("each genesis account needs a hex public_key") from exc
    address = compute_address(public_key, alg)
    if acc.get("address", address) != address:
        raise DecodeError(f"account address {acc['address']} does not match its public key")
    if acc.get("org") not in org_ids:
        raise DecodeError(f"account {address} names unknown organization {acc.get('org')!r}")
    roles = acc.get("roles", [])
    unknown = sorted(set(roles) - ACCOUNT_ROLES) if isinstance(roles, list) else ["(not a list)"]
    if unknown:
        raise DecodeError(f"account {address}: unknown role(s) {', '.join(unknown)}")
    return {
        "active": True,
        "address": address,
        "alg": alg,
        "name": str(acc.get("name", "")),
        "org": acc["org"],
        "public_key": public_key.hex(),
        "roles": sorted(roles),
    }


def _decode_validators(items: list[Any], org_ids: set[str]) -> tuple[dict[str, Any], ...]:
    validators = tuple(_decode_validator(v, i, org_ids) for i, v in enumerate(items))
    seen: set[str] = set()
    for validator in validators:
        if validator["public_key"] in seen:
            raise DecodeError(f"genesis lists validator {validator['public_key']} twice")
        seen.add(validator["public_key"])
    return validators


def _decode_validator(item: Any, index: int, org_ids: set[str]) -> dict[str, Any]:
    where = f"genesis validator {index}"
    if not isinstance(item, dict):
        raise DecodeError(f"{where} must be an object with org, public_key and power")
    missing = sorted(VALIDATOR_FIELDS - set(item))
    if missing:
        raise DecodeError(f"{where} is missing {', '.join(missing)}")
    unknown = sorted(set(item) - VALIDATOR_FIELDS)
    if unknown:
        raise DecodeError(f"{where} has unknown field(s) {', '.join(unknown)}")
    public_key = item["public_key"]
    if not isinstance(public_key, str) or len(public_key) != 64 or not set(public_key) <= _HEX:
        raise DecodeError(
            f"{where}: public_key must be 64 lowercase hex characters (a 32-byte Ed25519 key)"
        )
    if not isinstance(item["org"], str) or item["org"] not in org_ids:
        raise DecodeError(f"{where} names unknown organization {item['org']!r}")
    power = item["power"]
    if (
        not isinstance(power, int)
        or isinstance(power, bool)
        or not 1 <= power <= MAX_VALIDATOR_POWER
    ):
        raise DecodeError(f"{where}: power must be an integer from 1 to {MAX_VALIDATOR_POWER}")
    return {"org": item["org"], "power": power, "public_key": public_key}
