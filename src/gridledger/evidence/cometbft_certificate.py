"""Evidence certificates from a consortium member: proven by the validators' commit signatures.

On the CometBFT network no single node's signature means anything; what a court can check is
that more than two thirds of the validators' voting power signed a block header. The certificate
therefore carries (format in docs/certificate.md):

- the log entries with inclusion proofs, exactly as in the embedded node's certificate;
- ``block.app_state``: the preimage of the app hash of block B, the last block up to the store's
  height that changed state (prev_app_hash, changes_hash, log_size, log_root), so the verifier
  recomputes that app hash from the log root the proofs lead to;
- ``block.signed_header`` and ``block.validators``: CometBFT's header B+1 (whose ``app_hash`` is
  the app hash after block B) with its commit, and the validator set that signed it, verbatim from
  the RPC (``/commit``, ``/validators``);
- ``trust_anchor``: the genesis validator set and, when the set has changed since genesis (by a
  governance vote), each transition: a header signed by the set trusted so far that names the next
  set in ``next_validators_hash``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gridledger import codec
from gridledger.errors import NodeError, NotFound, StoreError
from gridledger.evidence.certificate import collect_record_entries
from gridledger.evidence.verify import FORMAT
from gridledger.ledger.state import State
from gridledger.store.sqlite import SqliteStore

PROOF_BLOCK_WAIT_S = 15.0
PER_PAGE = 100


class RpcSource:
    """The CometBFT RPC reads a certificate needs, over a JSON-RPC ``call(method, **params)``."""

    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call

    def latest_height(self) -> int:
        return int(self._call("status")["sync_info"]["latest_block_height"])

    def signed_header(self, height: int) -> dict[str, Any]:
        result = self._call("commit", height=str(height))
        return {
            "header": result["signed_header"]["header"],
            "commit": result["signed_header"]["commit"],
        }

    def validators_hash(self, height: int) -> str:
        return str(self._call("header", height=str(height))["header"]["validators_hash"])

    def validators(self, height: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            result = self._call(
                "validators", height=str(height), page=str(page), per_page=str(PER_PAGE)
            )
            found.extend(result["validators"])
            if len(found) >= int(result["total"]) or not result["validators"]:
                return found
            page += 1

    def genesis_validators(self) -> list[dict[str, Any]]:
        validators: list[dict[str, Any]] = self._call("genesis")["genesis"]["validators"]
        return validators


def build_cometbft_certificate(store: SqliteStore, digest: str, rpc: RpcSource) -> dict[str, Any]:
    with store.snapshot():
        state = State(store)
        record, batch, entries, log_size = collect_record_entries(store, state, digest)
        block_height = _last_changing_block(store)
        block = store.get_block(block_height)
        if block is None:
            raise NotFound("no block has been committed yet")
        log_ = state.log()
        app_state = {
            "height": block_height,
            "prev_app_hash": block.prev_app_hash.hex(),
            "changes_hash": block.changes_hash.hex(),
            "log_size": log_size,
            "log_root": log_.root_at(log_size).hex(),
            "app_hash": block.app_hash.hex(),
        }
        chain_id = str(codec.decode(store.get_meta("genesis") or b"{}").get("chain_id", ""))
    header_height = block_height + 1
    _wait_for_height(rpc, header_height)
    signed_header = rpc.signed_header(header_height)
    if str(signed_header["header"]["app_hash"]).lower() != app_state["app_hash"]:
        raise StoreError(
            f"CometBFT header {header_height} carries app hash "
            f"{signed_header['header']['app_hash']}, this store has {app_state['app_hash']} "
            f"after block {block_height}: the node and its app disagree"
        )
    genesis_validators = rpc.genesis_validators()
    return {
        "format": FORMAT,
        "chain_id": chain_id,
        "document": {"algorithm": record["algorithm"], "digest": digest},
        "batch": batch,
        "record": record,
        "entries": entries,
        "block": {
            "type": "cometbft",
            "app_state": app_state,
            "signed_header": signed_header,
            "validators": rpc.validators(header_height),
        },
        "trust_anchor": {
            "type": "cometbft-genesis",
            "genesis_validators": genesis_validators,
            "transitions": _transitions(rpc, header_height),
        },
    }


def _last_changing_block(store: SqliteStore) -> int:
    """The newest block whose app hash differs from its predecessor's (state changed)."""
    height = store.last_height
    while height > 0:
        block = store.get_block(height)
        if block is None or block.app_hash != block.prev_app_hash:
            return height
        height -= 1
    raise NotFound("no block has changed the state yet")


def _wait_for_height(rpc: RpcSource, height: int) -> None:
    """CometBFT makes block B+1 soon after B changed the app hash; wait for it a little."""
    deadline = time.monotonic() + PROOF_BLOCK_WAIT_S
    while rpc.latest_height() < height:
        if time.monotonic() > deadline:
            raise NodeError(
                f"the network has not yet committed block {height}, whose header proves the "
                "state; try again in a moment"
            )
        time.sleep(0.1)


def _transitions(rpc: RpcSource, height: int) -> list[dict[str, Any]]:
    """Validator-set changes from genesis up to ``height``, each proven by the set before it.

    Invariant of the search: header ``lo`` is signed by the set trusted so far and header ``hi``
    by another, so some adjacent pair between them is a change; bisect to it. The header before
    the change names the new set in its next_validators_hash.
    """
    steps: list[dict[str, Any]] = []
    lo = 1
    trusted = rpc.validators_hash(lo)
    target = rpc.validators_hash(height)
    while trusted != target:
        hi = height
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if rpc.validators_hash(mid) == trusted:
                lo = mid
            else:
                hi = mid
        steps.append(
            {
                "signed_header": rpc.signed_header(lo),
                "validators": rpc.validators(lo),
                "next_validators": rpc.validators(hi),
            }
        )
        lo, trusted = hi, rpc.validators_hash(hi)
    return steps
