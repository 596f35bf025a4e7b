"""A small chain for tests: fixed keys, a genesis of the four demo organizations, and a driver that
signs transactions and applies blocks through the real state transition over a MemoryBackend.

Keys come from fixed seeds, block times from the height, so every run builds the same chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from gridledger.crypto import PrivateKey
from gridledger.ledger.context import BlockEnv
from gridledger.ledger.genesis import Genesis, decode_genesis
from gridledger.ledger.state import MemoryBackend, State
from gridledger.ledger.transition import BlockResult, apply_block, apply_genesis_block
from gridledger.ledger.tx import Transaction, TxBody, sign_transaction

CHAIN_ID = "gridledger-test"
GENESIS_TIME_MS = 1_795_000_000_000
BLOCK_INTERVAL_MS = 1_000
MAX_EXPIRY_WINDOW = 100
DEFAULT_EXPIRY_AHEAD = 50


def key_for(name: str) -> PrivateKey:
    """A key from a fixed seed, so addresses are the same in every run."""
    return PrivateKey.from_seed(hashlib.sha256(b"gridledger-test/" + name.encode()).digest())


GRIDCO_ADMIN = key_for("gridco-admin")
NOTARY_ADMIN = key_for("notary-admin")
NOTARY_ENDORSER = key_for("notary-endorser")
JUDICIAL_ENDORSER = key_for("judicial-endorser")
EXCHANGE_ADMIN = key_for("exchange-admin")
CUSTOMER = key_for("customer")  # not registered: may co-sign as a party, may not send
NODE_KEY = key_for("node")


def genesis_document() -> dict[str, Any]:
    def account(key: PrivateKey, org: str, roles: list[str]) -> dict[str, Any]:
        return {
            "address": key.address,
            "alg": key.alg,
            "public_key": key.public_key.hex(),
            "org": org,
            "roles": roles,
        }

    return {
        "chain_id": CHAIN_ID,
        "genesis_time_ms": GENESIS_TIME_MS,
        "organizations": [
            {"id": "gridco", "name": "Provincial Grid Company", "roles": ["operator"]},
            {"id": "notary", "name": "Municipal Notary Office", "roles": ["endorser"]},
            {"id": "judicial", "name": "Judicial Authentication", "roles": ["endorser"]},
            {"id": "exchange", "name": "Power Trading Center", "roles": ["market_operator"]},
        ],
        "accounts": [
            account(GRIDCO_ADMIN, "gridco", ["admin", "submitter"]),
            account(NOTARY_ADMIN, "notary", ["admin", "submitter"]),
            account(NOTARY_ENDORSER, "notary", ["endorser", "submitter"]),
            account(JUDICIAL_ENDORSER, "judicial", ["endorser", "submitter"]),
            account(EXCHANGE_ADMIN, "exchange", ["admin", "submitter"]),
        ],
        "validators": [{"org": "gridco", "public_key": NODE_KEY.public_key.hex(), "power": 10}],
        "params": {"max_expiry_window": MAX_EXPIRY_WINDOW},
    }


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def nested_object(levels: int) -> dict[str, Any]:
    """``{"n": {"n": ... {}}}``, ``levels`` objects deep."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


def record_args(
    digest: str, parties: Iterable[str], endorsers: Iterable[str] = (), **extra: Any
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "digest": digest,
        "title": "Supply contract",
        "record_type": "contract",
        "parties": list(parties),
        **extra,
    }
    if endorsers:
        args["endorsers"] = list(endorsers)
    return args


class Chain:
    """Genesis applied to a MemoryBackend; each ``commit_block`` applies and commits one block."""

    def __init__(self, genesis_doc: Mapping[str, Any] | None = None) -> None:
        self.backend = MemoryBackend()
        self.genesis: Genesis = decode_genesis(dict(genesis_doc or genesis_document()))
        result = apply_genesis_block(State(self.backend), self.genesis)
        self.backend.apply_changes(result.changes)
        self.app_hash = result.app_hash
        self.height = 0
        self._nonces = 0

    @property
    def state(self) -> State:
        """A fresh read view of the committed state."""
        return State(self.backend)

    def dump(self) -> dict[str, bytes]:
        return dict(self.backend.iter_prefix(""))

    def tx(
        self,
        contract: str,
        method: str,
        args: Mapping[str, Any],
        signers: Iterable[PrivateKey],
        *,
        expiry_height: int | None = None,
        nonce: str | None = None,
        chain_id: str = CHAIN_ID,
    ) -> Transaction:
        if nonce is None:
            self._nonces += 1
            nonce = f"n{self._nonces}"
        body = TxBody(
            chain_id=chain_id,
            expiry_height=self.height + DEFAULT_EXPIRY_AHEAD
            if expiry_height is None
            else expiry_height,
            nonce=nonce,
            contract=contract,
            method=method,
            args=dict(args),
        )
        return sign_transaction(body, list(signers))

    def commit_block(self, *txs: Transaction | bytes) -> BlockResult:
        raws = [t.raw if isinstance(t, Transaction) else t for t in txs]
        self.height += 1
        env = BlockEnv(
            chain_id=CHAIN_ID,
            height=self.height,
            time_ms=GENESIS_TIME_MS + self.height * BLOCK_INTERVAL_MS,
        )
        result = apply_block(State(self.backend), env, raws, self.app_hash)
        self.backend.apply_changes(result.changes)
        self.app_hash = result.app_hash
        return result
