"""The ABCI socket server over a real TCP connection: every frame of a read is answered, in order,
whatever mix of inline (CheckTx, Flush, Echo) and worker-thread (Info...) requests it holds; bad
frames close only their own connection."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gridledger.node.abci_app import Application
from gridledger.node.abci_server import AbciServer, abci, encode_response
from gridledger.node.abci_wire import FrameDecoder, encode_frame
from gridledger.store.sqlite import SqliteStore
from tests.chain import genesis_document
from tests.e2e.nodeproc import free_port
from tests.node.test_app import record_tx

TIMEOUT_S = 10


class ServerThread:
    """AbciServer listening on 127.0.0.1:port, in its own event loop thread."""

    def __init__(self, server: AbciServer, port: int) -> None:
        self.port = port
        self._server = server
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        listener = await asyncio.start_server(
            self._server.handle_connection, "127.0.0.1", self.port
        )
        self._ready.set()
        async with listener:
            while not self._stop.is_set():
                await asyncio.sleep(0.02)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(TIMEOUT_S), "the ABCI server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT_S)


class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        self._decoder = FrameDecoder()
        self._frames: list[bytes] = []

    def send(self, *requests: Any) -> None:
        """All requests in one write, as CometBFT's buffered client sends them."""
        self.sock.sendall(b"".join(encode_frame(r.SerializeToString()) for r in requests))

    def receive(self, count: int) -> list[Any]:
        while len(self._frames) < count:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            self._frames += self._decoder.feed(data)
        frames, self._frames = self._frames[:count], self._frames[count:]
        return [abci.Response.FromString(f) for f in frames]


def check(raw: bytes) -> Any:
    return abci.Request(check_tx=abci.RequestCheckTx(tx=raw))


FLUSH = abci.Request(flush=abci.RequestFlush())


@pytest.fixture
def running(tmp_path: Path) -> Iterator[ServerThread]:
    store = SqliteStore(tmp_path / "ledger.sqlite")
    app = Application(store)
    app.init_chain(genesis_document())
    try:
        with ServerThread(AbciServer(app), free_port()) as server:
            yield server
    finally:
        store.close()


def test_a_read_of_many_frames_is_answered_in_order(running: ServerThread) -> None:
    client = Client(running.port)
    good = record_tx("doc").raw
    client.send(
        check(good),
        check(b"garbage"),
        FLUSH,
        abci.Request(echo=abci.RequestEcho(message="hi")),
        abci.Request(info=abci.RequestInfo()),  # runs in the worker thread
        check(good),  # now waiting in the mempool
        FLUSH,
    )

    responses = client.receive(7)

    assert [r.WhichOneof("value") for r in responses] == [
        "check_tx",
        "check_tx",
        "flush",
        "echo",
        "info",
        "check_tx",
        "flush",
    ]
    assert [responses[i].check_tx.code for i in (0, 1, 5)] == [0, 1, 6]
    assert responses[1].check_tx.codespace == "gridledger"
    assert "transaction" in responses[1].check_tx.log
    assert "mempool" in responses[5].check_tx.log
    assert responses[3].echo.message == "hi"
    assert responses[4].info.data == "gridledger"


def test_frames_split_across_writes_are_answered(running: ServerThread) -> None:
    client = Client(running.port)
    stream = b"".join(encode_frame(r.SerializeToString()) for r in (check(b"x"), FLUSH))

    for i in range(len(stream)):  # one byte per write
        client.sock.sendall(stream[i : i + 1])

    assert [r.WhichOneof("value") for r in client.receive(2)] == ["check_tx", "flush"]


def test_an_empty_request_is_answered_with_an_exception(running: ServerThread) -> None:
    client = Client(running.port)
    client.send(abci.Request(), FLUSH)

    response, flush = client.receive(2)

    assert "unsupported request" in response.exception.error
    assert flush.WhichOneof("value") == "flush"


def test_a_frame_that_is_not_protobuf_closes_only_its_connection(running: ServerThread) -> None:
    bad, good = Client(running.port), Client(running.port)
    bad.sock.sendall(encode_frame(b"\xff\xff\xff"))

    with pytest.raises(ConnectionError):
        bad.receive(1)
    good.send(FLUSH)
    assert good.receive(1)[0].WhichOneof("value") == "flush"


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("flush", abci.ResponseFlush()),
        ("check_tx", abci.ResponseCheckTx(code=0, codespace="gridledger")),
        ("check_tx", abci.ResponseCheckTx(code=6, log="é" * 300, codespace="gridledger")),
        ("commit", abci.ResponseCommit(retain_height=0)),
        ("exception", abci.ResponseException(error="x" * 200)),
    ],
)
def test_encode_response_is_protobufs_own_encoding(kind: str, message: Any) -> None:
    expected = encode_frame(abci.Response(**{kind: message}).SerializeToString())

    assert encode_response(kind, message) == expected
