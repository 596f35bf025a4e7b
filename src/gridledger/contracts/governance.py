"""Governance: the consortium changes its own members and validators by a vote of more than two
thirds of its member organizations.

- ``propose``: an admin of a member organization proposes one change: ``add_validator``,
  ``remove_validator``, ``add_member`` (a new organization with its first admin account) or
  ``remove_member``. The proposal is named by the proposing transaction's id and is open for
  votes until its expiry height. Proposing is not voting: the proposer's organization votes too.
- ``vote``: an admin of a member organization votes ``yes`` or ``no``, once per organization.
  The vote that makes ``3 * yes > 2 * members`` (members counted at that moment) executes the
  change in the same transaction; the vote after which that can no longer happen rejects it.

Validator changes are written to state and reported to consensus with
``TxContext.set_validator_power``; they reach CometBFT as FinalizeBlock validator updates
(effective two heights later). Members are the genesis organizations plus those added here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridledger.contracts import identity
from gridledger.contracts.args import (
    HEX,
    require_fields,
    take_int,
    take_name_list,
    take_str,
)
from gridledger.crypto import SUITES, compute_address
from gridledger.errors import Conflict, InvalidTransaction, NotFound, RuleViolation, Unauthorized
from gridledger.ledger.context import Method, TxContext
from gridledger.ledger.genesis import (
    DEFAULT_PARAMS,
    MAX_VALIDATOR_POWER,
    MEMBER_PREFIX,
    ORG_ID,
    ORG_ROLES,
    PARAMS_KEY,
    VALIDATOR_PREFIX,
)
from gridledger.ledger.state import State

# -- constants ---------------------------------------------------------------------------------

ADD_VALIDATOR, REMOVE_VALIDATOR = "add_validator", "remove_validator"
ADD_MEMBER, REMOVE_MEMBER = "add_member", "remove_member"
KINDS = (ADD_MEMBER, ADD_VALIDATOR, REMOVE_MEMBER, REMOVE_VALIDATOR)
OPEN, APPROVED, REJECTED, EXPIRED = "open", "approved", "rejected", "expired"
YES, NO = "yes", "no"
NEW_MEMBER_ADMIN_ROLES = ("admin", "submitter")
MAX_REASON_CHARS = 500
MAX_NAME_CHARS = 200

# -- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Propose:
    kind: str
    change: Mapping[str, Any]  # the kind's fields, as stored in the proposal
    voting_period: int | None  # None: the chain's voting_period parameter
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Vote:
    proposal: str
    vote: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tally:
    yes: int
    no: int
    members: int

    @property
    def approved(self) -> bool:
        return 3 * self.yes > 2 * self.members

    @property
    def rejected(self) -> bool:
        """Even if every member that has not voted voted yes, the proposal could not pass."""
        return 3 * (self.members - self.no) <= 2 * self.members


# -- readers -----------------------------------------------------------------------------------


def proposal_key(proposal_id: str) -> str:
    return f"gov/proposal/{proposal_id}"


def get_members(state: State) -> tuple[str, ...]:
    """The member organizations' ids, sorted."""
    return tuple(key[len(MEMBER_PREFIX) :] for key, _ in state.iter_prefix(MEMBER_PREFIX))


def is_member(state: State, org_id: str) -> bool:
    return state.has(f"{MEMBER_PREFIX}{org_id}")


def get_validators(state: State) -> list[dict[str, Any]]:
    """The validator set the ledger holds (``org``, ``power``, ``public_key``), by public key.
    CometBFT uses it from two heights after the block that changed it."""
    return [state.get_json(key) for key, _ in state.iter_prefix(VALIDATOR_PREFIX)]


def get_validator(state: State, public_key: str) -> dict[str, Any] | None:
    validator: dict[str, Any] | None = state.get_json(f"{VALIDATOR_PREFIX}{public_key}")
    return validator


def get_proposal(state: State, proposal_id: str, *, at_height: int) -> dict[str, Any] | None:
    """The proposal as stored, with ``status`` ``expired`` if it is still open but a block at
    ``at_height`` (pass the next block's height, last committed + 1) could no longer take votes."""
    proposal: dict[str, Any] | None = state.get_json(proposal_key(proposal_id))
    if (
        proposal is not None
        and proposal["status"] == OPEN
        and at_height > proposal["expiry_height"]
    ):
        return {**proposal, "status": EXPIRED}
    return proposal


def list_proposals(
    state: State, *, at_height: int, status: str | None = None
) -> list[dict[str, Any]]:
    """Every proposal (or those with ``status``), oldest first; statuses as in get_proposal."""
    found = []
    for key, _ in state.iter_prefix("gov/by_height/"):
        proposal = get_proposal(state, key.rsplit("/", 1)[1], at_height=at_height)
        if proposal is not None and status in (None, proposal["status"]):
            found.append(proposal)
    return found


def compute_tally(state: State, proposal: Mapping[str, Any]) -> Tally:
    """Votes of the current members only: a removed organization's vote no longer counts."""
    members = get_members(state)
    votes = proposal["votes"]
    return Tally(
        yes=sum(1 for org in members if org in votes and votes[org]["vote"] == YES),
        no=sum(1 for org in members if org in votes and votes[org]["vote"] == NO),
        members=len(members),
    )


def get_voting_period(state: State) -> int:
    params = state.get_json(PARAMS_KEY) or {}
    return int(params.get("voting_period", DEFAULT_PARAMS["voting_period"]))


def get_governing_org(state: State, address: str) -> str:
    """The organization the account acts for; raises Unauthorized unless it is an active admin
    account of a member organization."""
    account = identity.get_account(state, address)
    if account is None or not identity.has_role(state, address, account["org"], "admin"):
        raise Unauthorized(f"sender {address} is not an admin account; only admins may govern")
    if not is_member(state, account["org"]):
        raise Unauthorized(f"organization {account['org']!r} of sender {address} is not a member")
    return str(account["org"])


def verify_executable(state: State, kind: str, change: Mapping[str, Any]) -> None:
    """Raise unless ``change`` could be made now: checked when proposing and again by the vote
    that would execute it (the state may have changed in between)."""
    _VERIFY[kind](state, change)


def _verify_add_validator(state: State, change: Mapping[str, Any]) -> None:
    if not is_member(state, change["org"]):
        raise RuleViolation(f"organization {change['org']!r} is not a member")
    if get_validator(state, change["public_key"]) is not None:
        raise Conflict(f"{change['public_key']} is already a validator")


def _verify_remove_validator(state: State, change: Mapping[str, Any]) -> None:
    if get_validator(state, change["public_key"]) is None:
        raise NotFound(f"{change['public_key']} is not a validator")
    if len(get_validators(state)) == 1:
        raise RuleViolation("the last validator cannot be removed")


def _verify_add_member(state: State, change: Mapping[str, Any]) -> None:
    org_id, address = change["org"]["id"], change["admin"]["address"]
    if identity.get_org(state, org_id) is not None:
        raise Conflict(f"organization {org_id!r} exists already (ids are never reused)")
    if identity.get_account(state, address) is not None:
        raise Conflict(f"account {address} exists already")


def _verify_remove_member(state: State, change: Mapping[str, Any]) -> None:
    org_id = change["org"]
    if not is_member(state, org_id):
        raise NotFound(f"organization {org_id!r} is not a member")
    if len(get_members(state)) == 1:
        raise RuleViolation("the last member cannot be removed")
    validators = get_validators(state)
    if validators and all(v["org"] == org_id for v in validators):
        raise RuleViolation(
            f"removing {org_id!r} would remove every validator; add another validator first"
        )


_VERIFY = {
    ADD_VALIDATOR: _verify_add_validator,
    REMOVE_VALIDATOR: _verify_remove_validator,
    ADD_MEMBER: _verify_add_member,
    REMOVE_MEMBER: _verify_remove_member,
}


# -- processing: propose -----------------------------------------------------------------------

_PROPOSE_OPTIONAL = frozenset({"voting_period", "reason"})
_KIND_FIELDS = {
    ADD_VALIDATOR: frozenset({"org", "public_key", "power"}),
    REMOVE_VALIDATOR: frozenset({"public_key"}),
    ADD_MEMBER: frozenset({"org", "admin"}),
    REMOVE_MEMBER: frozenset({"org"}),
}


def parse_propose(args: Mapping[str, Any]) -> Propose:
    kind = args.get("kind")
    if not isinstance(kind, str) or kind not in _KIND_FIELDS:
        raise InvalidTransaction(f"kind must be one of {', '.join(KINDS)}")
    require_fields(args, _KIND_FIELDS[kind] | {"kind"}, _PROPOSE_OPTIONAL)
    if kind == ADD_VALIDATOR:
        change: dict[str, Any] = {
            "org": _take_org_id(args, "org"),
            "power": take_int(args, "power", minimum=1, maximum=MAX_VALIDATOR_POWER),
            "public_key": _take_public_key(args, "public_key"),
        }
    elif kind == REMOVE_VALIDATOR:
        change = {"public_key": _take_public_key(args, "public_key")}
    elif kind == ADD_MEMBER:
        change = {"admin": _parse_admin(args.get("admin")), "org": _parse_org(args.get("org"))}
    else:
        change = {"org": _take_org_id(args, "org")}
    return Propose(
        kind=kind,
        change=change,
        voting_period=take_int(args, "voting_period", minimum=1, maximum=2**31)
        if "voting_period" in args
        else None,
        reason=take_str(args, "reason", max_chars=MAX_REASON_CHARS, min_chars=0)
        if "reason" in args
        else "",
    )


def check_propose(ctx: TxContext, msg: Propose) -> None:
    get_governing_org(ctx.state, ctx.sender)
    limit = get_voting_period(ctx.state)
    if msg.voting_period is not None and msg.voting_period > limit:
        raise RuleViolation(f"voting_period {msg.voting_period} exceeds the chain's limit {limit}")
    verify_executable(ctx.state, msg.kind, msg.change)


def apply_propose(ctx: TxContext, msg: Propose) -> None:
    proposal_id = ctx.tx.tx_id.hex()
    period = msg.voting_period if msg.voting_period is not None else get_voting_period(ctx.state)
    proposal = {
        "change": dict(msg.change),
        "created_height": ctx.env.height,
        "decided_height": None,
        "expiry_height": ctx.env.height + period,
        "id": proposal_id,
        "kind": msg.kind,
        "proposer": ctx.sender,
        "proposer_org": get_governing_org(ctx.state, ctx.sender),
        "reason": msg.reason,
        "status": OPEN,
        "votes": {},
    }
    ctx.state.put_json(proposal_key(proposal_id), proposal)
    ctx.state.put(f"gov/by_height/{ctx.env.height:012d}/{proposal_id}", b"")
    ctx.emit(
        "governance.proposed",
        id=proposal_id,
        kind=msg.kind,
        proposer_org=proposal["proposer_org"],
        expiry_height=proposal["expiry_height"],
    )


def _take_org_id(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or ORG_ID.fullmatch(value) is None:
        raise InvalidTransaction(f"{name} must be an organization id: 1 to 64 of a-z 0-9 - _")
    return value


def _take_public_key(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= HEX:
        raise InvalidTransaction(
            f"{name} must be 64 lowercase hex characters (a 32-byte Ed25519 public key)"
        )
    return value


def _parse_org(value: Any) -> dict[str, Any]:
    obj = _nested(value, "org", frozenset({"id", "name", "roles"}))
    try:
        roles = take_name_list(obj, "roles", max_items=len(ORG_ROLES))
        unknown = sorted(set(roles) - ORG_ROLES)
        if unknown:
            raise InvalidTransaction(f"unknown role(s) {', '.join(unknown)}")
        return {
            "id": _take_org_id(obj, "id"),
            "name": take_str(obj, "name", max_chars=MAX_NAME_CHARS),
            "roles": sorted(roles),
        }
    except InvalidTransaction as exc:
        raise InvalidTransaction(f"org: {exc.message}") from exc


def _parse_admin(value: Any) -> dict[str, Any]:
    obj = _nested(value, "admin", frozenset({"public_key"}), frozenset({"alg", "name"}))
    try:
        alg = obj.get("alg", "ed25519")
        if alg not in SUITES:
            raise InvalidTransaction(f"alg must be one of {', '.join(SUITES)}")
        public_key = _take_public_key(obj, "public_key")
        name = take_str(obj, "name", max_chars=MAX_NAME_CHARS, min_chars=0) if "name" in obj else ""
    except InvalidTransaction as exc:
        raise InvalidTransaction(f"admin: {exc.message}") from exc
    address = compute_address(bytes.fromhex(public_key), alg)
    return {"address": address, "alg": alg, "name": name, "public_key": public_key}


def _nested(
    value: Any, name: str, required: frozenset[str], optional: frozenset[str] = frozenset()
) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidTransaction(f"{name} must be an object")
    try:
        require_fields(value, required, optional)
    except InvalidTransaction as exc:
        raise InvalidTransaction(f"{name}: {exc.message}") from exc
    return value


# -- processing: vote --------------------------------------------------------------------------


def parse_vote(args: Mapping[str, Any]) -> Vote:
    require_fields(args, frozenset({"proposal", "vote"}))
    proposal = args.get("proposal")
    if not isinstance(proposal, str) or len(proposal) != 64 or not set(proposal) <= HEX:
        raise InvalidTransaction("proposal must be a proposal id (64 lowercase hex characters)")
    vote = args.get("vote")
    if vote not in (YES, NO):
        raise InvalidTransaction('vote must be "yes" or "no"')
    return Vote(proposal=proposal, vote=vote)


def check_vote(ctx: TxContext, msg: Vote) -> None:
    proposal = ctx.state.get_json(proposal_key(msg.proposal))
    if proposal is None:
        raise NotFound(f"no proposal {msg.proposal}")
    org = get_governing_org(ctx.state, ctx.sender)
    if proposal["status"] != OPEN:
        raise Conflict(f"proposal {msg.proposal} is {proposal['status']}; voting is closed")
    if ctx.env.height > proposal["expiry_height"]:
        raise Conflict(
            f"proposal {msg.proposal} expired at height {proposal['expiry_height']}; "
            f"voting is closed"
        )
    if org in proposal["votes"]:
        raise Conflict(
            f"organization {org} has already voted {proposal['votes'][org]['vote']} "
            f"on proposal {msg.proposal}"
        )
    if compute_tally(ctx.state, _with_vote(proposal, org, msg.vote, ctx)).approved:
        try:
            verify_executable(ctx.state, proposal["kind"], proposal["change"])
        except (RuleViolation, NotFound) as exc:
            raise type(exc)(
                f"this vote would approve proposal {msg.proposal}, but it cannot be executed "
                f"now: {exc.message}"
            ) from exc


def apply_vote(ctx: TxContext, msg: Vote) -> None:
    proposal = ctx.state.get_json(proposal_key(msg.proposal))
    org = get_governing_org(ctx.state, ctx.sender)
    proposal = _with_vote(proposal, org, msg.vote, ctx)
    tally = compute_tally(ctx.state, proposal)
    ctx.emit(
        "governance.voted",
        id=msg.proposal,
        org=org,
        vote=msg.vote,
        yes=tally.yes,
        no=tally.no,
        members=tally.members,
    )
    if tally.approved:
        proposal = {**proposal, "status": APPROVED, "decided_height": ctx.env.height}
        ctx.emit("governance.approved", id=msg.proposal, kind=proposal["kind"])
        _EXECUTE[proposal["kind"]](ctx, proposal["change"])
    elif tally.rejected:
        proposal = {**proposal, "status": REJECTED, "decided_height": ctx.env.height}
        ctx.emit("governance.rejected", id=msg.proposal, kind=proposal["kind"])
    ctx.state.put_json(proposal_key(msg.proposal), proposal)


def _with_vote(proposal: Mapping[str, Any], org: str, vote: str, ctx: TxContext) -> dict[str, Any]:
    ballot = {"by": ctx.sender, "height": ctx.env.height, "vote": vote}
    return {**proposal, "votes": {**proposal["votes"], org: ballot}}


# -- execution of approved changes -------------------------------------------------------------


def apply_add_validator(ctx: TxContext, change: Mapping[str, Any]) -> None:
    validator = {"org": change["org"], "power": change["power"], "public_key": change["public_key"]}
    ctx.state.put_json(f"{VALIDATOR_PREFIX}{change['public_key']}", validator)
    ctx.set_validator_power(bytes.fromhex(change["public_key"]), change["power"], previous_power=0)
    ctx.emit("governance.validator_added", **validator)


def apply_remove_validator(ctx: TxContext, change: Mapping[str, Any]) -> None:
    validator = get_validator(ctx.state, change["public_key"])
    if validator is None:  # verify_executable ran first; kept for the type checker
        raise NotFound(f"{change['public_key']} is not a validator")
    ctx.state.delete(f"{VALIDATOR_PREFIX}{change['public_key']}")
    ctx.set_validator_power(
        bytes.fromhex(change["public_key"]), 0, previous_power=validator["power"]
    )
    ctx.emit("governance.validator_removed", org=validator["org"], public_key=change["public_key"])


def apply_add_member(ctx: TxContext, change: Mapping[str, Any]) -> None:
    """The organization and its admin account, written as genesis writes them."""
    org, admin = change["org"], change["admin"]
    account = {
        **admin,
        "active": True,
        "org": org["id"],
        "roles": list(NEW_MEMBER_ADMIN_ROLES),
    }
    ctx.state.put_json(f"identity/org/{org['id']}", dict(org))
    ctx.state.put_json(f"identity/account/{admin['address']}", account)
    ctx.state.put(f"identity/member/{org['id']}/{admin['address']}", b"")
    ctx.state.put_json(
        f"{MEMBER_PREFIX}{org['id']}", {"org": org["id"], "since_height": ctx.env.height}
    )
    ctx.emit("governance.member_added", org=org["id"], admin=admin["address"])


def apply_remove_member(ctx: TxContext, change: Mapping[str, Any]) -> None:
    """Membership ends; the organization's accounts are deactivated and its validators removed."""
    org_id = change["org"]
    ctx.state.delete(f"{MEMBER_PREFIX}{org_id}")
    deactivated = []
    for key, _ in list(ctx.state.iter_prefix(f"identity/member/{org_id}/")):
        address = key.rsplit("/", 1)[1]
        account = identity.get_account(ctx.state, address)
        if account is not None and account["active"]:
            ctx.state.put_json(f"identity/account/{address}", {**account, "active": False})
            deactivated.append(address)
    removed = [v for v in get_validators(ctx.state) if v["org"] == org_id]
    for validator in removed:
        apply_remove_validator(ctx, {"public_key": validator["public_key"]})
    ctx.emit(
        "governance.member_removed",
        org=org_id,
        deactivated=deactivated,
        validators_removed=[v["public_key"] for v in removed],
    )


_EXECUTE = {
    ADD_VALIDATOR: apply_add_validator,
    REMOVE_VALIDATOR: apply_remove_validator,
    ADD_MEMBER: apply_add_member,
    REMOVE_MEMBER: apply_remove_member,
}

METHODS = {
    "propose": Method(parse=parse_propose, check=check_propose, apply=apply_propose),
    "vote": Method(parse=parse_vote, check=check_vote, apply=apply_vote),
}
