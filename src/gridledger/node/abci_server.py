"""ABCI 2.0 socket server: CometBFT v0.38 drives the gridledger Application over TCP.

CometBFT opens four connections (consensus, mempool, query, snapshot). Each is a stream of
varint-framed ``tendermint.abci.Request`` messages that must be answered strictly in order, Flush
included. Requests on one connection are handled one after another; blocking application calls
run in a worker thread so that CheckTx and Query are served while a block is being finalized.

One function per request type, in a dispatch table. A failure in a consensus method (InitChain,
FinalizeBlock, Commit) is answered with ``exception``, which makes CometBFT stop: the ABCI contract
says the application must crash rather than guess.

CometBFT's socket client pipelines CheckTx: it buffers requests and writes them out when its
buffer fills or it sends a Flush, so under load one read holds several frames. The server answers
every frame of a read in order and sends the answers with one write, instead of one write (a send
system call) per answer; before a request that runs in the worker thread it sends what it has, so
earlier answers never wait behind a long call.
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
from gridledger.errors import DecodeError, GridledgerError, NodeError
from gridledger.ledger.context import Event, ValidatorUpdate
from gridledger.ledger.genesis import decode_genesis
from gridledger.ledger.transition import OK
from gridledger.node.abci_app import Application
from gridledger.node.abci_wire import FrameDecoder, encode_frame, encode_uvarint
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
CODESPACE = "gridledger"
# Event attribute values are JSON, as json.dumps writes them by default (one encoder, made once).
_ATTRIBUTE_JSON = json.JSONEncoder(sort_keys=True)


def _load_bindings() -> Any:
    """The ABCI protobuf bindings ``make setup`` generates from the installed CometBFT."""
    try:
        return importlib.import_module("gridledger.node._proto.tendermint.abci.types_pb2")
    except ImportError as exc:
        raise SystemExit(
            "ABCI bindings are missing: run `make setup` (it installs CometBFT and generates them)"
        ) from exc


abci = _load_bindings()
# What a malformed frame raises (the protobuf runtime has no type stubs here).
_PROTOBUF_DECODE_ERROR: type[Exception] = importlib.import_module(
    "google.protobuf.message"
).DecodeError
Handler = Callable[[Any], Any]


def _response_tag(kind: str) -> bytes:
    """The key of ``Response.<kind>`` on the wire (field number, wire type 2). A Response with
    only that field set is this key, the field's length and its bytes: answers are framed from
    the handler's message without copying it into a Response first."""
    return encode_uvarint(abci.Response.DESCRIPTOR.fields_by_name[kind].number << 3 | 2)


def encode_response(kind: str, message: Any) -> bytes:
    """The framed ``Response`` whose field ``kind`` holds ``message``."""
    body = message.SerializeToString()
    payload = _RESPONSE_TAGS[kind] + encode_uvarint(len(body)) + body
    return encode_frame(payload)


_RESPONSE_TAGS = {
    field.name: _response_tag(field.name) for field in abci.Response.DESCRIPTOR.fields
}
# The answer to every CheckTx that passes is the same message: framed once.
_CHECK_TX_OK = encode_response("check_tx", abci.ResponseCheckTx(code=OK, codespace=CODESPACE))


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
        return abci.ResponseCheckTx(code=result.code, log=result.log, codespace=CODESPACE)

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
        response = abci.ResponseFinalizeBlock(
            validator_updates=[_validator_update(u) for u in result.validator_updates],
            app_hash=result.app_hash,
        )
        # Built in place (``add``): constructing each result and copying it in costs more.
        add_result = response.tx_results.add
        for r in result.tx_results:
            if r.code != OK:
                add_result(code=r.code, log=r.log, codespace=CODESPACE)
                continue
            add_event = add_result().events.add
            for event in r.events:
                _fill_event(add_event(), event)
        for event in result.end_block_events:
            _fill_event(response.events.add(), event)
        return response

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
                answers: list[bytes] = []
                for frame in decoder.feed(data):
                    request = _parse_request(frame)
                    kind = request.WhichOneof("value")
                    if kind in INLINE_REQUESTS:
                        answers.append(self._answer(request, kind))
                        continue
                    if answers:  # what is ready goes out before a long call
                        writer.write(b"".join(answers))
                        answers.clear()
                    answers.append(await asyncio.to_thread(self._answer, request, kind))
                if answers:
                    writer.write(b"".join(answers))
                await writer.drain()
        except (ConnectionError, GridledgerError) as exc:
            log.warning("ABCI connection closed: %s", exc)
        finally:
            writer.close()

    def _answer(self, request: Any, kind: str | None) -> bytes:
        """The framed response to one request; a failure becomes ``exception``."""
        if kind == "check_tx":  # the hot path: no dispatch, and a passing tx's answer is ready
            return self._answer_check_tx(request.check_tx)
        handler = self._handlers.get(kind) if kind is not None else None
        if kind is None or handler is None:
            return _exception_frame(f"unsupported request {kind}")
        try:
            return encode_response(kind, handler(getattr(request, kind)))
        except Exception as exc:
            log.exception("ABCI %s failed", kind)
            return _exception_frame(f"{kind}: {exc}")

    def _answer_check_tx(self, req: Any) -> bytes:
        try:
            result = self.app.check_tx(req.tx, recheck=req.type == abci.RECHECK)
        except Exception as exc:
            log.exception("ABCI check_tx failed")
            return _exception_frame(f"check_tx: {exc}")
        if result.code == OK:
            return _CHECK_TX_OK
        return encode_response(
            "check_tx",
            abci.ResponseCheckTx(code=result.code, log=result.log, codespace=CODESPACE),
        )


def _parse_request(frame: bytes) -> Any:
    try:
        return abci.Request.FromString(frame)
    except _PROTOBUF_DECODE_ERROR as exc:
        raise DecodeError(f"ABCI request of {len(frame)} bytes does not parse: {exc}") from exc


def _exception_frame(error: str) -> bytes:
    return encode_response("exception", abci.ResponseException(error=error))


def _events(events: Any) -> list[Any]:
    out = []
    for event in events:
        message = abci.Event()
        _fill_event(message, event)
        out.append(message)
    return out


def _fill_event(message: Any, event: Event) -> None:
    """``message`` (an empty ``abci.Event``) becomes ``event``: attributes in key order, values
    as JSON (as ``json.dumps`` writes them), only INDEXED_ATTRIBUTES indexed."""
    message.type = event.type
    add = message.attributes.add
    for key, value in sorted(event.attributes.items()):
        add(key=key, value=_attribute_value(value), index=key in INDEXED_ATTRIBUTES)


def _attribute_value(value: Any) -> str:
    if type(value) is int:  # the common case, written alike by str (bool is not int here)
        return str(value)
    return _ATTRIBUTE_JSON.encode(value)


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
