"""Running a node: the embedded node plus its REST API under uvicorn, until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn

from gridledger.api.app import create_app
from gridledger.node.home import DEFAULT_PORT
from gridledger.node.service import EmbeddedNode

log = logging.getLogger(__name__)


def serve(
    home: Path,
    *,
    host: str | None = None,
    port: int | None = None,
    on_ready: Callable[[EmbeddedNode, str], None] | None = None,
) -> None:
    node = EmbeddedNode(home)
    config = node.home.read_config().get("api", {})
    host = host or str(config.get("host", "127.0.0.1"))
    port = port or int(config.get("port", DEFAULT_PORT))
    url = f"http://{host}:{port}"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(node), host=host, port=port, log_level="warning", access_log=False
        )
    )
    node.start()
    if on_ready is not None:
        threading.Thread(
            target=_when_started, args=(server, on_ready, node, url), daemon=True
        ).start()
    info = node.app.info()
    print(
        f"gridledger node: chain {info.chain_id}, height {info.last_height}, API {url} "
        f"(OpenAPI at {url}/docs)",
        flush=True,
    )
    try:
        server.run()
    finally:
        node.stop()
        print("gridledger node stopped", flush=True)


def _when_started(
    server: uvicorn.Server,
    on_ready: Callable[[EmbeddedNode, str], None],
    node: EmbeddedNode,
    url: str,
) -> None:
    while not server.started and not server.should_exit:
        time.sleep(0.05)
    if server.started:
        try:
            on_ready(node, url)
        except Exception:
            log.exception("start-up task failed")
