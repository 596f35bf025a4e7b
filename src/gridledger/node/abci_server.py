"""ABCI 2.0 socket server: CometBFT v0.38 drives the gridledger Application over TCP.

CometBFT opens four connections (consensus, mempool, query, snapshot). Each is a stream of
varint-framed ``tendermint.abci.Request`` messages that must be answered strictly in order, Flush
included. Requests on one connection are handled one after another; blocking application calls
run in a worker thread so that CheckTx and Query are served while a block is being finalized.

One function per request type, in a dispatch table. A failure in a consensus method (InitChain,
FinalizeBlock, Commit) is answered with ``exception``, which makes CometBFT stop: the ABCI contract
says the application must crash rather than guess.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridledger import __version__, codec
from gridledger.errors import GridledgerError, NodeError
from gridledger.ledger.context import ValidatorUpdate
from gridledger.ledger.genesis import decode_genesis
from gridledger.node.abci_app import Application
from gridledger.node.abci_wire import FrameDecoder, encode_frame
from gridledger.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

APP_VERSION = 1
# Answered on the event loop itself: quick, and CheckTx is the mempool's hot path (a thread hop
# per transaction costs more than the check). Consensus and query requests, which may take long,
# run in a worker thread so that CheckTx keeps being answered meanwhile.
INLINE_REQUESTS = frozenset({"echo", "flush", "check_tx"})
# Event attributes CometBFT indexes for tx_search (e.g. notary.record.digest='"ab…"'). Indexing
# costs every node work per transaction, and our own store answers every other query.
INDEXED_ATTRIBUTES = frozenset({"digest"})


def _load_bindings() -> Any:
    """The ABCI protobuf bindings ``make setup`` generates from the installed CometBFT."""
    try:
        return importlib.import_module("gridledger.node._proto.tendermint.abci.types_pb2")
    except ImportError as exc:
        raise SystemExit(
            "ABCI bindings are missing: run `make setup` (it installs CometBFT and generates them)"
        ) from exc


abci = _load_bindings()
Handler = Callable[[Any], Any]


class AbciServer:
    def __init__(self, app: Application) -> None:
        self.app = app
        self._last_finalize: Any = None
        self._handlers: dict[str, Handler] = {
            "echo": lambda r: abci.ResponseEcho(message=r.message),
            "flush": lambda r: abci.ResponseFlush(),
            "info": self.info,
            "init_chain": self.init_chain,
            "query": self.query,
            "check_tx": self.check_tx,
            "prepare_proposal": self.prepare_proposal,
            "process_proposal": self.process_proposal,
            "finalize_block": self.finalize_block,
            "commit": self.commit,
            "extend_vote": lambda r: abci.ResponseExtendVote(),
            "verify_vote_extension": lambda r: abci.ResponseVerifyVoteExtension(
                status=abci.ResponseVerifyVoteExtension.ACCEPT
            ),
            "list_snapshots": lambda r: abci.ResponseListSnapshots(),
            "offer_snapshot": lambda r: abci.ResponseOfferSnapshot(
                result=abci.ResponseOfferSnapshot.REJECT
            ),
            "load_snapshot_chunk": lambda r: abci.ResponseLoadSnapshotChunk(),
            "apply_snapshot_chunk": lambda r: abci.ResponseApplySnapshotChunk(
                result=abci.ResponseApplySnapshotChunk.ABORT
            ),
        }

    # -- one function per request --------------------------------------------------------------

    def info(self, req: Any) -> Any:
        info = self.app.info()
        return abci.ResponseInfo(
            data="gridledger",
            version=__version__,
            app_version=APP_VERSION,
            last_block_height=info.last_height,
            last_block_app_hash=info.last_app_hash if info.last_height > 0 else b"",
        )

    def init_chain(self, req: Any) -> Any:
        genesis = json.loads(req.app_state_bytes or b"{}")
        if genesis.get("chain_id") != req.chain_id:
            raise GridledgerError(
                f"CometBFT chain id {req.chain_id!r} differs from the app genesis "
                f"{genesis.get('chain_id')!r}"
            )
        _verify_init_validators(req.validators, decode_genesis(genesis).validators)
        # No validators in the response: CometBFT keeps its genesis set, which we just checked.
        return abci.ResponseInitChain(app_hash=self.app.init_chain(genesis))

    def query(self, req: Any) -> Any:
        if req.path in ("/store", "/key") or req.path.startswith("/store/"):
            value = self.app.store.get(req.data.decode("utf-8", "replace"))
            return abci.ResponseQuery(
                code=0, key=req.data, value=value or b"", height=self.app.info().last_height
            )
        return abci.ResponseQuery(code=1, log=f"unknown query path {req.path!r}; use /store")

    def check_tx(self, req: Any) -> Any:
        result = self.app.check_tx(req.tx, recheck=req.type == abci.RECHECK)
        return abci.ResponseCheckTx(code=result.code, log=result.log, codespace="gridledger")

    def prepare_proposal(self, req: Any) -> Any:
        return abci.ResponsePrepareProposal(
            txs=self.app.prepare_proposal(req.txs, req.max_tx_bytes)
        )

    def process_proposal(self, req: Any) -> Any:
        accepted = self.app.process_proposal(req.txs)
        status = (
            abci.ResponseProcessProposal.ACCEPT if accepted else abci.ResponseProcessProposal.REJECT
        )
        return abci.ResponseProcessProposal(status=status)

    def finalize_block(self, req: Any) -> Any:
        time_ms = req.time.seconds * 1000 + req.time.nanos // 1_000_000
        result = self.app.finalize_block(height=req.height, time_ms=time_ms, raw_txs=list(req.txs))
        self._last_finalize = req
        return abci.ResponseFinalizeBlock(
            tx_results=[_exec_result(r) for r in result.tx_results],
            validator_updates=[_validator_update(u) for u in result.validator_updates],
            events=_events(result.end_block_events),
            app_hash=result.app_hash,
        )

    def commit(self, req: Any) -> Any:
        fin = self._last_finalize
        header = codec.encode(
            {
                "chain_id": self.app.genesis.chain_id,
                "cometbft_block_hash": bytes(fin.hash).hex(),
                "height": fin.height,
                "proposer_address": bytes(fin.proposer_address).hex(),
                "time_ms": fin.time.seconds * 1000 + fin.time.nanos // 1_000_000,
            }
        )
        self.app.commit(block_hash=bytes(fin.hash), header=header, signature=b"")
        return abci.ResponseCommit(retain_height=0)

    # -- the socket ----------------------------------------------------------------------------

    async def handle_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        decoder = FrameDecoder()
        try:
            while data := await reader.read(65536):
                for frame in decoder.feed(data):
                    response = await self._respond(frame)
                    writer.write(encode_frame(response.SerializeToString()))
                await writer.drain()
        except (ConnectionError, GridledgerError) as exc:
            log.warning("ABCI connection closed: %s", exc)
        finally:
            writer.close()

    async def _respond(self, frame: bytes) -> Any:
        request = abci.Request.FromString(frame)
        kind = request.WhichOneof("value")
        if kind not in self._handlers:
            return abci.Response(
                exception=abci.ResponseException(error=f"unsupported request {kind}")
            )
        handler = self._handlers[kind]
        try:
            if kind in INLINE_REQUESTS:
                result = handler(getattr(request, kind))
            else:
                result = await asyncio.to_thread(handler, getattr(request, kind))
        except Exception as exc:
            log.exception("ABCI %s failed", kind)
            return abci.Response(exception=abci.ResponseException(error=f"{kind}: {exc}"))
        response = abci.Response()
        getattr(response, kind).CopyFrom(result)
        return response


def _events(events: Any) -> list[Any]:
    return [
        abci.Event(
            type=e.type,
            attributes=[
                abci.EventAttribute(
                    key=k, value=json.dumps(v, sort_keys=True), index=k in INDEXED_ATTRIBUTES
                )
                for k, v in sorted(e.attributes.items())
            ],
        )
        for e in events
    ]


def _exec_result(r: Any) -> Any:
    return abci.ExecTxResult(
        code=r.code, log=r.log, codespace="gridledger" if r.code else "", events=_events(r.events)
    )


# -- validators (governance) -------------------------------------------------------------------


def _validator_update(update: ValidatorUpdate) -> Any:
    """``tendermint.abci.ValidatorUpdate{pub_key: {ed25519}, power}``; power 0 removes."""
    message = abci.ValidatorUpdate(power=update.power)
    message.pub_key.ed25519 = update.public_key
    return message


def _verify_init_validators(requested: Any, genesis_validators: Any) -> None:
    """InitChain: CometBFT's genesis validators must be the app genesis's (same Ed25519 keys, same
    powers), or the ledger's validator set, which governance changes, would not be CometBFT's."""
    comet: dict[str, int] = {}
    for index, validator in enumerate(requested):
        kind = validator.pub_key.WhichOneof("sum")
        if kind != "ed25519":
            raise NodeError(
                f"CometBFT genesis validator {index} has a {kind} key; gridledger needs ed25519"
            )
        comet[bytes(validator.pub_key.ed25519).hex()] = validator.power
    app = {str(v["public_key"]): int(v["power"]) for v in genesis_validators}
    if comet != app:
        differences = [
            f"{key}: CometBFT power {comet.get(key, 0)}, app genesis power {app.get(key, 0)}"
            for key in sorted(set(comet) | set(app))
            if comet.get(key) != app.get(key)
        ]
        raise NodeError(
            "CometBFT's genesis validators differ from the app genesis validators ("
            + "; ".join(differences)
            + "): give both the same Ed25519 keys and powers"
        )


# -- end of validators -------------------------------------------------------------------------


async def serve(store_path: Path, host: str, port: int) -> None:
    server = AbciServer(Application(SqliteStore(store_path)))
    listener = await asyncio.start_server(server.handle_connection, host, port)
    log.info("ABCI server on %s:%d", host, port)
    async with listener:
        await listener.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description="gridledger ABCI server for CometBFT")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(args.db, args.host, args.port))


if __name__ == "__main__":
    main()
