"""The report: one file built from a template with autoescaping, each experiment read as a lesson from its
Result as data, every figure inlined, and nothing written from a results folder that could not be read whole."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from initlab import InitlabValueError
from initlab.results import Result, save, write_report

EVIL = "<script>alert(1)</script>"


def lesson(name: str, **overrides: Any) -> Result:
    rows: list[dict[str, Any]] = []
    for m, init in enumerate(["zeros", "randn"]):
        described = {"model": m, "init": init, "seed": 0, "width": 4}
        for step in (0, 50, 99):
            rows.append({**described, "layer": 1, "step": step, "metric": "distinct_units", "value": 1 + 3 * m})
            rows.append({**described, "layer": 0, "step": step, "metric": "loss", "value": 0.7 - 0.001 * step * m})
        rows.append({**described, "layer": 0, "step": 99, "metric": "diverged_at", "value": 42 if m else -1})
        rows.append({**described, "layer": 0, "step": 99, "metric": "last_finite_loss", "value": 0.65})
    fields: dict[str, Any] = {
        "question": f"What does {name} show?",
        "answer": f"The answer of {name}, in two sentences. With its numbers in the table.",
        "tables": {"Units after training": [{"init": "zeros", "distinct units": 1, "loss": 0.6931},
                                            {"init": "randn", "distinct units": 4, "loss": float("nan")}]},
        "command": f"initlab run {name} --set 'steps=99'",
        "claims": {"zeros keep one unit": True, "a claim the numbers refute": False},
    }  # fmt: skip
    fields.update(overrides)
    return Result(name, {"steps": 99}, rows, {"loss": np.zeros((3, 2))}, **fields)


def test_the_report_reads_as_a_lesson_per_experiment(tmp_path: Path) -> None:
    for name in ("course", "symmetry"):
        save(lesson(name), tmp_path)
    page = write_report(tmp_path, order=["symmetry", "course"]).read_text(encoding="utf-8")
    assert page.index('<section id="symmetry">') < page.index('<section id="course">')  # the caller's order
    section = page[page.index('<section id="symmetry">') : page.index('<section id="course">')]
    parts = ["What does symmetry show?", "The answer of symmetry", "Units after training", "<td class=\"num\">0.693</td>",
             "<td class=\"num\">NaN</td>", "<img ", "zeros keep one unit", "does not hold",
             "Diverged: 1 of 2 models", "<td class=\"num\">42</td>", "initlab run symmetry --set &#39;steps=99&#39;"]  # fmt: skip
    positions = [section.index(p) for p in parts]  # question, answer and table, figures, claims, divergence, command
    assert positions == sorted(positions)
    pngs = sorted(tmp_path.glob("*/*.png"))
    inlined = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(pngs) == 3 and sorted(base64.b64decode(d) for d in inlined) == sorted(p.read_bytes() for p in pngs)
    assert "http" not in page.replace("http-equiv", "")  # one file: nothing fetched


def test_parts_title_their_runs_in_their_order(tmp_path: Path) -> None:
    for name in ("course", "symmetry", "train"):
        save(lesson(name), tmp_path)
    page = write_report(tmp_path, parts=[("The lecture", ["symmetry", "train"]), ("Papers", ["glorot2010", "course"])]
                        ).read_text(encoding="utf-8")  # fmt: skip
    heads = [page.index(p) for p in ('<h1 class="part" id="part-1">The lecture</h1>', '<section id="symmetry">',
                                     '<section id="train">', '<h1 class="part" id="part-3">Papers</h1>',
                                     '<section id="course">')]  # fmt: skip
    assert heads == sorted(heads) and page.count('<h1 class="part"') == 2  # a part with no run saved: no title
    with pytest.raises(InitlabValueError, match="unknown experiment 'train'; the report shows symmetry, course"):
        write_report(tmp_path, parts=[("A", ["symmetry"]), ("B", ["course"])])
    with pytest.raises(InitlabValueError, match="takes 'order' or 'parts', not both"):
        write_report(tmp_path, order=["symmetry"], parts=[("A", ["symmetry"])])


def test_hostile_strings_are_escaped(tmp_path: Path) -> None:
    save(lesson("symmetry", question=EVIL, answer=f"a < b & {EVIL}", command=f"initlab run {EVIL}",
                claims={EVIL: True}, tables={EVIL: [{EVIL: EVIL, "x": '"><img src=x onerror=alert(1)>'}]}),
         tmp_path)  # fmt: skip
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert "<script" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 7 and "a &lt; b &amp; " in page


def test_results_does_not_import_experiments(tmp_path: Path) -> None:
    save(lesson("symmetry"), tmp_path)
    code = ("import sys; from initlab.results import write_report; write_report(sys.argv[1]);"
            "print('initlab.experiments' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_template_ships_inside_the_package() -> None:
    from importlib.resources import files

    template = files("initlab.results").joinpath("templates", "report.html.j2")
    assert template.is_file() and "{{ s.question }}" in template.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------------ damage


def _set_json(key: str, value: Any) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        meta = json.loads((folder / "config.json").read_text())
        meta[key] = value
        (folder / "config.json").write_text(json.dumps(meta))

    return damage


def _truncate(name: str, keep: float) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: int(len(data) * keep)])

    return damage


def _npy_bytes() -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    return buffer.getvalue()


def _flip_png_byte(folder: Path) -> None:
    data = bytearray((folder / "symmetry.png").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the image data
    (folder / "symmetry.png").write_bytes(bytes(data))


DAMAGE: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "invalid json": (lambda f: (f / "config.json").write_text("{'experiment': 1"), "config.json",
                     r"is not valid JSON \(line 1, column 2"),
    "json list": (lambda f: (f / "config.json").write_text("[1, 2]"), "config.json", "must hold a JSON object"),
    "claims not booleans": (_set_json("claims", {"a": "yes"}), "config.json", "'claims' as an object of claim"),
    "tables not rows": (_set_json("tables", {"t": [1, 2]}), "config.json", "the table 't' as a list of rows"),
    "question not text": (_set_json("question", ["x"]), "config.json", "'question' as text; it holds list"),
    "no experiment": (_set_json("experiment", 3), "config.json", "'experiment' as a name; it holds int"),
    "renamed folder": (_set_json("experiment", "scale"), "config.json", "experiment 'scale', but its folder"),
    "config.json not utf-8": (lambda f: (f / "config.json").write_bytes(b'{"a": "\xff"}'), "config.json",
                              r"is not UTF-8 text \(byte 0xff at offset 7\)"),
    "rows.csv not utf-8": (lambda f: (f / "rows.csv").write_bytes(b"model,value\n\xfe,1\n"), "rows.csv",
                           "is not UTF-8 text"),
    "rows.csv ragged": (lambda f: (f / "rows.csv").write_text("model,value\n1,2,3\n"), "rows.csv",
                        "a row of the wrong length on line 2"),
    "rows.csv without metric": (lambda f: (f / "rows.csv").write_text("model,step,layer,value\n1,2,3,4\n"),
                                "rows.csv", "has no 'metric' on line 2"),
    "rows.csv bad number": (lambda f: (f / "rows.csv").write_text("model,value\nx,2\n"), "rows.csv",
                            "'x' in the int column 'model' on line 2"),
    "answer.txt not utf-8": (lambda f: (f / "answer.txt").write_bytes(b"\xc3("), "answer.txt", "is not UTF-8"),
    "truncated npz": (_truncate("arrays.npz", 0.6), "arrays.npz", "is truncated or damaged"),
    "npy, not npz": (lambda f: (f / "arrays.npz").write_bytes(_npy_bytes()), "arrays.npz",
                     r"is not an \.npz archive\.$"),
    "truncated png": (_truncate("symmetry.png", 0.7), "symmetry.png", "is truncated"),
    "png without end": (_truncate("symmetry.png", 0.9999), "symmetry.png", "is truncated"),
    "png bit flip": (_flip_png_byte, "symmetry.png", r"is damaged \(the CRC of its 'IDAT' chunk"),
    "not a png": (lambda f: (f / "symmetry.png").write_text("hello"), "symmetry.png", "is not a PNG image"),
    "truncated svg": (_truncate("symmetry.svg", 0.5), "symmetry.svg", "does not end with </svg>"),
    "missing npz": (lambda f: (f / "arrays.npz").unlink(), "", "it lacks arrays.npz"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_results_raise_one_line_naming_the_file_and_write_no_report(tmp_path: Path, case: str) -> None:
    save(lesson("course"), tmp_path)
    folder = save(lesson("symmetry"), tmp_path)
    write_report(tmp_path)
    before = (tmp_path / "report.html").read_bytes()
    damage, file, what = DAMAGE[case]
    damage(folder)
    with pytest.raises(InitlabValueError) as info:
        write_report(tmp_path)
    message = str(info.value)
    assert "\n" not in message and str(folder / file) in message and re.search(what, message), message
    assert (tmp_path / "report.html").read_bytes() == before  # the report of the whole folder is kept
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []


def test_an_experiment_not_in_order_is_an_error(tmp_path: Path) -> None:
    save(lesson("symmetry"), tmp_path)
    save(lesson("sweep"), tmp_path)
    with pytest.raises(InitlabValueError, match=r"sweep/config\.json' is that of an unknown experiment 'sweep'; the "
                                                r"report shows symmetry, scale\.$"):  # fmt: skip
        write_report(tmp_path, order=["symmetry", "scale"])
    assert not (tmp_path / "report.html").exists()
    assert write_report(tmp_path).exists()  # without an order every run is shown, by name


def test_leftovers_and_user_folders_are_not_read_as_runs(tmp_path: Path) -> None:
    save(lesson("symmetry"), tmp_path)
    (tmp_path / ".symmetry.initlab-tmp-0123456789abcdef").mkdir()  # a killed save's working folder
    (tmp_path / ".symmetry.initlab-tmp-0123456789abcdef" / "config.json").write_text("{")
    (tmp_path / "my notes").mkdir()
    (tmp_path / "my notes" / "todo.txt").write_text("read the report")
    page = write_report(tmp_path, order=["symmetry"]).read_text(encoding="utf-8")
    assert page.count("<section ") == 1


@pytest.mark.parametrize("kind", ["empty", "missing", "file"])
def test_a_folder_without_runs_is_an_error(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "results"
    if kind == "empty":
        folder.mkdir()
    elif kind == "file":
        folder.write_text("x")
    expected = {"empty": "which holds no run folder", "missing": "which does not exist", "file": "which is a file"}[
        kind
    ]
    with pytest.raises(InitlabValueError, match=rf"^The 'folder' argument of write_report must be a folder of saved "
                                                rf"results\. Got '{re.escape(str(folder))}', {expected}"):  # fmt: skip
        write_report(folder)
    assert not (folder / "report.html").exists()


def test_every_experiment_is_reported_from_a_real_run(tmp_path: Path) -> None:
    from initlab.experiments import EXPERIMENTS, LECTURE, make_config

    small = {
        "symmetry": {"widths": "2,4", "steps": "60", "seeds": "1"},
        "bias-vs-weights": {"steps": "60", "record_every": "20", "seeds": "1", "activations": "relu"},
        "scale": {"scales": "0,0.01,100", "steps": "60", "seeds": "1"},
        "depth": {"schemes": "0.01 * randn,he", "activations": "tanh", "width": "20", "max_depth": "10", "layers": "4",
                  "steps": "10", "seeds": "1"},
        "course": {"steps": "60", "seeds": "3"},
    }  # fmt: skip
    for name, settings in small.items():
        save(EXPERIMENTS[name].run(make_config(name, settings)), tmp_path)
    page = write_report(tmp_path, order=list(EXPERIMENTS)).read_text(encoding="utf-8")
    assert re.findall(r'<section id="([^"]+)">', page) == list(LECTURE)
    assert page.count("<img ") == len(list(tmp_path.glob("*/*.png"))) >= 10
