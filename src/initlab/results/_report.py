"""One self-contained HTML report from saved run folders: a Jinja2 template, autoescaped, figures inlined.

Per experiment, read like a lesson: the question, the answer with its tables beside
it, the figures, the claims checked on the numbers, the models that diverged, and the
command that reproduces the run.  Everything shown comes from the saved
:class:`Result` as data; every string is escaped by the template engine.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._validation import InitlabValueError
from .._version import __version__
from ._result import Result
from ._store import FILES, _locked, _read, write_text_atomic

__all__ = ["render_template", "write_report"]


def _cell(value: Any) -> str:
    """A table cell: numbers to three significant digits, non-finite values spelled out."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.3g}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    non_finite = {"nan", "inf", "-inf"}  # how config.json spells the floats JSON has no word for
    rows = [{k: float(v) if isinstance(v, str) and v in non_finite else v for k, v in r.items()} for r in rows]
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    numeric = {c for c in columns if all(_is_number(r.get(c)) for r in rows if c in r)}
    body = [[(_cell(r.get(c)), c in numeric) for c in columns] for r in rows]
    return {"columns": columns, "rows": body}


def _section(result: Result, figures: dict[str, bytes], part: str = "") -> dict[str, Any]:
    models = [r for r in result.rows if r["metric"] == "diverged_at"]
    gone = [
        {**{k: v for k, v in d.items() if k not in ("model", "diverged_at", "last_finite_loss")},
         "diverged at step": d["diverged_at"], "last finite loss": d["last_finite_loss"]}
        for d in result.diverged()
    ]  # fmt: skip
    return {
        "name": result.name,
        "part": part,
        "question": result.question,
        "answer": result.answer,
        "tables": {title: _table(rows) for title, rows in result.tables.items() if rows},
        "figures": [
            {"name": n.replace("_", " "), "data": base64.b64encode(d).decode("ascii")} for n, d in figures.items()
        ],
        "claims": [{"claim": c, "held": held} for c, held in result.claims.items()],
        "diverged": _table(gone) if gone else None,
        "diverged_count": len(gone),
        "divergence_models": len(models),
        "command": result.command,
    }


def render_template(package: str, name: str, **context: Any) -> str:
    """The jinja2 template ``name`` of ``package``'s ``templates`` folder, with ``context`` and ``version``.

    Every HTML page of initlab is rendered here, with the same policy: autoescaped, and an
    undefined name in a template is an error rather than an empty string.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader(package, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template(name).render(version=__version__, **context)


def _render(sections: list[dict[str, Any]]) -> str:
    return render_template("initlab.results", "report.html.j2", sections=sections)


def _run_folders(root: Path) -> list[Path]:
    """The run folders in ``root``: visible subfolders holding any of a run's files (hidden ones are work)."""
    return [
        p
        for p in sorted(root.iterdir())
        if not p.name.startswith(".") and p.is_dir() and any((p / f).exists() for f in FILES)
    ]


def write_report(
    folder: str | Path, *, order: Sequence[str] = (), parts: Sequence[tuple[str, Sequence[str]]] = ()
) -> Path:
    """Write ``folder/report.html`` from the run folders saved in ``folder``; returns its path.

    ``order`` names the experiments in the order they are shown; when it is given, a run
    of any other experiment is an error.  ``parts`` does the same in titled parts
    (``[("The lecture", [...]), ("The papers", [...])]``): each part's runs under its title,
    in its order (give ``order`` or ``parts``, not both).  Every run folder is read whole
    before anything is written: a damaged one raises :class:`~initlab.InitlabValueError`
    naming its file, and no report is written.
    """
    if order and parts:
        raise InitlabValueError("write_report takes 'order' or 'parts', not both. Got both.")
    part_of = {name: title for title, names in parts for name in names}
    order = [name for _, names in parts for name in names] if parts else order
    root = Path(folder)
    if not root.is_dir():
        what = "which is a file" if root.exists() else "which does not exist"
        raise InitlabValueError(
            f"The 'folder' argument of write_report must be a folder of saved results. Got {str(folder)!r}, {what}."
        )
    order = list(order)
    with _locked(root, shared=True):
        runs = [_read(p) for p in _run_folders(root)]
    if not runs:
        raise InitlabValueError(
            f"The 'folder' argument of write_report must be a folder of saved results. Got {str(folder)!r}, which "
            f"holds no run folder (a subfolder with {', '.join(FILES)})."
        )
    if order:
        for result, _ in runs:
            if result.name not in order:
                raise InitlabValueError(
                    f"The results file {str(root / result.name / 'config.json')!r} is that of an unknown experiment "
                    f"{result.name!r}; the report shows {', '.join(order)}."
                )
        runs.sort(key=lambda run: order.index(run[0].name))
    page = _render([_section(result, figures, part_of.get(result.name, "")) for result, figures in runs])
    return write_text_atomic(root / "report.html", page)
