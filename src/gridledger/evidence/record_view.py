"""The notary record as a certificate shows it, recomputed from the record's signed log entries.

A certificate's ``record`` is a readable summary; the verifier trusts none of it. It replays the
record's own log entry and each later change (endorse, refuse, dispute, revoke) through the same
status rules the notary contract applies, and the result must equal the summary field by field.
A sequence of changes the contract would have refused (an endorsement after a refusal, a second
decision by one organization, a revocation not signed by a party...) is InvalidProof.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gridledger.contracts import notary
from gridledger.errors import InvalidProof
from gridledger.ledger.tx import Transaction

RECORD_KINDS = {"notary.record": "document", "notary.record_batch": "batch"}
CHANGE_KINDS = {
    "notary.endorse": "endorse",
    "notary.refuse": "refuse",
    "notary.dispute": "dispute",
    "notary.revoke": "revoke",
}


def compute_record_view(
    record_item: Mapping[str, Any],
    tx: Transaction,
    changes: list[tuple[Mapping[str, Any], Transaction]],
) -> dict[str, Any]:
    """The notary contract's record, recomputed from its signed log entries: the record's own
    entry, then its later changes (endorse, refuse, dispute, revoke) in log order, replayed by
    the contract's rules. A change the contract would have refused raises InvalidProof."""
    entry, args = record_item["entry"], tx.body.args
    kind = RECORD_KINDS[entry["kind"]]
    digest = args["root"] if kind == "batch" else args["digest"]
    life = _Lifecycle(
        endorsers=list(args.get("endorsers", [])),
        parties=list(args["parties"]),
        history=[_change_view(record_item, "record", tx.sender)],
    )
    last_index = record_item["index"]
    for item, change_tx in changes:
        action = CHANGE_KINDS.get(item["entry"]["kind"])
        if action is None or change_tx.body.args.get("digest") != digest:
            raise InvalidProof(f"log entry {item['index']} is not a change of this record")
        if item["index"] <= last_index:
            raise InvalidProof(f"log entry {item['index']} is out of log order")
        last_index = item["index"]
        life.apply(action, item, change_tx)
    return {
        "algorithm": args.get("algorithm", "sha256"),
        "count": args["count"] if kind == "batch" else 1,
        "digest": digest,
        "endorsements": life.endorsements,
        "endorsers": life.endorsers,
        "height": entry["height"],
        "history": life.history,
        "kind": kind,
        "log_index": record_item["index"],
        "metadata": dict(args.get("metadata", {})),
        "parties": life.parties,
        "record_type": args["record_type"],
        "signatures": notary.compute_party_signatures(tx, life.parties),
        "status": life.status,
        "submitter": tx.sender,
        "time_ms": entry["time_ms"],
        "title": args["title"],
        "tx_id": entry["tx_id"],
    }


@dataclass(slots=True, kw_only=True)
class _Lifecycle:
    """The record's status machine, as the notary contract runs it (docs/contracts/notary.md)."""

    endorsers: list[str]
    parties: list[str]
    history: list[dict[str, Any]]
    endorsements: list[dict[str, Any]] = field(default_factory=list)
    status: str = ""

    def __post_init__(self) -> None:
        self.status = notary.PENDING if self.endorsers else notary.RECORDED

    def apply(self, action: str, item: Mapping[str, Any], tx: Transaction) -> None:
        args, where = tx.body.args, f"log entry {item['index']}"
        if action in ("endorse", "refuse"):
            org = args["org"]
            decided = {c["org"] for c in self.history if c["action"] in ("endorse", "refuse")}
            if org not in self.endorsers or org in decided:
                raise InvalidProof(f"{action} by {org!r} is not one the record's policy asks for")
            if self.status != notary.PENDING:
                raise InvalidProof(f"{where}: {action} of a record that is {self.status}")
            reason = args.get("note", "") if action == "endorse" else args["reason"]
            self.history.append(_change_view(item, action, tx.sender, org=org, reason=reason))
            if action == "refuse":
                self.status = notary.REFUSED
                return
            self.endorsements.append(_endorsement_view(item, tx))
            done = {e["org"] for e in self.endorsements} >= set(self.endorsers)
            self.status = notary.ENDORSED if done else notary.PENDING
            return
        party = next((s for s in tx.signers if s in self.parties), None)
        if party is None:
            raise InvalidProof(f"{where}: {action} is not signed by a party of the record")
        allowed = notary.DISPUTABLE if action == "dispute" else notary.REVOCABLE
        if self.status not in allowed:
            raise InvalidProof(f"{where}: {action} of a record that is {self.status}")
        self.history.append(_change_view(item, action, party, reason=args.get("reason", "")))
        self.status = notary.DISPUTED if action == "dispute" else notary.REVOKED


def _change_view(
    item: Mapping[str, Any], action: str, by: str, *, org: str = "", reason: str = ""
) -> dict[str, Any]:
    entry = item["entry"]
    return {
        "action": action,
        "by": by,
        "height": entry["height"],
        "log_index": item["index"],
        "org": org,
        "reason": reason,
        "time_ms": entry["time_ms"],
        "tx_id": entry["tx_id"],
    }


def _endorsement_view(item: Mapping[str, Any], tx: Transaction) -> dict[str, Any]:
    entry = item["entry"]
    return {
        "by": tx.sender,
        "height": entry["height"],
        "log_index": item["index"],
        "note": tx.body.args.get("note", ""),
        "org": tx.body.args["org"],
        "time_ms": entry["time_ms"],
        "tx_id": entry["tx_id"],
    }
