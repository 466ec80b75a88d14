"""What a sweep report is drawn from: the grid's cells and the journal's rows, grouped into squares.

A square is the models of a group of cells (one heat-map square, one point of a line): how
many were expected, done, diverged, failed or missing, and the metric's mean over the done
ones.  An axis of the report knows its values' order, labels and whether they are numbers
(drawn on a log scale when geometric).  The default axes and metric come from the grid's
``[report]`` table, else from the axes that vary and the metrics the rows hold.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_choice
from ._types import WHOLE_RUN, Cell, Row

__all__ = ["MAX_PANELS"]

#: at most this many heat maps, one per combination of the remaining axes' values; beyond, they are averaged over
MAX_PANELS = 12
_WHOLE_METRICS = ("all_claims_hold", "claims_held", "claims_total")
_MODEL_METRICS = ("train_accuracy", "test_accuracy", "final_loss", "min_loss", "last_finite_loss")


@dataclass(frozen=True)
class _Sweep:
    """What the page is built from: the grid (its experiment, axes, seeds, [report] table and text) and results.

    ``axes`` are the grid's axis names in its order; ``seeds`` the seeds of every cell
    (``(WHOLE_RUN,)`` for an experiment run whole); ``report`` the grid's ``[report]`` table;
    ``source`` the grid file's path as given to ``sweep run``; ``meta`` the journal's
    metadata (shown as it is).
    """

    experiment: str
    axes: tuple[str, ...]
    seeds: tuple[int, ...]
    cells: tuple[Cell, ...]
    rows: tuple[Row, ...]
    report: dict[str, Any] = field(default_factory=dict)
    text: str = ""
    source: str = "GRID.toml"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Square:
    """The models of one square of a heat map (or one point of a line): counts and the done models' values."""

    values: list[float] = field(default_factory=list)
    done: int = 0
    diverged: int = 0
    failed: int = 0
    missing: int = 0
    diverged_at: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.done + self.diverged + self.failed + self.missing

    @property
    def value(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def state(self) -> str:
        """``value`` (at least one done model), ``div`` (every model run diverged), ``fail``, or ``missing``."""
        if self.done:
            return "value"
        if self.failed:
            return "fail" if not self.diverged else "mixed"
        return "div" if self.diverged else "missing"

    def label(self, fmt: str) -> str:
        """The text in the square: its value (or div, fail, a dash), then what is partly missing or broken.

        >>> print(_Square(values=[0.5, 0.7], done=2, diverged=1, missing=1).label(".2f"))
        0.60
        1 div 3/4
        >>> _Square(diverged=2, diverged_at=[3, 5]).label(".2f"), _Square(missing=2).label(".2f")
        ('div', '—')
        """
        state = self.state
        main = {"value": "n/a" if math.isnan(self.value) else format(self.value, fmt), "div": "div", "fail": "fail",
                "mixed": "div/fail", "missing": "\u2014"}[state]  # fmt: skip
        notes = []
        if self.diverged and state == "value":
            notes.append(f"{self.diverged} div")
        if self.failed and state == "value":
            notes.append(f"{self.failed} fail")
        if self.missing and state != "missing":
            notes.append(f"{self.total - self.missing}/{self.total}")
        return "\n".join([main, " ".join(notes)]) if notes else main


# ------------------------------------------------------------------------------------------- axes, values, choices


def _key(value: Any) -> str:
    """A hashable stand-in of an axis value (lists included)."""
    return json.dumps(value, sort_keys=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(value: Any) -> str:
    """An axis value as a tick label."""
    if isinstance(value, float):
        return format(value, "g")
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 28 else text[:25] + "..."


@dataclass(frozen=True)
class _Axis:
    """One axis's distinct values in drawing order (numbers sorted; anything else in grid order) and where each
    sits: ``centres`` in data units (numbers: the values, on a log scale when they are spaced geometrically;
    otherwise 0, 1, 2, ...), ``edges`` midway between them."""

    name: str
    values: tuple[Any, ...]
    numeric: bool
    log: bool

    @property
    def keys(self) -> list[str]:
        return [_key(v) for v in self.values]

    @property
    def centres(self) -> np.ndarray:
        if self.numeric:
            return np.array(self.values, dtype=np.float64)
        return np.arange(len(self.values), dtype=np.float64)

    @property
    def edges(self) -> np.ndarray:
        x = np.log(self.centres) if self.log else self.centres
        if x.size == 1:
            mids = np.array([x[0] - 0.5, x[0] + 0.5]) if not self.numeric or x[0] == 0 or self.log else (
                np.array([x[0] * 0.5, x[0] * 1.5]) if x[0] > 0 else np.array([x[0] * 1.5, x[0] * 0.5]))  # fmt: skip
        else:
            inner = (x[:-1] + x[1:]) / 2
            mids = np.concatenate([[2 * x[0] - inner[0]], inner, [2 * x[-1] - inner[-1]]])
        return np.exp(mids) if self.log else mids

    @property
    def labels(self) -> list[str]:
        return [_text(v) for v in self.values]


def _geometric(values: np.ndarray) -> bool:
    """Whether sorted positive ``values`` are closer to evenly spaced in log than in linear terms (and span 4x).

    >>> _geometric(np.array([6.0, 12.0, 24.0, 48.0])), _geometric(np.arange(1.0, 11.0))
    (True, False)
    """
    if values.size < 2 or values[0] <= 0 or values[-1] / values[0] < 4:
        return False
    if values.size == 2:
        return bool(values[-1] / values[0] >= 10)
    lin, log = np.diff(values), np.diff(np.log(values))
    return bool(np.std(log) / np.mean(log) < np.std(lin) / np.mean(lin))


def _axis(sweep: _Sweep, name: str) -> _Axis:
    seen: dict[str, Any] = {}
    for cell in sweep.cells:
        seen.setdefault(_key(cell.axes[name]), cell.axes[name])
    values = list(seen.values())
    numeric = bool(values) and all(_is_number(v) for v in values)
    if numeric:
        values.sort()
    log = numeric and _geometric(np.array(values, dtype=np.float64))
    return _Axis(name, tuple(values), numeric, log)


def _varied(sweep: _Sweep) -> list[str]:
    """The axes with more than one value, in grid order."""
    return [a for a in sweep.axes if len({_key(c.axes[a]) for c in sweep.cells}) > 1]


def _scalar(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _metrics(sweep: _Sweep) -> list[str]:
    """The metric names a heat map can show: the rows' scalar metrics, and the experiment's usual ones."""
    names: dict[str, None] = {}
    for row in sweep.rows:
        for k, v in row.metrics.items():
            if _scalar(v) is not None:
                names[k] = None
    usual = _WHOLE_METRICS if sweep.seeds == (WHOLE_RUN,) else _MODEL_METRICS
    return [*usual, *(n for n in names if n not in usual)] if not names else list(names)


def _default_metric(sweep: _Sweep, names: list[str]) -> str:
    wanted = sweep.report.get("metric")
    if isinstance(wanted, str):
        return wanted
    for name in ("train_accuracy", "final_loss", "all_claims_hold"):
        if name in names:
            return name
    return names[0] if names else "final_loss"


def _choose(sweep: _Sweep, x: str | None, y: str | None, metric: str | None) -> tuple[str, str | None, str]:
    """The x axis, the y axis (None: a line plot) and the metric, defaults filled in; bad names raise."""
    axes = list(sweep.axes)
    if not axes:
        raise InitlabValueError(f"The grid of {sweep.experiment!r} has no axis to draw. Got a grid of one cell.")
    if x is not None:
        check_choice(x, "x", axes, "sweep report")
    if y is not None:
        check_choice(y, "y", axes, "sweep report")
    names = _metrics(sweep)
    if metric is not None:
        check_choice(metric, "metric", names, "sweep report")
    else:
        metric = _default_metric(sweep, names)
        if metric not in names and any(r.metrics for r in sweep.rows):
            raise InitlabValueError(f"The [report] metric of {sweep.source} must be one of the results' metrics "
                                    f"{', '.join(map(repr, names))}. Got {metric!r} instead.")  # fmt: skip
    varied = _varied(sweep)
    wanted_x, wanted_y = sweep.report.get("x"), sweep.report.get("y")
    if x is None and wanted_x != y:  # the grid's [report] choice, unless it is the y asked for
        x = wanted_x
    if y is None and wanted_y != x:
        y = wanted_y
    if x is None:  # else the first axis with more than one value
        x = next((a for a in varied if a != y), axes[0] if axes[0] != y else None)
    if y is None:  # None: a line plot against x
        y = next((a for a in varied if a != x), None)
    if x is None or x == y:
        raise InitlabValueError(f"The 'x' and 'y' arguments of sweep report must name two different axes. Got {y!r} "
                                "for both.")  # fmt: skip
    return x, y, metric


def _squares(sweep: _Sweep, metric: str, by: Sequence[str]) -> dict[tuple[str, ...], _Square]:
    """The models grouped by their cells' values of the axes ``by``: counts and the metric of the done models."""
    found = {(r.cell, r.seed): r for r in sweep.rows}
    out: dict[tuple[str, ...], _Square] = {}
    for cell in sweep.cells:
        sq = out.setdefault(tuple(_key(cell.axes[a]) for a in by), _Square())
        for seed in sweep.seeds:
            row = found.get((cell.key, seed))
            if row is None:
                sq.missing += 1
            elif row.status == "done":
                sq.done += 1
                v = _scalar(row.metrics.get(metric))
                if v is not None and math.isfinite(v):
                    sq.values.append(v)
            elif row.status == "diverged":
                sq.diverged += 1
                if row.diverged_at is not None:
                    sq.diverged_at.append(int(row.diverged_at))
            else:
                sq.failed += 1
    return out
