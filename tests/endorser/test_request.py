"""The signed-request scheme of the private document store: what verifies, and every way a
request is refused (each Unauthorized, HTTP 403)."""

from __future__ import annotations

from typing import Any

import pytest

from gridledger.errors import Unauthorized
from gridledger.privstore.request import (
    HEADER_KEY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    WINDOW_MS,
    compute_request_sign_bytes,
    sign_request,
    verify_request,
)
from tests.chain import GRIDCO_ADMIN, NOTARY_ENDORSER

CHAIN = "gridledger-test"
PATH = "/v1/private/documents/" + "ab" * 32
NOW = 1_795_000_000_000
NONCE = "0123456789abcdef" * 2


def headers(**overrides: Any) -> dict[str, str]:
    fields: dict[str, Any] = {
        "chain_id": CHAIN,
        "method": "GET",
        "path": PATH,
        "body": b"",
        "time_ms": NOW,
        "nonce": NONCE,
        **overrides,
    }
    return sign_request(NOTARY_ENDORSER, **fields)


def verify(h: dict[str, str], **overrides: Any) -> Any:
    fields: dict[str, Any] = {
        "chain_id": CHAIN,
        "method": "GET",
        "path": PATH,
        "body": b"",
        "now_ms": NOW,
        **overrides,
    }
    return verify_request(h, **fields)


def test_a_signed_request_verifies_and_names_its_signer() -> None:
    signed = verify(headers())

    assert signed.address == NOTARY_ENDORSER.address
    assert signed.public_key == NOTARY_ENDORSER.public_key
    assert (signed.time_ms, signed.nonce) == (NOW, NONCE)


def test_sign_bytes_are_the_domain_and_canonical_json_of_the_request() -> None:
    sign_bytes = compute_request_sign_bytes(
        chain_id=CHAIN, method="PUT", path="/p", time_ms=5, nonce="n", body=b"abc"
    )

    assert sign_bytes == (
        b"gridledger/request/v1\n"
        b'{"body_sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",'
        b'"chain_id":"gridledger-test","method":"PUT","nonce":"n","path":"/p","time_ms":5}'
    )


def test_header_names_are_case_insensitive() -> None:
    lowered = {k.lower(): v for k, v in headers().items()}

    assert verify(lowered).address == NOTARY_ENDORSER.address


def test_a_put_binds_its_body() -> None:
    h = headers(method="PUT", body=b'{"org":"notary","ciphertext":"AAAA"}')

    verify(h, method="PUT", body=b'{"org":"notary","ciphertext":"AAAA"}')
    with pytest.raises(Unauthorized, match="does not verify"):
        verify(h, method="PUT", body=b'{"org":"judicial","ciphertext":"AAAA"}')


def test_edges_of_the_time_window_are_accepted() -> None:
    verify(headers(), now_ms=NOW + WINDOW_MS)
    verify(headers(), now_ms=NOW - WINDOW_MS)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        pytest.param({"chain_id": "another-chain"}, "does not verify", id="other-chain"),
        pytest.param({"method": "PUT"}, "does not verify", id="other-method"),
        pytest.param({"path": "/v1/private/documents/" + "cd" * 32}, "does not verify", id="path"),
        pytest.param({"body": b"x"}, "does not verify", id="body"),
        pytest.param({"now_ms": NOW + WINDOW_MS + 1}, "valid for 60 s", id="too-old"),
        pytest.param({"now_ms": NOW - WINDOW_MS - 1}, "valid for 60 s", id="from-the-future"),
    ],
)
def test_a_request_checked_against_something_else_is_refused(
    overrides: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Unauthorized, match=reason):
        verify(headers(), **overrides)


def _flip(hex_text: str) -> str:
    last = hex_text[-1]
    return hex_text[:-1] + ("0" if last != "0" else "1")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param(
            lambda h: h.pop(HEADER_SIGNATURE), "X-Gridledger-Signature is missing", id="no-sig"
        ),
        pytest.param(lambda h: h.pop(HEADER_KEY), "X-Gridledger-Key is missing", id="no-key"),
        pytest.param(lambda h: h.pop(HEADER_TIME), "X-Gridledger-Time-Ms is missing", id="no-time"),
        pytest.param(lambda h: h.pop(HEADER_NONCE), "X-Gridledger-Nonce is missing", id="no-nonce"),
        pytest.param(
            lambda h: h.update({HEADER_SIGNATURE: _flip(h[HEADER_SIGNATURE])}),
            "does not verify",
            id="flipped-signature",
        ),
        pytest.param(
            lambda h: h.update({HEADER_KEY: GRIDCO_ADMIN.public_key.hex()}),
            "does not verify",
            id="another-key-claimed",
        ),
        pytest.param(
            lambda h: h.update({HEADER_TIME: str(NOW + 1)}), "does not verify", id="time-changed"
        ),
        pytest.param(
            lambda h: h.update({HEADER_NONCE: "f" * 32}), "does not verify", id="nonce-changed"
        ),
        pytest.param(
            lambda h: h.update({HEADER_SIGNATURE: h[HEADER_SIGNATURE].upper()}),
            "malformed",
            id="upper-hex-signature",
        ),
        pytest.param(lambda h: h.update({HEADER_NONCE: "abc"}), "malformed", id="short-nonce"),
        pytest.param(lambda h: h.update({HEADER_TIME: "-5"}), "malformed", id="negative-time"),
        pytest.param(lambda h: h.update({HEADER_TIME: "1e12"}), "malformed", id="float-time"),
        pytest.param(lambda h: h.update({HEADER_KEY: "00" * 31}), "malformed", id="short-key"),
    ],
)
def test_a_tampered_or_incomplete_request_is_refused(change: Any, reason: str) -> None:
    h = headers()
    change(h)

    with pytest.raises(Unauthorized, match=reason):
        verify(h)


def test_a_signature_by_another_key_is_refused() -> None:
    h = headers()
    impostor = sign_request(
        GRIDCO_ADMIN, chain_id=CHAIN, method="GET", path=PATH, time_ms=NOW, nonce=NONCE
    )
    h[HEADER_SIGNATURE] = impostor[HEADER_SIGNATURE]

    with pytest.raises(Unauthorized, match="does not verify"):
        verify(h)


def test_fresh_requests_get_fresh_nonces() -> None:
    a = sign_request(NOTARY_ENDORSER, chain_id=CHAIN, method="GET", path=PATH)
    b = sign_request(NOTARY_ENDORSER, chain_id=CHAIN, method="GET", path=PATH)

    assert a[HEADER_NONCE] != b[HEADER_NONCE]
    assert len(a[HEADER_NONCE]) == 32
