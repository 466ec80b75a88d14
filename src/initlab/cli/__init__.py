"""The ``initlab`` command line: the only code that prints."""

from __future__ import annotations

from ._main import main, main_entry

__all__ = ["main", "main_entry"]
