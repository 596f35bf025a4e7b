"""Seeded random streams for the day generator.

Every random quantity comes from a ``random.Random`` instance (never the module's global one)
seeded from ``sha256("gridledger-sim/<seed>/<label>...")``. Each participant, zone and purpose has
its own stream, so adding a participant or a zone leaves everyone else's day unchanged, and the
result depends neither on ``PYTHONHASHSEED`` nor on the order anything is iterated in.
"""

from __future__ import annotations

import hashlib
import random


def derive_rng(seed: int, *labels: str) -> random.Random:
    """The independent stream named by ``labels`` under ``seed``."""
    text = "/".join(("gridledger-sim", str(seed), *labels))
    state = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest(), "big")
    return random.Random(state)  # noqa: S311 -- simulation noise, not a secret


def compute_random_walk(
    rng: random.Random, length: int, *, step: int, bound: int, keep_pct: int
) -> list[int]:
    """A mean-reverting integer walk in ``[-bound, bound]`` (an AR(1) process).

    Each value keeps ``keep_pct`` % of the previous one (rounded toward zero, so the walk has no
    drift) and adds a uniform step in ``[-step, step]``: consecutive values are correlated the
    way forecast errors, haze or a household's restlessness are, unlike white noise.
    """
    values: list[int] = []
    value = rng.randint(-bound, bound)
    for _ in range(length):
        kept = abs(value) * keep_pct // 100
        value = (kept if value >= 0 else -kept) + rng.randint(-step, step)
        value = max(-bound, min(bound, value))
        values.append(value)
    return values
