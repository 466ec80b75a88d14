"""What an experiment gives back, and where it goes: the Result type, run folders on disk, figures, the HTML report.

matplotlib is imported only when figures are drawn.
"""

from __future__ import annotations

from ._figures import figures, save_figures
from ._report import command_for, write_report
from ._result import Result
from ._store import FILES, check_writable, load, save

__all__ = [
    "FILES",
    "Result",
    "check_writable",
    "command_for",
    "figures",
    "load",
    "save",
    "save_figures",
    "write_report",
]
