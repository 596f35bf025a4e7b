"""gridledger: a consortium blockchain for the electric power industry."""

__version__ = "0.1.0"
