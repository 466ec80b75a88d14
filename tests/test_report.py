"""The report: every figure embedded, every user string escaped, a command that reproduces each run."""

from __future__ import annotations

import io
import re
from pathlib import Path

from initlab.cli import main

SMALL = {
    "symmetry": ["--set", "widths=2,4", "--set", "steps=150", "--seeds", "1"],
    "bias-vs-weights": ["--set", "steps=200", "--set", "record_every=50", "--seeds", "1", "--set", "activations=relu"],
    "scale": ["--set", "scales=0,0.01,100", "--set", "steps=200", "--seeds", "1"],
    "depth": ["--set", "schemes=0.01 * randn,he", "--set", "activations=tanh", "--set", "width=40", "--set",
              "max_depth=12", "--set", "steps=20", "--seeds", "1"],
    "course": ["--set", "steps=300", "--set", "seeds=3"],
}  # fmt: skip


def test_report_embeds_every_figure(tmp_path: Path) -> None:
    for name, extra in SMALL.items():
        assert main(["run", name, *extra, "--out", str(tmp_path)], out=io.StringIO(), err=io.StringIO()) == 0, name
    out = io.StringIO()
    assert main(["report", str(tmp_path)], out=out, err=io.StringIO()) == 0
    page = (tmp_path / "report.html").read_text()
    pngs = sorted(tmp_path.glob("*/*.png"))
    assert len(pngs) >= 7 and all(p.with_suffix(".svg").exists() for p in pngs)
    assert page.count("<img ") == len(pngs) == len(re.findall(r"src='data:image/png;base64,", page))
    for name in SMALL:
        assert f"<h2 id='{name}'>" in page
    command = re.search(r"Reproduce: <code>(initlab run depth[^<]*)</code>", page).group(1)  # escaped for HTML
    for part in (
        "--set &#x27;schemes=0.01 * randn,he&#x27;",
        "--set &#x27;width=40&#x27;",
        "--set &#x27;seeds=1&#x27;",
    ):
        assert part in command
    assert "<script" not in page


def test_report_escapes_strings_from_results(tmp_path: Path) -> None:
    from initlab.results import Result, save, write_report

    evil = Result("symmetry", {"widths": [2]}, [{"model": 0, "step": 0, "layer": 1, "metric": "m", "value": 1.0}],
                  claims={"<script>alert(1)</script>": True}, answer="a < b & c")  # fmt: skip
    save(evil, tmp_path)
    page = write_report(tmp_path).read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &lt; b &amp; c" in page


def test_report_of_a_missing_folder_exits_2(tmp_path: Path) -> None:
    err = io.StringIO()
    assert main(["report", str(tmp_path / "nope")], out=io.StringIO(), err=err) == 2
    assert "DIR must be a folder of saved results" in err.getvalue()
