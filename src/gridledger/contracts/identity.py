"""Identity: member organizations, their accounts, and roles.

Organizations and their first accounts come from genesis. An organization's admin can add
accounts to it (for staff, services, or customers it onboards) and deactivate them. Every
transaction's sender must be an active account; co-signers need only a valid signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridledger.contracts.args import (
    require_fields,
    take_address,
    take_hex32,
    take_name_list,
    take_str,
)
from gridledger.crypto import compute_address
from gridledger.errors import Conflict, InvalidTransaction, NotFound, Unauthorized
from gridledger.ledger.context import Method, TxContext
from gridledger.ledger.genesis import ACCOUNT_ROLES
from gridledger.ledger.state import State

# -- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AddAccount:
    org: str
    public_key: str
    roles: tuple[str, ...]
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DeactivateAccount:
    address: str


# -- readers -----------------------------------------------------------------------------------


def get_org(state: State, org_id: str) -> dict[str, Any] | None:
    org: dict[str, Any] | None = state.get_json(f"identity/org/{org_id}")
    return org


def get_account(state: State, address: str) -> dict[str, Any] | None:
    account: dict[str, Any] | None = state.get_json(f"identity/account/{address}")
    return account


def is_active_account(state: State, address: str) -> bool:
    account = get_account(state, address)
    return account is not None and bool(account["active"])


def is_admin_of_role(state: State, address: str, org_role: str) -> bool:
    """An active admin account of an organization whose roles include ``org_role`` (the
    operator issues money and manages meters; a market operator admits participants)."""
    account = get_account(state, address)
    if account is None or not account["active"] or "admin" not in account["roles"]:
        return False
    org = get_org(state, account["org"])
    return org is not None and org_role in org.get("roles", [])


def has_role(state: State, address: str, org_id: str, role: str) -> bool:
    account = get_account(state, address)
    return (
        account is not None
        and bool(account["active"])
        and account["org"] == org_id
        and role in account["roles"]
    )


def verify_sender_registered(state: State, address: str) -> None:
    account = get_account(state, address)
    if account is None:
        raise Unauthorized(
            f"sender {address} is not a registered account of any member organization"
        )
    if not account["active"]:
        raise Unauthorized(f"sender {address} has been deactivated")


# -- processing --------------------------------------------------------------------------------


def parse_add_account(args: Mapping[str, Any]) -> AddAccount:
    require_fields(args, frozenset({"org", "public_key", "roles"}), frozenset({"name"}))
    roles = take_name_list(args, "roles", max_items=len(ACCOUNT_ROLES))
    unknown = sorted(set(roles) - ACCOUNT_ROLES)
    if unknown:
        raise InvalidTransaction(f"unknown role(s) {', '.join(unknown)}")
    return AddAccount(
        org=take_str(args, "org", max_chars=64),
        public_key=take_hex32(args, "public_key"),
        roles=tuple(sorted(roles)),
        name=take_str(args, "name", max_chars=200, min_chars=0) if "name" in args else "",
    )


def check_add_account(ctx: TxContext, msg: AddAccount) -> None:
    if get_org(ctx.state, msg.org) is None:
        raise NotFound(f"organization {msg.org!r} does not exist")
    if not has_role(ctx.state, ctx.sender, msg.org, "admin"):
        raise Unauthorized(f"sender {ctx.sender} is not an admin of organization {msg.org}")
    address = compute_address(bytes.fromhex(msg.public_key))
    if get_account(ctx.state, address) is not None:
        raise Conflict(f"account {address} already exists")


def apply_add_account(ctx: TxContext, msg: AddAccount) -> None:
    address = compute_address(bytes.fromhex(msg.public_key))
    account = {
        "active": True,
        "address": address,
        "alg": "ed25519",
        "name": msg.name,
        "org": msg.org,
        "public_key": msg.public_key,
        "roles": list(msg.roles),
    }
    ctx.state.put_json(f"identity/account/{address}", account)
    ctx.state.put(f"identity/member/{msg.org}/{address}", b"")
    ctx.emit("identity.account_added", address=address, org=msg.org, roles=list(msg.roles))


def parse_deactivate_account(args: Mapping[str, Any]) -> DeactivateAccount:
    require_fields(args, frozenset({"address"}))
    return DeactivateAccount(address=take_address(args, "address"))


def check_deactivate_account(ctx: TxContext, msg: DeactivateAccount) -> None:
    account = get_account(ctx.state, msg.address)
    if account is None:
        raise NotFound(f"account {msg.address} does not exist")
    if not has_role(ctx.state, ctx.sender, account["org"], "admin"):
        raise Unauthorized(f"sender {ctx.sender} is not an admin of organization {account['org']}")
    if not account["active"]:
        raise Conflict(f"account {msg.address} is already deactivated")


def apply_deactivate_account(ctx: TxContext, msg: DeactivateAccount) -> None:
    account = get_account(ctx.state, msg.address)
    if account is None:  # check_ ran first; kept for the type checker
        raise NotFound(f"account {msg.address} does not exist")
    ctx.state.put_json(f"identity/account/{msg.address}", {**account, "active": False})
    ctx.emit("identity.account_deactivated", address=msg.address)


METHODS = {
    "add_account": Method(
        parse=parse_add_account, check=check_add_account, apply=apply_add_account
    ),
    "deactivate_account": Method(
        parse=parse_deactivate_account,
        check=check_deactivate_account,
        apply=apply_deactivate_account,
    ),
}
