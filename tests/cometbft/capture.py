"""Reading the captured four-validator run (fixtures/four_validators.json) in unit tests.

Blocks are chosen by what they show (all four signed, one validator absent, the validator set
changes) rather than by fixed heights, so the fixture can be captured again at any time.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
ABSENT, COMMIT, NIL = 1, 2, 3

Json = dict[str, Any]


@cache
def _load(name: str) -> Json:
    data: Json = json.loads((FIXTURES / name).read_text())
    return data


def known_answers() -> Json:
    return copy.deepcopy(_load("known_answers.json"))


@dataclass(frozen=True)
class Capture:
    """A fresh deep copy of the capture: tests may mutate what they get."""

    data: Json

    @classmethod
    def load(cls) -> Capture:
        return cls(copy.deepcopy(_load("four_validators.json")))

    @property
    def chain_id(self) -> str:
        chain_id: str = self.data["chain_id"]
        return chain_id

    @property
    def genesis(self) -> Json:
        genesis: Json = self.data["genesis"]
        return genesis

    @property
    def blocks(self) -> list[Json]:
        blocks: list[Json] = self.data["blocks"]
        return blocks

    def block(self, height: int) -> Json:
        (block,) = [block for block in self.blocks if block["height"] == height]
        return block

    def flags(self, block: Json) -> list[int]:
        return [sig["block_id_flag"] for sig in block["signed_header"]["commit"]["signatures"]]

    def powers(self, block: Json) -> list[int]:
        return [int(validator["voting_power"]) for validator in block["validators"]]

    @property
    def transition_height(self) -> int:
        """The height whose header names a next validator set different from its own."""
        heights: list[int] = [
            block["height"]
            for block in self.blocks
            if block["signed_header"]["header"]["validators_hash"]
            != block["signed_header"]["header"]["next_validators_hash"]
        ]
        (height,) = heights
        return height

    def all_signed_equal_power(self) -> Json:
        """A block before the change: four validators of power 1, all four signed."""
        return next(
            block
            for block in self.blocks
            if self.powers(block) == [1, 1, 1, 1] and self.flags(block) == [COMMIT] * 4
        )

    def with_absent(self) -> Json:
        """A block after the change (powers 3, 1, 1, 1) with one validator absent."""
        return next(block for block in self.blocks if ABSENT in self.flags(block))

    def later_round(self) -> Json:
        """A block decided in round 1 or later."""
        return next(block for block in self.blocks if block["signed_header"]["commit"]["round"] > 0)

    def transition(self, height: int) -> Json:
        """``verify_validator_transitions``' input for the header at ``height`` (a copy)."""
        return copy.deepcopy(
            {
                "signed_header": self.block(height)["signed_header"],
                "validators": self.block(height)["validators"],
                "next_validators": self.block(height + 1)["validators"],
            }
        )
