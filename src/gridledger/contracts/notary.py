"""Evidence preservation: records of document digests, co-signed by the parties and endorsed by
the organizations the record's policy names (typically the notary office and the judicial
authentication institution).

- ``record``: one document's SHA-256 digest, its title, type and metadata, the parties (each of
  whom must sign the transaction) and the endorsing organizations its policy requires.
- ``record_batch``: the RFC 9162 Merkle root over the SHA-256 digests (32 raw bytes each, in
  order) of ``count`` documents. Each document is later proved by its own inclusion path.
- ``endorse``: an endorser account of a named organization confirms the record.

Status: ``pending`` until every required organization has endorsed, then ``endorsed``; a record
that requires no endorsement is ``recorded``. Every record and endorsement is also an entry of the
evidence log, so a certificate can prove it with an inclusion path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
PENDING, ENDORSED, RECORDED = "pending", "endorsed", "recorded"

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
        "kind": msg.kind,
        "log_index": log_index,
        "metadata": dict(msg.metadata),
        "parties": list(msg.parties),
        "record_type": msg.record_type,
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


# -- processing: endorse -----------------------------------------------------------------------


def parse_endorse(args: Mapping[str, Any]) -> Endorse:
    require_fields(args, frozenset({"digest", "org"}), frozenset({"note"}))
    return Endorse(
        digest=take_hex32(args, "digest"),
        org=take_str(args, "org", max_chars=64),
        note=take_str(args, "note", max_chars=MAX_NOTE_CHARS, min_chars=0)
        if "note" in args
        else "",
    )


def check_endorse(ctx: TxContext, msg: Endorse) -> None:
    record = get_record(ctx.state, msg.digest)
    if record is None:
        raise NotFound(f"no record with digest {msg.digest}")
    if msg.org not in record["endorsers"]:
        raise Unauthorized(
            f"organization {msg.org!r} is not an endorser named by the policy of record "
            f"{msg.digest} (named: {', '.join(record['endorsers']) or 'none'})"
        )
    if not identity.has_role(ctx.state, ctx.sender, msg.org, "endorser"):
        raise Unauthorized(
            f"sender {ctx.sender} is not an endorser account of organization {msg.org}"
        )
    if any(e["org"] == msg.org for e in record["endorsements"]):
        raise Conflict(f"organization {msg.org} has already endorsed record {msg.digest}")


def apply_endorse(ctx: TxContext, msg: Endorse) -> None:
    record = get_record(ctx.state, msg.digest)
    if record is None:  # check_endorse ran first; kept for the type checker
        raise NotFound(f"no record with digest {msg.digest}")
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
    ctx.state.put_json(
        record_key(msg.digest), {**record, "endorsements": endorsements, "status": status}
    )
    ctx.state.delete(f"notary/pending/{msg.org}/{msg.digest}")
    ctx.emit("notary.endorsed", digest=msg.digest, org=msg.org, status=status, log_index=log_index)


METHODS = {
    "record": Method(parse=parse_record, check=check_record, apply=apply_record),
    "record_batch": Method(parse=parse_record_batch, check=check_record, apply=apply_record),
    "endorse": Method(parse=parse_endorse, check=check_endorse, apply=apply_endorse),
}
