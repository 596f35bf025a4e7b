"""CometBFT v0.38 commits checked offline, in pure Python, from the JSON its RPC returns.

- ``protobuf``: the few protobuf encodings CometBFT hashes and signs (gogoproto's byte layout).
- ``lightclient``: header and validator set hashes, vote sign bytes, commit verification and the
  chain of trust from a genesis validator set. See docs/consensus-proof.md.
"""

from __future__ import annotations

from gridledger.cometbft.lightclient import (
    VerifiedHeader,
    genesis_validators_hash,
    header_hash,
    validator_set_hash,
    verify_signed_header,
    verify_validator_transitions,
    vote_sign_bytes,
)

__all__ = [
    "VerifiedHeader",
    "genesis_validators_hash",
    "header_hash",
    "validator_set_hash",
    "verify_signed_header",
    "verify_validator_transitions",
    "vote_sign_bytes",
]
