"""The private document store's SQLite file: documents by organization and digest, and the
nonces that stop a signed request from being replayed."""

from __future__ import annotations

import stat
from pathlib import Path

from gridledger.privstore.store import PrivateStore, StoredDocument

DIGEST = "ab" * 32


def doc(org: str = "notary", ciphertext: bytes = b"sealed-1", when: int = 10) -> StoredDocument:
    return StoredDocument(
        org=org,
        digest=DIGEST,
        ciphertext=ciphertext,
        delivered_by="gl" + "0" * 40,
        delivered_ms=when,
    )


def test_documents_are_kept_per_organization_and_replaced_by_a_later_delivery(
    tmp_path: Path,
) -> None:
    store = PrivateStore(tmp_path / "private.sqlite")
    assert store.get_document("notary", DIGEST) is None

    store.put_document(doc())
    store.put_document(doc(org="judicial", ciphertext=b"sealed-j"))
    store.put_document(doc(ciphertext=b"sealed-2", when=20))

    assert store.get_document("notary", DIGEST) == doc(ciphertext=b"sealed-2", when=20)
    assert store.get_document("judicial", DIGEST) == doc(org="judicial", ciphertext=b"sealed-j")
    assert store.count_documents("notary") == 1
    store.close()


def test_the_file_is_owner_only_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "app" / "private.sqlite"
    PrivateStore(path).put_document(doc())

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PrivateStore(path).get_document("notary", DIGEST) == doc()


def test_a_nonce_is_accepted_once_per_key(tmp_path: Path) -> None:
    store = PrivateStore(tmp_path / "private.sqlite")

    assert store.remember_request("k1", "n1", 1_000, forget_before_ms=0) is True
    assert store.remember_request("k1", "n1", 1_000, forget_before_ms=0) is False
    assert store.remember_request("k2", "n1", 1_000, forget_before_ms=0) is True
    assert store.remember_request("k1", "n2", 1_000, forget_before_ms=0) is True


def test_nonces_older_than_the_window_are_forgotten(tmp_path: Path) -> None:
    store = PrivateStore(tmp_path / "private.sqlite")
    store.remember_request("k1", "old", 1_000, forget_before_ms=0)
    store.remember_request("k1", "new", 5_000, forget_before_ms=0)

    assert store.remember_request("k1", "x", 9_000, forget_before_ms=2_000) is True

    assert store.remember_request("k1", "old", 9_000, forget_before_ms=2_000) is True  # forgotten
    assert store.remember_request("k1", "new", 9_000, forget_before_ms=2_000) is False
