"""The JSON proof vectors in tests/vectors/merkle: each valid case verifies, each named mutation
raises InvalidProof with the expected message fragment, and the files are what the generator
(working from the reference implementation) produces today."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gridledger.errors import InvalidProof
from gridledger.merkle import verify_consistency, verify_inclusion
from tests.vectors.merkle import generate

VECTOR_DIR = Path(generate.__file__).parent


def load(name: str) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads((VECTOR_DIR / name).read_text())["vectors"]
    return vectors


def hashes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


INCLUSION = load("inclusion.json")
CONSISTENCY = load("consistency.json")


@pytest.mark.parametrize("vector", INCLUSION, ids=[v["name"] for v in INCLUSION])
def test_inclusion_vector(vector: dict[str, Any]) -> None:
    def verify() -> None:
        verify_inclusion(
            bytes.fromhex(vector["entry"]),
            vector["index"],
            vector["size"],
            hashes(vector["proof"]),
            bytes.fromhex(vector["root"]),
        )

    if vector["valid"]:
        verify()
    else:
        with pytest.raises(InvalidProof, match=re.escape(vector["error"])):
            verify()


@pytest.mark.parametrize("vector", CONSISTENCY, ids=[v["name"] for v in CONSISTENCY])
def test_consistency_vector(vector: dict[str, Any]) -> None:
    def verify() -> None:
        verify_consistency(
            vector["old_size"],
            vector["new_size"],
            bytes.fromhex(vector["old_root"]),
            bytes.fromhex(vector["new_root"]),
            hashes(vector["proof"]),
        )

    if vector["valid"]:
        verify()
    else:
        with pytest.raises(InvalidProof, match=re.escape(vector["error"])):
            verify()


def test_vectors_cover_every_named_mutation() -> None:
    names = {v["name"].rsplit("/", 1)[1] for v in INCLUSION + CONSISTENCY}
    for mutation in [
        "proof[0]-bit-flip",
        "root-bit-flip",
        "old-root-bit-flip",
        "new-root-bit-flip",
        "index+1",
        "index-1",
        "size+1",
        "size-1",
        "old-size+1",
        "old-size-1",
        "truncated",
        "extra-hash",
        "empty-proof",
        "wrong-entry",
        "swapped-hashes",
        "swapped-roots",
        "short-hash",
    ]:
        assert mutation in names


def test_only_size_mutations_are_marked_valid() -> None:
    for vector in INCLUSION + CONSISTENCY:
        if vector["valid"] and not vector["name"].endswith("/valid"):
            assert vector["name"].endswith(generate.SIZE_MUTATIONS)
            assert vector["note"] == generate.SIZE_NOTE


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("inclusion.json", generate.build_inclusion),
        ("consistency.json", generate.build_consistency),
    ],
)
def test_vector_file_is_up_to_date(name: str, build: Any) -> None:
    expected = generate.render(build())
    assert (VECTOR_DIR / name).read_text() == expected, (
        f"{name} is stale: run python -m tests.vectors.merkle.generate"
    )
