"""Reading a grid file: the TOML text checked whole against the experiment's declared settings, then expanded.

Every problem the checks can find is collected (one line each, naming the grid key at fault)
and raised at once as a :class:`~initlab.sweep.GridError`: unknown keys, experiments and
settings (with the closest name), wrong types, empty or malformed axes (``linspace``,
``logspace``, ``range``), axes given twice, zip groups of unequal lengths, template
placeholders without an axis and template axes without a placeholder, seeds, the
``[report]`` table, cells whose settings do not go together, and the cell limit.
"""

from __future__ import annotations

import itertools
import json
import math
import numbers
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .._validation import InitlabError, InitlabTypeError, InitlabValueError, closest, shown
from ..experiments import Setting, declared
from ._types import WHOLE_RUN, Cell

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with tomli, the stdlib module's original
    import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]

from ._grid import (
    CELL_LIMIT,
    MAX_SEED,
    SWEEP_SEEDS,
    Axis,
    Grid,
    GridError,
    canonical,
    cell_key,
    experiment_module,
    experiment_names,
)

__all__ = ["load_grid", "parse_grid"]

_TOP = ("experiment", "seeds", "settings", "axes", "zip", "report")
_FORMS = ("linspace", "logspace", "range")
_REPORT = ("x", "y", "metric", "theory")
_THEORY = ("activation", "sigma_b2")
_CHECK_ERRORS = (InitlabError, ValueError, TypeError, OverflowError)


def load_grid(path: str | Path, *, yes: bool = False) -> Grid:
    """The grid in the TOML file at ``path`` (see :func:`parse_grid`)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise GridError([f"{source}: cannot read the grid file: {exc.strerror or exc}."]) from None
    except UnicodeDecodeError as exc:
        raise GridError([f"{source}: the grid file must be UTF-8 text: {exc.reason} at byte {exc.start}."]) from None
    return parse_grid(text, source, yes=yes)


def parse_grid(text: str, source: str = "<grid>", *, yes: bool = False) -> Grid:
    """The grid that the TOML ``text`` describes, every problem in it reported at once as one :class:`GridError`.

    ``source`` names the file in the messages; ``yes`` allows more than :data:`CELL_LIMIT` cells.

    >>> grid = parse_grid('experiment = "train"\\nseeds = 2\\n[axes]\\ndepth = [1, 2]\\nlr = {logspace = [0.01, 1, 3]}')
    >>> [c.axes for c in grid.cells][:4]
    [{'depth': 1, 'lr': 0.01}, {'depth': 1, 'lr': 0.1}, {'depth': 1, 'lr': 1.0}, {'depth': 2, 'lr': 0.01}]
    >>> len(grid.models), grid.seeds
    (12, (0, 1))
    """
    if not isinstance(text, str):
        raise InitlabTypeError(f"The 'text' argument of parse_grid must be a string (TOML). Got {shown(text)} instead.")
    if not isinstance(source, str):
        raise InitlabTypeError(f"The 'source' argument of parse_grid must be a string. Got {shown(source)} instead.")
    return _Parser(text, source, bool(yes)).grid()


# --- the parser ------------------------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _snap(x: float) -> float:
    """``x``, or the 12-digit decimal within 4 ulps of it: ``0.001`` for the 0.0010000000000000002 that floating
    point makes of ``10 ** -3``, while ``4 / 3`` stays ``1.3333333333333333``."""
    short = float(f"{x:.12g}")
    return short if abs(short - x) <= 4 * math.ulp(x) else x


def _template_text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


@dataclass
class _Template:
    """A string setting with ``{name}`` placeholders: its text (or texts, for a tuple setting) and the names."""

    texts: tuple[str, ...]
    names: tuple[str, ...]
    is_list: bool
    broken: bool = False  # a placeholder error was reported


class _Parser:
    """One pass over a grid file, collecting every problem it finds."""

    def __init__(self, text: str, source: str, yes: bool) -> None:
        self.text, self.source, self.yes = text, source, yes
        self.problems: list[str] = []
        self.module: ModuleType | None = None
        self.declared: dict[str, Setting] = {}
        self.where = ""
        self.axis_names: list[str] = []  # every axis the grid names, valid or not
        self.fixed_names: set[str] = set()  # every key of [settings], valid or not
        self.used_names: set[str] = set()  # every name a placeholder uses, valid or not
        self.configs: dict[str, Any] = {}  # cell key -> the Config built when checking the cell

    def bad(self, key: str, message: str) -> None:
        self.problems.append(f"{self.source}: {key}: {message}" if key else f"{self.source}: {message}")

    def _check(self, s: Setting, value: Any) -> tuple[bool, Any]:
        try:
            return True, s.check(value, self.where)
        except _CHECK_ERRORS as exc:
            return False, str(exc).splitlines()[0] if str(exc) else type(exc).__name__

    def grid(self) -> Grid:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise GridError([f"{self.source}: not valid TOML: {str(exc).splitlines()[0]}"]) from None
        for key in data:
            if key not in _TOP:
                near = closest(key, _TOP)
                hint = f" Did you mean {near!r}?" if near else ""
                self.bad(key, f"unknown key: a grid has {', '.join(_TOP)}. Got {key!r} instead.{hint}")
        name = self._experiment(data)
        per_model = self.module is not None and hasattr(self.module, "train_models")
        seeds = self._seeds(data.get("seeds"), per_model) if self.module is not None else ()
        fixed, templates = self._settings(data.get("settings", {}), per_model)
        groups = self._axes(data, per_model, fixed, templates)
        names = self.axis_names
        for setting_name, t in templates.items():
            for n in t.names:
                if n not in names:
                    near = closest(n, names)
                    hint = f" Did you mean {near!r}?" if near else ""
                    self.bad(f"settings.{setting_name}", f"the placeholder {{{n}}} names no axis of the grid "
                             f"(axes: {', '.join(names) or 'none'}).{hint}")  # fmt: skip
        report = self._report(data.get("report", {}), names)
        cells: tuple[Cell, ...] = ()
        if not self.problems and self.module is not None:
            cells = self._cells(groups, fixed, templates, per_model)
        if self.problems:
            raise GridError(self.problems)
        grid = Grid(experiment=name, source=self.source, text=self.text, seeds=seeds,
                    axes=tuple(a for g in groups for a in g), settings=dict(data.get("settings", {})),
                    report=report, cells=cells)  # fmt: skip
        grid._configs.update(self.configs)
        return grid

    def _experiment(self, data: dict[str, Any]) -> str:
        if "experiment" not in data:
            listed = ", ".join(repr(n) for n in experiment_names())
            self.bad("experiment", f"missing: a grid names its experiment, one of {listed}.")
            return ""
        try:
            self.module = experiment_module(data["experiment"])
        except InitlabValueError as exc:
            self.bad("experiment", str(exc))
            return ""
        self.declared = {s.name: s for s in declared(self.module.Config)}
        self.where = self.module.Config.EXPERIMENT
        return str(data["experiment"])

    def _seeds(self, value: Any, per_model: bool) -> tuple[int, ...]:
        if not per_model:
            if value is not None:
                own = " (its own 'seeds' setting, in [settings] or [axes])" if "seeds" in self.declared else ""
                self.bad("seeds", f"{self.where} runs whole, once per cell: give its seeds as a setting{own}, not "
                         f"as the grid's model seeds. Got seeds = {shown(value)}.")  # fmt: skip
            return (WHOLE_RUN,)
        if value is None:
            return (0,)
        accepted = (f"an int n >= 1 (seeds 0 to n-1) or a non-empty list of distinct ints >= 0 and <= {MAX_SEED}. "
                    f"Got {shown(value)} instead.")  # fmt: skip
        if _is_int(value):
            if value < 1 or value > MAX_SEED + 1:
                self.bad("seeds", f"must be {accepted}")
                return ()
            if value > CELL_LIMIT and not self.yes:
                self.bad("seeds", f"{value} seeds per cell is more than {CELL_LIMIT}: pass --yes (yes=True) to run "
                         "that many.")  # fmt: skip
                return ()
            return tuple(range(int(value)))
        ints = isinstance(value, list) and value and all(_is_int(v) and 0 <= v <= MAX_SEED for v in value)
        if ints and len(set(value)) == len(value):
            return tuple(int(v) for v in value)
        self.bad("seeds", f"must be {accepted}")
        return ()

    def _settings(self, table: Any, per_model: bool) -> tuple[dict[str, Any], dict[str, _Template]]:
        fixed: dict[str, Any] = {}
        templates: dict[str, _Template] = {}
        if not isinstance(table, dict):
            self.bad("settings", f"must be a table of setting = value. Got {shown(table)} instead.")
            return fixed, templates
        self.fixed_names = set(table)
        for key, value in table.items():
            where = f"settings.{key}"
            t = self._template(where, value)  # first: an axis its placeholders use is used, even if the key is bad
            if self.module is not None and not self._known(where, key, per_model):
                continue
            if t is not None:
                if t.broken:
                    continue
                if t.names:
                    templates[key] = t
                    if key in self.declared and self.declared[key].item != "str":
                        kind = self.declared[key].type
                        self.bad(where, f"placeholders fill string settings only; {key!r} is {kind}.")
                    continue
            if self.module is not None:
                ok, out = self._check(self.declared[key], value)
                if ok:
                    fixed[key] = out
                else:
                    self.bad(where, out)
        return fixed, templates

    def _known(self, where: str, key: str, per_model: bool) -> bool:
        """Whether ``key`` is a setting a grid may give (reporting why not)."""
        if key not in self.declared:
            near = closest(key, self.declared)
            hint = f" Did you mean {near!r}?" if near else ""
            self.bad(where, f"the settings of {self.where} are: {', '.join(self.declared)}. Got {key!r} instead.{hint}")
            return False
        if per_model and key in SWEEP_SEEDS:
            self.bad(where, f"the sweep sets each model's seed of {self.where} itself: give the model seeds as the "
                     "grid's top-level `seeds = n` or `seeds = [...]` instead.")  # fmt: skip
            return False
        return True

    def _template(self, where: str, value: Any) -> _Template | None:
        """The placeholders of a string (or list of strings) value; None when it holds no string."""
        is_list = isinstance(value, list)
        texts = value if is_list else [value]
        if not texts or not all(isinstance(t, str) for t in texts):
            return None
        names: list[str] = []
        for text in texts:
            try:
                parts = list(string.Formatter().parse(text))
            except ValueError as exc:
                self.bad(where, f"a template must write literal braces as {{{{ and }}}}: {exc}. Got {shown(text)}.")
                return _Template(tuple(texts), (), is_list, broken=True)
            for _, name, spec, conversion in parts:
                if name is None:
                    continue
                if name.isidentifier():
                    self.used_names.add(name)
                if not name.isidentifier() or conversion or "{" in (spec or ""):
                    self.bad(where, f"a placeholder must be {{name}} or {{name:format}} with name an axis. Got "
                             f"{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} in "
                             f"{shown(text)}.")  # fmt: skip
                    return _Template(tuple(texts), (), is_list, broken=True)
                if name not in names:
                    names.append(name)
        return _Template(tuple(texts), tuple(names), is_list)

    def _values(self, where: str, value: Any) -> list[Any] | None:
        """An axis's values from a list or a ``{linspace|logspace|range = [...]}`` table (None: reported)."""
        if isinstance(value, list):
            if not value:
                self.bad(where, "has no values: an axis needs at least one.")
                return None
            return value
        forms = ", ".join(f"{{{f} = [...]}}" for f in _FORMS)
        if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in _FORMS:
            self.bad(where, f"must be a list of values or a table with one of {forms}. Got {shown(value)} instead.")
            return None
        form, args = next(iter(value.items()))
        if form == "range":
            if not (isinstance(args, list) and len(args) == 3 and all(_is_int(a) for a in args)) or args[2] == 0:
                self.bad(where, f"range must be [start, stop, step]: three ints, step not 0 (stop excluded). Got "
                         f"{shown(args)} instead.")  # fmt: skip
                return None
            r = range(*args)
            if not r:
                self.bad(where, f"range {args} has no values: an axis needs at least one.")
                return None
            if len(r) > CELL_LIMIT and not self.yes:
                self.bad(where, f"range {args} has {len(r)} values, more than {CELL_LIMIT} cells: pass --yes "
                         "(yes=True) to run that many.")  # fmt: skip
                return None
            return list(r)
        ok = isinstance(args, list) and len(args) == 3 and all(_is_number(a) for a in args[:2]) and _is_int(args[2])
        ok = ok and all(math.isfinite(a) for a in args[:2]) and args[2] >= 1
        if ok and form == "logspace":
            ok = args[0] > 0 and args[1] > 0
        if not ok:
            ends = "finite numbers" if form == "linspace" else "numbers > 0"
            self.bad(where, f"{form} must be [first, last, n]: the ends {ends} (both included), n an int >= 1. Got "
                     f"{shown(args)} instead.")  # fmt: skip
            return None
        a, b, n = float(args[0]), float(args[1]), int(args[2])
        if n > CELL_LIMIT and not self.yes:
            self.bad(where, f"{form} of {n} values is more than {CELL_LIMIT} cells: pass --yes (yes=True) to run "
                     "that many.")  # fmt: skip
            return None
        if n == 1:
            return [a]
        if form == "linspace":
            inner = [_snap(a + (b - a) * i / (n - 1)) for i in range(1, n - 1)]
        else:
            la, lb = math.log10(a), math.log10(b)
            inner = [_snap(10 ** (la + (lb - la) * i / (n - 1))) for i in range(1, n - 1)]
        return [a, *inner, b]

    def _axis(self, where: str, name: str, raw: list[Any], per_model: bool, fixed: dict[str, Any],
              templates: dict[str, _Template]) -> tuple[Any, ...] | None:  # fmt: skip
        """An axis's values checked against its setting (or as template values); None when reported."""
        if self.module is not None and name in self.declared:
            if not self._known(where, name, per_model):
                return None
            if name in self.fixed_names:
                self.bad(where, f"{name!r} is both a fixed setting ([settings]) and an axis: give it once.")
                return None
            out: list[Any] = []
            failed: list[str] = []
            for v in raw:
                ok, checked = self._check(self.declared[name], v)
                (out if ok else failed).append(checked)
            if failed:
                more = f" ({len(failed)} of {len(raw)} values fail)" if len(failed) > 1 else ""
                self.bad(where, failed[0] + more)
                return None
            return tuple(out)
        used = name in self.used_names
        if self.module is not None and not used:
            near = closest(name, self.declared)
            hint = f" Did you mean {near!r}?" if near else ""
            self.bad(where, f"not a setting of {self.where} ({', '.join(self.declared)}) and no {{{name}}} "
                     f"placeholder in a [settings] string uses it.{hint}")  # fmt: skip
            return None
        bad = [v for v in raw if not isinstance(v, (str, int, float)) or isinstance(v, bool)]
        if bad:
            self.bad(where, f"a template axis takes numbers or strings. Got {shown(bad[0])} instead.")
            return None
        return tuple(raw)

    def _axes(self, data: dict[str, Any], per_model: bool, fixed: dict[str, Any],
              templates: dict[str, _Template]) -> list[list[Axis]]:  # fmt: skip
        """The axis groups in product order: each ``[axes]`` entry alone, then each zip group."""
        groups: list[list[Axis]] = []
        seen: dict[str, str] = {}
        table = data.get("axes", {})
        if not isinstance(table, dict):
            self.bad("axes", f"must be a table of axis = values. Got {shown(table)} instead.")
            table = {}
        zips = data.get("zip", [])
        if not isinstance(zips, list) or not all(isinstance(z, dict) for z in zips):
            self.bad("zip", f"must be [[zip]] tables of axis = values. Got {shown(zips)} instead.")
            zips = []
        entries = [(f"axes.{k}", k, v, -1) for k, v in table.items()]
        entries += [(f"zip[{i}].{k}", k, v, i) for i, z in enumerate(zips) for k, v in z.items()]
        zipped: dict[int, list[Axis]] = {i: [] for i in range(len(zips))}
        for where, name, value, group in entries:
            if name in seen:
                self.bad(where, f"the axis {name!r} is also given as {seen[name]}: give each axis once.")
                continue
            seen[name] = where
            self.axis_names.append(name)
            raw = self._values(where, value)
            values = None if raw is None else self._axis(where, name, raw, per_model, fixed, templates)
            if values is None:
                continue
            is_setting = self.module is not None and name in self.declared
            axis = Axis(name, values, is_setting)
            if group < 0:
                self._distinct(where, [(v,) for v in values], name)
                groups.append([axis])
            else:
                zipped[group].append(axis)
        for i, z in enumerate(zips):
            axes = zipped[i]
            if not z:
                self.bad(f"zip[{i}]", "has no axes: a zip group varies two or more axes together.")
                continue
            if len(axes) != len(z):
                continue  # an axis of the group was reported
            lengths = {a.name: len(a.values) for a in axes}
            if len(set(lengths.values())) > 1:
                shown_lengths = ", ".join(f"{k}: {n}" for k, n in lengths.items())
                self.bad(f"zip[{i}]", f"the axes of a zip group must have equal lengths. Got {shown_lengths}.")
                continue
            self._distinct(f"zip[{i}]", list(zip(*(a.values for a in axes), strict=True)), ", ".join(lengths))
            names = tuple(a.name for a in axes)
            groups.append([Axis(a.name, a.values, a.setting, tuple(n for n in names if n != a.name)) for a in axes])
        return groups

    def _distinct(self, where: str, rows: list[tuple[Any, ...]], what: str) -> None:
        keys = [json.dumps(canonical([(type(v).__name__, v) if not isinstance(v, tuple) else v for v in r]))
                for r in rows]  # fmt: skip
        for i, k in enumerate(keys):
            if k in keys[:i]:
                self.bad(where, f"the value {shown(rows[i][0] if len(rows[i]) == 1 else rows[i])} of {what} is given "
                         "twice: each value once.")  # fmt: skip
                return

    def _report(self, table: Any, axes: list[str]) -> dict[str, Any]:
        if not isinstance(table, dict):
            self.bad("report", f"must be a table with x, y, metric and theory. Got {shown(table)} instead.")
            return {}
        for key, value in table.items():
            where = f"report.{key}"
            if key not in _REPORT:
                near = closest(key, _REPORT)
                hint = f" Did you mean {near!r}?" if near else ""
                self.bad(where, f"unknown key: [report] has {', '.join(_REPORT)}. Got {key!r} instead.{hint}")
            elif key in ("x", "y") and (not isinstance(value, str) or value not in axes):
                near = closest(value, axes) if isinstance(value, str) else None
                hint = f" Did you mean {near!r}?" if near else ""
                self.bad(where, f"must name an axis of the grid ({', '.join(axes) or 'none'}). Got {shown(value)} "
                         f"instead.{hint}")  # fmt: skip
            elif key == "metric" and (not isinstance(value, str) or not value):
                self.bad(where, f"must be the name of a metric of the results (a string). Got {shown(value)} instead.")
            elif key == "theory":
                self._theory(value)
        if "theory" in table and not ("x" in table and "y" in table):
            self.bad("report.theory", "needs report.x (the axis of sigma_w2) and report.y (the depth axis).")
        return dict(table)

    def _theory(self, value: Any) -> None:
        accepted = 'a table {activation = "tanh", sigma_b2 = 0.05}: an activation name and sigma_b2 a number >= 0'
        ok = isinstance(value, dict) and set(value) == set(_THEORY)
        ok = ok and isinstance(value["activation"], str) and _is_number(value["sigma_b2"])
        if not ok or not math.isfinite(value["sigma_b2"]) or value["sigma_b2"] < 0:
            self.bad("report.theory", f"must be {accepted}. Got {shown(value)} instead.")

    def _cells(self, groups: list[list[Axis]], fixed: dict[str, Any], templates: dict[str, _Template],
               per_model: bool) -> tuple[Cell, ...]:  # fmt: skip
        assert self.module is not None
        count = math.prod(len(g[0].values) for g in groups)
        if count > CELL_LIMIT and not self.yes:
            self.bad("axes", f"the grid has {count} cells, more than {CELL_LIMIT}: pass --yes (yes=True) to run "
                     "them all.")  # fmt: skip
            return ()
        base = {s.name: s.default for s in self.declared.values()} | fixed
        if per_model:
            base |= {k: v for k, v in (("seed", 0), ("seeds", 1)) if k in self.declared}
        cells: list[Cell] = []
        first: tuple[dict[str, Any], str] | None = None
        failures = 0
        where_key: dict[str, int] = {}
        for combo in itertools.product(*(range(len(g[0].values)) for g in groups)):
            axes = {a.name: a.values[i] for g, i in zip(groups, combo, strict=True) for a in g}
            values = base | {k: v for k, v in axes.items() if k in self.declared}
            error = None
            for key, t in templates.items():
                try:
                    filled = [_fill(text, axes) for text in t.texts]
                except _CHECK_ERRORS as exc:
                    error = f"the template of settings.{key} cannot be filled: {exc}"
                    break
                ok, out = self._check(self.declared[key], filled if t.is_list else filled[0])
                if not ok:
                    error = out
                    break
                values[key] = out
            cfg = None
            if error is None:
                try:
                    cfg = self.module.Config(**values)
                except _CHECK_ERRORS as exc:
                    error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            shown_axes = canonical(axes)
            if cfg is None:
                failures += 1
                first = first or (shown_axes, str(error))
                continue
            config = canonical({s: getattr(cfg, s) for s in self.declared})
            if per_model and config.get("compare"):
                self.bad("settings.compare", f"each model of a {self.where} sweep trains one start: make the weights "
                         "an axis instead of comparing two starts in one model.")  # fmt: skip
                return ()
            key = cell_key(self.where, config)
            if key in where_key:
                self.bad("axes", f"two cells have the same settings ({cells[where_key[key]].axes} and {shown_axes}): "
                         "every cell must differ in a setting.")  # fmt: skip
                return ()
            where_key[key] = len(cells)
            cells.append(Cell(key=key, config=config, axes=shown_axes))
            self.configs[key] = cfg
        if first is not None:
            axes_text = ", ".join(f"{k} = {shown(v)}" for k, v in first[0].items())
            self.bad("axes", f"{failures} of {count} cells are not valid settings of {self.where}; the first "
                     f"({axes_text}): {first[1]}")  # fmt: skip
        return tuple(cells)


def _fill(text: str, axes: Mapping[str, Any]) -> str:
    """``text`` with each ``{name}`` replaced by the axis value (``repr`` for floats, ``str`` otherwise)."""
    out = []
    for literal, name, spec, _ in string.Formatter().parse(text):
        out.append(literal)
        if name is not None:
            value = axes[name]
            out.append(format(value, spec) if spec else _template_text(value))
    return "".join(out)
