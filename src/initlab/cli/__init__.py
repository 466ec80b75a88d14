"""The ``initlab`` command line: the only code that prints.

``_main`` holds the parser, the table command -> handler and the error policy; each command
group has its own module (``_init_cmds``: init, schemes; ``_experiment_cmds``: list, run, tour,
report); ``_checks`` checks input before any work starts; ``_terminal`` draws tables and
progress bars with rich (imported lazily).
"""

from __future__ import annotations

from ._main import main, main_entry

__all__ = ["main", "main_entry"]
