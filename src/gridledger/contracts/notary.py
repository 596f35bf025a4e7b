"""Evidence preservation: records of document digests, co-signed by the parties and endorsed by
the organizations the record's policy names (typically the notary office and the judicial
authentication institution).

- ``record``: one document's SHA-256 digest, its title, type and metadata, the parties (each of
  whom must sign the transaction) and the endorsing organizations its policy requires.
- ``record_batch``: the RFC 9162 Merkle root over the SHA-256 digests (32 raw bytes each, in
  order) of ``count`` documents. Each document is later proved by its own inclusion path.
- ``endorse``: an endorser account of a named organization confirms the record.
- ``refuse``: an endorser account of a named organization declines it, with a reason (the
  document it received does not match the digest, or never arrived).
- ``dispute``: a party contests the record, with a reason.
- ``revoke``: a party withdraws the record.

Lifecycle::

    pending ──▶ endorsed (every named org endorsed) ──┐
       └──────▶ refused (one named org refused) ──────┤
    recorded (no endorsers named) ────────────────────┴─▶ disputed ──▶ revoked

    (a pending record may be disputed too; every status but revoked may be revoked)

Nothing is ever deleted: each change is appended to the record's ``history`` and is an entry of
the evidence log, so a certificate proves the record's whole life with inclusion paths.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gridledger.contracts import identity
from gridledger.contracts.args import (
    require_fields,
    take_hex32,
    take_int,
    take_name_list,
    take_object,
    take_str,
)
from gridledger.errors import Conflict, InvalidTransaction, NotFound, RuleViolation, Unauthorized
from gridledger.ledger.context import Method, TxContext
from gridledger.ledger.state import State
from gridledger.ledger.tx import Transaction, TxSignature

# -- constants ---------------------------------------------------------------------------------

ALGORITHMS = ("sha256",)
MAX_TITLE_CHARS = 200
MAX_TYPE_CHARS = 64
MAX_METADATA_BYTES = 4096
MAX_METADATA_DEPTH = 8  # a certificate nests metadata 7 levels deep; the codec allows 32
MAX_PARTIES = 16
MAX_ENDORSERS = 8
MAX_BATCH_COUNT = 10_000_000
MAX_NOTE_CHARS = 500
MAX_REASON_CHARS = 500
PENDING, ENDORSED, RECORDED = "pending", "endorsed", "recorded"
REFUSED, DISPUTED, REVOKED = "refused", "disputed", "revoked"
# The statuses each party action may start from; endorse and refuse need PENDING.
DISPUTABLE = frozenset({RECORDED, PENDING, ENDORSED, REFUSED})
REVOCABLE = frozenset({RECORDED, PENDING, ENDORSED, REFUSED, DISPUTED})

# -- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    digest: str
    algorithm: str
    count: int  # 1 for a single document; the number of leaves for a batch
    kind: str  # "document" or "batch"
    title: str
    record_type: str
    metadata: Mapping[str, Any]
    parties: tuple[str, ...]
    endorsers: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Endorse:
    digest: str
    org: str
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Refuse:
    digest: str
    org: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyAction:
    """``dispute`` (reason required) or ``revoke`` (reason optional) by one of the parties."""

    action: str
    digest: str
    reason: str


# -- predicates --------------------------------------------------------------------------------


def find_signing_party(record: Mapping[str, Any], signers: tuple[str, ...]) -> str | None:
    """The first signer (in signature order, the sender first) who is a party of the record."""
    for signer in signers:
        if signer in record["parties"]:
            return signer
    return None


def find_decision(record: Mapping[str, Any], org: str) -> str | None:
    """``"endorse"`` or ``"refuse"`` if ``org`` has already decided on the record, else None."""
    for change in record["history"]:
        if change["org"] == org and change["action"] in ("endorse", "refuse"):
            return str(change["action"])
    return None


def compute_party_signatures(tx: Transaction, parties: Sequence[str]) -> list[dict[str, str]]:
    """Each party's signature of the recording transaction, in the order of ``parties``: the
    record shows who signed without the transaction beside it (check_record made sure every
    party signed)."""
    by_address: dict[str, TxSignature] = {}
    for sig in tx.signatures:
        by_address.setdefault(sig.address, sig)
    return [
        {
            "alg": by_address[party].alg,
            "party": party,
            "public_key": by_address[party].public_key.hex(),
            "signature": by_address[party].signature.hex(),
        }
        for party in parties
    ]


# -- readers -----------------------------------------------------------------------------------


def record_key(digest: str) -> str:
    return f"notary/record/{digest}"


def get_record(state: State, digest: str) -> dict[str, Any] | None:
    record: dict[str, Any] | None = state.get_json(record_key(digest))
    return record


def iter_records_by_party(state: State, party: str) -> Iterator[str]:
    """Digests of the records naming ``party``, oldest first."""
    prefix = f"notary/by_party/{party}/"
    for key, _ in state.iter_prefix(prefix):
        yield key.rsplit("/", 1)[1]


def iter_pending_for_org(state: State, org: str) -> Iterator[str]:
    """Digests of records still waiting for ``org``'s endorsement, in digest order."""
    for key, _ in state.iter_prefix(f"notary/pending/{org}/"):
        yield key.rsplit("/", 1)[1]


# -- processing: record and record_batch -------------------------------------------------------

_COMMON = frozenset({"title", "record_type", "parties"})
_OPTIONAL = frozenset({"metadata", "endorsers", "algorithm"})


def parse_record(args: Mapping[str, Any]) -> Record:
    require_fields(args, _COMMON | {"digest"}, _OPTIONAL)
    return _parse_common(args, digest=take_hex32(args, "digest"), kind="document", count=1)


def parse_record_batch(args: Mapping[str, Any]) -> Record:
    require_fields(args, _COMMON | {"root", "count"}, _OPTIONAL)
    count = take_int(args, "count", minimum=1, maximum=MAX_BATCH_COUNT)
    return _parse_common(args, digest=take_hex32(args, "root"), kind="batch", count=count)


def _parse_common(args: Mapping[str, Any], *, digest: str, kind: str, count: int) -> Record:
    algorithm = args.get("algorithm", "sha256")
    if algorithm not in ALGORITHMS:
        raise InvalidTransaction(f"algorithm {algorithm!r} is not supported; use sha256")
    return Record(
        digest=digest,
        algorithm=algorithm,
        count=count,
        kind=kind,
        title=take_str(args, "title", max_chars=MAX_TITLE_CHARS),
        record_type=take_str(args, "record_type", max_chars=MAX_TYPE_CHARS),
        metadata=take_object(
            args, "metadata", max_bytes=MAX_METADATA_BYTES, max_depth=MAX_METADATA_DEPTH
        ),
        parties=take_name_list(args, "parties", max_items=MAX_PARTIES, min_items=1, addresses=True),
        endorsers=take_name_list(args, "endorsers", max_items=MAX_ENDORSERS)
        if "endorsers" in args
        else (),
    )


def check_record(ctx: TxContext, msg: Record) -> None:
    for party in msg.parties:
        if party not in ctx.signers:
            raise Unauthorized(f"party {party} did not sign the transaction; every party must sign")
    for org_id in msg.endorsers:
        org = identity.get_org(ctx.state, org_id)
        if org is None:
            raise RuleViolation(f"endorsing organization {org_id!r} does not exist")
        if "endorser" not in org["roles"]:
            raise RuleViolation(f"organization {org_id!r} is not an endorsing organization")
    existing = get_record(ctx.state, msg.digest)
    if existing is not None:
        raise Conflict(
            f"digest {msg.digest} is already recorded (height {existing['height']}, "
            f"tx {existing['tx_id']})"
        )


def apply_record(ctx: TxContext, msg: Record) -> None:
    kind = "notary.record" if msg.kind == "document" else "notary.record_batch"
    log_index = ctx.append_log(kind)
    record = {
        "algorithm": msg.algorithm,
        "count": msg.count,
        "digest": msg.digest,
        "endorsements": [],
        "endorsers": list(msg.endorsers),
        "height": ctx.env.height,
        "history": [_change(ctx, "record", log_index, by=ctx.sender)],
        "kind": msg.kind,
        "log_index": log_index,
        "metadata": dict(msg.metadata),
        "parties": list(msg.parties),
        "record_type": msg.record_type,
        "signatures": compute_party_signatures(ctx.tx, msg.parties),
        "status": PENDING if msg.endorsers else RECORDED,
        "submitter": ctx.sender,
        "time_ms": ctx.env.time_ms,
        "title": msg.title,
        "tx_id": ctx.tx.tx_id.hex(),
    }
    ctx.state.put_json(record_key(msg.digest), record)
    for party in msg.parties:
        ctx.state.put(f"notary/by_party/{party}/{ctx.env.height:012d}/{msg.digest}", b"")
    for org_id in msg.endorsers:
        ctx.state.put(f"notary/pending/{org_id}/{msg.digest}", b"")
    ctx.emit(
        "notary.recorded",
        digest=msg.digest,
        kind=msg.kind,
        count=msg.count,
        log_index=log_index,
        endorsers=list(msg.endorsers),
    )


def _change(
    ctx: TxContext, action: str, log_index: int, *, by: str, org: str = "", reason: str = ""
) -> dict[str, Any]:
    """One entry of a record's ``history``: what happened, by whom, in which block and tx."""
    return {
        "action": action,
        "by": by,
        "height": ctx.env.height,
        "log_index": log_index,
        "org": org,
        "reason": reason,
        "time_ms": ctx.env.time_ms,
        "tx_id": ctx.tx.tx_id.hex(),
    }


def _require_record(ctx: TxContext, digest: str) -> dict[str, Any]:
    record = get_record(ctx.state, digest)
    if record is None:
        raise NotFound(f"no record with digest {digest}")
    return record


def _write_change(
    ctx: TxContext, record: dict[str, Any], change: dict[str, Any], status: str, **extra: Any
) -> None:
    """Store the record with ``change`` appended to its history and its new status. A record
    that leaves ``pending`` is no longer waiting for any organization."""
    if record["status"] == PENDING and status != PENDING:
        for org_id in record["endorsers"]:
            key = f"notary/pending/{org_id}/{record['digest']}"
            if ctx.state.get(key) is not None:
                ctx.state.delete(key)
    updated = {**record, **extra, "history": [*record["history"], change], "status": status}
    ctx.state.put_json(record_key(record["digest"]), updated)


# -- processing: endorse and refuse (by a named organization) ----------------------------------


def parse_endorse(args: Mapping[str, Any]) -> Endorse:
    require_fields(args, frozenset({"digest", "org"}), frozenset({"note"}))
    return Endorse(
        digest=take_hex32(args, "digest"),
        org=take_str(args, "org", max_chars=64),
        note=take_str(args, "note", max_chars=MAX_NOTE_CHARS, min_chars=0)
        if "note" in args
        else "",
    )


def parse_refuse(args: Mapping[str, Any]) -> Refuse:
    require_fields(args, frozenset({"digest", "org", "reason"}))
    return Refuse(
        digest=take_hex32(args, "digest"),
        org=take_str(args, "org", max_chars=64),
        reason=take_str(args, "reason", max_chars=MAX_REASON_CHARS),
    )


def _check_endorser_decision(ctx: TxContext, digest: str, org: str) -> None:
    """The rules ``endorse`` and ``refuse`` share: a named organization's endorser account
    decides once, while the record is pending."""
    record = _require_record(ctx, digest)
    if org not in record["endorsers"]:
        raise Unauthorized(
            f"organization {org!r} is not an endorser named by the policy of record "
            f"{digest} (named: {', '.join(record['endorsers']) or 'none'})"
        )
    if not identity.has_role(ctx.state, ctx.sender, org, "endorser"):
        raise Unauthorized(f"sender {ctx.sender} is not an endorser account of organization {org}")
    done = find_decision(record, org)
    if done is not None:
        word = "endorsed" if done == "endorse" else "refused"
        raise Conflict(f"organization {org} has already {word} record {digest}")
    if record["status"] != PENDING:
        raise Conflict(
            f"record {digest} is {record['status']}; it no longer waits for endorsements"
        )


def check_endorse(ctx: TxContext, msg: Endorse) -> None:
    _check_endorser_decision(ctx, msg.digest, msg.org)


def check_refuse(ctx: TxContext, msg: Refuse) -> None:
    _check_endorser_decision(ctx, msg.digest, msg.org)


def apply_endorse(ctx: TxContext, msg: Endorse) -> None:
    record = _require_record(ctx, msg.digest)
    log_index = ctx.append_log("notary.endorse")
    endorsement = {
        "by": ctx.sender,
        "height": ctx.env.height,
        "log_index": log_index,
        "note": msg.note,
        "org": msg.org,
        "time_ms": ctx.env.time_ms,
        "tx_id": ctx.tx.tx_id.hex(),
    }
    endorsements = [*record["endorsements"], endorsement]
    done = {e["org"] for e in endorsements} >= set(record["endorsers"])
    status = ENDORSED if done else PENDING
    change = _change(ctx, "endorse", log_index, by=ctx.sender, org=msg.org, reason=msg.note)
    _write_change(ctx, record, change, status, endorsements=endorsements)
    ctx.state.delete(f"notary/pending/{msg.org}/{msg.digest}")
    ctx.emit("notary.endorsed", digest=msg.digest, org=msg.org, status=status, log_index=log_index)


def apply_refuse(ctx: TxContext, msg: Refuse) -> None:
    record = _require_record(ctx, msg.digest)
    log_index = ctx.append_log("notary.refuse")
    change = _change(ctx, "refuse", log_index, by=ctx.sender, org=msg.org, reason=msg.reason)
    _write_change(ctx, record, change, REFUSED)
    ctx.emit(
        "notary.refused", digest=msg.digest, org=msg.org, reason=msg.reason, log_index=log_index
    )


# -- processing: dispute and revoke (by a party) -----------------------------------------------


def parse_dispute(args: Mapping[str, Any]) -> PartyAction:
    require_fields(args, frozenset({"digest", "reason"}))
    return PartyAction(
        action="dispute",
        digest=take_hex32(args, "digest"),
        reason=take_str(args, "reason", max_chars=MAX_REASON_CHARS),
    )


def parse_revoke(args: Mapping[str, Any]) -> PartyAction:
    require_fields(args, frozenset({"digest"}), frozenset({"reason"}))
    return PartyAction(
        action="revoke",
        digest=take_hex32(args, "digest"),
        reason=take_str(args, "reason", max_chars=MAX_REASON_CHARS, min_chars=0)
        if "reason" in args
        else "",
    )


def check_party_action(ctx: TxContext, msg: PartyAction) -> None:
    record = _require_record(ctx, msg.digest)
    if find_signing_party(record, ctx.signers) is None:
        raise Unauthorized(
            f"only a party of record {msg.digest} may {msg.action} it; none of its parties "
            f"({', '.join(record['parties'])}) signed the transaction"
        )
    allowed = DISPUTABLE if msg.action == "dispute" else REVOCABLE
    if record["status"] not in allowed:
        raise Conflict(f"record {msg.digest} is already {record['status']}; cannot {msg.action} it")


def apply_party_action(ctx: TxContext, msg: PartyAction) -> None:
    record = _require_record(ctx, msg.digest)
    party = find_signing_party(record, ctx.signers)
    if party is None:  # check_party_action ran first; kept for the type checker
        raise Unauthorized(f"no party of record {msg.digest} signed the transaction")
    log_index = ctx.append_log(f"notary.{msg.action}")
    change = _change(ctx, msg.action, log_index, by=party, reason=msg.reason)
    status = DISPUTED if msg.action == "dispute" else REVOKED
    _write_change(ctx, record, change, status)
    ctx.emit(
        f"notary.{status}", digest=msg.digest, by=party, reason=msg.reason, log_index=log_index
    )


METHODS = {
    "record": Method(parse=parse_record, check=check_record, apply=apply_record),
    "record_batch": Method(parse=parse_record_batch, check=check_record, apply=apply_record),
    "endorse": Method(parse=parse_endorse, check=check_endorse, apply=apply_endorse),
    "refuse": Method(parse=parse_refuse, check=check_refuse, apply=apply_refuse),
    "dispute": Method(parse=parse_dispute, check=check_party_action, apply=apply_party_action),
    "revoke": Method(parse=parse_revoke, check=check_party_action, apply=apply_party_action),
}
