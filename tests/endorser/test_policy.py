"""Endorsement policies: auto or manual per record type; batches always manual."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gridledger.endorser.policy import AUTO, MANUAL, PolicyError, decode_policy, load_policy


def test_no_policy_file_endorses_everything_automatically() -> None:
    policy = load_policy(None)

    assert policy.mode_for({"kind": "document", "record_type": "contract"}) == AUTO


def test_policy_by_record_type_with_a_default(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"default": "manual", "record_types": {"meter_data": "auto"}}))

    policy = load_policy(path)

    assert policy.mode_for({"kind": "document", "record_type": "meter_data"}) == AUTO
    assert policy.mode_for({"kind": "document", "record_type": "contract"}) == MANUAL


def test_batches_are_always_for_a_person() -> None:
    policy = decode_policy({"default": "auto"})

    assert policy.mode_for({"kind": "batch", "record_type": "meter_data"}) == MANUAL


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        pytest.param({"default": "sometimes"}, "default must be auto or manual", id="default"),
        pytest.param({"record_types": {"contract": "yes"}}, "has mode 'yes'", id="mode"),
        pytest.param({"record_types": ["contract"]}, "record_types must be", id="list"),
        pytest.param({"defaults": "auto"}, "must be", id="unknown-field"),
        pytest.param([], "must be", id="not-object"),
    ],
)
def test_bad_policies_are_refused(doc: Any, reason: str) -> None:
    with pytest.raises(PolicyError, match=reason):
        decode_policy(doc)


def test_unreadable_policy_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PolicyError, match="not readable JSON"):
        load_policy(tmp_path / "bad.json")
