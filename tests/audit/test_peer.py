"""``audit --peer`` logic over two real stores with their checkpoint books (``StoreLogSource``, the
same seam the command uses for ``--db``): honest nodes are consistent; a rewritten, truncated or
forked log, a bad signature or a wrong pinned key is reported."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gridledger.audit.book import CheckpointBook, compute_book_path
from gridledger.audit.checkpoint import sign_checkpoint
from gridledger.audit.peer import CONSISTENT, FORK, INVALID, PeerAudit, audit_peer
from gridledger.audit.source import StoreLogSource
from gridledger.ledger.state import LOG_SIZE_KEY, log_entry_key
from tests.audit.ledger import LedgerBuilder, build_store, copy_node, execute, rewrite_log_entry
from tests.chain import NODE_KEY, key_for


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("peer-base"), 12, checkpoint_every=4)


@pytest.fixture
def nodes(base: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Ours and the peer's: the same chain (the peer signs with the same test node key)."""
    return copy_node(base, tmp_path / "ours"), copy_node(base, tmp_path / "peer")


def audit(ours: Path | None, peer: Path, **keys: bytes) -> PeerAudit:
    sources = [StoreLogSource(peer, "the peer")]
    if ours is not None:
        sources.append(StoreLogSource(ours, "our node"))
    try:
        return audit_peer(sources[0], sources[1] if ours else None, **keys)
    finally:
        for s in sources:
            s.close()


def kinds(report: PeerAudit) -> list[str]:
    return [p.kind for p in report.problems]


def test_two_honest_nodes_are_consistent(nodes: tuple[Path, Path]) -> None:
    ours, peer = nodes
    report = audit(ours, peer, peer_key=NODE_KEY.public_key, our_key=NODE_KEY.public_key)
    assert report.verdict == CONSISTENT, report.problems
    assert report.sizes_checked == {4, 8, 12}
    assert report.summary().startswith("consistent: the peer (log size 12, 3 checkpoints) and our")


def test_honest_peer_that_is_ahead_is_consistent(tmp_path: Path) -> None:
    builder = LedgerBuilder(tmp_path / "peer" / "ledger.sqlite")
    try:
        builder.add_blocks(5)
        builder.checkpoint()
        ours = copy_node(builder.db, tmp_path / "ours")
        builder.add_blocks(6)
        builder.checkpoint()
    finally:
        builder.close()
    report = audit(ours, builder.db)
    assert report.verdict == CONSISTENT, report.problems
    assert report.ours is not None and (report.ours.size, report.peer.size) == (5, 11)
    reverse = audit(builder.db, ours)
    assert reverse.verdict == CONSISTENT, reverse.problems


def test_peer_that_rewrote_its_log_after_checkpointing_is_caught(
    nodes: tuple[Path, Path],
) -> None:
    ours, peer = nodes
    rewrite_log_entry(peer, 5)  # consistent nodes, different entry 5
    report = audit(ours, peer)
    assert report.verdict == FORK
    assert report.first_difference == 6
    assert "the logs differ from log size 6 on (entry 5 is not the same)" in report.summary()
    messages = [p.message for p in report.problems]
    # its own checkpoints at log sizes 8 and 12 no longer hold; the one at 4 still does
    rewrites = [m for m in messages if m.startswith("the peer's log (size 12) does not extend its")]
    assert len(rewrites) == 2 and "height 8 (log size 8" in rewrites[0]
    assert any("our node's log (size 12) and the peer's (size 12) differ" in m for m in messages)
    assert any(
        m.startswith("the peer's log (size 12) does not extend our node's checkpoint at height 8")
        for m in messages
    )
    assert set(kinds(report)) == {"rewrite", "fork"}  # its signed checkpoints agree with ours


def test_rewrite_is_caught_by_our_checkpoints_even_if_the_peer_drops_its_own(
    nodes: tuple[Path, Path],
) -> None:
    ours, peer = nodes
    rewrite_log_entry(peer, 2)
    compute_book_path(peer).unlink()
    report = audit(ours, peer)
    assert report.verdict == FORK and report.first_difference == 3
    assert set(kinds(report)) == {"fork"}
    alone = audit(None, peer)  # without our node there is nothing left to compare with
    assert alone.verdict == CONSISTENT


def test_rewrite_is_caught_from_the_peer_alone_by_its_own_checkpoints(
    nodes: tuple[Path, Path],
) -> None:
    _, peer = nodes
    rewrite_log_entry(peer, 9)
    report = audit(None, peer)
    assert report.verdict == FORK
    assert kinds(report) == ["rewrite"]  # only the checkpoint at size 12 covers entry 9
    assert "does not extend its own signed checkpoint at height 12" in report.problems[0].message


def test_truncated_log_is_caught(nodes: tuple[Path, Path]) -> None:
    ours, peer = nodes
    for index in range(10, 12):
        execute(peer, "DELETE FROM state WHERE key = ?", log_entry_key(index))
    execute(peer, "UPDATE state SET value = ? WHERE key = ?", b"10", LOG_SIZE_KEY)
    report = audit(ours, peer)
    assert report.verdict == FORK
    assert (
        "the peer's log has 10 entries, fewer than its own checkpoint at height 12 (log size 12"
    ) in report.problems[0].message
    assert kinds(report) == ["rewrite"]  # what is left is a prefix of our log: no fork


def test_forked_chains_with_conflicting_checkpoints(tmp_path: Path) -> None:
    ours = build_store(tmp_path / "ours", 6, checkpoint_every=3, tag="ours")
    peer = build_store(tmp_path / "peer", 6, checkpoint_every=3, tag="theirs")
    report = audit(ours, peer)
    assert report.verdict == FORK and report.first_difference == 1
    conflicts = [p.message for p in report.problems if p.kind == "conflict"]
    assert conflicts and "same size, different roots" in conflicts[0]
    assert "our node's checkpoint at height 3 (log size 3" in conflicts[0]


def test_peer_checkpoint_with_a_bad_signature_is_invalid(nodes: tuple[Path, Path]) -> None:
    ours, peer = nodes
    execute(
        compute_book_path(peer), "UPDATE checkpoints SET signature = ? WHERE height = 8", bytes(64)
    )
    report = audit(ours, peer)
    assert report.verdict == INVALID
    assert [p.message for p in report.problems] == [
        "the peer: checkpoint at height 8 has an invalid signature: signature does not verify "
        f"for key {NODE_KEY.public_key.hex()[:16]}…"
    ]


def test_pinned_key_mismatch_is_invalid(nodes: tuple[Path, Path]) -> None:
    ours, peer = nodes
    other = key_for("not the peer")
    report = audit(ours, peer, peer_key=other.public_key)
    assert report.verdict == INVALID
    assert report.problems[0].message.startswith("the peer signs checkpoints with key")
    assert "not the pinned key" in report.problems[0].message
    assert len(report.problems) == 1 + 3  # the key, then each of its three checkpoints


def test_checkpoints_of_another_chain_are_invalid(nodes: tuple[Path, Path]) -> None:
    ours, peer = nodes
    book = CheckpointBook(compute_book_path(peer))
    latest = book.latest()
    assert latest is not None
    foreign = dataclasses.replace(latest.checkpoint, chain_id="another-chain", height=13)
    book.add(sign_checkpoint(foreign, NODE_KEY))
    report = audit(ours, peer)
    assert report.verdict == INVALID
    assert "the checkpoints name different chains" in report.problems[0].message
    alone = audit(None, peer)
    assert alone.verdict == INVALID
    assert alone.problems[0].message == (
        "the checkpoints name different chains: the peer another-chain, gridledger-test"
    )


def test_node_without_checkpoints_is_compared_by_its_log_only(nodes: tuple[Path, Path]) -> None:
    ours, peer = nodes
    compute_book_path(peer).unlink()
    report = audit(ours, peer)
    assert report.verdict == CONSISTENT, report.problems
    assert report.peer.key is None and report.peer.checkpoints == []
