"""A fixed workload through the state transition, printing the app hash after every block.

Run as ``python tests/determinism_run.py``. Everything is fixed: keys from fixed seeds, the
genesis, the transactions (records, batches, endorsements, identity changes, and transactions
that fail in each way), the block heights and times. The output (JSON on stdout) must therefore be
the same on every machine and under every ``PYTHONHASHSEED``; tests/test_determinism.py checks it.
For the curious, stderr shows this process's hash of a probe string, which does vary with the seed.
"""

from __future__ import annotations

import hashlib
import json
import sys
from typing import Any

from gridledger import merkle
from gridledger.crypto import PrivateKey
from gridledger.ledger.context import BlockEnv
from gridledger.ledger.genesis import decode_genesis
from gridledger.ledger.state import MemoryBackend, State
from gridledger.ledger.transition import apply_block, apply_genesis_block
from gridledger.ledger.tx import TxBody, encode_transaction, sign_transaction

CHAIN_ID = "gridledger-determinism"
GENESIS_TIME_MS = 1_800_000_000_000
BLOCKS = 30
EXPIRY_WINDOW = 20


def key(seed_byte: int) -> PrivateKey:
    return PrivateKey.from_seed(bytes([seed_byte]) * 32)


ADMIN, NOTARY, JUDICIAL, EXCHANGE, CUSTOMER = key(1), key(2), key(3), key(4), key(5)
NOTARY_ADMIN = key(6)


def genesis_document() -> dict[str, Any]:
    def account(k: PrivateKey, org: str, roles: list[str]) -> dict[str, Any]:
        return {"public_key": k.public_key.hex(), "org": org, "roles": roles, "name": org}

    return {
        "chain_id": CHAIN_ID,
        "genesis_time_ms": GENESIS_TIME_MS,
        "organizations": [
            {"id": "gridco", "roles": ["operator"]},
            {"id": "notary", "roles": ["endorser"]},
            {"id": "judicial", "roles": ["endorser"]},
            {"id": "exchange", "roles": ["market_operator", "member"]},
        ],
        "accounts": [
            account(ADMIN, "gridco", ["submitter", "admin"]),
            account(NOTARY, "notary", ["endorser", "submitter"]),
            account(NOTARY_ADMIN, "notary", ["admin"]),
            account(JUDICIAL, "judicial", ["submitter", "endorser"]),
            account(EXCHANGE, "exchange", ["admin", "submitter"]),
        ],
        "validators": [{"org": "gridco", "public_key": key(9).public_key.hex(), "power": 10}],
        "params": {"max_expiry_window": EXPIRY_WINDOW},
    }


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Workload:
    def __init__(self) -> None:
        self.nonce = 0
        self.sent: list[bytes] = []

    def tx(
        self,
        height: int,
        method: str,
        args: dict[str, Any],
        signers: list[PrivateKey],
        *,
        contract: str = "notary",
        expiry: int | None = None,
        chain_id: str = CHAIN_ID,
    ) -> bytes:
        self.nonce += 1
        body = TxBody(
            chain_id=chain_id,
            expiry_height=height + 10 if expiry is None else expiry,
            nonce=f"{self.nonce:06d}",
            contract=contract,
            method=method,
            args=args,
        )
        raw = sign_transaction(body, signers).raw
        self.sent.append(raw)
        return raw

    def block(self, h: int) -> list[bytes]:
        """The transactions of block ``h``: a mix of good ones and every kind of failure."""
        if h % 7 == 0:
            return []  # an empty block keeps the app hash
        txs = []
        for i in range(3):
            parties = [ADMIN.address, CUSTOMER.address] if i % 2 else [ADMIN.address]
            signers = [ADMIN, CUSTOMER] if i % 2 else [ADMIN]
            args: dict[str, Any] = {
                "digest": digest(f"doc-{h}-{i}"),
                "title": f"Contract {h}.{i} — 供电合同",
                "record_type": "contract",
                "parties": parties,
                "endorsers": ["judicial", "notary"][: i % 3],
                "metadata": {"z": i, "a": [h, {"y": True, "b": None}], "中": "文"},
            }
            txs.append(self.tx(h, "record", args, signers, expiry=h + 1 + i))
        if h > 1:
            prev = digest(f"doc-{h - 1}-2")  # needs judicial and notary
            txs.append(self.tx(h, "endorse", {"digest": prev, "org": "notary"}, [NOTARY]))
            txs.append(self.tx(h, "endorse", {"digest": prev, "org": "judicial"}, [JUDICIAL]))
            txs.append(self.tx(h, "endorse", {"digest": prev, "org": "notary"}, [NOTARY]))
        if h % 3 == 0:
            leaves = [bytes.fromhex(digest(f"file-{h}-{j}")) for j in range(h)]
            args = {
                "root": merkle.root(leaves).hex(),
                "count": len(leaves),
                "title": f"Batch {h}",
                "record_type": "meter_data",
                "parties": [ADMIN.address],
            }
            txs.append(self.tx(h, "record_batch", args, [ADMIN]))
        if h % 5 == 0:
            new = key(100 + h)
            args = {"org": "gridco", "public_key": new.public_key.hex(), "roles": ["submitter"]}
            txs.append(self.tx(h, "add_account", args, [ADMIN], contract="identity"))
            txs.append(self.tx(h, "add_account", args, [EXCHANGE], contract="identity"))
        if h == 12:
            args = {"address": key(105).address}
            txs.append(self.tx(h, "deactivate_account", args, [ADMIN], contract="identity"))
        txs.extend(self.failures(h))
        return txs

    def failures(self, h: int) -> list[bytes]:
        dup = {"digest": digest(f"doc-{h}-0"), "title": "again", "record_type": "x"}
        out = [
            self.tx(h, "record", {**dup, "parties": [ADMIN.address]}, [ADMIN]),  # conflict
            self.tx(h, "record", {**dup, "parties": [CUSTOMER.address]}, [ADMIN]),  # unsigned
            self.tx(h, "endorse", {"digest": digest("none"), "org": "notary"}, [NOTARY]),
            self.tx(h, "nope", {}, [ADMIN]),
            self.tx(h, "record", {**dup, "parties": [CUSTOMER.address]}, [CUSTOMER]),
            self.tx(h, "record", {**dup, "parties": [ADMIN.address]}, [ADMIN], chain_id="other"),
            self.forged(h),
            b'{"body":1.5}',
            b"\xff\xfe",
        ]
        if h > 3:
            out.append(self.sent[(h * 7) % (len(self.sent) - 10)])  # replayed or expired
        if h == 20:
            args = {"digest": digest("late"), "title": "t", "record_type": "x"}
            out.append(self.tx(h, "record", {**args, "parties": [key(105).address]}, [key(105)]))
        return out

    def forged(self, h: int) -> bytes:
        """A record whose signature is the sender's, but over another body."""
        args: dict[str, Any] = {"digest": digest(f"forged-{h}"), "title": "t"}
        args.update(record_type="x", parties=[ADMIN.address])
        body = TxBody(
            chain_id=CHAIN_ID,
            expiry_height=h + 5,
            nonce="forged",
            contract="notary",
            method="record",
            args=args,
        )
        other = TxBody(**{**body.to_json(), "nonce": "other"})
        return encode_transaction(body, sign_transaction(other, [ADMIN]).signatures).raw


def run() -> dict[str, Any]:
    backend = MemoryBackend()
    genesis = decode_genesis(genesis_document())
    result = apply_genesis_block(State(backend), genesis)
    backend.apply_changes(result.changes)
    app_hashes, codes = [result.app_hash.hex()], []
    workload = Workload()
    for h in range(1, BLOCKS + 1):
        env = BlockEnv(chain_id=CHAIN_ID, height=h, time_ms=GENESIS_TIME_MS + 1_000 * h)
        result = apply_block(State(backend), env, workload.block(h), result.app_hash)
        backend.apply_changes(result.changes)
        app_hashes.append(result.app_hash.hex())
        codes.append([r.code for r in result.tx_results])
    return {"app_hashes": app_hashes, "codes": codes, "log_size": result.log_size}


if __name__ == "__main__":
    print(json.dumps(run()))
    print(json.dumps({"probe_hash": hash("gridledger")}), file=sys.stderr)
