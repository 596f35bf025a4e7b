"""Key files on disk: round trip, permissions, refusing to overwrite, tamper and error messages."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from gridledger.crypto import PrivateKey
from gridledger.keys import KeyFileError, generate_key, read_key_file, write_key_file

SEED = bytes.fromhex("4c" * 32)
KEY = PrivateKey.from_seed(SEED)
SECRET_HEX = SEED.hex()


def assert_secret_not_in(exc: BaseException) -> None:
    chain: BaseException | None = exc
    while chain is not None:
        assert SECRET_HEX not in str(chain)
        chain = chain.__cause__


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "gridco-admin.json"
    write_key_file(path, KEY)
    return path


def rewrite(path: Path, **changes: object) -> None:
    body = json.loads(path.read_text())
    body.update(changes)
    path.write_text(json.dumps(body))


def test_generated_keys_differ() -> None:
    assert generate_key().address != generate_key().address


def test_key_file_round_trips(key_file: Path) -> None:
    assert read_key_file(key_file) == KEY


def test_key_file_holds_type_address_public_key_and_secret(key_file: Path) -> None:
    body = json.loads(key_file.read_text())

    assert body == {
        "type": "ed25519",
        "address": KEY.address,
        "public_key": KEY.public_key.hex(),
        "secret_key": SECRET_HEX,
    }


def test_key_file_is_readable_by_its_owner_only(key_file: Path) -> None:
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_key_file_leaves_no_temporary_file_behind(key_file: Path) -> None:
    assert sorted(p.name for p in key_file.parent.iterdir()) == [key_file.name]


def test_write_refuses_to_overwrite_an_existing_file(key_file: Path) -> None:
    before = key_file.read_bytes()

    with pytest.raises(KeyFileError, match="already exists") as info:
        write_key_file(key_file, generate_key())

    assert key_file.read_bytes() == before
    assert str(key_file) in info.value.message


def test_write_overwrites_when_asked(key_file: Path) -> None:
    other = generate_key()

    write_key_file(key_file, other, overwrite=True)

    assert read_key_file(key_file) == other
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_read_detects_tampered_public_key(key_file: Path) -> None:
    rewrite(key_file, public_key=generate_key().public_key.hex())

    with pytest.raises(KeyFileError, match="public_key does not match") as info:
        read_key_file(key_file)

    assert_secret_not_in(info.value)


def test_read_detects_tampered_address(key_file: Path) -> None:
    rewrite(key_file, address=generate_key().address)

    with pytest.raises(KeyFileError, match="address does not match") as info:
        read_key_file(key_file)

    assert_secret_not_in(info.value)


def test_read_accepts_a_file_without_public_key_and_address(key_file: Path) -> None:
    key_file.write_text(json.dumps({"type": "ed25519", "secret_key": SECRET_HEX}))

    assert read_key_file(key_file) == KEY


def test_read_of_missing_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "node_key.json"

    with pytest.raises(KeyFileError, match="not found") as info:
        read_key_file(path)

    assert str(path) in info.value.message


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param("{not json " + SECRET_HEX, "not readable JSON", id="not-json"),
        pytest.param(json.dumps(["ed25519", SECRET_HEX]), "not an ed25519", id="not-an-object"),
        pytest.param(
            json.dumps({"type": "sm2", "secret_key": SECRET_HEX}), "not an ed25519", id="other-type"
        ),
        pytest.param(json.dumps({"type": "ed25519"}), "no valid secret_key", id="no-secret"),
        pytest.param(
            json.dumps({"type": "ed25519", "secret_key": SECRET_HEX[:-2]}),
            "no valid secret_key",
            id="short-secret",
        ),
        pytest.param(
            json.dumps({"type": "ed25519", "secret_key": "zz" + SECRET_HEX[2:]}),
            "no valid secret_key",
            id="non-hex-secret",
        ),
    ],
)
def test_read_of_bad_file_names_the_path_and_not_the_secret(
    tmp_path: Path, content: str, reason: str
) -> None:
    path = tmp_path / "key.json"
    path.write_text(content)

    with pytest.raises(KeyFileError, match=reason) as info:
        read_key_file(path)

    assert str(path) in info.value.message
    assert_secret_not_in(info.value)
