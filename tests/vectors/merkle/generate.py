"""Generate the RFC 9162 proof vectors in this folder from the reference implementation.

Run from the repository root:  python -m tests.vectors.merkle.generate

Each base case is a valid proof built by ``tests/merkle/reference.py`` (the RFC's recursive
definitions, not the code under test), followed by named mutations of it: a flipped bit, an index
or size one off, a truncated, lengthened, emptied or reordered proof, a wrong entry. The reference
verifier decides each mutation's outcome and the error-message fragment the verifier under test
must give. A mutation the reference accepts stops the generator, with one exception the RFC
itself makes: a tree size one off that gives the proof the same shape (see SIZE_MUTATIONS); such
vectors stay, marked valid with a note. ``tests/merkle/test_vectors.py`` checks the files are up to
date.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.merkle import reference

HERE = Path(__file__).parent

# The leaves of the RFC 6962 / Certificate Transparency test tree (transparency-dev/merkle,
# testonly/constants.go LeafInputs), and a longer generated tree.
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
LONG_LEAVES = [f"entry-{i}".encode() for i in range(37)]

INCLUSION_CASES = [
    ("ct", CT_LEAVES, 0, 1),
    ("ct", CT_LEAVES, 0, 8),
    ("ct", CT_LEAVES, 5, 8),
    ("ct", CT_LEAVES, 2, 3),
    ("ct", CT_LEAVES, 1, 5),
    ("ct", CT_LEAVES, 6, 7),
    ("long", LONG_LEAVES, 21, 37),
    ("long", LONG_LEAVES, 36, 37),
]
CONSISTENCY_CASES = [
    ("ct", CT_LEAVES, 1, 8),
    ("ct", CT_LEAVES, 6, 8),
    ("ct", CT_LEAVES, 2, 5),
    ("ct", CT_LEAVES, 3, 7),
    ("ct", CT_LEAVES, 6, 7),
    ("long", LONG_LEAVES, 13, 37),
    ("long", LONG_LEAVES, 32, 37),
]
EXTRA_HASH = hashlib.sha256(b"not part of any proof").digest()

# A proof binds the tree size only through its shape (how many hashes, which side each is on).
# When a size one off gives the same shape, the same hashes lead to the same root and the RFC's
# algorithm (like transparency-dev/merkle's) accepts it: the claim is then about a tree whose last
# leaf would be an inner node, which no honest log has. Sizes come from signed tree heads, so this
# is harmless; the vectors record it rather than hide it.
SIZE_MUTATIONS = ("/size+1", "/size-1", "/new-size+1", "/new-size-1")
SIZE_NOTE = "still valid: this size gives the proof the same shape, so the same root"


def flip_bit(value: bytes, position: int = 0) -> bytes:
    """``value`` with bit 3 of byte ``position`` flipped."""
    changed = bytearray(value)
    changed[position] ^= 0x08
    return bytes(changed)


def proof_mutations(proof: list[bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """The proof-only mutations that apply to ``proof``."""
    for i in range(len(proof)):
        yield f"proof[{i}]-bit-flip", [*proof[:i], flip_bit(proof[i]), *proof[i + 1 :]]
    yield "extra-hash", [*proof, EXTRA_HASH]
    if proof:
        yield "truncated", proof[:-1]
        yield "empty-proof", []
        yield "short-hash", [proof[0][:31], *proof[1:]]
    if len(proof) > 1:
        yield "swapped-hashes", [proof[1], proof[0], *proof[2:]]


def inclusion_vector(
    name: str, entry: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> dict[str, Any]:
    rejection = reference.check_inclusion(entry, index, size, proof, root)
    vector: dict[str, Any] = {
        "name": name,
        "entry": entry.hex(),
        "index": index,
        "size": size,
        "proof": [h.hex() for h in proof],
        "root": root.hex(),
    }
    return _with_outcome(vector, rejection)


def consistency_vector(
    name: str, old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> dict[str, Any]:
    rejection = reference.check_consistency(old_size, new_size, old_root, new_root, proof)
    vector: dict[str, Any] = {
        "name": name,
        "old_size": old_size,
        "new_size": new_size,
        "old_root": old_root.hex(),
        "new_root": new_root.hex(),
        "proof": [h.hex() for h in proof],
    }
    return _with_outcome(vector, rejection)


def _with_outcome(vector: dict[str, Any], rejection: reference.Rejection | None) -> dict[str, Any]:
    vector["valid"] = rejection is None
    if rejection is not None:
        vector["error"] = rejection.value
    return vector


def inclusion_case(tree: str, leaves: list[bytes], index: int, size: int) -> list[dict[str, Any]]:
    entries = leaves[:size]
    entry, proof, root = entries[index], reference.path(index, entries), reference.mth(entries)
    base = f"{tree}/index-{index}-of-{size}"
    mutated = [
        (f"{base}/{label}", entry, index, size, changed, root)
        for label, changed in proof_mutations(proof)
    ]
    mutated += [
        (f"{base}/root-bit-flip", entry, index, size, proof, flip_bit(root)),
        (f"{base}/index+1", entry, index + 1, size, proof, root),
        (f"{base}/index-1", entry, index - 1, size, proof, root),
        (f"{base}/size+1", entry, index, size + 1, proof, root),
        (f"{base}/size-1", entry, index, size - 1, proof, root),
        (f"{base}/size*2", entry, index, size * 2, proof, root),
        (f"{base}/wrong-entry", entry + b"!", index, size, proof, root),
    ]
    valid = inclusion_vector(f"{base}/valid", entry, index, size, proof, root)
    return [valid, *_checked_mutations([inclusion_vector(*m) for m in mutated])]


def consistency_case(tree: str, leaves: list[bytes], old: int, new: int) -> list[dict[str, Any]]:
    old_root, new_root = reference.mth(leaves[:old]), reference.mth(leaves[:new])
    proof = reference.proof(old, leaves[:new])
    base = f"{tree}/{old}-to-{new}"
    mutated = [
        (f"{base}/{label}", old, new, old_root, new_root, changed)
        for label, changed in proof_mutations(proof)
    ]
    mutated += [
        (f"{base}/old-root-bit-flip", old, new, flip_bit(old_root), new_root, proof),
        (f"{base}/new-root-bit-flip", old, new, old_root, flip_bit(new_root), proof),
        (f"{base}/swapped-roots", old, new, new_root, old_root, proof),
        (f"{base}/old-size+1", old + 1, new, old_root, new_root, proof),
        (f"{base}/old-size-1", old - 1, new, old_root, new_root, proof),
        (f"{base}/new-size+1", old, new + 1, old_root, new_root, proof),
        (f"{base}/new-size-1", old, new - 1, old_root, new_root, proof),
        (f"{base}/new-size*2", old, new * 2, old_root, new_root, proof),
    ]
    valid = consistency_vector(f"{base}/valid", old, new, old_root, new_root, proof)
    return [valid, *_checked_mutations([consistency_vector(*m) for m in mutated])]


def consistency_edge_cases() -> list[dict[str, Any]]:
    """Old size 0 and equal sizes, with the transparency-dev/merkle semantics."""
    empty, r5, r8 = reference.mth([]), reference.mth(CT_LEAVES[:5]), reference.mth(CT_LEAVES)
    return [
        consistency_vector("edge/0-to-8/valid", 0, 8, empty, r8, []),
        consistency_vector("edge/0-to-0/valid", 0, 0, empty, empty, []),
        consistency_vector("edge/0-to-8/non-empty-proof", 0, 8, empty, r8, [r8]),
        consistency_vector("edge/0-to-0/roots-differ", 0, 0, empty, r8, []),
        consistency_vector("edge/8-to-8/valid", 8, 8, r8, r8, []),
        consistency_vector("edge/8-to-8/non-empty-proof", 8, 8, r8, r8, [r8]),
        consistency_vector("edge/8-to-8/roots-differ", 8, 8, r5, r8, []),
        consistency_vector("edge/8-to-5/sizes-reversed", 8, 5, r8, r5, []),
        consistency_vector("edge/-1-to-5/negative-size", -1, 5, empty, r5, []),
        consistency_vector("edge/5-to-8/short-root", 5, 8, r5[:31], r8, []),
    ]


def _checked_mutations(vectors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mutations, each checked to be rejected, except where RFC 9162 itself accepts it."""
    for vector in vectors:
        if not vector["valid"]:
            continue
        if not vector["name"].endswith(SIZE_MUTATIONS):
            raise SystemExit(f"the reference accepts the mutation {vector['name']}")
        vector["note"] = SIZE_NOTE
    return vectors


def build_inclusion() -> dict[str, Any]:
    vectors = [v for case in INCLUSION_CASES for v in inclusion_case(*case)]
    return _document(
        "RFC 9162 inclusion proofs: verify_inclusion(entry, index, size, proof, root)", vectors
    )


def build_consistency() -> dict[str, Any]:
    vectors = [v for case in CONSISTENCY_CASES for v in consistency_case(*case)]
    vectors += consistency_edge_cases()
    return _document(
        "RFC 9162 consistency proofs: "
        "verify_consistency(old_size, new_size, old_root, new_root, proof)",
        vectors,
    )


def _document(description: str, vectors: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "description": description,
        "generated_by": "python -m tests.vectors.merkle.generate (from tests/merkle/reference.py)",
        "encoding": "byte strings are lowercase hex; 'error' is a fragment of the InvalidProof "
        "message a verifier must raise when 'valid' is false",
        "vectors": vectors,
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1) + "\n"


def main() -> None:
    for name, document in [
        ("inclusion.json", build_inclusion()),
        ("consistency.json", build_consistency()),
    ]:
        (HERE / name).write_text(render(document))
        print(f"wrote {HERE / name}: {len(document['vectors'])} vectors")


if __name__ == "__main__":
    main()
