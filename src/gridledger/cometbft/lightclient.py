"""Checking CometBFT v0.38 commits offline, in plain Python, without trusting any one node.

Input is JSON exactly as CometBFT's RPC returns it, so a certificate can carry it verbatim:
``signed_header`` is the ``signed_header`` of ``/commit?height=H`` and ``validators`` the
``validators`` list of ``/validators?height=H`` (every page). The checks, and the Go code and spec
pages they follow, are described in docs/consensus-proof.md. In short:

- the header hash is CometBFT's ``Header.Hash()`` (types/block.go): an RFC 6962 Merkle root over
  14 protobuf-encoded fields, scalars wrapped as ``cdcEncode`` does (types/encoding_helper.go);
- the validator set hash is ``ValidatorSet.Hash()`` (types/validator_set.go): a Merkle root over
  ``SimpleValidator{pub_key, voting_power}``, in CometBFT's order (power descending, then address);
- every non-absent commit signature, votes for nil included, must verify over its
  ``CanonicalVote`` sign bytes (types/vote.go, types/canonical.go,
  proto/tendermint/types/canonical.proto), and the signatures for the block must carry more than
  2/3 of the voting power (types/validation.go, ``VerifyCommit``).

Decoding is strict: a wrong JSON type, bad hex or base64, a wrong length, an unknown key type or an
unexpected field raises ``InvalidProof`` naming the field. Every failed check raises
``InvalidProof`` with a reason a person can read. No clock, file or network is touched.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gridledger import merkle
from gridledger.cometbft import protobuf as pb
from gridledger.crypto import ED25519, verify_signature
from gridledger.errors import InvalidProof, InvalidSignature

__all__ = [
    "BlockId",
    "Commit",
    "CommitSig",
    "Header",
    "Timestamp",
    "Validator",
    "VerifiedHeader",
    "compute_header_hash",
    "compute_validator_set_hash",
    "compute_vote_sign_bytes",
    "decode_commit",
    "decode_header",
    "decode_timestamp",
    "decode_validators",
    "genesis_validators_hash",
    "header_hash",
    "validator_set_hash",
    "verify_signed_header",
    "verify_validator_transitions",
    "vote_sign_bytes",
]

HASH_SIZE = 32
ADDRESS_SIZE = 20
ED25519_KEY_TYPE = "tendermint/PubKeyEd25519"
ED25519_PUBLIC_KEY_SIZE = 32
ED25519_SIGNATURE_SIZE = 64
MAX_CHAIN_ID_BYTES = 50
MAX_TOTAL_VOTING_POWER = pb.INT64_MAX // 8
INT32_MAX = (1 << 31) - 1
UINT32_MAX = (1 << 32) - 1
UINT64_MAX = (1 << 64) - 1
PRECOMMIT_TYPE = 2
BLOCK_ID_FLAG_ABSENT = 1
BLOCK_ID_FLAG_COMMIT = 2
BLOCK_ID_FLAG_NIL = 3

_HASH_OR_EMPTY = (0, HASH_SIZE)
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_DECIMAL = re.compile(r"0|-?[1-9][0-9]{0,19}")
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z"
)
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
_HEADER_FIELDS = (
    "version",
    "chain_id",
    "height",
    "time",
    "last_block_id",
    "last_commit_hash",
    "data_hash",
    "validators_hash",
    "next_validators_hash",
    "consensus_hash",
    "app_hash",
    "last_results_hash",
    "evidence_hash",
    "proposer_address",
)


# Types.


@dataclass(frozen=True, slots=True, kw_only=True)
class Timestamp:
    """A UTC instant as protobuf holds it: whole seconds since 1970 and 0..999,999,999 nanos."""

    seconds: int
    nanos: int
    text: str

    @property
    def unix_ms(self) -> int:
        return self.seconds * 1000 + self.nanos // 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockId:
    hash: bytes
    parts_total: int
    parts_hash: bytes

    def is_zero(self) -> bool:
        return not self.hash and self.parts_total == 0 and not self.parts_hash


NIL_BLOCK_ID = BlockId(hash=b"", parts_total=0, parts_hash=b"")


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    block_version: int
    app_version: int
    chain_id: str
    height: int
    time: Timestamp
    last_block_id: BlockId
    last_commit_hash: bytes
    data_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    consensus_hash: bytes
    app_hash: bytes
    last_results_hash: bytes
    evidence_hash: bytes
    proposer_address: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitSig:
    block_id_flag: int
    validator_address: bytes
    timestamp: Timestamp
    signature: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit:
    height: int
    round: int
    block_id: BlockId
    signatures: tuple[CommitSig, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Validator:
    address: bytes
    public_key: bytes
    voting_power: int


@dataclass(frozen=True, slots=True, kw_only=True)
class VerifiedHeader:
    """What a verified commit proves about block ``height`` (hashes as raw bytes)."""

    chain_id: str
    height: int
    time: str
    time_ms: int
    header_hash: bytes
    app_hash: bytes
    data_hash: bytes
    last_results_hash: bytes
    validators_hash: bytes
    next_validators_hash: bytes
    signed_power: int
    total_power: int
    signers: tuple[str, ...]


# Reading JSON values. ``path`` names the field in error messages, e.g. "commit.signatures[2]".


def _describe(value: object) -> str:
    """The JSON kind of ``value``, for error messages."""
    kinds: tuple[tuple[type | tuple[type, ...], str], ...] = (
        (bool, "a boolean"),
        ((int, float), "a number"),
        (str, "a string"),
        ((list, tuple), "an array"),
        (Mapping, "an object"),
    )
    if value is None:
        return "null"
    for kind, name in kinds:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _object(
    value: object, path: str, keys: Sequence[str], optional: Sequence[str] = ()
) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise InvalidProof(f"{path} must be a JSON object, got {_describe(value)}")
    for key in keys:
        if key not in value:
            raise InvalidProof(f"{path}.{key} is missing")
    for key in value:
        if key not in keys and key not in optional:
            raise InvalidProof(f"{path} has an unexpected field {key!r}")
    return value


def _array(value: object, path: str) -> Sequence[object]:
    if not isinstance(value, list | tuple):
        raise InvalidProof(f"{path} must be a JSON array, got {_describe(value)}")
    return value


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidProof(f"{path} must be a string, got {_describe(value)}")
    return value


def _hex(value: object, path: str, sizes: Sequence[int] | None) -> bytes:
    text = _string(value, path)
    if _HEX.fullmatch(text) is None:
        raise InvalidProof(f"{path} is not hexadecimal: {text[:80]!r}")
    data = bytes.fromhex(text)
    if sizes is not None and len(data) not in sizes:
        wanted = " or ".join(str(size) for size in sizes)
        raise InvalidProof(f"{path} must be {wanted} bytes long, got {len(data)}")
    return data


def _base64(value: object, path: str, size: int) -> bytes:
    text = _string(value, path)
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise InvalidProof(f"{path} is not base64: {text[:100]!r}") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise InvalidProof(f"{path} is not canonical base64: {text[:100]!r}")
    if len(data) != size:
        raise InvalidProof(f"{path} must be {size} bytes long, got {len(data)}")
    return data


def _check_range(number: int, path: str, low: int, high: int) -> int:
    if not low <= number <= high:
        raise InvalidProof(f"{path} must be between {low} and {high}, got {number}")
    return number


def _int_string(value: object, path: str, low: int, high: int) -> int:
    """A 64-bit integer, which CometBFT's JSON writes as a decimal string."""
    text = _string(value, path)
    if _DECIMAL.fullmatch(text) is None:
        raise InvalidProof(f"{path} must be a decimal integer in a string, got {text[:40]!r}")
    return _check_range(int(text), path, low, high)


def _int_number(value: object, path: str, low: int, high: int) -> int:
    """A 32-bit integer, which CometBFT's JSON writes as a number."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidProof(f"{path} must be a JSON integer, got {_describe(value)}")
    return _check_range(value, path, low, high)


def _chain_id(value: object, path: str) -> str:
    text = _string(value, path)
    if not text or len(text.encode("utf-8")) > MAX_CHAIN_ID_BYTES:
        raise InvalidProof(f"{path} must be 1 to {MAX_CHAIN_ID_BYTES} bytes long, got {text!r}")
    return text


def _show(data: bytes) -> str:
    """Bytes as CometBFT shows them: upper-case hex."""
    return data.hex().upper()


# Decoding the RPC shapes.


def decode_timestamp(value: object, path: str = "time") -> Timestamp:
    """An RFC 3339 UTC time as Go writes it (``2026-11-23T21:03:04.123456789Z``), exactly."""
    text = _string(value, path)
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise InvalidProof(
            f"{path} must be an RFC 3339 UTC time such as 2026-11-23T21:03:04.123456789Z, "
            f"got {text[:60]!r}"
        )
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=datetime.UTC)
    except ValueError as exc:
        raise InvalidProof(f"{path} is not a valid date and time: {text!r}") from exc
    days = moment.toordinal() - _EPOCH_ORDINAL
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second
    fraction = match.group(7) or ""
    return Timestamp(seconds=seconds, nanos=int(fraction.ljust(9, "0")), text=text)


def _decode_block_id(value: object, path: str) -> BlockId:
    block_id = _object(value, path, ("hash", "parts"))
    parts = _object(block_id["parts"], f"{path}.parts", ("total", "hash"))
    return BlockId(
        hash=_hex(block_id["hash"], f"{path}.hash", _HASH_OR_EMPTY),
        parts_total=_int_number(parts["total"], f"{path}.parts.total", 0, UINT32_MAX),
        parts_hash=_hex(parts["hash"], f"{path}.parts.hash", _HASH_OR_EMPTY),
    )


def decode_header(header_json: object, path: str = "header") -> Header:
    """A block header, with the sizes CometBFT's ``Header.ValidateBasic`` insists on."""
    fields = _object(header_json, path, _HEADER_FIELDS)
    version = _object(fields["version"], f"{path}.version", ("block", "app"))

    def hashed(name: str, sizes: Sequence[int] | None = _HASH_OR_EMPTY) -> bytes:
        return _hex(fields[name], f"{path}.{name}", sizes)

    return Header(
        block_version=_int_string(version["block"], f"{path}.version.block", 0, UINT64_MAX),
        app_version=_int_string(version["app"], f"{path}.version.app", 0, UINT64_MAX),
        chain_id=_chain_id(fields["chain_id"], f"{path}.chain_id"),
        height=_int_string(fields["height"], f"{path}.height", 1, pb.INT64_MAX),
        time=decode_timestamp(fields["time"], f"{path}.time"),
        last_block_id=_decode_block_id(fields["last_block_id"], f"{path}.last_block_id"),
        last_commit_hash=hashed("last_commit_hash"),
        data_hash=hashed("data_hash"),
        validators_hash=hashed("validators_hash", (HASH_SIZE,)),
        next_validators_hash=hashed("next_validators_hash"),
        consensus_hash=hashed("consensus_hash"),
        app_hash=hashed("app_hash", None),
        last_results_hash=hashed("last_results_hash"),
        evidence_hash=hashed("evidence_hash"),
        proposer_address=hashed("proposer_address", (ADDRESS_SIZE,)),
    )


def _decode_commit_sig(value: object, path: str) -> CommitSig:
    fields = _object(value, path, ("block_id_flag", "validator_address", "timestamp", "signature"))
    flag = _int_number(fields["block_id_flag"], f"{path}.block_id_flag", 0, 255)
    timestamp = decode_timestamp(fields["timestamp"], f"{path}.timestamp")
    if flag == BLOCK_ID_FLAG_ABSENT:
        if fields["validator_address"] != "":
            raise InvalidProof(f"{path}.validator_address must be empty for an absent validator")
        if (timestamp.seconds, timestamp.nanos) != (-62_135_596_800, 0):
            raise InvalidProof(f"{path}.timestamp must be 0001-01-01T00:00:00Z when absent")
        if fields["signature"] not in (None, ""):
            raise InvalidProof(f"{path}.signature must be null for an absent validator")
        return CommitSig(
            block_id_flag=flag, validator_address=b"", timestamp=timestamp, signature=b""
        )
    if flag not in (BLOCK_ID_FLAG_COMMIT, BLOCK_ID_FLAG_NIL):
        raise InvalidProof(
            f"{path}.block_id_flag must be 1 (absent), 2 (commit) or 3 (nil), got {flag}"
        )
    return CommitSig(
        block_id_flag=flag,
        validator_address=_hex(
            fields["validator_address"], f"{path}.validator_address", (ADDRESS_SIZE,)
        ),
        timestamp=timestamp,
        signature=_base64(fields["signature"], f"{path}.signature", ED25519_SIGNATURE_SIZE),
    )


def decode_commit(commit_json: object, path: str = "commit") -> Commit:
    fields = _object(commit_json, path, ("height", "round", "block_id", "signatures"))
    block_id = _decode_block_id(fields["block_id"], f"{path}.block_id")
    if len(block_id.hash) != HASH_SIZE:
        raise InvalidProof(f"{path}.block_id.hash is empty: a commit for no block proves nothing")
    items = _array(fields["signatures"], f"{path}.signatures")
    if not items:
        raise InvalidProof(f"{path}.signatures is empty")
    return Commit(
        height=_int_string(fields["height"], f"{path}.height", 1, pb.INT64_MAX),
        round=_int_number(fields["round"], f"{path}.round", 0, INT32_MAX),
        block_id=block_id,
        signatures=tuple(
            _decode_commit_sig(item, f"{path}.signatures[{index}]")
            for index, item in enumerate(items)
        ),
    )


def _decode_public_key(value: object, path: str) -> bytes:
    fields = _object(value, path, ("type", "value"))
    key_type = _string(fields["type"], f"{path}.type")
    if key_type != ED25519_KEY_TYPE:
        raise InvalidProof(
            f"{path}.type {key_type[:60]!r} is not supported; only {ED25519_KEY_TYPE} is"
        )
    return _base64(fields["value"], f"{path}.value", ED25519_PUBLIC_KEY_SIZE)


def _address_of(public_key: bytes) -> bytes:
    """CometBFT's ed25519 address: the first 20 bytes of SHA-256(public key)."""
    return hashlib.sha256(public_key).digest()[:ADDRESS_SIZE]


def _checked_address(value: object, path: str, public_key: bytes) -> bytes:
    address = _hex(value, path, (ADDRESS_SIZE,))
    if address != _address_of(public_key):
        raise InvalidProof(
            f"{path} {_show(address)} is not the address of the validator's public key "
            f"({_show(_address_of(public_key))})"
        )
    return address


def _decode_validator(value: object, path: str) -> Validator:
    fields = _object(value, path, ("address", "pub_key", "voting_power", "proposer_priority"))
    public_key = _decode_public_key(fields["pub_key"], f"{path}.pub_key")
    # The proposer priority is not hashed into anything; it is read only to refuse bad JSON.
    _int_string(
        fields["proposer_priority"], f"{path}.proposer_priority", pb.INT64_MIN, pb.INT64_MAX
    )
    return Validator(
        address=_checked_address(fields["address"], f"{path}.address", public_key),
        public_key=public_key,
        voting_power=_int_string(
            fields["voting_power"], f"{path}.voting_power", 1, MAX_TOTAL_VOTING_POWER
        ),
    )


def _verify_validator_order(validators: Sequence[Validator], path: str) -> None:
    """CometBFT's set order: voting power descending, then address ascending; no duplicates."""
    if not validators:
        raise InvalidProof(f"{path} is empty")
    seen: set[bytes] = set()
    for validator in validators:
        if validator.address in seen:
            raise InvalidProof(f"{path} lists validator {_show(validator.address)} twice")
        seen.add(validator.address)
    for index in range(1, len(validators)):
        before, after = validators[index - 1], validators[index]
        if (-before.voting_power, before.address) > (-after.voting_power, after.address):
            raise InvalidProof(
                f"{path} is not in CometBFT's order (voting power descending, then address "
                f"ascending): {path}[{index}] ({_show(after.address)}, power "
                f"{after.voting_power}) must come before {path}[{index - 1}]"
            )
    total = sum(validator.voting_power for validator in validators)
    if total > MAX_TOTAL_VOTING_POWER:
        raise InvalidProof(f"{path} has total voting power {total}, above CometBFT's limit")


def decode_validators(validators_json: object, path: str = "validators") -> tuple[Validator, ...]:
    """The ``validators`` list of RPC ``/validators`` (all pages), in CometBFT's order."""
    items = _array(validators_json, path)
    validators = tuple(
        _decode_validator(item, f"{path}[{index}]") for index, item in enumerate(items)
    )
    _verify_validator_order(validators, path)
    return validators


# Hashing and sign bytes.


def _block_id_bytes(block_id: BlockId) -> bytes:
    """``BlockID`` and ``CanonicalBlockID`` alike: hash = 1, part_set_header = 2 (always)."""
    part_set_header = pb.encode_uint_field(1, block_id.parts_total) + pb.encode_bytes_field(
        2, block_id.parts_hash
    )
    return pb.encode_bytes_field(1, block_id.hash) + pb.encode_message_field(2, part_set_header)


def compute_header_hash(header: Header) -> bytes:
    """``Header.Hash()``: the Merkle root over the header's 14 fields, in declaration order."""
    return merkle.root(
        [
            pb.encode_uint_field(1, header.block_version)
            + pb.encode_uint_field(2, header.app_version),
            pb.encode_string_value(header.chain_id),
            pb.encode_int64_value(header.height),
            pb.encode_timestamp(header.time.seconds, header.time.nanos),
            _block_id_bytes(header.last_block_id),
            pb.encode_bytes_value(header.last_commit_hash),
            pb.encode_bytes_value(header.data_hash),
            pb.encode_bytes_value(header.validators_hash),
            pb.encode_bytes_value(header.next_validators_hash),
            pb.encode_bytes_value(header.consensus_hash),
            pb.encode_bytes_value(header.app_hash),
            pb.encode_bytes_value(header.last_results_hash),
            pb.encode_bytes_value(header.evidence_hash),
            pb.encode_bytes_value(header.proposer_address),
        ]
    )


def compute_validator_set_hash(validators: Sequence[Validator]) -> bytes:
    """``ValidatorSet.Hash()``: Merkle root over ``SimpleValidator`` bytes, in the given order."""
    return merkle.root(
        [
            pb.encode_message_field(1, pb.encode_bytes_field(1, validator.public_key))
            + pb.encode_int_field(2, validator.voting_power)
            for validator in validators
        ]
    )


def compute_vote_sign_bytes(
    chain_id: str, height: int, round_: int, block_id: BlockId, timestamp: Timestamp
) -> bytes:
    """``VoteSignBytes`` of a precommit: a length-delimited ``CanonicalVote``.

    A vote for nil has a zero block id, which ``CanonicalizeBlockID`` turns into an absent field.
    """
    canonical_block_id = b""
    if not block_id.is_zero():
        canonical_block_id = pb.encode_message_field(4, _block_id_bytes(block_id))
    return pb.encode_delimited(
        pb.encode_uint_field(1, PRECOMMIT_TYPE)
        + pb.encode_sfixed64_field(2, height)
        + pb.encode_sfixed64_field(3, round_)
        + canonical_block_id
        + pb.encode_message_field(5, pb.encode_timestamp(timestamp.seconds, timestamp.nanos))
        + pb.encode_bytes_field(6, chain_id.encode("utf-8"))
    )


def header_hash(header_json: Mapping[str, object]) -> bytes:
    """The block hash of a header given as RPC JSON (``/commit``'s ``signed_header.header``)."""
    return compute_header_hash(decode_header(header_json))


def validator_set_hash(validators_json: Sequence[object]) -> bytes:
    """The hash of a validator set given as RPC JSON; refuses a set not in CometBFT's order."""
    return compute_validator_set_hash(decode_validators(validators_json))


def vote_sign_bytes(
    chain_id: str,
    height: int,
    round: int,
    block_id_hash: bytes,
    parts_total: int,
    parts_hash: bytes,
    timestamp: str,
) -> bytes:
    """The bytes a validator signs for a precommit; an empty block id means a vote for nil."""
    if not isinstance(chain_id, str):
        raise InvalidProof(f"chain_id must be a string, got {_describe(chain_id)}")
    for name, data in (("block_id_hash", block_id_hash), ("parts_hash", parts_hash)):
        if not isinstance(data, bytes) or len(data) not in _HASH_OR_EMPTY:
            raise InvalidProof(f"{name} must be 32 bytes or empty")
    block_id = BlockId(
        hash=block_id_hash,
        parts_total=_int_number(parts_total, "parts_total", 0, UINT32_MAX),
        parts_hash=parts_hash,
    )
    return compute_vote_sign_bytes(
        chain_id,
        _int_number(height, "height", 0, pb.INT64_MAX),
        _int_number(round, "round", 0, INT32_MAX),
        block_id,
        decode_timestamp(timestamp, "timestamp"),
    )


# Verification.


def _tally_commit(
    chain_id: str, commit: Commit, validators: Sequence[Validator]
) -> tuple[int, tuple[str, ...]]:
    """Check every signature present; return the power and addresses of those for the block.

    Votes for nil are checked too (as ``VerifyCommit`` does) but do not count for the block.
    """
    if len(commit.signatures) != len(validators):
        raise InvalidProof(
            f"the commit has {len(commit.signatures)} signature slots but the validator set has "
            f"{len(validators)} validators; they must correspond one to one"
        )
    signed_power = 0
    signers: list[str] = []
    for index, (sig, validator) in enumerate(zip(commit.signatures, validators, strict=True)):
        if sig.block_id_flag == BLOCK_ID_FLAG_ABSENT:
            continue
        if sig.validator_address != validator.address:
            raise InvalidProof(
                f"commit.signatures[{index}] names validator {_show(sig.validator_address)}, "
                f"but validator {index} of the set is {_show(validator.address)}"
            )
        for_block = sig.block_id_flag == BLOCK_ID_FLAG_COMMIT
        block_id = commit.block_id if for_block else NIL_BLOCK_ID
        message = compute_vote_sign_bytes(
            chain_id, commit.height, commit.round, block_id, sig.timestamp
        )
        try:
            verify_signature(ED25519, validator.public_key, message, sig.signature)
        except InvalidSignature as exc:
            raise InvalidProof(
                f"signature of validator {_show(validator.address)} (commit.signatures[{index}]) "
                f"does not verify: it is not that validator's signature of this vote"
            ) from exc
        if for_block:
            signed_power += validator.voting_power
            signers.append(_show(validator.address))
    return signed_power, tuple(signers)


def verify_signed_header(
    chain_id: str, signed_header_json: Mapping[str, object], validators_json: Sequence[object]
) -> VerifiedHeader:
    """Check that more than 2/3 of ``validators`` signed the header of ``signed_header_json``."""
    if not isinstance(chain_id, str):
        raise InvalidProof(f"chain_id must be a string, got {_describe(chain_id)}")
    signed_header = _object(signed_header_json, "signed_header", ("header", "commit"))
    header = decode_header(signed_header["header"])
    commit = decode_commit(signed_header["commit"])
    validators = decode_validators(validators_json)
    if header.chain_id != chain_id:
        raise InvalidProof(f"the header is from chain {header.chain_id!r}, not {chain_id!r}")
    if commit.height != header.height:
        raise InvalidProof(
            f"the commit is for height {commit.height} but the header is for height {header.height}"
        )
    block_hash = compute_header_hash(header)
    if commit.block_id.hash != block_hash:
        raise InvalidProof(
            f"header hash does not match the commit's block id: the header hashes to "
            f"{_show(block_hash)}, the validators signed block {_show(commit.block_id.hash)}"
        )
    set_hash = compute_validator_set_hash(validators)
    if set_hash != header.validators_hash:
        raise InvalidProof(
            f"the validator set given hashes to {_show(set_hash)}, but the header says its "
            f"validators are {_show(header.validators_hash)} (a /validators list must include "
            f"every page)"
        )
    signed_power, signers = _tally_commit(chain_id, commit, validators)
    total_power = sum(validator.voting_power for validator in validators)
    if 3 * signed_power <= 2 * total_power:
        raise InvalidProof(
            f"only {signed_power} of {total_power} voting power signed the block; more than 2/3 "
            f"is required"
        )
    return VerifiedHeader(
        chain_id=header.chain_id,
        height=header.height,
        time=header.time.text,
        time_ms=header.time.unix_ms,
        header_hash=block_hash,
        app_hash=header.app_hash,
        data_hash=header.data_hash,
        last_results_hash=header.last_results_hash,
        validators_hash=header.validators_hash,
        next_validators_hash=header.next_validators_hash,
        signed_power=signed_power,
        total_power=total_power,
        signers=signers,
    )


def _verify_hash_argument(value: object, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise InvalidProof(f"{name} must be a {HASH_SIZE}-byte hash")
    return value


def verify_validator_transitions(
    trusted_validators_hash: bytes,
    transitions: Sequence[Mapping[str, object]],
    target_validators_hash: bytes,
    *,
    chain_id: str | None = None,
) -> None:
    """Follow the chain of trust from a trusted validator set to ``target_validators_hash``.

    Each transition is ``{"signed_header", "validators", "next_validators"}``: a header signed
    by the set trusted so far, which names the next set. Heights must increase. Without
    ``chain_id`` the first header's chain id is used, and every header must share it.
    """
    trusted = _verify_hash_argument(trusted_validators_hash, "trusted_validators_hash")
    target = _verify_hash_argument(target_validators_hash, "target_validators_hash")
    last_height = 0
    for index, item in enumerate(_array(transitions, "transitions")):
        path = f"transitions[{index}]"
        fields = _object(item, path, ("signed_header", "validators", "next_validators"))
        signed_header = _object(
            fields["signed_header"], f"{path}.signed_header", ("header", "commit")
        )
        if chain_id is None:
            chain_id = decode_header(
                signed_header["header"], f"{path}.signed_header.header"
            ).chain_id
        try:
            verified = verify_signed_header(
                chain_id, signed_header, _array(fields["validators"], f"{path}.validators")
            )
        except InvalidProof as exc:
            raise InvalidProof(f"{path}: {exc.message}") from exc
        if verified.height <= last_height:
            raise InvalidProof(
                f"{path} is for height {verified.height}, not above the previous {last_height}"
            )
        if verified.validators_hash != trusted:
            raise InvalidProof(
                f"the chain of trust is broken at {path} (height {verified.height}): it is signed "
                f"by validator set {_show(verified.validators_hash)}, but the trusted set at "
                f"that point is {_show(trusted)}"
            )
        next_hash = compute_validator_set_hash(
            decode_validators(fields["next_validators"], f"{path}.next_validators")
        )
        if next_hash != verified.next_validators_hash:
            raise InvalidProof(
                f"{path}.next_validators hashes to {_show(next_hash)}, but the header names "
                f"{_show(verified.next_validators_hash)} as the next validator set"
            )
        trusted, last_height = next_hash, verified.height
    if trusted != target:
        raise InvalidProof(
            f"the chain of trust ends at validator set {_show(trusted)}, not at the target "
            f"{_show(target)}"
        )


def _decode_genesis_validator(value: object, path: str) -> Validator:
    fields = _object(value, path, ("pub_key", "power"), ("address", "name"))
    public_key = _decode_public_key(fields["pub_key"], f"{path}.pub_key")
    address = _address_of(public_key)
    if fields.get("address", "") != "":
        address = _checked_address(fields["address"], f"{path}.address", public_key)
    if "name" in fields:
        _string(fields["name"], f"{path}.name")
    return Validator(
        address=address,
        public_key=public_key,
        voting_power=_int_string(fields["power"], f"{path}.power", 1, MAX_TOTAL_VOTING_POWER),
    )


def genesis_validators_hash(genesis_json: Mapping[str, object]) -> bytes:
    """The validators hash of the first block, from a CometBFT genesis.json.

    Holds only when the application's InitChain answer does not replace the genesis validators.
    """
    if not isinstance(genesis_json, Mapping):
        raise InvalidProof(f"genesis must be a JSON object, got {_describe(genesis_json)}")
    if "validators" not in genesis_json:
        raise InvalidProof("genesis.validators is missing")
    items = _array(genesis_json["validators"], "genesis.validators")
    if not items:
        raise InvalidProof(
            "genesis.validators is empty: the first validator set then comes from the "
            "application's InitChain answer and cannot be read from genesis.json"
        )
    validators = sorted(
        (
            _decode_genesis_validator(item, f"genesis.validators[{index}]")
            for index, item in enumerate(items)
        ),
        key=lambda validator: (-validator.voting_power, validator.address),
    )
    _verify_validator_order(validators, "genesis.validators")
    return compute_validator_set_hash(validators)
