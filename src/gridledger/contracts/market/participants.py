"""Market participants: the accounts admitted to trade, each bound to its own meters.

An admin of the grid operator or of the trading center admits an account as a ``prosumer`` (buys
and sells) or a ``consumer`` (buys only), in one market zone, with the meters its energy is
settled against. The meters must be registered in the ``metering`` contract, active, owned by the
account and in the same zone, and belong to no other participant; a consumer's meters must measure
import, a prosumer's import and export. Retiring a participant stops new orders; its open orders
still clear and its intervals up to retirement still settle.

State: ``market/participant/<address>`` and ``market/participant_meter/<meter>`` (-> address).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridledger.contracts import identity
from gridledger.contracts.args import require_fields, take_address, take_name_list, take_str
from gridledger.contracts.market.params import (
    PARTICIPANT_METER_PREFIX,
    PARTICIPANT_PREFIX,
    is_market_admin,
    require_params,
)
from gridledger.contracts.metering import get_meter
from gridledger.contracts.metering.registry import CHANNELS
from gridledger.errors import Conflict, InvalidTransaction, NotFound, RuleViolation, Unauthorized
from gridledger.ledger.context import TxContext
from gridledger.ledger.gridclock import read_grid_time_ms
from gridledger.ledger.state import State

ROLES = ("consumer", "prosumer")
ACTIVE, RETIRED = "active", "retired"
MAX_METERS = 16
NEEDED_CHANNELS: Mapping[str, frozenset[str]] = {
    "consumer": frozenset({"import"}),
    "prosumer": frozenset({"import", "export"}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterParticipant:
    account: str
    role: str
    zone: str
    meters: tuple[str, ...]  # sorted


@dataclass(frozen=True, slots=True, kw_only=True)
class RetireParticipant:
    account: str


def get_participant(state: State, address: str) -> dict[str, Any] | None:
    participant: dict[str, Any] | None = state.get_json(PARTICIPANT_PREFIX + address)
    return participant


def require_trader(state: State, address: str) -> dict[str, Any]:
    """The sender's participant record, if it may place orders now."""
    participant = get_participant(state, address)
    if participant is None:
        raise Unauthorized(f"{address} is not a registered market participant")
    if participant["status"] != ACTIVE:
        raise RuleViolation(f"market participant {address} is {participant['status']}")
    return participant


def is_in_interval(participant: Mapping[str, Any], start_s: int) -> bool:
    """Whether ``participant`` was admitted before the interval began and not retired before it
    began: the participants an interval's settlement invoices."""
    retired_s = participant.get("retired_s")
    return int(participant["since_s"]) <= start_s and (retired_s is None or start_s < retired_s)


# -- register_participant ----------------------------------------------------------------------


def parse_register_participant(args: Mapping[str, Any]) -> RegisterParticipant:
    require_fields(args, frozenset({"account", "role", "zone", "meters"}))
    role = args["role"]
    if role not in ROLES:
        raise InvalidTransaction(f"role must be one of {', '.join(ROLES)}")
    meters = take_name_list(args, "meters", max_items=MAX_METERS, min_items=1)
    if len(set(meters)) != len(meters):
        raise InvalidTransaction("meters lists a meter twice")
    return RegisterParticipant(
        account=take_address(args, "account"),
        role=str(role),
        zone=take_str(args, "zone", max_chars=32),
        meters=tuple(sorted(meters)),
    )


def check_register_participant(ctx: TxContext, msg: RegisterParticipant) -> None:
    state = ctx.state
    if not is_market_admin(state, ctx.sender):
        raise Unauthorized(
            f"sender {ctx.sender} is not an admin of the grid operator or of a market operator"
        )
    params = require_params(state)
    if not identity.is_active_account(state, msg.account):
        raise NotFound(f"account {msg.account} is not a registered active account")
    if get_participant(state, msg.account) is not None:
        raise Conflict(f"account {msg.account} is already a market participant")
    if msg.zone not in params["zones"]:
        raise RuleViolation(f"zone {msg.zone!r} is not a market zone")
    channels: set[str] = set()
    for meter_id in msg.meters:
        channels |= _verify_meter(state, msg, meter_id)
    missing = sorted(NEEDED_CHANNELS[msg.role] - channels)
    if missing:
        raise RuleViolation(f"a {msg.role} needs a meter measuring {' and '.join(missing)}")


def _verify_meter(state: State, msg: RegisterParticipant, meter_id: str) -> frozenset[str]:
    meter = get_meter(state, meter_id)
    if meter is None:
        raise NotFound(f"meter {meter_id} is not registered")
    if meter["status"] != ACTIVE:
        raise RuleViolation(f"meter {meter_id} is {meter['status']}")
    if meter["owner"] != msg.account:
        raise RuleViolation(f"meter {meter_id} belongs to {meter['owner']}, not {msg.account}")
    if meter["zone"] != msg.zone:
        raise RuleViolation(f"meter {meter_id} is in zone {meter['zone']}, not {msg.zone}")
    holder = state.get(PARTICIPANT_METER_PREFIX + meter_id)
    if holder is not None:
        raise Conflict(f"meter {meter_id} already settles participant {holder.decode('ascii')}")
    return frozenset(CHANNELS[meter["direction"]])


def apply_register_participant(ctx: TxContext, msg: RegisterParticipant) -> None:
    participant = {
        "account": msg.account,
        "meters": list(msg.meters),
        "registered_by": ctx.sender,
        "registered_height": ctx.env.height,
        "retired_s": None,
        "role": msg.role,
        "since_s": read_grid_time_ms(ctx.state, ctx.env) // 1000,
        "status": ACTIVE,
        "zone": msg.zone,
    }
    ctx.state.put_json(PARTICIPANT_PREFIX + msg.account, participant)
    for meter_id in msg.meters:
        ctx.state.put(PARTICIPANT_METER_PREFIX + meter_id, msg.account.encode("ascii"))
    ctx.emit("market.participant_registered", **participant)


# -- retire_participant ------------------------------------------------------------------------


def parse_retire_participant(args: Mapping[str, Any]) -> RetireParticipant:
    require_fields(args, frozenset({"account"}))
    return RetireParticipant(account=take_address(args, "account"))


def check_retire_participant(ctx: TxContext, msg: RetireParticipant) -> None:
    if not is_market_admin(ctx.state, ctx.sender):
        raise Unauthorized(
            f"sender {ctx.sender} is not an admin of the grid operator or of a market operator"
        )
    participant = get_participant(ctx.state, msg.account)
    if participant is None:
        raise NotFound(f"{msg.account} is not a market participant")
    if participant["status"] != ACTIVE:
        raise Conflict(f"market participant {msg.account} is already {participant['status']}")


def apply_retire_participant(ctx: TxContext, msg: RetireParticipant) -> None:
    participant = get_participant(ctx.state, msg.account) or {}
    retired_s = read_grid_time_ms(ctx.state, ctx.env) // 1000
    ctx.state.put_json(
        PARTICIPANT_PREFIX + msg.account, {**participant, "retired_s": retired_s, "status": RETIRED}
    )
    ctx.emit("market.participant_retired", account=msg.account, retired_s=retired_s)
