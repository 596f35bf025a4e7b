"""The evidence log as a store holds it, checked against itself (RFC 9162 hashing).

The log's rows in the state table (data_model.md, "State key layout") are ``log/size``, the entries
``log/entry/<index>`` and the perfect-subtree hashes ``log/node/<level>/<index>``. Every leaf node
must be the leaf hash of its entry and every higher node the hash of its two children, so an
entry or a node edited without recomputing the nodes above it is found here. (A log rewritten
with every node recomputed is self-consistent; the replay and the checkpoints catch that.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gridledger.ledger.state import LOG_SIZE_KEY, log_entry_key, log_node_key
from gridledger.merkle import leaf_hash, node_hash

MAX_LOG_FINDINGS = 20

Report = Callable[[str, int | None, str], None]


def check_stored_log(rows: Mapping[str, bytes], report: Report) -> int:
    """Check the stored log rows; report each problem as ("log", None, message). Returns the
    log's size as stored."""
    problems: list[str] = []
    size = _stored_size(rows, problems)
    for index in range(size):
        entry = rows.get(log_entry_key(index))
        node = rows.get(log_node_key(0, index))
        if entry is None:
            problems.append(f"log entry {index} is missing (log size {size})")
        elif node != leaf_hash(entry):
            problems.append(
                f"log node (level 0, index {index}) is not the hash of log entry {index}: "
                "the entry or its node was edited"
            )
    level = 1
    while 1 << level <= size:
        for index in range(size >> level):
            left = rows.get(log_node_key(level - 1, 2 * index))
            right = rows.get(log_node_key(level - 1, 2 * index + 1))
            node = rows.get(log_node_key(level, index))
            if left is None or right is None or node != node_hash(left, right):
                problems.append(
                    f"log node (level {level}, index {index}) is not the hash of its two "
                    "children: a log node was edited"
                )
        level += 1
    if rows.get(log_entry_key(size)) is not None:
        problems.append(f"log entry {size} is stored beyond the log size {size}")
    for message in problems[:MAX_LOG_FINDINGS]:
        report("log", None, message)
    if len(problems) > MAX_LOG_FINDINGS:
        report("log", None, f"… and {len(problems) - MAX_LOG_FINDINGS} more log problems")
    return size


def _stored_size(rows: Mapping[str, bytes], problems: list[str]) -> int:
    raw = rows.get(LOG_SIZE_KEY)
    if raw is None:
        return 0
    text = raw.decode("ascii", errors="replace")
    if not text.isdigit():
        problems.append(f"log size {text!r} is not a number")
        return 0
    return int(text)
