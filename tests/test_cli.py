"""The command line, run in-process: exit codes, output, files written, and nothing written on bad input."""

from __future__ import annotations

import io
import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

import initlab
from initlab.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_init_prints_the_plan_then_the_realized_statistics() -> None:
    code, out, err = run("init", "he_normal", "--shape", "256", "512")
    assert code == 0 and err == ""
    fields = dict(line.split(None, 1) for line in out.splitlines() if not line.startswith(" "))
    assert fields["fan_in"].strip() == "512" and fields["fan_out"].strip() == "256"
    assert float(fields["gain"]) == pytest.approx(math.sqrt(2), rel=1e-5)
    assert float(fields["std"]) == pytest.approx(math.sqrt(2 / 512), rel=1e-5)
    assert "computed by" in out and "kaiming_normal" in out
    realized = dict(line.split() for line in out.splitlines() if line.startswith("  "))
    w = initlab.he_normal((256, 512), np.random.default_rng(0))
    assert float(realized["std"]) == pytest.approx(w.std(), rel=1e-5)
    assert float(realized["max"]) == pytest.approx(w.max(), rel=1e-5)


def test_init_json_is_stable_and_complete() -> None:
    code, out, _ = run("init", "xavier_uniform(gain=5/3)", "--shape", "64", "3", "3", "3", "--json", "--seed", "4")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"spec", "shape", "dtype", "seed", "initlab_version", "plan", "realized"}
    assert doc["shape"] == [64, 3, 3, 3] and doc["seed"] == 4 and doc["dtype"] == "float64"
    plan = doc["plan"]
    assert {"scheme", "kind", "formula", "fan_in", "fan_out", "gain", "mean", "std", "low", "high"} <= set(plan)
    bound = 5 / 3 * math.sqrt(6 / (27 + 576))
    assert plan["high"] == pytest.approx(bound, rel=1e-12) and plan["low"] == pytest.approx(-bound, rel=1e-12)
    assert set(doc["realized"]) == {"mean", "std", "min", "max", "fraction_zero"}
    assert -bound <= doc["realized"]["min"] < doc["realized"]["max"] <= bound


def test_init_orthogonal_reports_the_orthogonality_error() -> None:
    code, out, _ = run("init", "orthogonal(gain=2)", "--shape", "40", "60", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["realized"]["orthogonality_error"] < 1e-12
    code, out, _ = run("init", "delta_orthogonal", "--shape", "8", "4", "3", "3", "--json", "--dtype", "float32")
    doc = json.loads(out)
    assert code == 0 and doc["realized"]["orthogonality_error"] < 1e-6 and doc["dtype"] == "float32"


def test_init_constant_notes_the_symmetry() -> None:
    code, out, _ = run("init", "zeros", "--shape", "2", "2")
    assert code == 0 and "units of a layer start identical" in out


def test_init_save_writes_the_drawn_tensor(tmp_path: Path) -> None:
    target = tmp_path / "w.npy"
    code, _, _ = run("init", "randn", "--shape", "3", "2", "--seed", "5", "--save", str(target))
    assert code == 0
    assert np.array_equal(np.load(target), initlab.randn((3, 2), 5))
    assert os.listdir(tmp_path) == ["w.npy"]  # no temporary file left behind


def test_schemes_lists_names_and_aliases() -> None:
    code, out, _ = run("schemes")
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert set(lines) == set(initlab.names(include_aliases=False))
    assert "also: he_normal" in lines["kaiming_normal"]


BAD_INPUTS = [
    (["init", "he_nromal", "--shape", "2", "2"], "Did you mean 'he_normal'"),
    (["init", "he_normal", "--shape", "0", "3"], "'--shape' argument of initlab init must be a sequence of ints >= 1"),
    (["init", "he_normal", "--shape", "-4", "3"], "'--shape' argument"),
    (["init", "normal(std=-1)", "--shape", "2", "2"], "'std' argument of normal must be a finite float >= 0. Got -1"),
    (["init", "uniform(low=1, high=0)", "--shape", "2", "2"], "'low' argument of uniform must be < high"),
    (["init", "xavier_uniform(gain=inf)", "--shape", "2", "2"], "'gain' argument of xavier_uniform must be a finite"),
    (["init", "he_normal", "--shape", "5"], "at least 2 entries. Got (5,)"),
    (["init", "he_normal", "--shape", "2", "x"], "argument --shape: invalid int value: 'x'"),
    (["init", "he_normal"], "the following arguments are required: --shape"),
    (
        ["init", "he_normal", "--shape", "2", "2", "--dtype", "int8"],
        "'--dtype' argument of initlab init must be one of",
    ),
    (
        ["init", "he_normal", "--shape", "2", "2", "--seed", "-1"],
        "'--seed' argument of initlab init must be an int >= 0",
    ),
    (["init", "normal(std=open('x'))", "--shape", "2", "2"], "Got \"open('x')\" instead"),
    (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
    (
        ["run", "symetry"],
        "initlab run: NAME must be one of symmetry, bias-vs-weights, scale, depth, course, train. Got 'symetry'. "
        "Did you mean 'symmetry'?",
    ),
    ([], "the following arguments are required: COMMAND"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_line(argv: list[str], message: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(*argv, *(["--save", "w.npy"] if argv[:1] == ["init"] and "--shape" in argv else []))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ")
    assert message in err
    assert os.listdir(tmp_path) == []  # nothing written


def test_unwritable_save_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    code, out, err = run("init", "he_normal", "--shape", "2", "2", "--save", str(tmp_path / "missing" / "w.npy"))
    assert code == 2 and out == "" and "--save must name a file in an existing folder" in err
    assert os.listdir(tmp_path) == []


def test_help_and_version_exit_0(capsys) -> None:
    assert main(["--version"]) == 0
    assert initlab.__version__ in capsys.readouterr().out
    assert main(["init", "--help"]) == 0
    assert "--shape" in capsys.readouterr().out


# --- experiments ----------------------------------------------------------------------------

SMALL_SYMMETRY = ["--set", "widths=2,4", "--set", "steps=200", "--set", "record_every=50", "--seeds", "2"]


def test_list_names_every_experiment() -> None:
    code, out, _ = run("list")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()[:6]]
    assert names == ["symmetry", "bias-vs-weights", "scale", "depth", "course", "train"]
    assert "initlab run scale --preset regimes" in out and "too large = randn(scale=100)" in out


def test_run_prints_claims_and_answer_and_writes_results(tmp_path: Path) -> None:
    code, out, err = run("run", "symmetry", *SMALL_SYMMETRY, "--out", str(tmp_path / "res"))
    assert code == 0 and err == ""
    folder = tmp_path / "res" / "symmetry"
    from initlab import results as store

    files = os.listdir(folder)
    assert set(store.FILES) <= set(files)  # the data and, in the same folder, the figures
    assert {f.rsplit(".", 1)[-1] for f in set(files) - set(store.FILES)} == {"png", "svg"}
    doc = json.loads((folder / "config.json").read_text())
    assert doc["config"]["widths"] == [2, 4] and doc["config"]["seeds"] == 2 and doc["versions"]["initlab"]
    # what was printed is what was saved: one line per claim, then the answer, then the folder
    claims = [f"[{'x' if held else ' '}] {claim}" for claim, held in doc["claims"].items()]
    assert out.splitlines()[: len(claims)] == claims and all(doc["claims"].values())
    assert (folder / "answer.txt").read_text().strip() in out
    assert out.rstrip().endswith(f"results: {folder}")
    back = store.load(folder)
    assert back.claims == doc["claims"] and back.rows[0]["metric"] == "distinct_units"
    # a rerun replaces its own folder and leaves nothing else behind
    assert run("run", "symmetry", *SMALL_SYMMETRY, "--out", str(tmp_path / "res"))[0] == 0
    assert [p for p in os.listdir(tmp_path / "res") if not p.startswith(".initlab.lock")] == ["symmetry"]


def test_run_json() -> None:
    code, out, _ = run("run", "symmetry", *SMALL_SYMMETRY, "--json")
    doc = json.loads(out)
    assert code == 0 and set(doc) == {"experiment", "claims", "answer", "out"} and doc["out"] is None
    assert all(doc["claims"].values())


def test_the_learners_regimes_preset(tmp_path: Path) -> None:
    code, out, _ = run("run", "scale", "--preset", "regimes", "--set", "steps=1000", "--seeds", "2", "--json",
                       "--out", str(tmp_path))  # fmt: skip
    doc = json.loads(out)
    assert code == 0 and all(doc["claims"].values()), doc["claims"]
    config = json.loads((tmp_path / "scale" / "config.json").read_text())["config"]
    assert config["scales"] == [0.0, 0.0001, 0.01, 100.0] and config["large"] == 100.0


RUN_BAD = [
    (["run", "symmetry", "--preset", "regimes"], "The preset 'regimes' is for the experiment 'scale'"),
    (["run", "scale", "--preset", "regime"], "Did you mean 'regimes'"),
    (["run", "symetry"], "Did you mean 'symmetry'"),
    (["run", "symmetry", "--set", "widht=3"], "unknown setting 'widht' instead. Did you mean 'widths'?"),
    (["run", "symmetry", "--set", "steps=ten"], "'steps' setting of symmetry must be an int >= 1"),
    (["run", "symmetry", "--set", "steps=0"], "'steps' setting of symmetry must be an int >= 1"),
    (["run", "symmetry", "--set", "widths"], "--set must be KEY=VALUE. Got 'widths'"),
    (["run", "scale", "--set", "activations=relu"], "each one of 'tanh', 'sigmoid'. Got"),
    (["run", "symmetry", "--seeds", "0"], "--seeds must be an int from 1 to 100000. Got 0"),
]


@pytest.mark.parametrize(("argv", "message"), RUN_BAD)
def test_run_bad_input_exits_2_and_writes_nothing(argv: list[str], message: str, tmp_path: Path) -> None:
    code, out, err = run(*argv, "--out", str(tmp_path / "res"))
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err
    assert os.listdir(tmp_path) == []


def test_run_unwritable_out_fails_before_the_work(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run("run", "symmetry", *SMALL_SYMMETRY, "--out", str(blocker))
    assert (
        code == 2
        and f"--out must be a folder. Got {str(blocker)!r}, which is a file" in err
        and blocker.read_text() == "x"
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_run_shows_progress_only_on_a_terminal() -> None:
    err = _Terminal()
    assert main(["run", "symmetry", *SMALL_SYMMETRY], out=io.StringIO(), err=err) == 0
    text = err.getvalue()
    assert "200/200" in text and "steps" in text  # rich's bar, drawn while each training run goes
    # then one closing line: the number of training runs and the time
    assert re.search(r"symmetry: \d+ training runs?, \d+ s\n$", text)
    # the same run with stderr not a terminal draws nothing
    plain = io.StringIO()
    assert main(["run", "symmetry", *SMALL_SYMMETRY], out=io.StringIO(), err=plain) == 0
    assert plain.getvalue() == ""


def test_tour_skips_what_it_finished_with_the_same_settings_and_reruns_the_rest(tmp_path: Path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    import initlab.cli._experiment_cmds as cmds
    import initlab.results._figures as figures
    from initlab.experiments import EXPERIMENTS, LECTURE, make_config

    small = {
        "symmetry": {"widths": "2", "steps": "40", "seeds": "1", "record_every": "10"},
        "bias-vs-weights": {"steps": "40", "seeds": "1", "record_every": "10", "width": "4"},
        "scale": {"steps": "40", "seeds": "1", "record_every": "10", "scales": "0, 0.01, 100"},
        "depth": {"layers": "3", "width": "16", "max_depth": "4", "seeds": "1", "sweep_examples": "16",
                  "train_width": "8", "steps": "20"},
        "course": {"steps": "40", "seeds": "3", "grid": "10"},
    }  # fmt: skip
    monkeypatch.setattr(cmds, "tour_configs", lambda papers=True: {n: make_config(n, small[n]) for n in LECTURE})

    def tiny(result):  # one small figure each: the lecture's figures take seconds
        fig, ax = plt.subplots(figsize=(1, 1))
        ax.plot([0, 1], [0, 1])
        return {result.name: fig}

    monkeypatch.setattr(figures, "figures", tiny)
    ran: list[str] = []
    for name, module in EXPERIMENTS.items():
        monkeypatch.setattr(module, "run", lambda config, run=module.run, name=name: ran.append(name) or run(config))
    out = tmp_path / "tour"
    code, text, err = run("tour", "--out", str(out), "--json")
    assert code == 0 and ran == list(LECTURE) and "skipped" not in err  # the lecture only: no train
    doc = json.loads(text)
    assert [s["skipped"] for s in doc["experiments"].values()] == [False] * 5 and Path(doc["report"]).is_file()

    ran.clear()  # everything finished with the same settings: nothing runs, the report is written again
    code, text, err = run("tour", "--out", str(out))
    assert code == 0 and ran == [] and err.count("with the same settings; skipped") == 5
    assert text.count("(saved before)") == 5 and f"report: {out / 'report.html'}" in text

    small["course"]["steps"] = "41"  # one setting changed: that experiment alone runs again
    code, _, err = run("tour", "--out", str(out))
    assert code == 0 and ran == ["course"] and err.count("skipped") == 4
    assert json.loads((out / "course" / "config.json").read_text())["config"]["steps"] == 41


def test_json_stays_plain_json_on_a_terminal() -> None:
    out, err = _Terminal(), _Terminal()
    assert main(["init", "he_normal", "--shape", "4", "2", "--json"], out=out, err=err) == 0
    assert json.loads(out.getvalue())["plan"]["fan_in"] == 2 and err.getvalue() == ""
    out = _Terminal()
    assert main(["run", "symmetry", *SMALL_SYMMETRY, "--json"], out=out, err=_Terminal()) == 0
    assert "\x1b" not in out.getvalue() and json.loads(out.getvalue())["experiment"] == "symmetry"


def test_tables_on_a_terminal_have_a_header_and_plain_text_has_none() -> None:
    term = _Terminal()
    assert main(["schemes"], out=term) == 0
    lines = [line for line in term.getvalue().splitlines() if line.strip()]
    assert "scheme" in lines[0] and "aliases" in lines[0]  # the header, then a rule
    plain = io.StringIO()
    assert main(["schemes"], out=plain) == 0
    assert all(not line.endswith(" ") and "\x1b" not in line for line in plain.getvalue().splitlines())
    assert plain.getvalue().splitlines()[0].split()[0] == initlab.names(include_aliases=False)[0]


def test_list_name_shows_the_declared_settings_that_set_takes() -> None:
    from initlab.experiments import make_config, settings

    code, out, _ = run("list", "scale")
    assert code == 0
    table = {line.split()[0]: re.split(r" {2,}", line)[:3] for line in out.splitlines()}  # columns: 2+ spaces
    assert list(table) == [s.name for s in settings("scale")]
    assert table["scales"] == ["scales", "tuple[float, ...]", "0,0.001,0.01,0.1,1,10,100"]
    assert "[2, 4096]" in out and "(0, inf)" in out  # ranges as accepted: closed, and open at 0 for lr
    # each default, given back to --set as printed, is the default
    defaults = {name: row[2] for name, row in table.items()}
    assert make_config("scale", defaults) == make_config("scale")
    code, _, err = run("list", "scael")
    assert code == 2 and "Did you mean 'scale'" in err
