"""The one error tree of gridledger.

Every failure the project reports on purpose is a ``GridledgerError``. Edges (REST API, CLI, ABCI)
turn these into an HTTP status, an exit code or an ABCI code in one place each; anything else that
escapes is a bug.

::

    GridledgerError
    ├── DecodeError                 bytes that are not canonical JSON / not the expected shape
    ├── InvalidTransaction          a transaction that can never be valid as sent
    │   ├── InvalidSignature        missing, malformed or wrong signature
    │   ├── WrongChain              chain id of another network
    │   ├── Expired                 expiry height already passed (or too far ahead)
    │   ├── Replayed                the same transaction was already accepted
    │   ├── Oversized               above a size limit
    │   └── UnknownOperation        no such contract or method
    ├── Unauthorized                signer lacks the role / membership the rule asks for
    ├── RuleViolation               well-formed, authorized, but breaks a contract rule
    │   └── Conflict                the thing already exists / state does not allow it now
    ├── NotFound                    a query for something the ledger does not hold
    ├── InvalidProof                a Merkle proof, signature chain or certificate does not verify
    ├── StoreError                  the on-disk store failed or is inconsistent
    └── NodeError                   the node could not do what was asked (not running, timeout)
"""

from __future__ import annotations


class GridledgerError(Exception):
    """Root of every error gridledger raises on purpose.

    ``code`` is a short stable machine name (used in API bodies and ABCI logs); the message is
    for people and names the problem.
    """

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DecodeError(GridledgerError):
    code = "decode_error"


class InvalidTransaction(GridledgerError):
    code = "invalid_transaction"


class InvalidSignature(InvalidTransaction):
    code = "invalid_signature"


class WrongChain(InvalidTransaction):
    code = "wrong_chain"


class Expired(InvalidTransaction):
    code = "expired"


class Replayed(InvalidTransaction):
    code = "replayed"


class Oversized(InvalidTransaction):
    code = "oversized"


class UnknownOperation(InvalidTransaction):
    code = "unknown_operation"


class Unauthorized(GridledgerError):
    code = "unauthorized"


class RuleViolation(GridledgerError):
    code = "rule_violation"


class Conflict(RuleViolation):
    code = "conflict"


class NotFound(GridledgerError):
    code = "not_found"


class InvalidProof(GridledgerError):
    code = "invalid_proof"


class StoreError(GridledgerError):
    code = "store_error"


class NodeError(GridledgerError):
    code = "node_error"


def error_from_code(code: str, message: str) -> GridledgerError:
    """Rebuild an error from its machine name (as an API body or CheckTx result carries it)."""
    todo: list[type[GridledgerError]] = [GridledgerError]
    while todo:
        cls = todo.pop()
        if cls.code == code:
            return cls(message)
        todo.extend(cls.__subclasses__())
    return GridledgerError(message)
