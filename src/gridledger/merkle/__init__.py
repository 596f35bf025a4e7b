"""Merkle trees as Certificate Transparency v2 defines them (RFC 9162, section 2.1).

- ``tree``: leaf and node hashes, roots, inclusion and consistency proofs over entries in memory.
- ``proof``: verification of those proofs; every failure is ``gridledger.errors.InvalidProof``.
- ``log``: an append-only tree kept in a ``NodeStore``, for logs too large to hold in memory.
"""

from __future__ import annotations

from gridledger.merkle.log import MemoryNodeStore, MerkleLog, NodeStore
from gridledger.merkle.proof import (
    compute_root_from_inclusion,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_hash,
)
from gridledger.merkle.tree import (
    EMPTY_ROOT,
    HASH_SIZE,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    leaf_hashes,
    node_hash,
    root,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MemoryNodeStore",
    "MerkleLog",
    "NodeStore",
    "compute_root_from_inclusion",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "root",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_hash",
]
