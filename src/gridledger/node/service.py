"""The embedded node as a service: store + application + solo driver, opened from a home."""

from __future__ import annotations

import logging
from pathlib import Path

from gridledger.ledger.genesis import Genesis
from gridledger.node.abci_app import Application
from gridledger.node.home import Home
from gridledger.node.solo import SoloNode
from gridledger.store.sqlite import SqliteStore

log = logging.getLogger(__name__)


class EmbeddedNode:
    def __init__(self, home_path: Path) -> None:
        self.home = Home(Path(home_path))
        genesis_doc = self.home.read_genesis()
        self.store = SqliteStore(self.home.db_file)
        self.app = Application(self.store)
        self.app.init_chain(genesis_doc)  # idempotent; refuses a different genesis for this store
        self.node_key = self.home.read_node_key()
        self.solo = SoloNode(self.app, self.node_key)
        info = self.app.info()
        log.info("resuming at height %d, app hash %s", info.last_height, info.last_app_hash.hex())

    @property
    def genesis(self) -> Genesis:
        return self.app.genesis

    def start(self) -> None:
        self.solo.start()

    def stop(self) -> None:
        self.solo.stop()
