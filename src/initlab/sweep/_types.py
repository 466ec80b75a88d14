"""The sweep's shared records: a grid cell, a task (what one worker trains at once) and a result row.

A *cell* is one point of the grid: every declared setting of the experiment, with its
canonical key.  A *model* is a cell and a seed.  Experiments that train one model per seed
(``train``) are grouped into ensembles; any other experiment is run whole, once per cell,
under the seed :data:`WHOLE_RUN`.  Every model ends as exactly one row of :data:`STATUSES`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["STATUSES", "WHOLE_RUN", "Cell", "Row", "Task"]

#: how a model ends: trained (``done``), its loss stopped being finite (``diverged``, with the step), or its
#: code raised (``failed``, with the error)
STATUSES = ("done", "diverged", "failed")
#: the seed of a row that holds a whole experiment run (an experiment without one model per seed)
WHOLE_RUN = -1


@dataclass(frozen=True)
class Cell:
    """One point of a grid.

    ``config`` holds every declared setting of the experiment (defaults written out), JSON-able
    (tuples as lists); ``key`` is the canonical key of ``(experiment, config)``: the same
    settings give the same key however the grid wrote them.  ``axes`` is this cell's value of
    each axis of the grid, in the grid's axis order (template axes included).
    """

    key: str
    config: dict[str, Any]
    axes: dict[str, Any]


@dataclass(frozen=True)
class Task:
    """What one worker runs at once: models that train as one ensemble (or one whole run).

    ``models`` is ``(cell key, seed, config)`` per model; ``group`` names the ensemble they share.
    """

    experiment: str
    group: str
    models: tuple[tuple[str, int, dict[str, Any]], ...]

    @property
    def id(self) -> str:
        """A stable name of the task: its group and its first model."""
        key, seed, _ = self.models[0]
        return f"{self.group}:{key}:{seed}:{len(self.models)}"


@dataclass(frozen=True)
class Row:
    """One model's result, as the journal keeps it.

    ``metrics`` maps a metric name to a float or a list of floats (a curve); non-finite
    values are kept as they are.  ``diverged_at`` is the step where the loss stopped being
    finite (``diverged`` only); ``error`` the one-line error of a ``failed`` model.
    """

    cell: str
    seed: int
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    diverged_at: int | None = None
    error: str | None = None
    seconds: float = 0.0
    worker: str = ""
