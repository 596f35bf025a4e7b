"""The SDK's energy methods: the settlement token, metering and the local energy market.

Mixed into ``gridledger.client.Client``. Each write builds a transaction, signs it with the
given key (the sender), submits it and waits for its block: it returns the commit
(``tx_id``, ``height``) or raises the ledger's error (``RuleViolation``, ``Unauthorized``...),
whether CheckTx refused it or it failed in its block. Reads wrap the ``/v1/token``,
``/v1/metering`` and ``/v1/market`` routes and return their JSON.

Units are the ledger's: Wh, CNY/MWh, µCNY; interval starts in Unix seconds (multiples of 900).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from gridledger import codec, merkle
from gridledger.client.metering import build_head_end_batch, build_meter_signed_batch
from gridledger.contracts.metering.reading import Reading
from gridledger.crypto import Signer
from gridledger.errors import InvalidProof, InvalidTransaction, NodeError, error_from_code
from gridledger.ledger.tx import Transaction


class ClientCore(Protocol):
    """What the energy methods need of a Client."""

    def build_tx(
        self,
        contract: str,
        method: str,
        args: dict[str, Any],
        signers: Sequence[Signer],
        *,
        expiry_blocks: int = ...,
        height: int | None = ...,
    ) -> Transaction: ...

    def submit(
        self, tx: Transaction, *, wait: bool = ..., timeout_s: int = ...
    ) -> dict[str, Any]: ...

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any: ...


def send(
    client: ClientCore, signer: Signer, contract: str, method: str, args: dict[str, Any]
) -> dict[str, Any]:
    """Build, sign, submit and wait: the commit, or the ledger's error raised."""
    result = client.submit(client.build_tx(contract, method, args, [signer]), wait=True)
    status = result.get("status")
    if status == "pending":
        raise NodeError(
            f"{contract}.{method} transaction {result.get('tx_id')} is not in a block yet; it may "
            "still be: look it up with GET /v1/txs/<id> before sending it again"
        )
    if status != "committed":
        raise error_from_code(str(result.get("error", "error")), str(result.get("log", result)))
    return result


def _dict(value: Any) -> dict[str, Any]:
    found: dict[str, Any] = value
    return found


def _query(**params: Any) -> dict[str, Any]:
    return {name.rstrip("_"): value for name, value in params.items() if value is not None}


class TokenMethods:
    def issue_tokens(self: ClientCore, signer: Signer, to: str, amount_ucny: int) -> dict[str, Any]:
        """Create ``amount_ucny`` µCNY for ``to`` (an admin of the grid operator only)."""
        return send(self, signer, "token", "issue", {"to": to, "amount": amount_ucny})

    def transfer_tokens(
        self: ClientCore, signer: Signer, to: str, amount_ucny: int, memo: str = ""
    ) -> dict[str, Any]:
        args: dict[str, Any] = {"to": to, "amount": amount_ucny}
        if memo:
            args["memo"] = memo
        return send(self, signer, "token", "transfer", args)

    def balance(self: ClientCore, address: str) -> int:
        """Spendable µCNY of ``address`` (escrowed money is not included)."""
        return int(self.get(f"/v1/token/balances/{address}")["balance_ucny"])

    def token_supply(self: ClientCore) -> int:
        return int(self.get("/v1/token/supply")["supply_ucny"])


class MeteringMethods:
    def register_meter(
        self: ClientCore,
        signer: Signer,
        *,
        meter: str,
        owner: str,
        public_key: bytes,
        direction: str,
        zone: str,
        max_power_w: int,
        register_bits: int | None = None,
    ) -> dict[str, Any]:
        """Register a meter and its device key (an admin of the grid operator only)."""
        args: dict[str, Any] = {
            "meter": meter,
            "owner": owner,
            "public_key": public_key.hex(),
            "direction": direction,
            "zone": zone,
            "max_power_w": max_power_w,
        }
        if register_bits is not None:
            args["register_bits"] = register_bits
        return send(self, signer, "metering", "register_meter", args)

    def register_head_end(
        self: ClientCore, signer: Signer, *, head_end: str, public_key: bytes, name: str = ""
    ) -> dict[str, Any]:
        args = {"head_end": head_end, "public_key": public_key.hex(), "name": name}
        return send(self, signer, "metering", "register_head_end", args)

    def submit_readings(
        self: ClientCore,
        signer: Signer,
        readings: Sequence[Reading],
        *,
        meter_keys: Mapping[str, Signer] | None = None,
        head_end: str | None = None,
        head_end_key: Signer | None = None,
    ) -> dict[str, Any]:
        """Submit up to 1,000 readings, signed by their meters' keys (``meter_keys``, by meter
        id) or by a head-end system (``head_end`` and ``head_end_key``). ``signer`` relays them:
        any active account."""
        if head_end is not None and head_end_key is not None and meter_keys is None:
            args = build_head_end_batch(readings, head_end, head_end_key)
        elif meter_keys is not None and head_end is None and head_end_key is None:
            args = build_meter_signed_batch(readings, meter_keys)
        else:
            raise InvalidTransaction(
                "sign readings either with meter_keys or with head_end and head_end_key"
            )
        return send(self, signer, "metering", "submit_readings", args)

    def meter(self: ClientCore, meter_id: str) -> dict[str, Any]:
        return _dict(self.get(f"/v1/metering/meters/{meter_id}"))

    def meter_intervals(
        self: ClientCore,
        meter_id: str,
        *,
        channel: str | None = None,
        from_s: int | None = None,
        to_s: int | None = None,
    ) -> dict[str, Any]:
        """Derived interval energy and gaps in ``[from_s, to_s)`` (at most a week)."""
        params = _query(channel=channel, from_=from_s, to=to_s)
        return _dict(self.get(f"/v1/metering/meters/{meter_id}/intervals", params))

    def reading(
        self: ClientCore,
        meter_id: str,
        interval_start: int,
        *,
        channel: str | None = None,
        verify: bool = True,
    ) -> dict[str, Any]:
        """A reading with its batch and inclusion proof; with ``verify``, the proof is checked
        here (RFC 9162) and the proved leaf must be this reading, else InvalidProof."""
        path = f"/v1/metering/meters/{meter_id}/readings/{interval_start}"
        found = _dict(self.get(path, _query(channel=channel)))
        if verify:
            verify_reading_proof(found)
        return found

    def head_end(self: ClientCore, head_end_id: str) -> dict[str, Any]:
        return _dict(self.get(f"/v1/metering/head-ends/{head_end_id}"))


def verify_reading_proof(found: Mapping[str, Any]) -> None:
    """Raise InvalidProof unless ``found["proof"]`` proves the leaf of ``found["reading"]``
    under the root of the batch that holds it."""
    reading, proof = found["reading"], found["proof"]
    leaf = bytes.fromhex(proof["leaf"])
    fields = codec.decode(leaf)
    for name in ("meter", "channel", "interval_start", "register_wh", "page", "error_flags"):
        if fields.get(name) != reading.get(name):
            raise InvalidProof(f"the proved leaf's {name} is not the reading's")
    if proof["root"] != reading["batch"]:
        raise InvalidProof(f"the proof's root is not the reading's batch {reading['batch']}")
    merkle.verify_inclusion(
        leaf,
        int(proof["index"]),
        int(proof["size"]),
        [bytes.fromhex(node) for node in proof["path"]],
        bytes.fromhex(proof["root"]),
    )


class MarketMethods:
    def configure_market(
        self: ClientCore, signer: Signer, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Set the market parameters (an admin of the grid operator; see docs/contracts/market.md
        for the fields)."""
        return send(self, signer, "market", "configure", params)

    def register_participant(
        self: ClientCore,
        signer: Signer,
        *,
        account: str,
        role: str,
        zone: str,
        meters: Sequence[str],
    ) -> dict[str, Any]:
        """Admit ``account`` as a ``prosumer`` or ``consumer`` settled against ``meters`` (an
        admin of the grid operator or of the trading center)."""
        args = {"account": account, "role": role, "zone": zone, "meters": list(meters)}
        return send(self, signer, "market", "register_participant", args)

    def place_order(
        self: ClientCore,
        signer: Signer,
        *,
        interval_start: int,
        side: str,
        qty_wh: int,
        price: int,
        zone: str | None = None,
    ) -> dict[str, Any]:
        """A limit order for one interval; its ``tx_id`` is the order id. A buy escrows
        ``qty_wh * (price + highest grid fee)`` µCNY until clearing."""
        args: dict[str, Any] = {
            "interval_start": interval_start,
            "side": side,
            "qty_wh": qty_wh,
            "price": price,
        }
        if zone is not None:
            args["zone"] = zone
        return send(self, signer, "market", "place_order", args)

    def cancel_order(self: ClientCore, signer: Signer, order_id: str) -> dict[str, Any]:
        return send(self, signer, "market", "cancel_order", {"order": order_id})

    def settle(self: ClientCore, signer: Signer, interval_start: int) -> dict[str, Any]:
        """Settle a cleared, ended interval against the meters (anyone may send it)."""
        return send(self, signer, "market", "settle", {"interval_start": interval_start})

    def market_clock(self: ClientCore) -> dict[str, Any]:
        return _dict(self.get("/v1/market/clock"))

    def market_params(self: ClientCore) -> dict[str, Any]:
        return _dict(self.get("/v1/market/params"))

    def participants(
        self: ClientCore, *, after: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        return _dict(self.get("/v1/market/participants", _query(after=after, limit=limit)))

    def participant(self: ClientCore, address: str) -> dict[str, Any]:
        return _dict(self.get(f"/v1/market/participants/{address}"))

    def market_intervals(
        self: ClientCore, *, from_s: int | None = None, to_s: int | None = None
    ) -> dict[str, Any]:
        return _dict(self.get("/v1/market/intervals", _query(from_=from_s, to=to_s)))

    def market_interval(
        self: ClientCore, interval_start: int, *, offset: int = 0, limit: int = 1000
    ) -> dict[str, Any]:
        """The interval, its settlement, and orders and trades from ``offset`` (at most
        ``limit`` of each; ``more_orders`` / ``more_trades`` say whether more follow)."""
        params = {"offset": offset, "limit": limit}
        return _dict(self.get(f"/v1/market/intervals/{interval_start}", params))

    def interval_invoices(self: ClientCore, interval_start: int) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get(f"/v1/market/intervals/{interval_start}/invoices")[
            "invoices"
        ]
        return found

    def order(self: ClientCore, order_id: str) -> dict[str, Any]:
        return _dict(self.get(f"/v1/market/orders/{order_id}"))

    def invoices(
        self: ClientCore, address: str, *, from_s: int = 0, limit: int = 96
    ) -> dict[str, Any]:
        params = {"from": from_s, "limit": limit}
        return _dict(self.get(f"/v1/market/invoices/{address}", params))
