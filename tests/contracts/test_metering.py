"""The metering contract: registry, batches and proofs, then every way to get a batch wrong."""

from __future__ import annotations

from typing import Any

import pytest

from gridledger import codec, merkle
from gridledger.contracts import metering
from gridledger.errors import InvalidProof, RuleViolation
from tests.chain import EXCHANGE_ADMIN, NOTARY_ADMIN, Chain, key_for
from tests.contracts.metering_support import (
    HEAD_END_KEY,
    METER_2_KEY,
    METER_KEY,
    OWNER,
    assert_ok,
    assert_rejected,
    batch_args,
    hhmm,
    meter_args,
    metered_chain,
    reading,
    reference_leaf,
    submit,
    submit_readings,
)

NEW_KEY = key_for("meter-1-new")

# -- registry ----------------------------------------------------------------------------------


def test_operator_registers_a_meter() -> None:
    chain = Chain()
    assert metering.get_meter(chain.state, "m1") is None
    assert_ok(submit(chain, "register_meter", meter_args(register_bits=16)))

    meter = metering.get_meter(chain.state, "m1")
    assert meter is not None
    assert meter["owner"] == OWNER.address
    assert meter["public_key"] == METER_KEY.public_key.hex()
    assert (meter["status"], meter["direction"], meter["zone"]) == ("active", "import", "zone-a")
    assert (meter["register_bits"], meter["max_power_w"]) == (16, 13_800)


@pytest.mark.parametrize("sender", [EXCHANGE_ADMIN, NOTARY_ADMIN])
def test_only_an_operator_admin_manages_meters(sender: Any) -> None:
    chain = metered_chain()
    assert_rejected(
        submit(chain, "register_meter", meter_args("m9"), sender), "unauthorized", "operator"
    )
    rotate = {"meter": "m1", "public_key": NEW_KEY.public_key.hex()}
    assert_rejected(submit(chain, "rotate_meter_key", rotate, sender), "unauthorized")
    assert_rejected(submit(chain, "retire_meter", {"meter": "m1"}, sender), "unauthorized")
    he = {"head_end": "he9", "public_key": HEAD_END_KEY.public_key.hex()}
    assert_rejected(submit(chain, "register_head_end", he, sender), "unauthorized")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"direction": "sideways"}, "direction"),
        ({"meter": "m 1"}, "meter must be"),
        ({"owner": "not-an-address"}, "owner"),
        ({"public_key": "ab"}, "public_key"),
        ({"max_power_w": 0}, "max_power_w"),
        ({"register_bits": 63}, "register_bits"),
        ({"colour": "red"}, "unknown argument"),
    ],
)
def test_register_meter_rejects_bad_arguments(change: dict[str, Any], reason: str) -> None:
    chain = Chain()
    result = submit(chain, "register_meter", {**meter_args(), **change})
    assert_rejected(result, "invalid_transaction", reason)


def test_register_meter_twice_is_a_conflict() -> None:
    chain = metered_chain()
    assert_rejected(submit(chain, "register_meter", meter_args()), "conflict", "already registered")
    he = {"head_end": "he1", "public_key": HEAD_END_KEY.public_key.hex()}
    assert_rejected(submit(chain, "register_head_end", he), "conflict", "already registered")


def test_rotated_meter_key_signs_from_then_on_and_the_old_key_is_refused() -> None:
    chain = metered_chain()
    assert_ok(submit_readings(chain, [reading("m1", hhmm("00:00"), 1_000)]))
    rotate = {"meter": "m1", "public_key": NEW_KEY.public_key.hex()}
    assert_ok(submit(chain, "rotate_meter_key", rotate))

    meter = metering.get_meter(chain.state, "m1")
    assert meter is not None
    assert [k["public_key"] for k in meter["key_history"]] == [
        METER_KEY.public_key.hex(),
        NEW_KEY.public_key.hex(),
    ]
    old = submit_readings(chain, [reading("m1", hhmm("00:15"), 1_100)])
    assert_rejected(old, "invalid_signature", "reading 0 (m1 import")
    assert_ok(submit_readings(chain, [reading("m1", hhmm("00:15"), 1_100, key=NEW_KEY)]))
    assert metering.get_interval_energy(chain.state, "m1", hhmm("00:15")) == 100
    assert_rejected(submit(chain, "rotate_meter_key", rotate), "conflict", "already uses")


def test_rotated_head_end_key_signs_batches() -> None:
    chain = metered_chain()
    rotate = {"head_end": "he1", "public_key": NEW_KEY.public_key.hex()}
    assert_ok(submit(chain, "rotate_head_end_key", rotate))
    unsigned = [reading("m1", hhmm("00:00"), 1_000, key=None)]
    assert_rejected(
        submit_readings(chain, unsigned, head_end="he1"), "invalid_signature", "head-end system he1"
    )
    assert_ok(submit_readings(chain, unsigned, head_end="he1", head_end_key=NEW_KEY))


def test_rotate_unknown_target_is_not_found() -> None:
    chain = metered_chain()
    rotate = {"meter": "nope", "public_key": NEW_KEY.public_key.hex()}
    assert_rejected(submit(chain, "rotate_meter_key", rotate), "not_found", "nope")
    rotate = {"head_end": "nope", "public_key": NEW_KEY.public_key.hex()}
    assert_rejected(submit(chain, "rotate_head_end_key", rotate), "not_found", "nope")


def test_retired_meter_takes_no_readings_and_no_new_key() -> None:
    chain = metered_chain()
    assert_ok(submit_readings(chain, [reading("m1", hhmm("00:00"), 1_000)]))
    assert_ok(submit(chain, "retire_meter", {"meter": "m1", "reason": "replaced"}))

    meter = metering.get_meter(chain.state, "m1")
    assert meter is not None
    assert (meter["status"], meter["retired_reason"]) == ("retired", "replaced")
    result = submit_readings(chain, [reading("m1", hhmm("00:15"), 1_100)])
    assert_rejected(result, "rule_violation", "reading 0 (m1 import", "retired")
    assert_rejected(submit(chain, "retire_meter", {"meter": "m1"}), "conflict", "already retired")
    rotate = {"meter": "m1", "public_key": NEW_KEY.public_key.hex()}
    assert_rejected(submit(chain, "rotate_meter_key", rotate), "conflict", "retired")
    assert_rejected(submit(chain, "retire_meter", {"meter": "m7"}), "not_found", "m7")


# -- batches and proofs ------------------------------------------------------------------------


def test_head_end_batch_is_logged_and_each_reading_has_an_inclusion_path() -> None:
    chain = metered_chain()
    readings = [
        reading("m1", hhmm("-00:15") + 900 * i, 5_000 + 300 * i, key=None) for i in range(5)
    ]
    log_size = chain.state.log().size
    result = submit_readings(chain, readings, head_end="he1")
    assert_ok(result)

    root = merkle.root([reference_leaf(r) for r in readings])
    batch = metering.get_batch(chain.state, root.hex())
    assert batch is not None
    assert (batch["count"], batch["head_end"], batch["log_index"]) == (5, "he1", log_size)
    entry = codec.decode(chain.state.get_log_entry(batch["log_index"]))
    assert (entry["kind"], entry["tx"]["body"]["args"]["root"]) == (
        "metering.submit_readings",
        root.hex(),
    )
    for i, item in enumerate(readings):
        proof = metering.compute_reading_proof(chain.state, "m1", item["interval_start"])
        assert (proof.leaf, proof.index, proof.size, proof.root) == (
            reference_leaf(item),
            i,
            5,
            root,
        )
        merkle.verify_inclusion(proof.leaf, proof.index, proof.size, list(proof.path), proof.root)
    forged = reference_leaf({**readings[2], "register_wh": 5_601})
    proof = metering.compute_reading_proof(chain.state, "m1", readings[2]["interval_start"])
    with pytest.raises(InvalidProof):
        merkle.verify_inclusion(forged, proof.index, proof.size, list(proof.path), proof.root)
    assert [
        metering.get_interval_energy(chain.state, "m1", hhmm("00:00") + 900 * i) for i in range(4)
    ] == [300] * 4


def test_meter_signed_readings_of_two_meters_in_one_batch() -> None:
    chain = metered_chain([meter_args("m2", METER_2_KEY, direction="both")])
    readings = [
        reading("m1", hhmm("00:00"), 10),
        reading("m2", hhmm("00:00"), 20, key=METER_2_KEY, channel="export"),
        reading("m2", hhmm("00:00"), 30, key=METER_2_KEY, channel="import"),
        reading("m1", hhmm("00:15"), 15),
        reading("m2", hhmm("00:15"), 27, key=METER_2_KEY, channel="export"),
    ]
    assert_ok(submit_readings(chain, readings))
    assert metering.get_interval_energy(chain.state, "m1", hhmm("00:15")) == 5
    assert metering.get_interval_energy(chain.state, "m2", hhmm("00:15"), "export") == 7
    assert metering.get_interval_energy(chain.state, "m2", hhmm("00:15"), "import") is None
    with pytest.raises(RuleViolation, match="name the channel"):
        metering.get_interval_energy(chain.state, "m2", hhmm("00:15"))


def test_long_gap_is_recorded_without_estimates() -> None:
    chain = metered_chain()
    readings = [reading("m1", hhmm("00:00"), 1_000), reading("m1", hhmm("01:30"), 6_000)]
    result = submit_readings(chain, readings)
    assert_ok(result)

    gap = metering.get_gap(chain.state, "m1", hhmm("00:15"))
    assert gap is not None
    assert (gap["missing"], gap["delta_wh"], gap["estimated"]) == (5, 5_000, False)
    for t in ["00:15", "00:30", "01:15", "01:30"]:
        assert metering.get_interval(chain.state, "m1", hhmm(t)) is None


def test_readings_continue_across_batches() -> None:
    chain = metered_chain()
    assert_ok(submit_readings(chain, [reading("m1", hhmm("00:00"), 1_000)]))
    assert_ok(submit_readings(chain, [reading("m1", hhmm("00:15"), 1_250)]))
    assert metering.get_interval_energy(chain.state, "m1", hhmm("00:15")) == 250


# -- rejections: each names the reading --------------------------------------------------------


def _one(**change: Any) -> list[dict[str, Any]]:
    return [reading("m1", hhmm("00:00"), 1_000), {**reading("m1", hhmm("00:15"), 1_100), **change}]


@pytest.mark.parametrize(
    ("readings", "reason"),
    [
        ([reading("m1", hhmm("00:00"), 1_000), "text"], "reading 1 must be an object"),
        (_one(channel="reactive"), "reading 1: channel"),
        (_one(interval_start=hhmm("00:15") + 60), "reading 1: interval_start"),
        (_one(register_wh=-1), "reading 1: register_wh"),
        (_one(error_flags="X"), "reading 1: error_flags"),
        (_one(signature="00"), "reading 1: signature"),
        (_one(obis="1-0:1.8.0"), "reading 1: unknown argument"),
        (
            [{k: v for k, v in reading("m1", hhmm("00:00"), 1).items() if k != "meter"}],
            "reading 0: missing",
        ),
    ],
)
def test_malformed_reading_is_rejected_by_index(readings: list[Any], reason: str) -> None:
    chain = metered_chain()
    root = merkle.root([b"x"]).hex()
    result = submit(chain, "submit_readings", {"readings": readings, "root": root})
    assert_rejected(result, "invalid_transaction", reason)


def test_root_must_match_the_readings() -> None:
    chain = metered_chain()
    args = batch_args([reading("m1", hhmm("00:00"), 1_000)])
    args["root"] = merkle.root([b"other"]).hex()
    assert_rejected(submit(chain, "submit_readings", args), "invalid_transaction", "does not match")


def test_batch_needs_a_signature_per_reading_or_a_head_end_signature() -> None:
    chain = metered_chain()
    unsigned = [reading("m1", hhmm("00:00"), 1_000, key=None)]
    result = submit_readings(chain, unsigned)
    assert_rejected(result, "invalid_transaction", "reading 0: no signature")
    args = batch_args(unsigned, head_end="he1")
    del args["signature"]
    assert_rejected(submit(chain, "submit_readings", args), "invalid_transaction", "go together")
    empty = {"readings": [], "root": merkle.EMPTY_ROOT.hex()}
    assert_rejected(submit(chain, "submit_readings", empty), "invalid_transaction", "1 to 1000")


def test_unknown_head_end_is_not_found() -> None:
    chain = metered_chain()
    result = submit_readings(chain, [reading("m1", hhmm("00:00"), 1, key=None)], head_end="he2")
    assert_rejected(result, "not_found", "head-end system he2")


@pytest.mark.parametrize(
    ("readings", "error", "reason"),
    [
        (
            [reading("m9", hhmm("00:00"), 1)],
            "not_found",
            "reading 0 (m9 import 1794960000): meter m9",
        ),
        (
            [reading("m1", hhmm("00:00"), 1, channel="export")],
            "rule_violation",
            "measures import only",
        ),
        ([reading("m1", hhmm("12:00"), 1)], "rule_violation", "has not ended"),
        ([reading("m1", hhmm("00:00"), 2**32)], "rule_violation", "32 bits"),
        ([reading("m1", hhmm("00:00"), 1, key=METER_2_KEY)], "invalid_signature", "reading 0 (m1"),
        (
            [reading("m1", hhmm("00:00"), 1), reading("m1", hhmm("00:00"), 1)],
            "conflict",
            "reading 1 (m1 import 1794960000): the meter already has a reading",
        ),
        (
            [reading("m1", hhmm("00:15"), 1), reading("m1", hhmm("00:00"), 1)],
            "rule_violation",
            "reading 1 (m1 import 1794960000): the meter's latest reading",
        ),
        (
            [reading("m1", hhmm("00:00"), 5_000), reading("m1", hhmm("00:15"), 4_999)],
            "rule_violation",
            "reading 1 (m1 import 1794960900): register decreased from 5000 to 4999",
        ),
        (
            [reading("m1", hhmm("00:00"), 1, page=7), reading("m1", hhmm("00:15"), 2)],
            "rule_violation",
            "reading 1 (m1 import 1794960900): page gap",
        ),
    ],
)
def test_invalid_reading_is_rejected_by_index(
    readings: list[dict[str, Any]], error: str, reason: str
) -> None:
    chain = metered_chain()
    assert_rejected(submit_readings(chain, readings), error, reason)


def test_duplicate_of_a_committed_reading_is_a_conflict() -> None:
    chain = metered_chain()
    first = [reading("m1", hhmm("00:00"), 1_000)]
    assert_ok(submit_readings(chain, first))
    assert_rejected(submit_readings(chain, first), "conflict", "already submitted")
    again = [reading("m1", hhmm("00:00"), 1_001)]
    assert_rejected(submit_readings(chain, again), "conflict", "reading 0 (m1", "already has")
