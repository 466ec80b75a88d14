"""Grids: a TOML file that names an experiment and the values of each axis, checked whole before anything runs.

A grid names an experiment (one of :data:`initlab.experiments.EXPERIMENTS` or of
:data:`initlab.papers.PAPERS`), fixed values of its declared settings (``[settings]``), the
values of each axis (``[axes]``, and ``[[zip]]`` groups of axes varied together) and, for
experiments that train one model per seed, the model seeds (``seeds``).  Its cells are the
product of the axes: ``[axes]`` in file order, then each zip group as one axis, the last
varying fastest.  A string setting may hold ``{name}`` placeholders, filled in each cell from
an axis of that name (a *template axis* when the name is not itself a setting)::

    experiment = "train"
    seeds = 4
    [settings]
    weights = "variance_scaling(scale={sigma_w2}, distribution='normal')"
    [axes]
    depth = [6, 12, 24]
    sigma_w2 = {linspace = [1.0, 4.0, 10]}

:func:`~initlab.sweep.parse_grid` (in ``_grid_file``) reads the file into a :class:`Grid` of checked
cells; it finds every problem it can and raises one :class:`GridError` that lists them, one line
each, each naming the grid key at fault.  This module holds what a grid is once read: its axes,
its cells with their canonical keys, and the experiment they run.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from .. import papers
from .._validation import InitlabValueError, closest, shown
from ..experiments import EXPERIMENTS, declared
from ._types import Cell

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - Python 3.10 reads TOML with tomli, the stdlib module's original
    pass  # type: ignore[import-not-found,no-redef,unused-ignore]

__all__ = ["CELL_LIMIT", "MAX_SEED", "SWEEP_SEEDS", "Axis", "Grid", "GridError", "canonical", "cell_key",
           "experiment_module",
           "experiment_names"]  # fmt: skip

#: the most cells a grid may have without ``yes=True`` (the command line's ``--yes``): more is usually a typo
CELL_LIMIT = 10_000
#: the largest model seed (numpy seeds and the experiments' ``seed`` settings stop at 2**31 - 1)
MAX_SEED = 2**31 - 1
#: the settings a sweep controls itself in an experiment that trains one model per seed
SWEEP_SEEDS = ("seed", "seeds")


class GridError(InitlabValueError):
    """Every problem found in a grid, one line each (``str()`` joins them with newlines)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def experiment_names() -> list[str]:
    return [*EXPERIMENTS, *papers.PAPERS]


def experiment_module(name: str) -> ModuleType:
    """The module of an experiment (``initlab.experiments.EXPERIMENTS``) or a paper (``initlab.papers.PAPERS``).

    >>> experiment_module("train").Config.EXPERIMENT, experiment_module("he2015").Config.EXPERIMENT
    ('train', 'he2015')
    """
    if isinstance(name, str) and name in EXPERIMENTS:
        return EXPERIMENTS[name]
    if isinstance(name, str) and name in papers.PAPERS:
        return papers.get(name)
    near = closest(name, experiment_names()) if isinstance(name, str) else None
    hint = f" Did you mean {near!r}?" if near else ""
    listed = ", ".join(repr(n) for n in experiment_names())
    raise InitlabValueError(
        f"The 'experiment' of a grid must be one of {listed} (an experiment or a paper). Got {shown(name)} "
        f"instead.{hint}"
    )


def canonical(value: Any) -> Any:
    """``value`` as JSON-able data: tuples (and lists) as lists, mappings as dicts with str keys, the rest as is.

    >>> canonical({"depths": (2, 4), "lr": 0.1})
    {'depths': [2, 4], 'lr': 0.1}
    """
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [canonical(v) for v in value]
    return value


def cell_key(experiment: str, config: Mapping[str, Any]) -> str:
    """The canonical key of a cell: the first 16 hex digits of the sha256 of its experiment and config as JSON.

    Keys are sorted and floats written as Python's ``repr``, so the same settings give the same key
    however they were written:

    >>> cell_key("train", {"lr": 1e-3, "depth": 2}) == cell_key("train", {"depth": 2, "lr": 0.001})
    True
    >>> len(cell_key("train", {"lr": 0.001}))
    16
    """
    text = json.dumps({"experiment": experiment, "config": canonical(config)}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Axis:
    """One axis of a grid: its values (checked and normalized), whether it is a declared setting (else a template
    axis, only used in ``{name}`` placeholders), and the other axes of its zip group (``()`` when not zipped)."""

    name: str
    values: tuple[Any, ...]
    setting: bool
    zipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Grid:
    """A checked grid: the experiment, where the grid came from and its text, the model seeds, the axes, the fixed
    settings as the file gave them, the ``[report]`` table and the cells (the product of the axes).

    ``seeds`` holds the model seeds of an experiment that trains one model per seed (``train``), and
    ``(WHOLE_RUN,)`` for any other experiment (run whole, once per cell).
    """

    experiment: str
    source: str
    text: str
    seeds: tuple[int, ...]
    axes: tuple[Axis, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    cells: tuple[Cell, ...] = ()
    _configs: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def module(self) -> ModuleType:
        """The experiment's module (its ``Config`` and ``run``, and ``train_models`` when it trains per model)."""
        return experiment_module(self.experiment)

    @property
    def per_model(self) -> bool:
        """Whether the experiment trains one model per seed (its module has ``train_models``)."""
        return hasattr(self.module, "train_models")

    @property
    def models(self) -> list[tuple[str, int]]:
        """Every model of the grid as ``(cell key, seed)``: cells in grid order, then seeds."""
        return [(c.key, s) for c in self.cells for s in self.seeds]

    @functools.cached_property
    def _by_key(self) -> dict[str, Cell]:
        return {c.key: c for c in self.cells}

    def cell(self, key: str) -> Cell:
        """The cell with this key."""
        try:
            return self._by_key[key]
        except KeyError:
            raise InitlabValueError(
                f"The 'key' argument of Grid.cell must be the key of a cell of {self.source}. Got {shown(key)} instead."
            ) from None

    def config(self, cell: Cell) -> Any:
        """The experiment's ``Config`` of a cell (this grid's cells keep the one built when the grid was checked:
        a Config is frozen)."""
        own = self._by_key.get(cell.key) is cell
        if own and cell.key in self._configs:
            return self._configs[cell.key]
        cfg = self.module.Config(**cell.config)
        if own:
            self._configs[cell.key] = cfg
        return cfg

    def model_config(self, cell: Cell, seed: int) -> Any:
        """The ``Config`` of one model of a cell: the cell's, with ``seed`` (experiments trained per model only)."""
        if not self.per_model:
            raise InitlabValueError(
                f"The experiment {self.experiment!r} runs whole, once per cell: it has no per-model configs. "
                f"Got model_config(cell, {shown(seed)}) instead."
            )
        cfg = self.config(cell)
        seeds = {s.name: s for s in declared(type(cfg))}
        out = copy.copy(cfg)  # the seed enters no check between settings: set it without drawing the start again
        object.__setattr__(out, "seed", seeds["seed"].check(seed, cfg.EXPERIMENT))
        return out
