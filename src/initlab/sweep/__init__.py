"""Sweeps: a grid of runs declared once in a TOML file, run here or on a Dask cluster, every result kept.

A grid file names an experiment (any of :data:`initlab.experiments.EXPERIMENTS` or
:data:`initlab.papers.PAPERS`; ``train`` trains one model per seed) and the values of each
axis; :func:`load_grid` checks it whole against the experiment's declared settings and
expands it into cells with canonical keys.  :func:`plan` groups the models into ensembles
(the engine's model axis) and tasks sized to a memory budget, with an estimate of memory
and time; :func:`run_sweep` runs the models the journal lacks on an executor
(:class:`LocalExecutor`, :class:`DaskExecutor`, :class:`InProcessExecutor`) and records each
result in the SQLite journal of the sweep's folder as it arrives, so a stopped sweep resumes
where it stopped.  :func:`status`, :func:`export_parquet` and :func:`write_report` read it.

Model ``k`` of an ensemble gets the bits it gets alone (the engine's guarantee), so a sweep's
numbers do not depend on the executor, the chunking or how often it was resumed.
"""

from __future__ import annotations

from ._driver import DEFAULT_MEMORY, Progress, run_sweep
from ._executors import DaskExecutor, Executor, InProcessExecutor, LocalExecutor, run_task
from ._export import export_parquet
from ._grid import CELL_LIMIT, Axis, Grid, GridError, cell_key, experiment_module
from ._grid_file import load_grid, parse_grid
from ._journal import Journal, JournalView, SweepLockedError, open_for_run, open_journal
from ._plan import Plan, make_tasks, plan
from ._report import write_report
from ._status import SweepStatus, status
from ._types import STATUSES, WHOLE_RUN, Cell, Row, Task

__all__ = ["CELL_LIMIT", "DEFAULT_MEMORY", "STATUSES", "WHOLE_RUN", "Axis", "Cell", "DaskExecutor", "Executor",
           "Grid", "GridError", "InProcessExecutor", "Journal", "JournalView", "LocalExecutor", "Plan", "Progress",
           "Row", "SweepLockedError", "SweepStatus", "Task", "cell_key", "experiment_module", "export_parquet",
           "load_grid", "make_tasks", "open_for_run", "open_journal", "parse_grid", "plan", "run_sweep", "run_task",
           "status", "write_report"]  # fmt: skip
