"""Hashes, roots and proof generation (RFC 9162 section 2.1) against published values and against
the reference implementation in tests/merkle/reference.py."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridledger.errors import InvalidProof
from gridledger.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
)
from gridledger.merkle.tree import (
    compute_leaf_hashes_and_root,
    compute_leaf_hashes_and_root_native,
    compute_leaf_hashes_and_root_python,
    inclusion_proof_from_hashes,
)
from tests.merkle import reference

# Known answers: the RFC 6962 / Certificate Transparency test tree, as published in
# transparency-dev/merkle testonly/constants.go (LeafInputs, RootHashes, NodeHashes) and
# proof/verify_test.go (inclusionProofs, consistencyProofs), which carry them over from Go's
# certificate-transparency merkletree tests.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [  # indexed by tree size
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_NODES = [  # CT_NODES[level][index]: hashes of the perfect subtrees of the 8-leaf tree
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
# (index, size, proof); verify_test.go numbers leaves from 1, these are 0-based indices.
CT_INCLUSION_PROOFS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
# (old_size, new_size, proof)
CT_CONSISTENCY_PROOFS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

# Which subtrees a proof holds, from transparency-dev/merkle proof/proof_test.go (TestInclusion,
# TestConsistency). There they are node IDs, some "rehashed" into one cut-off right-edge node;
# here each proof hash is written as the leaf range [begin, end) whose MTH it is.
NODE_INCLUSION_SHAPES = [
    (7, 0, [(1, 2), (2, 4), (4, 7)]),
    (7, 2, [(3, 4), (0, 2), (4, 7)]),
    (7, 4, [(5, 6), (6, 7), (0, 4)]),
    (7, 6, [(4, 6), (0, 4)]),
    (6, 3, [(2, 3), (0, 2), (4, 6)]),
    (15, 10, [(11, 12), (8, 10), (12, 15), (0, 8)]),
    (31, 24, [(25, 26), (26, 28), (28, 31), (16, 24), (0, 16)]),
    (95, 81, [(80, 81), (82, 84), (84, 88), (88, 95), (64, 80), (0, 64)]),
]
NODE_CONSISTENCY_SHAPES = [
    (1, 6, [(1, 2), (2, 4), (4, 6)]),
    (2, 8, [(2, 4), (4, 8)]),
    (3, 7, [(2, 3), (3, 4), (0, 2), (4, 7)]),
    (4, 7, [(4, 7)]),
    (5, 7, [(4, 5), (5, 6), (6, 7), (0, 4)]),
    (6, 7, [(4, 6), (6, 7), (0, 4)]),
    (7, 8, [(6, 7), (7, 8), (4, 6), (0, 4)]),
    (10, 15, [(8, 10), (10, 12), (12, 15), (0, 8)]),
    (24, 31, [(16, 24), (24, 31), (0, 16)]),
    (81, 95, [(80, 81), (81, 82), (82, 84), (84, 88), (88, 95), (64, 80), (0, 64)]),
]
NUMBERED_ENTRIES = [str(i).encode() for i in range(130)]


def hexes(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


entry_lists = st.lists(st.binary(max_size=12), max_size=70)


# Hashing.


def test_leaf_hash_prefixes_zero_byte() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert leaf_hash(b"") == bytes.fromhex(CT_NODES[0][0])


def test_node_hash_prefixes_one_byte() -> None:
    left, right = bytes.fromhex(CT_NODES[0][0]), bytes.fromhex(CT_NODES[0][1])
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert node_hash(left, right).hex() == CT_NODES[1][0]


def test_root_of_no_entries_is_sha256_of_empty_string() -> None:
    assert root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", range(9))
def test_root_matches_published_ct_roots(size: int) -> None:
    assert root(CT_LEAVES[:size]).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(
    ("level", "index"), [(lv, i) for lv, row in enumerate(CT_NODES) for i in range(len(row))]
)
def test_perfect_subtree_roots_match_published_ct_nodes(level: int, index: int) -> None:
    leaves = CT_LEAVES[index << level : (index + 1) << level]
    assert root(leaves).hex() == CT_NODES[level][index]


@settings(max_examples=200)
@given(entry_lists)
def test_root_equals_reference_mth(entries: list[bytes]) -> None:
    assert root(entries) == reference.mth(entries)


# A batch's leaf hashes and root at once, in Python and natively (Rust, where it is built).

HASHERS = [
    pytest.param(compute_leaf_hashes_and_root_python, id="python"),
    pytest.param(
        compute_leaf_hashes_and_root_native,
        id="native",
        marks=pytest.mark.skipif(
            compute_leaf_hashes_and_root_native is None, reason="gridledger_native is not built"
        ),
    ),
]


@pytest.mark.parametrize("hasher", HASHERS)
@pytest.mark.parametrize("size", range(9))
def test_batch_hashing_matches_published_ct_roots(hasher: Any, size: int) -> None:
    packed, batch_root = hasher(CT_LEAVES[:size])
    assert batch_root.hex() == CT_ROOTS[size]
    assert packed == b"".join(leaf_hash(leaf) for leaf in CT_LEAVES[:size])


@pytest.mark.parametrize("hasher", HASHERS)
@settings(max_examples=300)
@given(st.lists(st.binary(max_size=300), max_size=600))
def test_batch_hashing_equals_reference_mth(hasher: Any, entries: list[bytes]) -> None:
    packed, batch_root = hasher(tuple(entries))
    assert batch_root == reference.mth(entries)
    assert packed == b"".join(hashlib.sha256(b"\x00" + entry).digest() for entry in entries)


def test_batch_hashing_uses_the_native_module_where_it_is_built() -> None:
    expected = compute_leaf_hashes_and_root_native or compute_leaf_hashes_and_root_python
    assert compute_leaf_hashes_and_root is expected


@pytest.mark.parametrize("hasher", HASHERS)
def test_batch_hashing_refuses_what_is_not_bytes(hasher: Any) -> None:
    with pytest.raises(TypeError):
        hasher([b"a", "b"])


# Proof generation: published proofs.


@pytest.mark.parametrize(("index", "size", "expected"), CT_INCLUSION_PROOFS)
def test_inclusion_proof_matches_published_ct_proof(
    index: int, size: int, expected: list[str]
) -> None:
    assert hexes(inclusion_proof(CT_LEAVES[:size], index)) == expected


@pytest.mark.parametrize(("old_size", "new_size", "expected"), CT_CONSISTENCY_PROOFS)
def test_consistency_proof_matches_published_ct_proof(
    old_size: int, new_size: int, expected: list[str]
) -> None:
    assert hexes(consistency_proof(CT_LEAVES[:new_size], old_size)) == expected


@pytest.mark.parametrize(("size", "index", "ranges"), NODE_INCLUSION_SHAPES)
def test_inclusion_proof_holds_published_subtrees(
    size: int, index: int, ranges: list[tuple[int, int]]
) -> None:
    entries = NUMBERED_ENTRIES[:size]
    expected = [reference.mth(entries[begin:end]) for begin, end in ranges]
    assert inclusion_proof(entries, index) == expected


@pytest.mark.parametrize(("old_size", "new_size", "ranges"), NODE_CONSISTENCY_SHAPES)
def test_consistency_proof_holds_published_subtrees(
    old_size: int, new_size: int, ranges: list[tuple[int, int]]
) -> None:
    entries = NUMBERED_ENTRIES[:new_size]
    expected = [reference.mth(entries[begin:end]) for begin, end in ranges]
    assert consistency_proof(entries, old_size) == expected


# The "Subtree Test Vectors" of draft-ietf-plants-merkle-tree-certs, as reproduced in
# transparency-dev/merkle testonly/vectors_test.go: for leaves d[i] = bytes([i]), i < 130, each
# output over every valid subtree [start, end) is folded into one SHA-256. A subtree is valid when
# start is 0 or a multiple of the smallest power of two >= end - start; its hash is the MTH of its
# leaves and its inclusion proofs are those within its leaves alone.
MTC_LEAVES = [bytes([i]) for i in range(130)]


def valid_subtrees() -> list[tuple[int, int]]:
    def is_valid(start: int, end: int) -> bool:
        width = 1 << (end - start - 1).bit_length()
        return start == 0 or start % width == 0

    return [(s, e) for e in range(1, 131) for s in range(e) if is_valid(s, e)]


def test_subtree_hashes_match_mtc_draft_vector() -> None:
    digest = hashlib.sha256()
    for start, end in valid_subtrees():
        digest.update(f"[{start}, {end}) {root(MTC_LEAVES[start:end]).hex()}\n".encode())
    assert digest.hexdigest() == "94a95384a8c69acea9b50d035a58285b3a777cb7a724005faa5e1f1e1190007f"


def test_subtree_inclusion_proofs_match_mtc_draft_vector() -> None:
    digest = hashlib.sha256()
    for start, end in valid_subtrees():
        leaves = MTC_LEAVES[start:end]
        for index in range(start, end):
            proof = "".join(f" {h.hex()}" for h in inclusion_proof(leaves, index - start))
            digest.update(f"{index} [{start}, {end}){proof}\n".encode())
    assert digest.hexdigest() == "ac2a8f989e44d99e399db448050ff5f19757df53cfb716aa81015d3955d8163f"


# Proof generation: against the reference.


@settings(max_examples=150, deadline=None)
@given(entry_lists.filter(bool), st.data())
def test_inclusion_proof_equals_reference_path(entries: list[bytes], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(entries) - 1))
    assert inclusion_proof(entries, index) == reference.path(index, entries)


@settings(max_examples=150, deadline=None)
@given(entry_lists, st.data())
def test_consistency_proof_equals_reference_proof(
    entries: list[bytes], data: st.DataObject
) -> None:
    old_size = data.draw(st.integers(0, len(entries)))
    assert consistency_proof(entries, old_size) == reference.proof(old_size, entries)


def test_every_proof_of_small_trees_equals_reference() -> None:
    for size in range(1, 34):
        entries = NUMBERED_ENTRIES[:size]
        for index in range(size):
            assert inclusion_proof(entries, index) == reference.path(index, entries)
        for old_size in range(size + 1):
            assert consistency_proof(entries, old_size) == reference.proof(old_size, entries)


def test_consistency_proof_between_equal_sizes_is_empty() -> None:
    assert consistency_proof(CT_LEAVES, 8) == []


def test_consistency_proof_from_empty_tree_is_empty() -> None:
    assert consistency_proof(CT_LEAVES, 0) == []


# Proof generation: arguments out of range.


@pytest.mark.parametrize(
    ("size", "index", "message"),
    [
        (0, 0, "index 0 out of range for tree size 0"),
        (7, 7, "index 7 out of range for tree size 7"),
        (7, -1, "index -1 out of range for tree size 7"),
        (3, True, "index is bool, expected int"),
    ],
)
def test_inclusion_proof_rejects_index_out_of_range(size: int, index: int, message: str) -> None:
    with pytest.raises(InvalidProof, match=message):
        inclusion_proof(CT_LEAVES[:size], index)


@pytest.mark.parametrize(
    ("old_size", "message"),
    [(9, "old_size 9 is greater than new_size 8"), (-1, "old_size -1 is negative")],
)
def test_consistency_proof_rejects_old_size_out_of_range(old_size: int, message: str) -> None:
    with pytest.raises(InvalidProof, match=message):
        consistency_proof(CT_LEAVES, old_size)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=1, max_size=40), st.data())
def test_inclusion_proof_from_hashes_equals_the_proof_from_entries(
    entries: list[bytes], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(entries) - 1))
    hashes = [leaf_hash(e) for e in entries]
    assert inclusion_proof_from_hashes(hashes, index) == inclusion_proof(entries, index)
