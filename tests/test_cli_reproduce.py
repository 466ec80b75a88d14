"""``initlab reproduce``: the list, one paper end to end (small), and bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from initlab.cli import main
from initlab.papers import PAPERS

SMALL = ("--set", "width=16", "--set", "examples=64", "--seeds", "2")  # glorot2010 in a second


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_list_shows_the_seven_papers() -> None:
    code, out, err = run("reproduce", "--list")
    assert code == 0 and err == ""
    assert [line.split()[0] for line in out.splitlines()[: len(PAPERS)]] == list(PAPERS)
    assert len(PAPERS) == 7 and "He 2015" in out.replace("He, Zhang, Ren & Sun", "He")


def test_list_name_shows_its_settings_and_the_full_size() -> None:
    code, out, _ = run("reproduce", "--list", "glorot2010")
    assert code == 0 and out.splitlines()[0].split()[:3] == ["width", "int", "500"]
    assert "--full = --set 'width=1000'" in out


def test_a_paper_end_to_end_prints_paper_vs_ours_and_writes_its_figures(tmp_path: Path) -> None:
    code, out, err = run("reproduce", "glorot2010", *SMALL, "--out", str(tmp_path))
    assert code == 0, err
    assert out.startswith("Glorot & Bengio (2010), Understanding the difficulty")
    assert "paper's setup: Five tanh hidden layers" in out and "here:" in out
    assert "standard init: median over layers of Var[A[l+1]] / Var[A[l]]" in out and " hold. " in out
    figures = sorted((tmp_path / "glorot2010").glob("*.png"))
    assert figures and all(f"figure: {f}" in out for f in figures)
    saved = json.loads((tmp_path / "glorot2010" / "config.json").read_text())
    assert saved["command"] == "initlab reproduce glorot2010 --set width=16 --set examples=64 --set seeds=2"

    code, text, _ = run("reproduce", "glorot2010", *SMALL, "--out", str(tmp_path), "--json")
    doc = json.loads(text)
    assert code == 0 and doc["reproduction"] == "glorot2010" and doc["paper"].startswith("Glorot & Bengio (2010)")
    assert [f["quantity"] for f in doc["findings"]] == list(doc["claims"])
    assert {f["holds"] for f in doc["findings"]} <= {"yes", "no"} and len(doc["figures"]) == len(figures)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "initlab reproduce: give a NAME (glorot2010, saxe2014"),
        (("glorot201",), "NAME must be one of glorot2010, saxe2014, he2015, mishkin2016, schoenholz2017, "
                         "pennington2017, cs231n. Got 'glorot201'. Did you mean 'glorot2010'?"),
        (("--list", "--full"), "--list takes no --full, --set or --seeds"),
        (("--list", "nope"), "NAME must be one of"),
        (("glorot2010", "--set", "width=-1"), "The 'width' setting of glorot2010 must be an int >= 2"),
        (("glorot2010", "--set", "depth=3"), "Got an unknown setting 'depth'"),
        (("glorot2010", "--set", "width"), "initlab reproduce: --set must be KEY=VALUE. Got 'width' instead."),
        (("glorot2010", "--seeds", "0"), "--seeds must be an int from 1 to"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path: Path, argv, message) -> None:
    out_dir = tmp_path / "out"
    code, out, err = run("reproduce", *argv, "--out", str(out_dir)) if argv[:1] != ("--list",) else run(
        "reproduce", *argv)  # fmt: skip
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: "), err
    assert message in err
    assert not out_dir.exists()


def test_an_out_that_is_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("mine")
    code, _, err = run("reproduce", "glorot2010", *SMALL, "--out", str(target))
    assert code == 2 and "--out" in err and target.read_text() == "mine"


def test_the_tour_runs_the_papers_after_the_lecture_unless_told_not_to() -> None:
    from initlab.cli._experiment_cmds import tour_configs
    from initlab.experiments import LECTURE

    assert list(tour_configs()) == [*LECTURE, *PAPERS]
    assert list(tour_configs(papers=False)) == list(LECTURE)
