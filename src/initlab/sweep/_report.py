"""One self-contained HTML page of a sweep: heat maps of a metric over two axes, loss curves, counts, the grid.

``build_report`` turns a grid's cells and the journal's rows into the page (a Jinja2
template, autoescaped, every figure an inlined PNG); ``write_report`` reads a sweep folder's
journal and writes ``report.html`` there atomically.  What each square of a heat map shows:
the mean of the metric over the models of the square that trained to the end (``done``),
with notes on the models that diverged, failed or have not run yet; a square where every
model diverged is hatched and marked ``div``, one where they failed ``fail``, and one with
no result yet is left blank with a dash.  Non-finite numbers are data: they are drawn, not
dropped.  The figures are drawn by ``_report_figures`` (matplotlib, imported when a page is built) from
the squares of ``_report_data``.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..results import render_template, write_text_atomic
from ._report_data import MAX_PANELS, _axis, _choose, _Square, _squares, _Sweep, _text
from ._report_figures import _curves, _heat_maps, _line
from ._types import WHOLE_RUN, Cell, Row

if TYPE_CHECKING:
    from ._grid import Grid

__all__ = ["MAX_PANELS", "build_report", "write_report"]

_FAILED_SHOWN = 10  # failed models whose errors the page lists


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
