"""Bad input against a real node process: each gets a clear 4xx, changes no state, and the node
keeps serving."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gridledger import codec, merkle
from gridledger.keys import generate_key, read_key_file
from gridledger.ledger.tx import MAX_TX_BYTES, TxBody, sign_transaction
from tests.e2e.nodeproc import NodeProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def http(node: NodeProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, timeout=30) as client:
        yield client


def _height(http: httpx.Client) -> int:
    return int(http.get("/v1/status").json()["height"])


def _tx(
    http: httpx.Client,
    contract: str,
    method: str,
    args: dict[str, Any],
    signers: list[Any],
    *,
    chain_id: str | None = None,
    expiry: int | None = None,
) -> bytes:
    status = http.get("/v1/status").json()
    body = TxBody(
        chain_id=chain_id or status["chain_id"],
        expiry_height=expiry if expiry is not None else status["height"] + 100,
        nonce=secrets.token_hex(8),
        contract=contract,
        method=method,
        args=args,
    )
    return sign_transaction(body, signers).raw


def _record_args(*parties: str, endorsers: list[str] | None = None) -> dict[str, Any]:
    return {
        "digest": hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
        "title": "Supply contract",
        "record_type": "contract",
        "parties": list(parties),
        "endorsers": endorsers or [],
    }


def _flip_signature(raw: bytes) -> bytes:
    obj = codec.decode(raw)
    sig = obj["signatures"][0]["signature"]
    obj["signatures"][0]["signature"] = ("0" if sig[0] != "0" else "1") + sig[1:]
    return codec.encode(obj)


def _strip_signatures(raw: bytes) -> bytes:
    obj = codec.decode(raw)
    obj["signatures"] = []
    return codec.encode(obj)


def _expect_refused(
    http: httpx.Client, raw: bytes, status: int, code: str, phrase: str, path: str = "/v1/txs"
) -> None:
    before = http.get("/v1/status").json()
    response = http.post(path, content=raw, params={"wait": "true", "timeout_s": 10})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert phrase in error["message"], error
    after = http.get("/v1/status").json()
    assert (after["height"], after["app_hash"]) == (before["height"], before["app_hash"])
    assert after["healthy"] is True


def test_malformed_json(http: httpx.Client) -> None:
    _expect_refused(http, b'{"body":', 400, "decode_error", "malformed JSON")


def test_float_anywhere(http: httpx.Client) -> None:
    _expect_refused(http, b'{"body":{"amount":1.5}}', 400, "decode_error", "not an integer")


def test_nan(http: httpx.Client) -> None:
    _expect_refused(http, b'{"body":NaN}', 400, "decode_error", "NaN")


def test_duplicate_key(http: httpx.Client) -> None:
    _expect_refused(http, b'{"body":{},"body":{}}', 400, "decode_error", "duplicate key")


def test_non_canonical_key_order(http: httpx.Client) -> None:
    _expect_refused(http, b'{"signatures":[],"body":{}}', 400, "decode_error", "canonical")


def test_empty_body(http: httpx.Client) -> None:
    _expect_refused(http, b"", 400, "decode_error", "empty body")


def test_wrong_chain_id(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    raw = _tx(
        http, "notary", "record", _record_args(admin.address), [admin], chain_id="other-chain"
    )
    _expect_refused(http, raw, 400, "wrong_chain", "other-chain")


def test_bad_signature(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    raw = _flip_signature(_tx(http, "notary", "record", _record_args(admin.address), [admin]))
    _expect_refused(http, raw, 400, "invalid_signature", "signature 0")


def test_missing_signature(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    raw = _strip_signatures(_tx(http, "notary", "record", _record_args(admin.address), [admin]))
    _expect_refused(http, raw, 400, "invalid_signature", "no signatures")


def test_party_who_did_not_sign(http: httpx.Client, node: NodeProcess) -> None:
    admin, customer = read_key_file(node.key("gridco")), generate_key()
    raw = _tx(http, "notary", "record", _record_args(admin.address, customer.address), [admin])
    _expect_refused(http, raw, 403, "unauthorized", f"party {customer.address} did not sign")


def test_replay(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    raw = _tx(http, "notary", "record", _record_args(admin.address), [admin])
    first = http.post("/v1/txs", content=raw, params={"wait": "true"})
    assert first.status_code == 200 and first.json()["status"] == "committed"
    _expect_refused(http, raw, 409, "replayed", "already committed")


def test_expired(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    if _height(http) == 0:  # make sure there is a past to expire in
        warm = _tx(http, "notary", "record", _record_args(admin.address), [admin])
        http.post("/v1/txs", content=warm, params={"wait": "true"})
    raw = _tx(http, "notary", "record", _record_args(admin.address), [admin], expiry=_height(http))
    _expect_refused(http, raw, 400, "expired", "expired at height")


def test_expiry_too_far_ahead(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    far = _height(http) + 1_000_000
    raw = _tx(http, "notary", "record", _record_args(admin.address), [admin], expiry=far)
    _expect_refused(http, raw, 400, "expired", "more than")


def test_oversized_transaction(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    small = codec.decode(_tx(http, "notary", "record", _record_args(admin.address), [admin]))
    small["body"]["args"]["metadata"] = {"blob": "x" * MAX_TX_BYTES}  # the SDK refuses to build it
    _expect_refused(http, codec.encode(small), 413, "oversized", "limit")


def test_oversized_request_body(http: httpx.Client) -> None:
    _expect_refused(http, b"x" * (9 * 1024 * 1024), 413, "oversized", "above")


def test_unknown_contract(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    raw = _tx(http, "lottery", "draw", {}, [admin])
    _expect_refused(http, raw, 400, "unknown_operation", "unknown contract 'lottery'")


def test_unknown_method(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    raw = _tx(http, "notary", "erase", {}, [admin])
    _expect_refused(http, raw, 400, "unknown_operation", "no method 'erase'")


def test_unregistered_sender(http: httpx.Client) -> None:
    stranger = generate_key()
    raw = _tx(http, "notary", "record", _record_args(stranger.address), [stranger])
    _expect_refused(http, raw, 403, "unauthorized", "not a registered account")


def test_missing_argument(http: httpx.Client, node: NodeProcess) -> None:
    admin = read_key_file(node.key("gridco"))
    args = _record_args(admin.address)
    del args["title"]
    _expect_refused(
        http,
        _tx(http, "notary", "record", args, [admin]),
        400,
        "invalid_transaction",
        "missing argument(s): title",
    )


@pytest.mark.parametrize(
    ("signer_org", "signer_role", "claimed_org", "phrase"),
    [
        ("judicial", "endorser", "judicial", "not an endorser named by the policy"),
        ("gridco", "admin", "notary", "is not an endorser account of organization notary"),
        ("judicial", "endorser", "notary", "is not an endorser account of organization notary"),
    ],
)
def test_unauthorized_endorser(
    http: httpx.Client,
    node: NodeProcess,
    signer_org: str,
    signer_role: str,
    claimed_org: str,
    phrase: str,
) -> None:
    admin = read_key_file(node.key("gridco"))
    args = _record_args(admin.address, endorsers=["notary"])
    recorded = http.post(
        "/v1/txs", content=_tx(http, "notary", "record", args, [admin]), params={"wait": "true"}
    )
    assert recorded.json()["status"] == "committed"
    signer = read_key_file(node.key(signer_org, signer_role))
    raw = _tx(http, "notary", "endorse", {"digest": args["digest"], "org": claimed_org}, [signer])
    _expect_refused(http, raw, 403, "unauthorized", phrase)
    assert http.get(f"/v1/records/{args['digest']}").json()["status"] == "pending"


def test_read_errors_are_json_4xx(http: httpx.Client) -> None:
    missing = http.get(f"/v1/certificates/{'ab' * 32}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    bad_hex = http.get("/v1/records/not-a-digest")
    assert bad_hex.status_code == 400 and "64 lowercase hex" in bad_hex.json()["error"]["message"]
    bad_height = http.get("/v1/blocks/-3")
    assert bad_height.status_code == 400
    no_block = http.get("/v1/blocks/999999999")
    assert no_block.status_code == 404


def test_batch_manifest_that_does_not_hash_to_the_root_is_refused(
    http: httpx.Client, node: NodeProcess
) -> None:
    admin = read_key_file(node.key("gridco"))
    digests = [hashlib.sha256(bytes([i])).hexdigest() for i in range(4)]
    root = merkle.root([bytes.fromhex(d) for d in digests]).hex()
    args = {
        "root": root,
        "count": 4,
        "title": "exports",
        "record_type": "metering_export",
        "parties": [admin.address],
    }
    assert (
        http.post(
            "/v1/txs",
            content=_tx(http, "notary", "record_batch", args, [admin]),
            params={"wait": "true"},
        ).json()["status"]
        == "committed"
    )
    wrong = http.post(f"/v1/batches/{root}/manifest", json={"digests": digests[::-1]})
    assert (
        wrong.status_code == 422
        and "does not hash to batch root" in wrong.json()["error"]["message"]
    )
    right = http.post(f"/v1/batches/{root}/manifest", json={"digests": digests})
    assert right.status_code == 200
