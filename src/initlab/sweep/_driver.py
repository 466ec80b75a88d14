"""The driver of a sweep: the models the journal lacks, run as tasks, their rows journaled as they arrive.

The driver is the only writer of the journal.  It takes the folder's lock, asks the journal
which models have no row yet (a new sweep: all of them; a resumed one: the rest), groups them
into tasks, hands the tasks to an executor and records each task's rows in one transaction
as soon as they come back.  Killed at any moment, it loses at most the tasks in flight; run
again on the same folder, it trains only what is missing.  It never prints: progress goes to
``on_progress``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ._executors import Executor, LocalExecutor, _config
from ._grid import Grid, experiment_module
from ._journal import open_for_run
from ._plan import make_tasks, spread
from ._types import Task

__all__ = ["DEFAULT_MEMORY", "Progress", "run_sweep"]

#: the memory one task may take by default (bytes): the budget that sizes the ensembles' chunks
DEFAULT_MEMORY = 512 * 2**20


@dataclass(frozen=True)
class Progress:
    """Where a sweep stands: models in all (``total``), models with a row by status (``done``, ``diverged``,
    ``failed``), the models missing when this run started, the seconds since it started and an estimate
    of the seconds left (None until a task of this run has finished, 0 when nothing is left).

    >>> p = Progress(total=10, done=6, diverged=1, failed=1, missing_at_start=8, elapsed=3.0, eta=1.5)
    >>> p.finished, p.missing, p.fraction
    (8, 2, 0.8)
    """

    total: int
    done: int
    diverged: int
    failed: int
    missing_at_start: int
    elapsed: float
    eta: float | None

    @property
    def finished(self) -> int:
        """Models with a row, whatever their status."""
        return self.done + self.diverged + self.failed

    @property
    def missing(self) -> int:
        """Models without a row yet."""
        return self.total - self.finished

    @property
    def fraction(self) -> float:
        """The share of the grid's models with a row (1.0 for an empty grid)."""
        return self.finished / self.total if self.total else 1.0


def _weights(tasks: list[Task]) -> dict[str, float]:
    """Each task's share of the work: its models' multiply-adds where the experiment estimates them
    (``model_cost``), else its models (a whole run counts one).  The models of one ensemble cost the
    same (what sets the cost, the net, data and steps, is what makes the ensemble), so one config of
    each group is enough."""
    out: dict[str, float] = {}
    per_model: dict[str, float] = {}
    for task in tasks:
        if task.group not in per_model:
            per_model[task.group] = 1.0
            module = experiment_module(task.experiment)
            cost: Callable[[Any], float] | None = getattr(module, "model_cost", None)
            if cost is not None:
                _, seed, config = task.models[0]
                with contextlib.suppress(Exception):  # a config that fails in its worker weighs little
                    per_model[task.group] = max(float(cost(_config(module, config, seed))), 1.0)
        out[task.id] = per_model[task.group] * len(task.models)
    return out


def run_sweep(
    grid: Grid,
    out: Path | str,
    *,
    executor: Executor | None = None,
    memory_bytes: int = DEFAULT_MEMORY,
    command: str = "",
    on_progress: Callable[[Progress], None] | None = None,
    retry_failed: bool = False,
) -> Progress:
    """Run ``grid``'s missing models with ``executor`` and journal their rows in the folder ``out``.

    ``out`` is created, or resumed when it holds this grid's sweep; its lock is held for the whole
    run (a second driver gets the lock error).  The missing models are grouped into tasks whose
    ensembles fit ``memory_bytes`` (:func:`make_tasks`) and run by ``executor`` (default: a
    :class:`LocalExecutor` with one worker per CPU, closed at the end; an executor passed in is
    left open).  Each task's rows are recorded in one transaction as they arrive, then
    ``on_progress`` gets the new :class:`Progress`.  With ``retry_failed``, the rows of failed
    models are deleted first so that they run again.  A finished sweep returns at once.
    Returns the final :class:`Progress`.
    """
    start = time.perf_counter()
    with open_for_run(Path(out), grid, command) as journal:
        if retry_failed:
            journal.forget_failed()
        missing = journal.missing()
        counts = journal.counts()
        progress = Progress(total=counts["total"], done=counts["done"], diverged=counts["diverged"],
                            failed=counts["failed"], missing_at_start=len(missing), elapsed=0.0,
                            eta=0.0 if not missing else None)  # fmt: skip
        if not missing:
            return progress
        own = executor is None
        runner: Executor = LocalExecutor(os.cpu_count() or 1) if executor is None else executor
        tasks = spread(make_tasks(grid, missing, memory_bytes), int(getattr(runner, "workers", 1)))
        weights = _weights(tasks)
        work, work_done = sum(weights.values()), 0.0
        results = runner.run(tasks)
        try:
            for task, rows in results:
                if journal.record(rows) == len(rows):  # the usual case: count the new rows
                    for row in rows:
                        counts[row.status] += 1
                else:  # some were there already (a task run twice): ask the journal
                    counts = journal.counts()
                work_done += weights.get(task.id, float(len(task.models)))
                elapsed = time.perf_counter() - start
                eta = elapsed * max(work - work_done, 0.0) / work_done if work_done > 0 else None
                progress = replace(progress, done=counts["done"], diverged=counts["diverged"],
                                   failed=counts["failed"], elapsed=elapsed, eta=eta)  # fmt: skip
                if on_progress is not None:
                    on_progress(progress)
        finally:  # stopped early (Ctrl-C, an error): the executor's generator stops its workers when closed
            close: Callable[[], Any] | None = getattr(results, "close", None)
            if close is not None:
                close()
            if own:
                runner.close()
        return replace(progress, elapsed=time.perf_counter() - start, eta=0.0 if progress.missing == 0 else None)
