"""Plans: the models of a grid grouped into tasks that fit a memory budget, and what running them will take.

An experiment that trains one model per seed (``train``) is run in *ensembles*: the models whose
configs share ``ensemble_key`` train in lockstep as one batched computation.  Each ensemble is
cut into tasks of at most ``max(1, memory_bytes // model_bytes)`` models, so that one worker's
task fits the budget.  Any other experiment runs whole, one task per cell.

:func:`plan` adds the numbers ``initlab sweep plan`` prints: cells, models, ensembles, tasks,
the memory per worker, and, for per-model experiments, a time estimate (multiply-adds over a
rate measured on this machine by a short calibration run).
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import data as _data
from .._validation import InitlabValueError, check_int, format_bytes, format_duration, shown
from ..experiments import EXPERIMENTS, peak_bytes
from ._grid import Grid
from ._types import WHOLE_RUN, Task

__all__ = [
    "CALIBRATION_SECONDS",
    "MIN_TASK_MODELS",
    "TASKS_PER_WORKER",
    "Calibration",
    "Plan",
    "make_tasks",
    "makespan",
    "measure_rate",
    "plan",
    "spread",
]

#: the shortest calibration run timed (seconds): shorter runs are repeated with more steps
CALIBRATION_SECONDS = 0.2
_CALIBRATION_MODELS = 4  # models in the calibration ensemble (fewer when the budget allows fewer per task)


def _positions(grid: Grid, models: Sequence[tuple[str, int]]) -> list[tuple[int, int, str, int]]:
    """``models`` as (cell index, seed index, key, seed) in grid order; unknown or repeated models are errors."""
    cell_index = {c.key: i for i, c in enumerate(grid.cells)}
    seed_index = {s: i for i, s in enumerate(grid.seeds)}
    out, seen = [], set()
    for model in models:
        try:
            key, seed = model
            pos = (cell_index[key], seed_index[seed], key, seed)
        except (KeyError, TypeError, ValueError):
            raise InitlabValueError(
                f"The 'models' argument of make_tasks must hold (cell key, seed) pairs of the grid {grid.source}. "
                f"Got {shown(model)} instead."
            ) from None
        if (key, seed) in seen:
            raise InitlabValueError(
                f"The 'models' argument of make_tasks must hold each model once. Got {shown(model)} twice."
            )
        seen.add((key, seed))
        out.append(pos)
    return sorted(out)


def make_tasks(grid: Grid, models: Sequence[tuple[str, int]], memory_bytes: int) -> list[Task]:
    """The tasks that run ``models`` (``(cell key, seed)`` pairs of ``grid``), in a deterministic order.

    Per-model experiments: models grouped by ``ensemble_key`` (groups in the order of their first cell in
    the grid), each group cut into chunks of at most ``max(1, memory_bytes // model_bytes)`` models,
    in cell order then seed order.  A task's models carry the cell's config with ``seed`` set to the
    model's seed.  Whole-run experiments: one task per cell, its group the cell key.

    >>> from initlab.sweep import parse_grid
    >>> grid = parse_grid('experiment = "train"\\nseeds = 3\\n[settings]\\nsteps = 10\\n[axes]\\nlr = [0.1, 0.2]')
    >>> tasks = make_tasks(grid, grid.models, memory_bytes=2**30)
    >>> len(tasks), [(m[1], m[2]["seed"], m[2]["lr"]) for m in tasks[0].models][:4]
    (1, [(0, 0, 0.1), (1, 1, 0.1), (2, 2, 0.1), (0, 0, 0.2)])
    """
    memory_bytes = check_int(memory_bytes, "memory_bytes", "make_tasks", low=1)
    positions = _positions(grid, models)
    if not grid.per_model:
        return [
            Task(grid.experiment, key, ((key, WHOLE_RUN, dict(grid.cells[i].config)),)) for i, _, key, _ in positions
        ]
    module = grid.module
    groups: dict[str, list[tuple[str, int, dict[str, Any]]]] = {}
    sizes: dict[str, int] = {}
    last, group = -1, ""
    for i, _, key, seed in positions:
        cell = grid.cells[i]
        if i != last:  # the ensemble key and size are the cell's (the seed enters neither)
            cfg = grid.config(cell)
            group = str(module.ensemble_key(cfg))
            sizes[group] = max(sizes.get(group, 1), int(module.model_bytes(cfg)))
            last = i
        groups.setdefault(group, []).append((key, seed, {**cell.config, "seed": seed}))
    tasks = []
    for group, members in groups.items():
        n = max(1, memory_bytes // sizes[group])
        tasks += [Task(grid.experiment, group, tuple(members[k : k + n])) for k in range(0, len(members), n)]
    return tasks


@functools.cache
def _data_bytes(name: str) -> int:
    """Bytes of a dataset's arrays (train and test splits), as a task holds them."""
    d = _data.load(name)
    return sum(int(a.nbytes) for a in (d.X_train, d.Y_train, d.X_test, d.Y_test) if a is not None)


#: tasks per worker a large grid is cut into: the progress bar and the ETA move, and a killed driver loses at most
#: about this fraction of each worker's share (the journal keeps every finished task)
TASKS_PER_WORKER = 16
#: ...but no task is cut below this many models while a worker's share is larger: an ensemble step pays its
#: Python overhead once for all its models
MIN_TASK_MODELS = 32


def spread(tasks: list[Task], workers: int) -> list[Task]:
    """``tasks`` cut so that ``workers`` workers all have work, and a large grid comes back in many small tasks.

    No task holds more than ``max(ceil(models / (workers * TASKS_PER_WORKER)), min(MIN_TASK_MODELS,
    ceil(models / workers)))`` models; a larger one is cut into near-equal consecutive parts, in order.
    A model's numbers do not depend on the chunk it trains in, so cutting changes no result.

    >>> t = Task("train", "g", tuple(("k", s, {}) for s in range(5)))
    >>> [[m[1] for m in part.models] for part in spread([t], 2)]
    [[0, 1, 2], [3, 4]]
    >>> spread([t], 1) == [t]
    True
    >>> big = Task("train", "g", tuple(("k", s, {}) for s in range(10_000)))
    >>> parts = spread([big], 2)
    >>> len(parts), max(len(p.models) for p in parts)
    (32, 313)
    """
    models = sum(len(t.models) for t in tasks)
    workers = max(1, workers)
    share = max(math.ceil(models / (workers * TASKS_PER_WORKER)), min(MIN_TASK_MODELS, math.ceil(models / workers)))
    share = max(1, share)
    out = []
    for task in tasks:
        n = len(task.models)
        if n <= share:
            out.append(task)
            continue
        parts = math.ceil(n / share)
        bounds = [-(-k * n // parts) for k in range(parts + 1)]  # ceil: the larger parts first
        out += [replace(task, models=task.models[a:b]) for a, b in itertools.pairwise(bounds)]
    return out


def makespan(seconds: Sequence[float], workers: int) -> float:
    """The wall time of tasks of these durations on ``workers`` workers, longest first to the least-loaded one.

    >>> makespan([4.0, 3.0, 3.0, 2.0], 2)
    6.0
    """
    loads = [0.0] * max(1, min(workers, len(seconds)))
    for s in sorted(seconds, reverse=True):
        heapq.heapreplace(loads, loads[0] + s)
    return max(loads) if seconds else 0.0


@dataclass
class Plan:
    """What running a grid takes: its cells, models, ensembles (``groups``) and tasks; the peak bytes of the
    largest task (``task_bytes``, None when unknown); each task's estimated seconds (``task_seconds``, None
    when unknown) and how they were estimated (``estimate``)."""

    grid: Grid
    memory_bytes: int
    workers: int
    tasks: list[Task]
    groups: int
    task_bytes: int | None
    memory_note: str
    task_seconds: list[float] | None = None
    estimate: str = ""
    calibrations: list[Calibration] = field(default_factory=list)  # the rates measured for the time estimate
    models_per_task: int = 0  # the most models in one task

    @property
    def cells(self) -> int:
        return len(self.grid.cells)

    @property
    def models(self) -> int:
        return len(self.grid.models)

    @property
    def memory_all(self) -> int | None:
        """Peak bytes of all workers together: the largest task on each busy worker."""
        if self.task_bytes is None:
            return None
        return self.task_bytes * max(1, min(self.workers, len(self.tasks)))

    def seconds(self, workers: int | None = None) -> float | None:
        """The estimated wall time of every task on ``workers`` workers (the plan's own by default), or None."""
        if self.task_seconds is None:
            return None
        n = self.workers if workers is None else check_int(workers, "workers", "Plan.seconds", low=1)
        return makespan(self.task_seconds, n)

    def lines(self) -> list[str]:
        """What ``initlab sweep plan`` prints: a few lines on size, memory and time."""
        g = self.grid
        seeds = f" x {len(g.seeds)} seeds" if g.per_model else " (each run whole)"
        models = f" = {self.models} models" if g.per_model else ""
        out = [f"{g.source}: {g.experiment}, {self.cells} cells{seeds}{models}"]
        if g.per_model:
            out.append(f"ensembles: {self.groups} (models that train together); tasks: {len(self.tasks)} of at most "
                       f"{self.models_per_task} models, for a budget of {format_bytes(self.memory_bytes)} per "
                       "task")  # fmt: skip
        else:
            out.append(f"tasks: {len(self.tasks)}, one per cell")
        workers = f"{self.workers} worker" + ("s" if self.workers != 1 else "")
        if self.task_bytes is None:
            out.append(f"memory: unknown ({self.memory_note})")
        else:
            out.append(f"memory: about {format_bytes(self.task_bytes)} per worker ({self.memory_note}), "
                       f"{format_bytes(self.memory_all or 0)} in all on {workers}")  # fmt: skip
        total = self.seconds()
        if total is None:
            out.append(f"time: unknown ({self.estimate})")
        else:
            out.append(f"time: about {format_duration(total)} on {workers} (an estimate: {self.estimate})")
        return out


def _memory(grid: Grid, tasks: list[Task]) -> tuple[int | None, str]:
    """Peak bytes of the largest task, and how it was found."""
    if not tasks:
        return 0, "nothing to run"
    module = grid.module
    if grid.per_model:
        best, note = 0, ""
        for task in tasks:
            cfg = grid.config(grid.cell(task.models[0][0]))
            data = _data_bytes(cfg.dataset) if hasattr(cfg, "dataset") else 0
            size = len(task.models) * int(module.model_bytes(cfg)) + data
            if size > best:
                best = size
                note = (f"the largest task: {len(task.models)} models x {format_bytes(module.model_bytes(cfg))} "
                        f"+ the data, {format_bytes(data)}")  # fmt: skip
        return best, note
    if grid.experiment not in EXPERIMENTS:
        return None, f"{grid.experiment} has no memory estimate"
    best = max(peak_bytes(grid.experiment, grid.config(grid.cell(t.models[0][0]))) for t in tasks)
    return best, "the largest cell's peak_bytes"


@dataclass(frozen=True)
class Calibration:
    """A rate measured on this machine for one ensemble: multiply-adds per second of training steps (``rate``),
    the fixed seconds per model of a task beyond them (``overhead``: configs, data, the start), and the run that
    measured it (``models`` trained for 1 and for ``steps`` steps)."""

    group: str
    rate: float
    overhead: float
    models: int
    steps: int

    def seconds(self, cost: float, models: int) -> float:
        """The estimated seconds of a task of ``models`` models costing ``cost`` multiply-adds in all."""
        return cost / self.rate + self.overhead * models


def measure_rate(grid: Grid, task: Task) -> Calibration:
    """Time ``task``'s ensemble (at most four of its models) as a worker runs it (:func:`run_task`: one BLAS
    thread), for one step and for more steps, until the difference takes :data:`CALIBRATION_SECONDS`: the rate
    is the multiply-adds of the extra steps over their seconds."""
    from ._executors import run_task

    module = grid.module
    base = task.models[: min(_CALIBRATION_MODELS, len(task.models))]
    full = int(base[0][2]["steps"])

    def timed(steps: int) -> tuple[float, float]:
        short = Task(task.experiment, task.group, tuple((k, s, {**c, "steps": steps}) for k, s, c in base))
        start = time.perf_counter()
        rows = run_task(short)
        elapsed = time.perf_counter() - start
        failed = [r.error for r in rows if r.status == "failed"]
        if failed:
            raise InitlabValueError(f"The calibration run of {task.group} failed: {failed[0]}")
        cost = sum(float(module.model_cost(module.Config(**{**c, "steps": steps}))) for _, _, c in base)
        return cost, elapsed

    timed(1)  # untimed: loads the data and compiles the kernel where one is used
    cost1, t1 = timed(1)
    steps = min(full, 5)
    while True:
        cost, elapsed = timed(steps)
        if elapsed - t1 >= CALIBRATION_SECONDS or steps >= full:
            break
        steps = min(full, steps * max(2, math.ceil(1.5 * CALIBRATION_SECONDS / max(elapsed - t1, 1e-3))))
    if steps > 1 and elapsed > t1:
        rate = (cost - cost1) / (elapsed - t1)
        overhead = max(0.0, t1 - cost1 / rate) / len(base)
    else:  # one step only, or timings too noisy to tell the steps from the fixed work
        rate, overhead = cost / elapsed, 0.0
    return Calibration(task.group, rate, overhead, len(base), steps)


def _estimate(grid: Grid, tasks: list[Task]) -> tuple[list[float], list[Calibration], str]:
    """Each task's seconds from rates measured on the first ensemble and on the costliest one; every other
    ensemble takes the rate of the measured one nearest in multiply-adds per model and step."""
    module = grid.module
    cost = {c.key: float(module.model_cost(grid.config(c))) for c in grid.cells}  # the seed changes no cost
    size: dict[str, float] = {}  # multiply-adds per model and step, by ensemble
    total: dict[str, float] = {}
    for t in tasks:
        key = t.models[0][0]
        size.setdefault(t.group, cost[key] / max(1, int(grid.config(grid.cell(key)).steps)))
        total[t.group] = total.get(t.group, 0.0) + sum(cost[k] for k, _, _ in t.models)
    costliest = max(total, key=lambda g: total[g])
    first = {t.group: t for t in reversed(tasks)}  # each ensemble's first task
    measured = [measure_rate(grid, first[g]) for g in dict.fromkeys([tasks[0].group, costliest])]

    def rate_of(group: str) -> Calibration:
        return min(measured, key=lambda c: abs(math.log(size[c.group] / size[group])))

    seconds = [rate_of(t.group).seconds(sum(cost[k] for k, _, _ in t.models), len(t.models)) for t in tasks]
    labels = ["the first ensemble", "the costliest"]
    rates = ", and of ".join(
        f"{label}, {c.rate / 1e9:.2g} G/s plus {c.overhead:.2g} s per model"
        for label, c in zip(labels, measured, strict=False)
    )
    others = "" if len(total) <= len(measured) else "; the other ensembles take the rate of the nearest in size"
    sentence = (
        f"model_cost's multiply-adds at the rates measured on this machine by short runs (one BLAS thread) of "
        f"{rates}{others}"
    )
    return seconds, measured, sentence


def plan(grid: Grid, *, memory_bytes: int, workers: int, calibrate: bool = True) -> Plan:
    """The plan of every model of ``grid``: tasks sized to ``memory_bytes``, memory and time on ``workers``.

    The time of a per-model experiment is ``model_cost`` (multiply-adds) over a rate measured by a short
    calibration run (``calibrate``); whole-run experiments have no cost model, so their time is unknown.

    >>> from initlab.sweep import parse_grid
    >>> grid = parse_grid('experiment = "depth"\\n[axes]\\nwidth = [4, 8]')
    >>> plan(grid, memory_bytes=2**28, workers=2).lines()[1:2]
    ['tasks: 2, one per cell']
    """
    memory_bytes = check_int(memory_bytes, "memory_bytes", "plan", low=1)
    workers = check_int(workers, "workers", "plan", low=1)
    tasks = spread(make_tasks(grid, grid.models, memory_bytes), workers)  # as run_sweep cuts them
    task_bytes, note = _memory(grid, tasks)
    out = Plan(grid=grid, memory_bytes=memory_bytes, workers=workers, tasks=tasks,
               groups=len({t.group for t in tasks}), task_bytes=task_bytes, memory_note=note,
               models_per_task=max((len(t.models) for t in tasks), default=0))  # fmt: skip
    if not grid.per_model:
        out.estimate = f"no cost model for whole runs of {grid.experiment}"
    elif not calibrate:
        out.estimate = "no calibration run"
    elif tasks:
        out.task_seconds, out.calibrations, out.estimate = _estimate(grid, tasks)
    return out
