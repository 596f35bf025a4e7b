"""``audit --peer``: compare two nodes' evidence logs through their signed checkpoints.

Each node signs checkpoints of its log (``gridledger.audit.checkpoint``). Given the peer and,
optionally, our own node, the audit

1. fetches each node's checkpoints and verifies every signature (against a pinned key when one is
   given), then each node's current log size and root (after the checkpoints, so an honest node's
   log is never shorter than its newest checkpoint);
2. **self-consistency**: each node's current log must extend each of its own checkpoints (an RFC
   9162 consistency proof from the checkpointed size and root to the current root, asked of that
   node). A node that rewrote or truncated its log after checkpointing it fails here;
3. **heads**: the two current logs must be consistent (proof asked of the node with the larger
   log; equal sizes need equal roots). If not, a binary search over sizes, comparing the two
   nodes' roots, finds the first size where they differ;
4. **cross**: each node's log must extend the other's checkpoints (or, for a checkpoint beyond its
   log, be extended by it). This catches a node that rewrote its log after *we* checkpointed it,
   even if it also deleted its own checkpoints;
5. **pairs**: checkpoints of the two nodes adjacent in log size must be consistent with each other
   (proof from the node holding the larger one; same size: same root). A failure names the two
   signed checkpoints that cannot both hold.

An RFC 9162 proof can show consistency but never inconsistency: a failed proof means the node asked
could not show that one log extends the other. Honest nodes always can, so any failure is reported
as FORK/REWRITE; bad signatures and key mismatches as INVALID.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from gridledger.audit.checkpoint import Checkpoint, SignedCheckpoint, verify_checkpoint
from gridledger.audit.source import LogSource
from gridledger.errors import DecodeError, InvalidProof
from gridledger.merkle import verify_consistency

_LONG_HEX = re.compile("[0-9a-f]{64}")
CONSISTENT = "consistent"
FORK = "FORK/REWRITE"
INVALID = "INVALID"


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    kind: str  # "invalid", "rewrite", "fork" or "conflict"
    message: str


@dataclass(slots=True, kw_only=True)
class Side:
    """One node as the audit sees it: its verified checkpoints and its log now."""

    source: LogSource
    key: bytes | None
    checkpoints: list[Checkpoint]
    size: int
    root: bytes
    extends: set[int] = field(default_factory=set)  # heights of own checkpoints its log extends

    @property
    def label(self) -> str:
        return self.source.label


@dataclass(slots=True, kw_only=True)
class PeerAudit:
    peer: Side
    ours: Side | None
    problems: list[Problem] = field(default_factory=list)
    sizes_checked: set[int] = field(default_factory=set)
    first_difference: int | None = None  # smallest log size at which the two logs differ

    @property
    def verdict(self) -> str:
        if any(p.kind != "invalid" for p in self.problems):
            return FORK
        return INVALID if self.problems else CONSISTENT

    def summary(self) -> str:
        sides = [self.peer] if self.ours is None else [self.peer, self.ours]
        held = " and ".join(
            f"{s.label} (log size {s.size}, {len(s.checkpoints)} checkpoints)" for s in sides
        )
        if self.verdict == CONSISTENT:
            sizes = ", ".join(str(s) for s in sorted(self.sizes_checked)) or "none"
            what = "hold one log" if self.ours is not None else "extends all its checkpoints"
            return f"{CONSISTENT}: {held} {what}; checked at log sizes {sizes}"
        if self.first_difference is not None:
            return (
                f"{self.verdict}: {held}; the logs differ from log size {self.first_difference} "
                f"on (entry {self.first_difference - 1} is not the same)"
            )
        return f"{self.verdict}: {held}"

    def to_json(self) -> dict[str, Any]:
        def side(s: Side | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {
                "label": s.label,
                "checkpoint_key": s.key.hex() if s.key else None,
                "checkpoints": len(s.checkpoints),
                "log_size": s.size,
                "log_root": s.root.hex(),
            }

        return {
            "verdict": self.verdict,
            "summary": self.summary(),
            "peer": side(self.peer),
            "ours": side(self.ours),
            "first_difference": self.first_difference,
            "sizes_checked": sorted(self.sizes_checked),
            "problems": [{"kind": p.kind, "message": p.message} for p in self.problems],
        }


# -- the audit --------------------------------------------------------------------------------


def audit_peer(
    peer: LogSource,
    ours: LogSource | None = None,
    *,
    peer_key: bytes | None = None,
    our_key: bytes | None = None,
) -> PeerAudit:
    problems: list[Problem] = []
    peer_side = load_side(peer, peer_key, problems)
    our_side = load_side(ours, our_key, problems) if ours is not None else None
    report = PeerAudit(peer=peer_side, ours=our_side, problems=problems)
    _check_chain_ids(report, peer_side, our_side or peer_side)
    _check_self(report, peer_side)
    if our_side is None:
        return report
    _check_self(report, our_side)
    _check_heads(report, our_side, peer_side)
    _check_cross(report, owner=our_side, other=peer_side)
    _check_cross(report, owner=peer_side, other=our_side)
    _check_pairs(report, our_side, peer_side)
    return report


def load_side(source: LogSource, pinned_key: bytes | None, problems: list[Problem]) -> Side:
    """Fetch and verify a node's checkpoints, then read its log's head."""
    served = source.get_checkpoint_key()
    if pinned_key is not None and served is not None and served != pinned_key:
        problems.append(
            Problem(
                kind="invalid",
                message=f"{source.label} signs checkpoints with key {served.hex()[:16]}…, "
                f"not the pinned key {pinned_key.hex()[:16]}…",
            )
        )
    key = pinned_key if pinned_key is not None else served
    checkpoints = []
    for signed in source.list_checkpoints():
        try:
            _verify_signed(signed, key)
        except InvalidProof as exc:
            problems.append(Problem(kind="invalid", message=f"{source.label}: {exc.message}"))
            continue
        checkpoints.append(signed.checkpoint)
    size, root = source.get_head()
    return Side(source=source, key=key, checkpoints=checkpoints, size=size, root=root)


def _verify_signed(signed: SignedCheckpoint, key: bytes | None) -> None:
    if key is None:
        raise InvalidProof(
            f"checkpoint at height {signed.checkpoint.height}: the node names no checkpoint key"
        )
    verify_checkpoint(signed, key)


def _check_chain_ids(report: PeerAudit, a: Side, b: Side) -> None:
    chains_a = {c.chain_id for c in a.checkpoints}
    chains_b = {c.chain_id for c in b.checkpoints}
    if len(chains_a | chains_b) > 1:
        names = [f"{a.label} {', '.join(sorted(chains_a))}"]
        if b is not a:
            names.append(f"{b.label} {', '.join(sorted(chains_b))}")
        report.problems.append(
            Problem(
                kind="invalid",
                message=f"the checkpoints name different chains: {'; '.join(names)}",
            )
        )


def _check_self(report: PeerAudit, side: Side) -> None:
    """The node's log now must extend every checkpoint it signed."""
    for cp in side.checkpoints:
        if cp.log_size > side.size:
            report.problems.append(
                Problem(
                    kind="rewrite",
                    message=f"{side.label}'s log has {side.size} entries, fewer than its own "
                    f"checkpoint at {cp.describe()}: entries were removed",
                )
            )
            continue
        failure = _prove(side, cp.log_size, cp.log_root, side.size, side.root)
        if failure is not None:
            report.problems.append(
                Problem(
                    kind="rewrite",
                    message=f"{side.label}'s log (size {side.size}) does not extend its own "
                    f"signed checkpoint at {cp.describe()}: the log was rewritten after it was "
                    f"checkpointed ({failure})",
                )
            )
            continue
        side.extends.add(cp.height)
        report.sizes_checked.add(cp.log_size)


def _check_heads(report: PeerAudit, ours: Side, peer: Side) -> None:
    small, large = sorted((ours, peer), key=lambda s: s.size)
    failure = _prove(large, small.size, small.root, large.size, large.root)
    if failure is None:
        report.sizes_checked.update((small.size, large.size))
        return
    first = _find_first_difference(ours, peer, small.size)
    report.first_difference = first
    if first is None:
        message = (
            f"{large.label} could not prove that its log (size {large.size}) extends "
            f"{small.label}'s (size {small.size}) although both have the same root at size "
            f"{small.size} ({failure})"
        )
    else:
        message = (
            f"{ours.label}'s log (size {ours.size}) and {peer.label}'s (size {peer.size}) "
            f"differ: their roots first disagree at log size {first}"
        )
    report.problems.append(Problem(kind="fork", message=message))


def _find_first_difference(a: Side, b: Side, common: int) -> int | None:
    """Smallest size k <= common at which the two logs' roots differ (None if none): a prefix
    that differs at k differs at every larger size, so a binary search finds it."""
    if common == 0 or a.source.get_root(common) == b.source.get_root(common):
        return None
    low, high = 1, common  # the answer is in [low, high]
    while low < high:
        mid = (low + high) // 2
        if a.source.get_root(mid) == b.source.get_root(mid):
            low = mid + 1
        else:
            high = mid
    return low


def _check_cross(report: PeerAudit, *, owner: Side, other: Side) -> None:
    """``other``'s log against each of ``owner``'s checkpoints."""
    for cp in owner.checkpoints:
        if cp.log_size <= other.size:
            failure = _prove(other, cp.log_size, cp.log_root, other.size, other.root)
            what = f"{other.label}'s log (size {other.size}) does not extend"
        elif cp.height in owner.extends:
            failure = _prove(owner, other.size, other.root, cp.log_size, cp.log_root)
            what = f"{other.label}'s log (size {other.size}) is not a prefix of"
        else:
            continue  # owner's own log no longer holds it: reported by the self check
        if failure is not None:
            report.problems.append(
                Problem(
                    kind="fork",
                    message=f"{what} {owner.label}'s checkpoint at {cp.describe()} ({failure})",
                )
            )


def _check_pairs(report: PeerAudit, ours: Side, peer: Side) -> None:
    """Checkpoints of the two nodes adjacent in log size must agree."""
    merged = sorted(
        [(cp.log_size, 0, cp, ours) for cp in ours.checkpoints]
        + [(cp.log_size, 1, cp, peer) for cp in peer.checkpoints],
        key=lambda item: (item[0], item[1]),
    )
    for (_, _, a, side_a), (_, _, b, side_b) in itertools.pairwise(merged):
        if side_a is side_b:
            continue
        if a.log_size == b.log_size:
            failure = None if a.log_root == b.log_root else "same size, different roots"
        elif b.height in side_b.extends:
            failure = _prove(side_b, a.log_size, a.log_root, b.log_size, b.log_root)
        else:
            continue
        if failure is not None:
            report.problems.append(
                Problem(
                    kind="conflict",
                    message=f"{side_a.label}'s checkpoint at {a.describe()} and "
                    f"{side_b.label}'s checkpoint at {b.describe()} cannot both hold ({failure})",
                )
            )


def _prove(
    prover: Side, old_size: int, old_root: bytes, new_size: int, new_root: bytes
) -> str | None:
    """Ask ``prover`` for PROOF(old_size, new_size) and verify it between the two roots; the
    reason it fails, or None when it verifies."""
    try:
        proof = prover.source.get_consistency_proof(old_size, new_size)
        verify_consistency(old_size, new_size, old_root, new_root, proof)
    except (InvalidProof, DecodeError) as exc:  # unreachable nodes raise NodeError: no verdict
        reason = _LONG_HEX.sub(lambda m: m.group(0)[:16] + "…", exc.message)
        return f"consistency proof from {prover.label} fails: {reason}"
    return None
