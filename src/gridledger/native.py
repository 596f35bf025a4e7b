"""``gridledger_native``: our Rust module (``native/``), which ``make setup`` builds into the
virtual environment where Rust is installed. Every user of it has a Python fallback that gives
the same results, so a missing module (or one built before a function existed) is not an
error: the function is simply None."""

from __future__ import annotations

import importlib
from typing import Any


def load_native_function(name: str) -> Any | None:
    """``gridledger_native.<name>``, or None where the module or that function is missing."""
    try:
        module = importlib.import_module("gridledger_native")
    except ImportError:
        return None
    return getattr(module, name, None)
