"""Sweeps: a grid of settings declared once in a TOML file, run on this machine or a cluster, every result kept.

(The public face is filled in as the modules land.)
"""

from __future__ import annotations

from ._types import STATUSES, WHOLE_RUN, Cell, Row, Task

__all__ = ["STATUSES", "WHOLE_RUN", "Cell", "Row", "Task"]
