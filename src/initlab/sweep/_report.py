"""One self-contained HTML page of a sweep: heat maps of a metric over two axes, loss curves, counts, the grid.

``build_report`` turns a grid's cells and the journal's rows into the page (a Jinja2
template, autoescaped, every figure an inlined PNG); ``write_report`` reads a sweep folder's
journal and writes ``report.html`` there atomically.  What each square of a heat map shows:
the mean of the metric over the models of the square that trained to the end (``done``),
with notes on the models that diverged, failed or have not run yet; a square where every
model diverged is hatched and marked ``div``, one where they failed ``fail``, and one with
no result yet is left blank with a dash.  Non-finite numbers are data: they are drawn, not
dropped.  matplotlib is imported only here, when a page is built.
"""

from __future__ import annotations

import base64
import io
import json
import math
import platform
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validation import InitlabValueError, check_choice
from .._version import __version__
from ..results import PALETTE, render_template, write_text_atomic
from ._types import WHOLE_RUN, Cell, Row

if TYPE_CHECKING:
    from ._grid import Grid

__all__ = ["MAX_PANELS", "build_report", "write_report"]

#: at most this many heat maps, one per combination of the remaining axes' values; beyond, they are averaged over
MAX_PANELS = 12
_CURVE_PANELS = 4  # loss-curve panels, one per value of y, when y has at most this many values; else its extremes
_FAILED_SHOWN = 10  # failed models whose errors the page lists
_TEXT_SQUARES = 400  # a heat map with more squares than this shows no text in them (the table under it does)
_WHOLE_METRICS = ("all_claims_hold", "claims_held", "claims_total")
_MODEL_METRICS = ("train_accuracy", "test_accuracy", "final_loss", "min_loss", "last_finite_loss")
_DIV, _FAIL = "#D55E00", "#777777"  # vermillion hatching for diverged squares, grey for failed ones


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


# -------------------------------------------------------------------------------------------------------- figures


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def _style(plt: Any) -> Iterator[None]:
    from cycler import cycler

    rc = {"axes.prop_cycle": cycler(color=PALETTE), "axes.spines.top": False, "axes.spines.right": False,
          "font.size": 9, "legend.frameon": False, "hatch.linewidth": 1.2}  # fmt: skip
    with plt.rc_context(rc), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        yield


def _png(plt: Any, fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _format(metric: str) -> str:
    """Two decimals for shares (accuracies, claims that hold), else three significant digits."""
    share = metric.endswith("accuracy") or metric == "all_claims_hold" or metric.startswith("claim: ")
    return ".2f" if share else ".3g"


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


def _panels(sweep: _Sweep, x: str, y: str | None) -> tuple[list[str], list[tuple[str, ...]], bool]:
    """The remaining axes that split the heat maps into panels, their value combinations, and whether there were
    more than :data:`MAX_PANELS` (then there is one panel, averaged over them).  An axis whose value follows from
    the square's (a partner of x or y in a ``[[zip]]``) splits nothing."""
    rest = []
    for a in _varied(sweep):
        if a in (x, y):
            continue
        per_square: dict[tuple[str, str], set[str]] = {}
        for c in sweep.cells:
            per_square.setdefault((_key(c.axes[x]), _key(c.axes[y]) if y else ""), set()).add(_key(c.axes[a]))
        if any(len(v) > 1 for v in per_square.values()):
            rest.append(a)
    combos = list(dict.fromkeys(tuple(_key(c.axes[a]) for a in rest) for c in sweep.cells))
    if len(combos) > MAX_PANELS:
        return rest, [()], True
    return rest, combos, False


@dataclass(frozen=True)
class _Theory:
    """The mean-field overlay: the critical sigma_w2 and ``6 xi_c`` at sigma_w2 values across the x axis."""

    activation: str
    sigma_b2: float
    critical: float
    sigma_w2: np.ndarray
    xi_c: np.ndarray


def _theory(xa: _Axis, spec: dict[str, Any]) -> _Theory:
    """``xi_c`` by Gauss-Hermite quadrature (100 nodes, or 300 where ``q*`` is too large for 100; NaN where
    neither resolves it) at 60 sigma_w2 values across the axis and a few around the critical value."""
    from ..theory import QuadratureWarning, critical_sigma_w2, depth_scales

    act, sb2 = str(spec["activation"]), float(spec["sigma_b2"])
    crit = float(critical_sigma_w2(sb2, act))
    lo, hi = float(xa.edges[0]), float(xa.edges[-1])
    sws = np.unique(np.concatenate([np.linspace(lo, hi, 60), crit * (1 + np.linspace(-0.02, 0.02, 9))]))
    sws = sws[(sws >= lo) & (sws <= hi) & (sws > 0)]
    xi = np.full(sws.shape, np.nan)
    for i, sw in enumerate(sws):
        for nodes in (100, 300):
            with warnings.catch_warnings():
                warnings.simplefilter("error", QuadratureWarning)
                try:
                    xi[i] = depth_scales(act, float(sw), sb2, nodes=nodes)[1]
                    break
                except QuadratureWarning:
                    continue
    return _Theory(act, sb2, crit, sws, xi)


def _draw_theory(ax: Any, th: _Theory, xa: _Axis, ya: _Axis) -> None:
    bottom, top = ya.edges[0], ya.edges[-1]
    depth = np.clip(6 * th.xi_c, bottom, top)  # infinite at the critical point: drawn at the top edge
    ax.plot(th.sigma_w2, depth, "-", color=PALETTE[1], lw=2.2, zorder=4,
            label=f"L = 6 xi_c ({th.activation}, sigma_b2 = {th.sigma_b2:g})")  # fmt: skip
    if xa.edges[0] <= th.critical <= xa.edges[-1]:
        ax.axvline(th.critical, color=PALETTE[2], ls=":", lw=2, zorder=4,
                   label=f"critical sigma_w2 = {th.critical:.3g}")  # fmt: skip
    ax.set_ylim(bottom, top)
    ax.set_xlim(xa.edges[0], xa.edges[-1])


def _set_axis(ax: Any, which: str, a: _Axis) -> None:
    """Scale, limits, a tick per value and the axis's name as the label."""
    if a.log:
        getattr(ax, f"set_{which}scale")("log")
    getattr(ax, f"set_{which}lim")(a.edges[0], a.edges[-1])
    rotation = 30 if which == "x" and not a.numeric else 0
    getattr(ax, f"set_{which}ticks")(a.centres, a.labels, fontsize=7, rotation=rotation)
    getattr(ax, f"set_{which}label")(a.name)
    ax.minorticks_off()


def _draw_square(ax: Any, sq: _Square, box: tuple[float, float, float, float], at: tuple[float, float], fmt: str,
                 shade: float, fontsize: int) -> None:  # fmt: skip
    """The hatching of a square without a done model (``//`` diverged, ``xx`` failed) and its text (none when
    ``fontsize`` is 0: too many squares to read; the page's table has them)."""
    from matplotlib.patches import Rectangle

    x0, x1, y0, y1 = box
    if sq.state in ("div", "fail", "mixed"):
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="white", lw=0, zorder=2,
                               edgecolor=_FAIL if sq.state == "fail" else _DIV,
                               hatch="xx" if sq.state == "fail" else "//"))  # fmt: skip
    if not fontsize:
        return
    boxed = sq.state not in ("value", "missing")  # a white box keeps the label readable over the hatching
    ax.text(*at, sq.label(fmt), ha="center", va="center", fontsize=fontsize, zorder=3,
            color="white" if sq.state == "value" and shade < 0.55 else "black",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6, "alpha": 0.85} if boxed else None)  # fmt: skip


def _where(axes: Sequence[str], keys: Sequence[str]) -> str:
    """``depth = 12, sigma_w2 = 1.5`` from the axes and their values' keys (as :func:`_key` wrote them)."""
    return ", ".join(f"{a} = {_text(json.loads(k))}" for a, k in zip(axes, keys, strict=True))


def _norm(values: list[float], fmt: str) -> Any:
    """The colour scale: 0 to 1 for shares, log for positive values over more than two decades, else linear."""
    from matplotlib.colors import LogNorm, Normalize

    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if fmt == ".2f":
        return Normalize(0.0, 1.0)
    if lo > 0 and hi / lo > 100:
        return LogNorm(lo, hi)
    return Normalize(lo, hi if hi > lo else lo + 1.0)


def _heat_maps(sweep: _Sweep, x: str, y: str, metric: str, theory: dict[str, Any] | None) -> dict[str, Any]:
    """The heat maps of ``metric`` over ``x`` and ``y``, one per combination of the other axes' values."""
    plt = _plt()
    xa, ya = _axis(sweep, x), _axis(sweep, y)
    rest, combos, averaged = _panels(sweep, x, y)
    by = (x, y) if averaged else (*rest, x, y)
    squares = _squares(sweep, metric, by)
    every = [sq.value for sq in squares.values() if sq.values]
    fmt = _format(metric)
    norm = _norm(every, fmt)
    th = _theory(xa, theory) if theory is not None else None
    cols = min(len(combos), 3)
    nrows = -(-len(combos) // cols)
    width, height = max(3.6, 0.62 * len(xa.values) + 1.8), max(2.8, 0.42 * len(ya.values) + 1.4)
    squares_per_panel = len(xa.values) * len(ya.values)
    fontsize = 7 if squares_per_panel <= 64 else 5 if squares_per_panel <= _TEXT_SQUARES else 0
    notes: list[str] = []
    tables: list[dict[str, Any]] = []  # the squares' text, as the page's table under the figure
    with _style(plt):
        fig, axes = plt.subplots(nrows, cols, figsize=(width * cols + 1.2, height * nrows + 0.6), squeeze=False,
                                 layout="constrained")  # fmt: skip
        for p, combo in enumerate(combos):
            ax = axes.flat[p]
            grid = np.full((len(ya.values), len(xa.values)), np.nan)  # (y, x); NaN: no colour
            text = [["" for _ in xa.keys] for _ in ya.keys]
            for i, xk in enumerate(xa.keys):
                for j, yk in enumerate(ya.keys):
                    sq = squares.get((*combo, xk, yk))
                    if sq is None:  # no cell here (x and y zipped together): left empty
                        continue
                    if sq.state == "value":
                        grid[j, i] = sq.value
                    text[j][i] = sq.label(fmt).replace("\n", " ")
                    box = (xa.edges[i], xa.edges[i + 1], ya.edges[j], ya.edges[j + 1])
                    shade = float(norm(sq.value)) if math.isfinite(sq.value) else 1.0
                    _draw_square(ax, sq, box, (xa.centres[i], ya.centres[j]), fmt, shade, fontsize)
                    if sq.diverged:
                        med = f", median step {int(np.median(sq.diverged_at))}" if sq.diverged_at else ""
                        notes.append(f"{_where(by, (*combo, xk, yk))}: {sq.diverged} of {sq.total} models "
                                     f"diverged{med}")  # fmt: skip
            mesh = ax.pcolormesh(xa.edges, ya.edges, np.ma.masked_invalid(grid), cmap="viridis", norm=norm,
                                 shading="flat", zorder=1)  # fmt: skip
            _set_axis(ax, "x", xa)
            _set_axis(ax, "y", ya)
            rows = [[f"{y} = {label}", *t] for label, t in zip(ya.labels, text, strict=True)][::-1]  # top row first
            tables.append({"title": _where(rest, combo) if combo else "", "columns": [f"{x} =", *xa.labels],
                           "rows": rows})  # fmt: skip
            if combo and not averaged:
                ax.set_title(_where(rest, combo), fontsize=8)
            if th is not None:
                _draw_theory(ax, th, xa, ya)
                if p == 0:
                    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
        for ax in list(axes.flat)[len(combos) :]:
            ax.set_visible(False)
        fig.colorbar(mesh, ax=axes, label=f"{metric} (mean over done models)", shrink=0.9)
        fig.suptitle(f"{sweep.experiment}: {metric} over {x} and {y}", fontsize=10)
        data = _png(plt, fig)
    caption = f"Mean {metric} over each square's models that trained to the end."
    if averaged:
        caption += f" Averaged over {', '.join(rest)} (more than {MAX_PANELS} combinations of their values)."
    elif rest:
        caption += f" One heat map per combination of {', '.join(rest)}."
    if not fontsize:
        caption += f" Too many squares ({squares_per_panel}) to write in: their numbers are in the table below."
    caption += (" Hatched 'div': every model diverged; 'fail': every model raised an error; a dash: not run yet; "
                "'k div' / 'k fail': some models of the square did; n/N: models with a result so far.")  # fmt: skip
    if th is not None:
        caption += (f" The dotted line is the critical sigma_w2 = {th.critical:.4g} of {th.activation} at sigma_b2 "
                    f"= {th.sigma_b2:g} (mean-field theory); the curve is the depth L = 6 xi_c.")  # fmt: skip
    return {"name": f"{metric} over {x} and {y}", "data": data, "caption": caption, "notes": notes,
            "averaged": averaged, "theory": th is not None, "tables": tables}  # fmt: skip


def _line(sweep: _Sweep, x: str, metric: str) -> dict[str, Any]:
    """The metric against the one axis: the mean over done models, their min-max band, diverged and failed
    points marked at the bottom edge."""
    plt = _plt()
    xa = _axis(sweep, x)
    squares = _squares(sweep, metric, (x,))
    fmt = _format(metric)
    with _style(plt):
        fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(xa.values) + 2), 3.6), layout="constrained")
        sqs = [squares.get((k,), _Square()) for k in xa.keys]
        mean = np.array([sq.value for sq in sqs])
        low = np.array([min(sq.values) if sq.values else np.nan for sq in sqs])
        high = np.array([max(sq.values) if sq.values else np.nan for sq in sqs])
        ax.fill_between(xa.centres, low, high, color=PALETTE[0], alpha=0.2, lw=0, label="min-max over models")
        ax.plot(xa.centres, mean, "o-", color=PALETTE[0], label=f"mean {metric}")
        for c, sq in zip(xa.centres, sqs, strict=True):
            ax.annotate(sq.label(fmt).replace("\n", " "), (c, 1), xycoords=("data", "axes fraction"),
                        xytext=(0, 3), textcoords="offset points", ha="center", va="bottom", fontsize=7,
                        color=_DIV if sq.diverged else _FAIL if sq.failed else "0.3")  # fmt: skip
        _set_axis(ax, "x", xa)
        ax.set_ylabel(metric)
        ax.grid(alpha=0.25)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
        ax.set_title(f"{sweep.experiment}: {metric} against {x}", fontsize=10, pad=16)
        data = _png(plt, fig)
    caption = (f"Mean {metric} over the models of each value of {x} that trained to the end, with their min-max "
               "band; the label above each value is the mean with the models that diverged ('div'), failed ('fail') "
               "or have not run yet (n/N).")  # fmt: skip
    notes = [f"{x} = {_text(v)}: {sq.diverged} of {sq.total} models diverged"
             + (f", median step {int(np.median(sq.diverged_at))}" if sq.diverged_at else "")
             for v, sq in zip(xa.values, sqs, strict=True) if sq.diverged]  # fmt: skip
    table = {"title": "", "columns": [f"{x} =", *xa.labels],
             "rows": [[metric, *(sq.label(fmt).replace("\n", " ") for sq in sqs)]]}  # fmt: skip
    return {"name": f"{metric} against {x}", "data": data, "caption": caption, "notes": notes, "averaged": False,
            "theory": False, "tables": [table]}  # fmt: skip


def _curves(sweep: _Sweep, x: str, y: str | None) -> dict[str, Any] | None:
    """The training loss against the step: one line per value of ``x`` (median over seeds and cells, min-max
    band), one panel per value of ``y`` (its two extremes when it has more than a few); None without curves."""
    done = {(r.cell, r.seed): r for r in sweep.rows if r.status == "done" and "loss_curve" in r.metrics}
    if not done:
        return None
    plt = _plt()
    xa = _axis(sweep, x)
    ya = _axis(sweep, y) if y else None
    shown = list(range(len(ya.values))) if ya and len(ya.values) <= _CURVE_PANELS else [0, -1] if ya else [0]
    colours = (list(PALETTE) if len(xa.values) <= len(PALETTE) else
               [plt.get_cmap("viridis")(t) for t in np.linspace(0, 0.92, len(xa.values))])  # fmt: skip
    with _style(plt):
        fig, axes = plt.subplots(1, len(shown), figsize=(4.4 * len(shown) + 1.6, 3.6), squeeze=False,
                                 sharey=True, layout="constrained")  # fmt: skip
        for p, j in enumerate(shown):
            ax = axes[0, p]
            for i, xk in enumerate(xa.keys):
                by_step: dict[int, list[float]] = {}
                for c in sweep.cells:
                    if _key(c.axes[x]) != xk or (ya is not None and _key(c.axes[ya.name]) != ya.keys[j]):
                        continue
                    for seed in sweep.seeds:
                        row = done.get((c.key, seed))
                        if row is not None:
                            for s, v in zip(row.metrics["curve_steps"], row.metrics["loss_curve"], strict=True):
                                if _is_number(v) and math.isfinite(v) and v > 0:
                                    by_step.setdefault(int(s), []).append(float(v))
                if not by_step:
                    continue
                steps = np.array(sorted(by_step))
                med = np.array([np.median(by_step[s]) for s in steps])
                ax.fill_between(steps, [min(by_step[s]) for s in steps], [max(by_step[s]) for s in steps],
                                color=colours[i], alpha=0.18, lw=0)  # fmt: skip
                ax.plot(steps, med, color=colours[i], label=f"{x} = {xa.labels[i]}")
            ax.set(yscale="log", xlabel="step", ylabel="training loss" if p == 0 else "")
            ax.grid(alpha=0.25)
            if ya is not None:
                ax.set_title(f"{ya.name} = {ya.labels[j]}", fontsize=9)
        handles, labels = axes[0, 0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="outside right upper", fontsize=7)
        data = _png(plt, fig)
    which = "" if ya is None or len(shown) == len(ya.values) else f" (the smallest and largest {ya.name} of " \
        f"{len(ya.values)})"  # fmt: skip
    caption = (f"Training loss of the models that trained to the end: the median over seeds and cells of each "
               f"{x} (a line) with the min-max band, one panel per {ya.name if ya else 'grid'}{which}.")  # fmt: skip
    return {"name": "loss curves", "data": data, "caption": caption, "tables": []}


# ----------------------------------------------------------------------------------------------------------- page


def _counts(sweep: _Sweep, x: str) -> list[dict[str, Any]]:
    """Done, diverged, failed and missing models: all of them, then per value of ``x``."""
    xa = _axis(sweep, x)
    by_x = _squares(sweep, "", (x,))
    every = _squares(sweep, "", ())[()] if sweep.cells else _Square()
    out = []
    for what, sq in [("all models", every), *((f"{x} = {lab}", by_x[(k,)]) for k, lab in
                                              zip(xa.keys, xa.labels, strict=True))]:  # fmt: skip
        out.append({"models": what, "expected": sq.total, "done": sq.done, "diverged": sq.diverged,
                    "failed": sq.failed, "missing": sq.missing})  # fmt: skip
    return out


def _failures(sweep: _Sweep) -> list[dict[str, Any]]:
    """The first failed models: where in the grid, the seed and the first line of the error."""
    cells = {c.key: c for c in sweep.cells}
    out: list[dict[str, Any]] = []
    for row in sweep.rows:
        if row.status == "failed" and len(out) < _FAILED_SHOWN:
            cell = cells.get(row.cell)
            where = ", ".join(f"{a} = {_text(v)}" for a, v in cell.axes.items()) if cell else row.cell
            error = (row.error or "").strip().splitlines()
            out.append({"cell": where, "seed": row.seed, "error": error[0] if error else ""})
    return out


def _versions(sweep: _Sweep) -> dict[str, str]:
    import matplotlib

    found = {"initlab": __version__, "python": platform.python_version(), "numpy": np.__version__,
             "matplotlib": matplotlib.__version__}  # fmt: skip
    ran = sweep.meta.get("versions")
    if isinstance(ran, dict):
        found |= {f"{k} (the run)": str(v) for k, v in ran.items()}
    return found


def build_report(
    grid: Grid,
    rows: Sequence[Row],
    *,
    out: str | Path = "DIR",
    x: str | None = None,
    y: str | None = None,
    metric: str | None = None,
    cells: Sequence[Cell] | None = None,
    meta: dict[str, Any] | None = None,
) -> str:
    """The HTML page of a sweep of ``grid`` (a :class:`~initlab.sweep.Grid`) with the results ``rows`` so far: one
    string, every figure inlined.

    It shows heat maps of ``metric`` over the axes ``x`` and ``y`` (or, with one axis, a line), the loss curves,
    the counts, the failed models' errors, the grid's text and the command that runs it into ``out``.  ``x``,
    ``y`` and ``metric`` default to the grid's ``[report]`` table, else the first two axes with more than one
    value and ``train_accuracy`` (``final_loss``, ``all_claims_hold``); a name that is not an axis or a metric
    raises :class:`~initlab.InitlabValueError`.  ``cells`` defaults to the grid's, ``meta`` (the journal's
    metadata) adds the versions the sweep ran under.
    """
    sweep = _Sweep(experiment=grid.experiment, axes=tuple(a.name for a in grid.axes), seeds=tuple(grid.seeds),
                   cells=tuple(grid.cells if cells is None else cells), rows=tuple(rows), report=dict(grid.report),
                   text=grid.text, source=str(grid.source), meta=dict(meta or {}))  # fmt: skip
    x, y, metric = _choose(sweep, x, y, metric)
    theory = sweep.report.get("theory")
    notes: list[str] = []
    if isinstance(theory, dict) and y is not None:
        holder, depth = sweep.report.get("x", x), sweep.report.get("y", y)
        if (x, y) != (holder, depth) or not (_axis(sweep, x).numeric and _axis(sweep, y).numeric):
            notes.append(f"The theory overlay is drawn over x = {holder} and y = {depth} (sigma_w2 and the depth) "
                         "only.")  # fmt: skip
            theory = None
    else:
        theory = None
    figures = [_heat_maps(sweep, x, y, metric, theory) if y is not None else _line(sweep, x, metric)]
    if figures[0]["averaged"]:
        notes.append(f"More than {MAX_PANELS} combinations of the other axes: the heat map averages over them.")
    curves = _curves(sweep, x, y)
    if curves is not None:
        figures.append(curves)
    done = sum(r.status == "done" for r in sweep.rows)
    return render_template(
        "initlab.sweep", "sweep_report.html.j2", experiment=sweep.experiment, metric=metric, x=x, y=y,
        figures=figures, notes=notes, diverged=figures[0]["notes"], counts=_counts(sweep, x),
        failures=_failures(sweep), text=sweep.text, source=sweep.source, out=str(out),
        command=f"initlab sweep run {sweep.source} --out {out}", versions=_versions(sweep),
        cells=len(sweep.cells), seeds=len(sweep.seeds), done=done, whole=sweep.seeds == (WHOLE_RUN,),
    )  # fmt: skip


def write_report(out: str | Path, *, x: str | None = None, y: str | None = None, metric: str | None = None) -> Path:
    """Write ``out/report.html`` from the sweep folder ``out`` (its journal and grid); returns its path.

    The page is built whole before anything is written, then written to a temporary file
    and moved over ``report.html``: a bad ``x``, ``y`` or ``metric`` raises and leaves no file.
    """
    from ._journal import open_journal

    folder = Path(out)
    with open_journal(folder) as view:
        grid = view.grid()
        cells, records = view.snapshot()
        meta = view.meta
    page = build_report(grid, [r.row for r in records], out=out, x=x, y=y, metric=metric, cells=cells, meta=meta)
    return write_text_atomic(folder / "report.html", page)
