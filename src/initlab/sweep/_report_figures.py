"""The sweep report's figures: heat maps with diverged and failed squares drawn as such, the theory's
critical line and 6 xi_c over them, a line for a one-axis grid, and the loss curves with their seed bands.

Each figure is a dict for the page's template (title, inlined PNG, the table of its numbers).
matplotlib is imported here only, when a figure is drawn.
"""

from __future__ import annotations

import base64
import io
import json
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..results import PALETTE
from ._report_data import MAX_PANELS, _Axis, _axis, _is_number, _key, _Square, _squares, _Sweep, _text, _varied

__all__: list[str] = []

_CURVE_PANELS = 4  # loss-curve panels, one per value of y, when y has at most this many values; else its extremes
_TEXT_SQUARES = 400  # a heat map with more squares than this shows no text in them (the table under it does)
_DIV, _FAIL = "#D55E00", "#777777"  # vermillion hatching for diverged squares, grey for failed ones

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
