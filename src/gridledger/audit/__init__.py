"""Auditing a node: signed checkpoints of its evidence log, consistency between nodes, and an
offline recomputation of its own store.

- ``checkpoint``: the signed checkpoint format (chain id, height, log size and root, app hash).
- ``book``: the node's checkpoint book, a SQLite file beside its ledger store.
- ``checkpointer``: the writer that signs a checkpoint whenever the log has grown.
- ``source``: a node's log and checkpoints, over its REST API or from its store.
- ``peer``: ``audit --peer``, RFC 9162 consistency between two nodes' logs and checkpoints.
- ``local``: ``audit --local``, a replay of the store from genesis compared row by row
  (with ``blockcheck`` and ``logcheck`` for what can be recomputed without the replay).
"""
