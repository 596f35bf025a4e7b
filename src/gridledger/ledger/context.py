"""What a contract method sees while it runs: the state, the block, the transaction, and the
means to emit events and append to the evidence log.

Every contract module exposes ``METHODS: dict[str, Method]``. A method is three plain functions:
``parse(args) -> message`` (shape only, raises InvalidTransaction), ``check(ctx, msg)`` (rules
against current state, raises, mutates nothing) and ``apply(ctx, msg)`` (mutates state, emits
events). CheckTx runs parse and check; FinalizeBlock runs all three.

A method that changes the validator set (only ``governance`` does) writes the new set to state and
reports each change with ``TxContext.set_validator_power``; the block turns the changes of its
successful transactions into CometBFT validator updates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gridledger import codec
from gridledger.ledger.state import State
from gridledger.ledger.tx import Transaction

LOG_ENTRY_VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockEnv:
    """The block a transaction runs in. Time comes from consensus, never from a clock."""

    chain_id: str
    height: int
    time_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    type: str
    attributes: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "attributes": dict(self.attributes)}


# -- validator set changes (governance) -------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidatorUpdate:
    """A validator's new voting power, as CometBFT takes it: power 0 removes the validator."""

    public_key: bytes  # 32-byte Ed25519 public key
    power: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ValidatorChange:
    """One change a transaction made; ``previous_power`` (0 for a new validator) lets the block
    merge several changes of one key into their net effect."""

    public_key: bytes
    power: int
    previous_power: int


# -- end of validator set changes ------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class TxContext:
    state: State
    env: BlockEnv
    tx: Transaction
    events: list[Event] = field(default_factory=list)
    validator_changes: list[ValidatorChange] = field(default_factory=list)
    # What a method's ``check`` computed for its ``apply`` in the same transaction (both run on
    # this context, on the same state, one after the other), so apply need not compute it again.
    memo: dict[str, Any] = field(default_factory=dict)
    # In FinalizeBlock, the memo ``check`` left when CheckTx ran it on these same bytes in this
    # process (against the state of that moment); empty otherwise. A method may reuse an entry
    # only after checking it still holds, since the state and the block have moved on.
    check_tx_memo: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sender(self) -> str:
        return self.tx.sender

    @property
    def signers(self) -> tuple[str, ...]:
        return self.tx.signers

    def emit(self, type_: str, **attributes: Any) -> None:
        self.events.append(Event(type=type_, attributes=attributes))

    def set_validator_power(self, public_key: bytes, power: int, *, previous_power: int) -> None:
        """Report a validator set change the method has written to state (power 0: removed)."""
        self.validator_changes.append(
            ValidatorChange(public_key=public_key, power=power, previous_power=previous_power)
        )

    def append_log(self, kind: str) -> int:
        """Append this transaction to the evidence log as an entry of ``kind``; return its index."""
        return self.state.append_log_entry(encode_log_entry(self.env, kind, self.tx))


def encode_log_entry(env: BlockEnv, kind: str, tx: Transaction) -> bytes:
    """Canonical JSON of the log entry
    ``{"chain_id","height","kind","time_ms","tx","tx_id","v"}``, with the transaction's own
    canonical bytes spliced in (keys in that order are sorted: "tx" < "tx_id").

    Every transaction writes one, so the common case is a template: a chain id and a kind of
    plain characters need no escaping, and heights and times are in the 64-bit range. Anything
    else goes through the canonical encoder (tests compare the two)."""
    if (
        _PLAIN_TEXT.fullmatch(env.chain_id)
        and _PLAIN_TEXT.fullmatch(kind)
        and 0 <= env.height <= codec.INT_MAX
        and 0 <= env.time_ms <= codec.INT_MAX
    ):
        head = (
            f'{{"chain_id":"{env.chain_id}","height":{env.height},"kind":"{kind}",'
            f'"time_ms":{env.time_ms},"tx":'
        ).encode("ascii")
        tail = f',"tx_id":"{tx.tx_id.hex()}","v":{LOG_ENTRY_VERSION}}}'.encode("ascii")
        return head + tx.raw + tail
    return encode_log_entry_generic(env, kind, tx)


def encode_log_entry_generic(env: BlockEnv, kind: str, tx: Transaction) -> bytes:
    """``encode_log_entry`` through the canonical encoder, for any chain id and kind."""
    head = codec.encode(
        {"chain_id": env.chain_id, "height": env.height, "kind": kind, "time_ms": env.time_ms}
    )
    tail = codec.encode({"tx_id": tx.tx_id.hex(), "v": LOG_ENTRY_VERSION})
    return head[:-1] + b',"tx":' + tx.raw + b"," + tail[1:]


_PLAIN_TEXT = re.compile(r"[A-Za-z0-9._:/-]+")  # canonical JSON writes these as they are


@dataclass(frozen=True, slots=True, kw_only=True)
class Method:
    parse: Callable[[Mapping[str, Any]], Any]
    check: Callable[[TxContext, Any], None]
    apply: Callable[[TxContext, Any], None]
