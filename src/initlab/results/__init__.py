"""What an experiment gives back, and where it goes: the Result type, run folders on disk, figures, the HTML report.

This layer knows the :class:`Result` type only, never the experiments: the report's
order of experiments comes from the caller.  matplotlib and jinja2 are imported only
when figures are drawn or a report is written.
"""

from __future__ import annotations

from ._figures import PALETTE, figures, save_figures
from ._report import render_template, write_report
from ._result import Result
from ._store import FILES, check_target, finished, load, save, write_text_atomic

__all__ = [
    "FILES",
    "PALETTE",
    "Result",
    "check_target",
    "figures",
    "finished",
    "load",
    "render_template",
    "save",
    "save_figures",
    "write_report",
    "write_text_atomic",
]
