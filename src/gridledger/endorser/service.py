"""The endorser service: follow the records naming one organization and decide on each.

Each round it asks its own node for the records still waiting for the organization
(``GET /v1/endorsements/pending``, a long poll that returns as soon as a new block is committed
or a document is delivered to the organization), and for each record

1. reads the sealed copy delivered to the organization (``GET /v1/private/documents/{digest}``,
   a request signed with the service's endorser key);
2. opens it with the organization's delivery key and computes its SHA-256;
3. decides: a match is endorsed (policy ``auto``) or queued for a person (``manual``); a copy that
   does not open, a digest that does not match, or no copy within the grace period after the
   service first saw the record, is refused on the ledger with the reason.

The service never busy-polls: it sleeps in the long poll until a block, a delivery, or the end
of the earliest grace period wakes it. Decisions of one round go to the node in one batch and are
awaited until committed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridledger.client import Client
from gridledger.crypto import PrivateKey
from gridledger.endorser.policy import AUTO, Policy
from gridledger.endorser.queue import APPROVED, REJECTED, ReviewQueue
from gridledger.errors import NodeError, NotFound, RuleViolation, StoreError
from gridledger.keys import read_key_file
from gridledger.net.layout import read_network
from gridledger.privstore.sealed import DeliveryKey, SealError, read_delivery_key_file

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 30.0
LONG_POLL_MS = 10_000
MIN_WAIT_MS = 50
MAX_RECORDS_PER_ROUND = 1_000  # the API's limit; more wait for the next round
RETRY_AFTER_S = 5.0
ENDORSE, REFUSE, QUEUE, WAIT = "endorse", "refuse", "queue", "wait"
MATCHED = "the SHA-256 of the delivered document matches the recorded digest"


@dataclass(frozen=True, slots=True, kw_only=True)
class EndorserConfig:
    org: str
    node_url: str
    key: PrivateKey  # an endorser account of ``org``
    delivery_key: DeliveryKey  # ``org``'s X25519 delivery key
    state_dir: Path
    policy: Policy = field(default_factory=Policy)
    grace_s: float = DEFAULT_GRACE_S


def config_from_network(
    directory: Path, org: str, *, policy: Policy, grace_s: float = DEFAULT_GRACE_S
) -> EndorserConfig:
    """Everything from a ``gridledger net`` directory: the org's API, endorser key, delivery
    key, and ``DIR/<org>/endorser`` for the review queue."""
    node = read_network(directory).node(org)
    return EndorserConfig(
        org=org,
        node_url=node.api_url,
        key=read_key_file(node.key_file("endorser")),
        delivery_key=read_delivery_key_file(node.keys_dir / f"{org}-delivery.json"),
        state_dir=node.root / "endorser",
        policy=policy,
        grace_s=grace_s,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    digest: str
    action: str  # endorse, refuse, queue, wait
    reason: str


def compute_verdict(record: Mapping[str, Any], document: bytes) -> str | None:
    """None when ``document`` is the recorded one, else the reason it is not."""
    found = hashlib.sha256(document).hexdigest()
    if found != record["digest"]:
        return (
            f"the delivered document's SHA-256 {found} does not match the recorded digest "
            f"{record['digest']}"
        )
    return None


class EndorserService:
    def __init__(self, config: EndorserConfig, *, client: Client | None = None) -> None:
        self.config = config
        self.client = client or Client(config.node_url)
        self.queue = ReviewQueue(config.state_dir)
        self.height = -1
        self.deliveries = -1
        self._first_seen: dict[str, float] = {}  # records waiting for their document
        self._settled: set[str] = set()  # decided here; gone from the pending list soon
        self._retry_at: dict[str, float] = {}

    def close(self) -> None:
        self.client.close()
        self.queue.close()

    # -- the loop ------------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event | None = None,
        on_decision: Callable[[Decision], None] | None = None,
    ) -> None:
        """Decide on records until ``stop`` is set; an unreachable node is retried, not fatal."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                decisions = self.run_once(self._wait_ms())
            except (NodeError, StoreError) as exc:  # the node is restarting: try again soon
                log.warning("node %s unavailable: %s", self.config.node_url, exc.message)
                stop.wait(1.0)
                continue
            for decision in decisions:
                if decision.action != WAIT and on_decision is not None:
                    on_decision(decision)

    def _wait_ms(self) -> int:
        """How long the next long poll may sleep: until the earliest grace period ends."""
        if not self._first_seen:
            return LONG_POLL_MS
        until = min(self._first_seen.values()) + self.config.grace_s - time.monotonic()
        return max(MIN_WAIT_MS, min(LONG_POLL_MS, int(until * 1000) + MIN_WAIT_MS))

    def run_once(self, wait_ms: int = 0) -> list[Decision]:
        """One round: wait for a block above the last one seen (at most ``wait_ms``), examine
        every waiting record, submit the decisions and wait for their commit."""
        answer = self.client.pending_records(
            self.config.org,
            after_height=self.height,
            after_deliveries=self.deliveries,
            wait_ms=wait_ms,
            limit=MAX_RECORDS_PER_ROUND,
        )
        self.height, self.deliveries = int(answer["height"]), int(answer["deliveries"])
        records = [r for r in answer["records"] if r is not None]
        pending = {r["digest"] for r in records}
        self._settled &= pending
        self._first_seen = {d: t for d, t in self._first_seen.items() if d in pending}
        now = time.monotonic()
        decisions = []
        for record in records:
            digest = record["digest"]
            if digest in self._settled or self._retry_at.get(digest, 0.0) > now:
                continue
            queued = self.queue.get(digest)
            if queued is not None:
                continue  # a person decides
            decision = self.examine(record)
            if decision.action != WAIT:
                self._first_seen.pop(digest, None)
            decisions.append(decision)
        self._submit([d for d in decisions if d.action in (ENDORSE, REFUSE)])
        for decision in decisions:
            if decision.action == QUEUE:
                record = next(r for r in records if r["digest"] == decision.digest)
                self.queue.add(record, self.config.org, decision.reason, _now_ms())
                log.info("queued %s for review: %s", decision.digest, decision.reason)
        return decisions

    # -- one record ----------------------------------------------------------------------------

    def examine(self, record: Mapping[str, Any]) -> Decision:
        digest = record["digest"]
        if record["kind"] == "batch":
            return Decision(
                digest=digest, action=QUEUE, reason="a batch record is checked by a person"
            )
        problem = self._find_problem(record)
        if problem is not None:
            return problem
        action = ENDORSE if self.config.policy.mode_for(record) == AUTO else QUEUE
        return Decision(digest=digest, action=action, reason=MATCHED)

    def _find_problem(self, record: Mapping[str, Any]) -> Decision | None:
        """WAIT while the document may still arrive; REFUSE when what arrived (or nothing, after
        the grace period) cannot be the recorded document; None when it is."""
        digest = record["digest"]
        self._first_seen.setdefault(digest, time.monotonic())
        try:
            document = self.open_document(digest)
        except NotFound:
            if time.monotonic() - self._first_seen[digest] < self.config.grace_s:
                return Decision(digest=digest, action=WAIT, reason="document not delivered yet")
            reason = (
                f"no document was delivered to {self.config.org} within "
                f"{self.config.grace_s:g} s of the record's commit"
            )
            return Decision(digest=digest, action=REFUSE, reason=reason)
        except SealError as exc:
            return Decision(digest=digest, action=REFUSE, reason=exc.message)
        mismatch = compute_verdict(record, document)
        return None if mismatch is None else Decision(digest=digest, action=REFUSE, reason=mismatch)

    def open_document(self, digest: str) -> bytes:
        """The document delivered to this organization, opened; NotFound if none was."""
        copy = self.client.private_document(digest, self.config.key)
        return self.config.delivery_key.open(base64.b64decode(copy["ciphertext"]))

    # -- decisions on the ledger ---------------------------------------------------------------

    def _submit(self, decisions: list[Decision]) -> None:
        if not decisions:
            return
        status = self.client.status()
        txs = [
            self.client.build_tx(
                "notary",
                d.action,
                _decision_args(d, self.config.org),
                [self.config.key],
                height=int(status["height"]),
            )
            for d in decisions
        ]
        results = self.client.submit_many(txs)
        for decision, result in zip(decisions, results, strict=True):
            if result.get("status") == "committed":
                self._settled.add(decision.digest)
                log.info("%s %s: %s", decision.action, decision.digest, decision.reason)
            else:
                self._retry_at[decision.digest] = time.monotonic() + RETRY_AFTER_S
                log.warning("%s of %s not committed: %s", decision.action, decision.digest, result)

    def approve(self, digest: str, note: str = "") -> dict[str, Any]:
        """A person's endorsement of a queued record, after checking its document once more."""
        record = self._pending_record(digest)
        if record["kind"] != "batch":
            mismatch = compute_verdict(record, self.open_document(digest))
            if mismatch is not None:
                raise RuleViolation(f"not endorsed: {mismatch}")
        reason = note or "approved after review"
        result = self._decide_now(Decision(digest=digest, action=ENDORSE, reason=reason))
        self._mark(digest, APPROVED)
        return result

    def reject(self, digest: str, reason: str) -> dict[str, Any]:
        """A person's refusal of a queued (or any waiting) record."""
        self._pending_record(digest)
        result = self._decide_now(Decision(digest=digest, action=REFUSE, reason=reason))
        self._mark(digest, REJECTED)
        return result

    def _pending_record(self, digest: str) -> dict[str, Any]:
        record = self.client.record(digest)
        if record["digest"] != digest:
            raise NotFound(f"{digest} is a member of batch {record['digest']}; decide on the batch")
        if self.config.org not in record["endorsers"]:
            raise RuleViolation(f"record {digest} does not name {self.config.org} as an endorser")
        if record["status"] != "pending" or any(
            c["org"] == self.config.org for c in record.get("history", [])
        ):
            raise RuleViolation(
                f"record {digest} is {record['status']} and no longer waits for {self.config.org}"
            )
        return record

    def _decide_now(self, decision: Decision) -> dict[str, Any]:
        tx = self.client.build_tx(
            "notary", decision.action, _decision_args(decision, self.config.org), [self.config.key]
        )
        return self.client.submit(tx)

    def _mark(self, digest: str, state: str) -> None:
        if self.queue.get(digest) is not None:
            self.queue.decide(digest, state, _now_ms())


def _decision_args(decision: Decision, org: str) -> dict[str, Any]:
    text = decision.reason[:500]
    if decision.action == ENDORSE:
        return {"digest": decision.digest, "org": org, "note": text}
    return {"digest": decision.digest, "org": org, "reason": text}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
