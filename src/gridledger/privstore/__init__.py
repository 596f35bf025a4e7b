"""Private delivery of documents to endorsing organizations (docs/private-delivery.md).

The document itself never goes on the ledger. Its submitter seals it to each endorsing
organization's X25519 delivery key (``sealed``), sends it to that organization's node with a
signed request (``request``), and the node keeps the ciphertext in a store of its own beside,
not inside, the ledger store (``store``). Only the organization's endorser and admin accounts may
read it back, and only its delivery secret key opens it.
"""
