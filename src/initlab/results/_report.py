"""One self-contained HTML report from saved experiment results (figures inlined, nothing to serve).

Per experiment: the question, the figures, the claims checked on the numbers, any
summary table, the answer in words, and the exact command that reproduces the run.
Every string that comes from a result is escaped.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from pathlib import Path
from typing import Any

from .._version import __version__
from ._result import Result
from ._store import load

__all__ = ["command_for", "write_report"]

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
table { border-collapse: collapse; margin: 0.8em 0; } td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; }
.ok { color: #176b2c; } .no { color: #a11; } code { background: #f4f4f4; padding: 0.1em 0.3em; }
.question { color: #444; white-space: pre-wrap; }
"""


def command_for(result: Result) -> str:
    """The ``initlab run`` command that reproduces ``result`` (only the settings that differ from the defaults)."""
    from ..experiments import EXPERIMENTS  # temporary upward import, removed when Result carries its question

    module = EXPERIMENTS[result.name]
    parts = [f"initlab run {result.name}"]
    for f in dataclasses.fields(module.Config):
        default = getattr(module.Config(), f.name)
        value = result.config.get(f.name, default)
        as_list = list(value) if isinstance(value, (list, tuple)) else value
        if as_list != (list(default) if isinstance(default, tuple) else default):
            text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
            parts.append(f"--set '{f.name}={text}'")
    return " ".join(parts)


def _question(result: Result) -> str:
    """The experiment's docstring's first two paragraphs, as plain text (RST literals unquoted, lines joined)."""
    from ..experiments import EXPERIMENTS

    doc = (EXPERIMENTS[result.name].__doc__ or "").strip().replace("``", "")
    return "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n")[:2])


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(result: Result, folder: Path) -> str:
    e = html.escape
    claims = "".join(
        f"<tr><td class='{'ok' if held else 'no'}'>{'yes' if held else 'NO'}</td><td>{e(claim)}</td></tr>"
        for claim, held in result.claims.items()
    )
    figures = ""
    for png in sorted(folder.glob("*.png")):
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        figures += f"<img alt='{e(png.stem)}' src='data:image/png;base64,{data}'>"
    extra = _table(result.config.get("seed_table", []))
    return (
        f"<h2 id='{e(result.name)}'>{e(result.name)}</h2>"
        f"<p class='question'>{e(_question(result))}</p>{figures}"
        f"<h3>Claims, checked on the numbers</h3><table>{claims}</table>{extra}"
        f"<h3>Answer</h3><p>{e(result.answer)}</p>"
        f"<p>Reproduce: <code>{e(command_for(result))}</code></p>"
    )


def write_report(folder: str | Path) -> Path:
    """Write ``folder/report.html`` from the experiment results saved in ``folder``'s subfolders."""
    root = Path(folder)
    runs = [(load(p), p) for p in sorted(root.iterdir()) if p.is_dir() and (p / "config.json").exists()]
    from ..experiments import EXPERIMENTS

    order = list(EXPERIMENTS)
    runs.sort(key=lambda rp: order.index(rp[0].name) if rp[0].name in order else len(order))
    toc = " · ".join(f"<a href='#{html.escape(r.name)}'>{html.escape(r.name)}</a>" for r, _ in runs)
    body = "".join(_section(r, p) for r, p in runs)
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>initlab report</title>"
        f"<style>{_STYLE}</style></head><body><h1>initlab: random initialization, run</h1>"
        f"<p>initlab {html.escape(__version__)}. {toc}</p>{body}</body></html>"
    )
    out = root / "report.html"
    tmp = root / ".report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
