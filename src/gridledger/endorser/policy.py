"""Which records an endorser service endorses by itself and which wait for a person.

A policy file is JSON::

    {"default": "auto", "record_types": {"contract": "manual", "meter_data": "auto"}}

``auto`` endorses a record as soon as its delivered document matches the digest; ``manual`` puts
it in the review queue once it matches. A mismatch or a missing document is refused either way:
no person could endorse such a record. Batch records are always ``manual``: a batch root covers
many documents, and no single delivered document can be checked against it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gridledger.errors import GridledgerError

AUTO, MANUAL = "auto", "manual"
MODES = (AUTO, MANUAL)


class PolicyError(GridledgerError):
    code = "policy_error"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    default: str = AUTO
    record_types: Mapping[str, str] = field(default_factory=dict)

    def mode_for(self, record: Mapping[str, Any]) -> str:
        if record.get("kind") == "batch":
            return MANUAL
        return self.record_types.get(str(record.get("record_type")), self.default)


def decode_policy(doc: Any, where: str = "policy") -> Policy:
    if not isinstance(doc, dict) or not set(doc) <= {"default", "record_types"}:
        raise PolicyError(
            f'{where} must be {{"default": "auto"|"manual", "record_types": {{...}}}}'
        )
    default = doc.get("default", AUTO)
    if default not in MODES:
        raise PolicyError(f"{where}: default must be auto or manual, not {default!r}")
    types = doc.get("record_types", {})
    if not isinstance(types, dict):
        raise PolicyError(f"{where}: record_types must be an object of record type -> mode")
    for record_type, mode in types.items():
        if mode not in MODES:
            raise PolicyError(
                f"{where}: record type {record_type!r} has mode {mode!r}; use auto or manual"
            )
    return Policy(default=default, record_types=dict(types))


def load_policy(path: Path | None) -> Policy:
    """The policy in ``path``; everything ``auto`` when no file is given."""
    if path is None:
        return Policy()
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise PolicyError(f"policy file {path} not found") from exc
    except (OSError, ValueError) as exc:
        raise PolicyError(f"policy file {path} is not readable JSON: {exc}") from exc
    return decode_policy(doc, str(path))
