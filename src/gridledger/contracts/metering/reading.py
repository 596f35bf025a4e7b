"""Readings: their canonical bytes, the two ways they are signed, and the pure arithmetic that
turns cumulative registers into interval energy.

A reading is one row of a DLMS/COSEM load profile (IEC 62056, Profile generic, capture period
900 s): the value of a cumulative energy register (OBIS 1-0:1.8.0 import or 1-0:2.8.0 export, in
Wh, scaler 0) captured at the *end* of the 15-minute interval ``[interval_start,
interval_start + 900)``, times in Unix seconds. The energy of an interval is the difference
between its reading and the reading of the interval before.

Its leaf is the canonical JSON ``{"channel","error_flags","interval_start","meter","page",
"register_wh"}`` (``page`` is null when not given). Batch roots are RFC 9162 Merkle roots over
the leaves in batch order, so each reading is proved on its own by an inclusion path.

- meter-signed: Ed25519 over ``READING_DOMAIN || leaf`` with the meter's device key;
- head-end-signed: Ed25519 over ``BATCH_DOMAIN || head_end_id || 0x0a || root`` (32 raw bytes)
  with the registered head-end system's key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gridledger import codec, merkle
from gridledger.contracts.args import HEX, require_fields, take_hex32, take_int, take_str
from gridledger.contracts.metering.registry import ID_PATTERN, take_id
from gridledger.errors import InvalidTransaction
from gridledger.merkle.tree import compute_leaf_hashes_and_root

# -- constants ---------------------------------------------------------------------------------

INTERVAL_S = 900
READING_DOMAIN = b"gridledger/metering/reading/v1\n"
BATCH_DOMAIN = b"gridledger/metering/batch/v1\n"
MAX_READINGS = 1000  # ~300 bytes each with a signature: well inside the 512 KiB transaction limit
MAX_PAGE = 2**53
MAX_INTERVAL_START = 2**40
ERROR_FLAGS = frozenset("Et")  # OCMF EF: E = energy, t = time unusable for billing
SIGNATURE_HEX_CHARS = 128

# -- messages ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Reading:
    meter: str
    channel: str  # "import" or "export"
    interval_start: int
    register_wh: int
    page: int | None
    error_flags: str
    signature: bytes | None  # the meter's signature, absent in a head-end-signed batch

    @property
    def leaf(self) -> bytes:
        return encode_reading_leaf(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """One item of the ``profiles`` form as it came: a series' registers of consecutive
    intervals from ``first_interval`` (no page, no error flags), with each reading's signature
    beside its register when the profile is meter-signed. Kept whole, so the contract can check
    and store a load profile as one run instead of reading by reading."""

    meter: str
    channel: str
    first_interval: int
    registers: tuple[int, ...]
    signatures: tuple[bytes, ...] | None
    offset: int  # the batch index of its first reading

    @property
    def last_interval(self) -> int:
        return self.first_interval + (len(self.registers) - 1) * INTERVAL_S

    def reading(self, at: int) -> Reading:
        return Reading(
            meter=self.meter,
            channel=self.channel,
            interval_start=self.first_interval + at * INTERVAL_S,
            register_wh=self.registers[at],
            page=None,
            error_flags="",
            signature=None if self.signatures is None else self.signatures[at],
        )

    def readings(self) -> list[Reading]:
        return [self.reading(at) for at in range(len(self.registers))]


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitReadings:
    listed: tuple[Reading, ...] | None  # the ``readings`` form's readings, or
    profiles: tuple[Profile, ...] | None  # the ``profiles`` form's items
    count: int  # readings in the batch
    root: bytes
    head_end: str | None
    head_end_signature: bytes | None
    leaves: tuple[bytes, ...]  # each reading's canonical leaf, in batch order
    leaf_hashes: bytes  # their RFC 9162 leaf hashes, concatenated (32 bytes each), under ``root``

    @property
    def readings(self) -> tuple[Reading, ...]:
        """Every reading in batch order, whichever form the batch came in."""
        if self.listed is not None:
            return self.listed
        return tuple(r for profile in self.profiles or () for r in profile.readings())


# -- encoding ----------------------------------------------------------------------------------


def encode_reading_leaf(reading: Reading) -> bytes:
    return codec.encode(
        {
            "channel": reading.channel,
            "error_flags": reading.error_flags,
            "interval_start": reading.interval_start,
            "meter": reading.meter,
            "page": reading.page,
            "register_wh": reading.register_wh,
        }
    )


def _encode_parsed_leaf(reading: Reading) -> bytes:
    """``encode_reading_leaf`` of a reading ``parse_reading`` accepted, without the generic
    encoder: its strings need no escaping (an id of ``[A-Za-z0-9._:-]``, ``import``/``export``,
    flags of ``E``/``t``) and its numbers are non-negative integers, so the canonical text is
    this template (tests compare the two over generated readings)."""
    page = "null" if reading.page is None else str(reading.page)
    return (
        f'{{"channel":"{reading.channel}","error_flags":"{reading.error_flags}",'
        f'"interval_start":{reading.interval_start},"meter":"{reading.meter}",'
        f'"page":{page},"register_wh":{reading.register_wh}}}'
    ).encode("ascii")


def _encode_profile_leaves(profile: Profile) -> list[bytes]:
    """``_encode_parsed_leaf`` of each of a profile's readings, the fixed text made once."""
    head = f'{{"channel":"{profile.channel}","error_flags":"","interval_start":'
    middle = f',"meter":"{profile.meter}","page":null,"register_wh":'
    first = profile.first_interval
    return [
        f"{head}{first + at * INTERVAL_S}{middle}{register}}}".encode("ascii")
        for at, register in enumerate(profile.registers)
    ]


def encode_reading_sign_bytes(leaf: bytes) -> bytes:
    """What a meter signs: the domain prefix, then the reading's canonical leaf."""
    return READING_DOMAIN + leaf


def encode_batch_sign_bytes(head_end_id: str, root: bytes) -> bytes:
    """What a head-end system signs: the domain prefix, its own id, then the batch root."""
    return BATCH_DOMAIN + head_end_id.encode("ascii") + b"\n" + root


def compute_batch_root(readings: tuple[Reading, ...] | list[Reading]) -> bytes:
    return merkle.root([reading.leaf for reading in readings])


# -- pure arithmetic ---------------------------------------------------------------------------


def compute_register_mwh(raw_value: int, scaler: int) -> int:
    """A COSEM register normalised to mWh: ``raw * 10^(scaler + 3)``, exact for scaler >= -3."""
    if scaler < -3:
        raise InvalidTransaction(f"scaler {scaler} is below -3; mWh would not be exact")
    multiplier: int = 10 ** (scaler + 3)
    return raw_value * multiplier


def compute_register_delta(previous_wh: int, next_wh: int, register_bits: int) -> tuple[int, bool]:
    """Energy between two reads of a register that wraps at ``2**register_bits``, and whether
    it wrapped. A decrease is read as one rollover; the caller checks that it is plausible."""
    if next_wh >= previous_wh:
        return next_wh - previous_wh, False
    return next_wh + (1 << register_bits) - previous_wh, True


def is_plausible_energy(energy_wh: int, max_power_w: int, seconds: int) -> bool:
    """``energy_wh ≤ max_power_w * seconds / 3600``, in integers."""
    return energy_wh * 3600 <= max_power_w * seconds


def compute_interval_energies(delta_wh: int, intervals: int) -> list[int]:
    """Split ``delta_wh`` over ``intervals`` consecutive intervals by point-to-point (linear)
    interpolation of the register: the register after interval j is ``⌊delta * j / n⌋`` above
    the start, so each share is floored and the later intervals take the remainder (domain
    report 4-A). The shares always sum to ``delta_wh``."""
    marks = [delta_wh * j // intervals for j in range(intervals + 1)]
    return [marks[j + 1] - marks[j] for j in range(intervals)]


# -- parsing -----------------------------------------------------------------------------------

_READING_FIELDS = frozenset({"meter", "channel", "interval_start", "register_wh"})
_READING_OPTIONAL = frozenset({"page", "error_flags", "signature"})
_ALL_READING_FIELDS = _READING_FIELDS | _READING_OPTIONAL


def take_signature(args: Mapping[str, Any], name: str) -> bytes:
    return parse_signature(args.get(name), name)


def parse_signature(value: Any, name: str) -> bytes:
    """An Ed25519 signature given as 128 lowercase hex characters."""
    if not isinstance(value, str) or len(value) != SIGNATURE_HEX_CHARS or not set(value) <= HEX:
        raise InvalidTransaction(f"{name} must be 128 lowercase hex characters (Ed25519)")
    return bytes.fromhex(value)


def take_interval_start(item: Mapping[str, Any]) -> int:
    value = take_int(item, "interval_start", minimum=0, maximum=MAX_INTERVAL_START)
    if value % INTERVAL_S:
        raise InvalidTransaction(
            f"interval_start {value} is not aligned to {INTERVAL_S} s (Unix seconds, UTC)"
        )
    return value


_FLAGS = {"": "", "E": "E", "t": "t", "Et": "Et", "tE": "Et"}  # accepted forms, sorted
_CHANNELS = frozenset({"import", "export"})


def _parse_plain_reading(item: Any) -> Reading | None:
    """The common case, checked with fewer steps: a reading whose every field is plainly valid
    (exact types, ranges, alignment, id pattern, lowercase hex signature). Anything else is
    None, and ``parse_reading``'s field-by-field path decides and names the problem. Accepts
    nothing that path refuses and parses to the same Reading (tests compare the two)."""
    if type(item) is not dict or not _READING_FIELDS <= item.keys() <= _ALL_READING_FIELDS:
        return None
    meter, channel = item["meter"], item["channel"]
    start, register = item["interval_start"], item["register_wh"]
    page = item.get("page")
    raw_flags = item.get("error_flags", "")
    flags = _FLAGS.get(raw_flags) if type(raw_flags) is str else None
    signature = item.get("signature")
    if (
        type(meter) is not str
        or not ID_PATTERN.fullmatch(meter)
        or type(channel) is not str
        or channel not in _CHANNELS
        or type(start) is not int
        or not 0 <= start <= MAX_INTERVAL_START
        or start % INTERVAL_S
        or type(register) is not int
        or not 0 <= register <= codec.INT_MAX
        or (page is not None and (type(page) is not int or not 0 <= page <= MAX_PAGE))
        or ("page" in item and page is None)
        or flags is None
    ):
        return None
    if signature is not None:
        if type(signature) is not str or len(signature) != SIGNATURE_HEX_CHARS:
            return None
        if not HEX.issuperset(signature):
            return None
        signature = bytes.fromhex(signature)
    elif "signature" in item:
        return None
    return Reading(
        meter=meter,
        channel=channel,
        interval_start=start,
        register_wh=register,
        page=page,
        error_flags=flags,
        signature=signature,
    )


def parse_reading(item: Any, index: int) -> Reading:
    plain = _parse_plain_reading(item)
    if plain is not None:
        return plain
    if not isinstance(item, dict):
        raise InvalidTransaction(f"reading {index} must be an object")
    try:
        require_fields(item, _READING_FIELDS, _READING_OPTIONAL)
        channel = item["channel"]
        if channel not in ("import", "export"):
            raise InvalidTransaction("channel must be import or export")
        flags = (
            take_str(item, "error_flags", max_chars=2, min_chars=0) if "error_flags" in item else ""
        )
        if not set(flags) <= ERROR_FLAGS or len(set(flags)) != len(flags):
            raise InvalidTransaction("error_flags may hold E and t, each at most once")
        return Reading(
            meter=take_id(item, "meter"),
            channel=str(channel),
            interval_start=take_interval_start(item),
            register_wh=take_int(item, "register_wh", minimum=0, maximum=codec.INT_MAX),
            page=take_int(item, "page", minimum=0, maximum=MAX_PAGE) if "page" in item else None,
            error_flags="".join(sorted(flags)),
            signature=take_signature(item, "signature") if "signature" in item else None,
        )
    except InvalidTransaction as exc:
        raise type(exc)(f"reading {index}: {exc.message}") from exc


_PROFILE_FIELDS = frozenset({"meter", "channel", "first_interval", "registers"})
_PROFILE_OPTIONAL = frozenset({"signatures"})


def parse_profile(item: Any, index: int, first_reading: int) -> Profile:
    """One item of the compact ``profiles`` form: a series' readings of consecutive intervals
    (a DLMS load profile), ``{"meter", "channel", "first_interval", "registers": [Wh, ...]}``
    with ``"signatures": [hex, ...]`` beside the registers when they are meter-signed. It is
    only a shorter way to write the same readings (no page, no error flags): their leaves, root
    and signatures are those of the ``readings`` form."""
    if not isinstance(item, dict):
        raise InvalidTransaction(f"profile {index} must be an object")
    try:
        require_fields(item, _PROFILE_FIELDS, _PROFILE_OPTIONAL)
        meter = take_id(item, "meter")
        channel = item["channel"]
        if type(channel) is not str or channel not in _CHANNELS:
            raise InvalidTransaction("channel must be import or export")
        first = take_int(item, "first_interval", minimum=0, maximum=MAX_INTERVAL_START)
        if first % INTERVAL_S:
            raise InvalidTransaction(
                f"first_interval {first} is not aligned to {INTERVAL_S} s (Unix seconds, UTC)"
            )
        registers = item["registers"]
        if not isinstance(registers, list) or not 1 <= len(registers) <= MAX_READINGS:
            raise InvalidTransaction(f"registers must be a list of 1 to {MAX_READINGS} integers")
        if first + (len(registers) - 1) * INTERVAL_S > MAX_INTERVAL_START:
            raise InvalidTransaction(f"the profile's last interval is after {MAX_INTERVAL_START}")
        for at, register in enumerate(registers):
            if type(register) is not int or not 0 <= register <= codec.INT_MAX:
                raise InvalidTransaction(
                    f"registers[{at}] must be an integer from 0 to {codec.INT_MAX}"
                )
        signatures: tuple[bytes, ...] | None = None
        if "signatures" in item:
            listed = item["signatures"]
            if not isinstance(listed, list) or len(listed) != len(registers):
                raise InvalidTransaction("signatures must be a list as long as registers")
            signatures = tuple(
                parse_signature(signature, f"signatures[{at}]")
                for at, signature in enumerate(listed)
            )
    except InvalidTransaction as exc:
        raise type(exc)(f"profile {index} (readings from {first_reading}): {exc.message}") from exc
    return Profile(
        meter=meter,
        channel=str(channel),
        first_interval=first,
        registers=tuple(registers),
        signatures=signatures,
        offset=first_reading,
    )


def _parse_readings_or_profiles(
    args: Mapping[str, Any],
) -> tuple[tuple[Reading, ...], None] | tuple[None, tuple[Profile, ...]]:
    if ("readings" in args) == ("profiles" in args):
        raise InvalidTransaction(
            "give the readings either as readings (one object each) or as profiles (a series' "
            "consecutive registers), exactly one of the two"
        )
    if "readings" in args:
        items = args["readings"]
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_READINGS:
            raise InvalidTransaction(f"readings must be a list of 1 to {MAX_READINGS} readings")
        return tuple(parse_reading(item, i) for i, item in enumerate(items)), None
    items = args["profiles"]
    if not isinstance(items, list) or not items:
        raise InvalidTransaction("profiles must be a non-empty list")
    profiles: list[Profile] = []
    count = 0
    for index, item in enumerate(items):
        profile = parse_profile(item, index, count)
        profiles.append(profile)
        count += len(profile.registers)
        if count > MAX_READINGS:
            raise InvalidTransaction(f"profiles hold more than {MAX_READINGS} readings")
    return None, tuple(profiles)


def parse_submit_readings(args: Mapping[str, Any]) -> SubmitReadings:
    require_fields(
        args, frozenset({"root"}), frozenset({"readings", "profiles", "head_end", "signature"})
    )
    listed, profiles = _parse_readings_or_profiles(args)
    root = bytes.fromhex(take_hex32(args, "root"))
    if listed is not None:
        leaves = tuple(_encode_parsed_leaf(reading) for reading in listed)
    else:
        leaves = tuple(
            leaf for profile in profiles or () for leaf in _encode_profile_leaves(profile)
        )
    leaf_hashes, computed = compute_leaf_hashes_and_root(leaves)
    if computed != root:
        raise InvalidTransaction(
            f"root {root.hex()} does not match the readings' Merkle root {computed.hex()}"
        )
    if ("head_end" in args) != ("signature" in args):
        raise InvalidTransaction("head_end and signature go together (a head-end-signed batch)")
    head_end = take_id(args, "head_end") if "head_end" in args else None
    if head_end is None:
        unsigned = _first_unsigned(listed, profiles)
        if unsigned is not None:
            raise InvalidTransaction(
                f"reading {unsigned}: no signature; sign each reading with its meter's key, or "
                "the whole batch with a head-end system's key"
            )
    return SubmitReadings(
        listed=listed,
        profiles=profiles,
        count=len(leaves),
        root=root,
        head_end=head_end,
        head_end_signature=take_signature(args, "signature") if head_end is not None else None,
        leaves=leaves,
        leaf_hashes=leaf_hashes,
    )


def _first_unsigned(
    listed: tuple[Reading, ...] | None, profiles: tuple[Profile, ...] | None
) -> int | None:
    """The batch index of the first reading without its meter's signature, or None."""
    for index, reading in enumerate(listed or ()):
        if reading.signature is None:
            return index
    for profile in profiles or ():
        if profile.signatures is None:
            return profile.offset
    return None
