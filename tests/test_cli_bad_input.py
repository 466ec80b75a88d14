"""Bad input to the command line: one line on stderr, exit code 2, no traceback, nothing written, no work started.

Each case runs in a fresh working folder (with a dangling symbolic link and a file in it);
the experiments' ``run`` and the initializers' draw are replaced by functions that fail
the test, so every case also shows that the check comes *before* the work.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import initlab.cli._init_cmds as init_cmds
from initlab import experiments
from initlab.cli import _main, main

Z400 = "0" * 400
LONG = "x" * 300
SMALL = ["--set", "steps=50", "--set", "widths=2", "--seeds", "1"]

# argv -> a piece of the one line the user sees
BAD_INPUT = [
    # huge numbers, wherever a number is read
    (["run", "symmetry", "--set", "steps=1" + Z400], "--set steps holds an integer with 401 digits"),
    (["run", "symmetry", "--set", "lr=1" + Z400], "--set lr holds an integer with 401 digits"),
    (["run", "symmetry", "--seeds", "1" + Z400], "argument --seeds: invalid int value"),
    (["run", "symmetry", "--seeds", "1000000000"], "--seeds must be an int from 1 to 100000"),
    (["init", "he_normal", "--shape", "1" + Z400, "9"], "argument --shape: invalid int value"),
    (["init", "he_normal", "--shape", "2", "2", "--seed", "1" + Z400], "has 401 digits"),
    # deep nesting (thousands of parentheses; a long run of signs, which Python's own parser cannot read)
    (["init", "normal(std=" + "(" * 3000 + "1" + ")" * 3000 + ")", "--shape", "2", "2"], "levels of brackets"),
    (["init", "normal(std=" + "-" * 900 + "1)", "--shape", "2", "2"], "SCHEME may nest at most 100 levels"),
    (["run", "symmetry", "--set", "steps=" + "(" * 3000 + "1" + ")" * 3000], "--set steps may nest at most"),
    (["run", "symmetry", "--set", "lr=" + "-" * 3000 + "1"], "--set lr is nested too deeply to read"),
    # dimensions numpy refuses, and arrays that do not fit in memory (with the size they would need)
    (["init", "he_normal", "--shape", "-1", "3"], "'--shape' argument of initlab init must be"),
    (["init", "he_normal", "--shape", "0", "3"], "'--shape' argument of initlab init must be"),
    (["init", "he_normal", "--shape", "99999999999999", "9"], "it needs 19.2 PiB"),
    (["init", "orthogonal", "--shape", "1000000", "1000000"], "Not enough memory for a 1000000 x 1000000"),
    # places initlab cannot write, refused before the work
    (["run", "symmetry", *SMALL, "--out", "/proc/x"], "--out must be a place initlab can write; '/proc'"),
    (
        ["run", "symmetry", *SMALL, "--out", "dangling"],
        "--out must be a folder. Got 'dangling', which is a dangling symbolic link",
    ),
    (["run", "symmetry", *SMALL, "--out", "dangling/sub"], "dangling symbolic link 'dangling'"),
    (["run", "symmetry", *SMALL, "--out", LONG], "--out has a name of 300 characters"),
    (["run", "symmetry", *SMALL, "--out", ""], "initlab run: --out must be a folder. Got ''"),
    (["run", "symmetry", *SMALL, "--out", "afile"], "--out must be a folder. Got 'afile', which is a file"),
    (["run", "symmetry", *SMALL, "--out", "afile/sub"], "'afile' is a file"),
    (["run", "symmetry", *SMALL, "--out", "mine"], "--out holds 'mine/symmetry', which holds 'notes.txt'"),
    (["tour", "--out", "mine"], "--out holds 'mine/symmetry', which holds 'notes.txt', not written by initlab"),
    (["tour", "--out", ""], "initlab tour: --out must be a folder. Got ''"),
    (["tour", "--out", "/proc/x"], "initlab tour: --out must be a place initlab can write"),
    (["tour", "--out", LONG], "initlab tour: --out has a name of 300 characters"),
    (["init", "he_normal", "--shape", "2", "2", "--save", ""], "--save must name a file. Got ''"),
    (["init", "he_normal", "--shape", "2", "2", "--save", "/proc/x.npy"], "--save must be a place initlab can write"),
    (["init", "he_normal", "--shape", "2", "2", "--save", "dangling"], "--save is a dangling symbolic link"),
    (["init", "he_normal", "--shape", "2", "2", "--save", LONG + ".npy"], "--save has a name of 304 characters"),
    (["init", "he_normal", "--shape", "2", "2", "--save", "missing/w.npy"], "--save must name a file in an existing"),
    (["init", "he_normal", "--shape", "2", "2", "--save", "."], "--save must name a file; '.' is a folder"),
    (["report", ""], "initlab report: DIR must be a folder of saved results. Got ''"),
    (["report", "nowhere"], "initlab report: DIR must be a folder of saved results"),
    (["report", "/proc"], "initlab report: DIR must be a place initlab can write"),
]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a dangling link, a file and a user's folder; the work fails the test if it starts."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "no" / "such" / "target")
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "mine" / "symmetry").mkdir(parents=True)  # a folder of the user's where a run would go
    (tmp_path / "mine" / "symmetry" / "notes.txt").write_text("mine")

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the work started before the input was checked")

    for module in experiments.EXPERIMENTS.values():
        monkeypatch.setattr(module, "run", no_work)
    monkeypatch.setattr(init_cmds, "explain", no_work)
    return tmp_path


def _listing(folder: Path) -> dict[str, float]:
    return {str(p.relative_to(folder)): p.lstat().st_mtime for p in folder.rglob("*")}


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT, ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else "")
def test_bad_input_is_one_line_exit_2_and_nothing_written(argv: list[str], message: str, workdir: Path) -> None:
    before = _listing(workdir)
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    text = err.getvalue()
    assert code == 2, text
    assert out.getvalue() == ""
    assert text.startswith("error: ") and text.count("\n") == 1, text
    assert len(text) < 400  # long input is shortened in the message, never echoed whole
    assert message in text, text
    assert _listing(workdir) == before  # nothing written (and the probe folders removed)


def test_memory_of_a_run_is_checked_before_it_starts(workdir: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "course", "--seeds", "100000", "--out", "res"], out=out, err=err)
    assert code == 2 and err.getvalue().count("\n") == 1
    assert "Not enough memory for the experiment course" in err.getvalue() and "GiB" in err.getvalue()
    assert not (workdir / "res").exists()


def test_a_bug_is_one_line_saying_internal_error_and_how_to_report_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setitem(_main.COMMANDS, "schemes", broken)
    monkeypatch.delenv("INITLAB_DEBUG", raising=False)
    err = io.StringIO()
    assert main(["schemes"], out=io.StringIO(), err=err) == 1
    text = err.getvalue()
    assert text.count("\n") == 1 and text.startswith("error: internal error")
    assert "ZeroDivisionError: float division by zero" in text and "please report it" in text
    # with INITLAB_DEBUG the traceback is there for whoever debugs it
    monkeypatch.setenv("INITLAB_DEBUG", "1")
    err = io.StringIO()
    assert main(["schemes"], out=io.StringIO(), err=err) == 1
    assert "Traceback" in err.getvalue() and "broken" in err.getvalue()


def test_running_out_of_memory_during_the_work_is_one_line_exit_1(monkeypatch: pytest.MonkeyPatch) -> None:
    def hungry(*args: object) -> None:
        raise MemoryError("Unable to allocate 9.4 GiB for an array with shape (256, 500, 500)")

    monkeypatch.setitem(_main.COMMANDS, "list", hungry)
    err = io.StringIO()
    assert main(["list"], out=io.StringIO(), err=err) == 1
    assert err.getvalue().count("\n") == 1
    assert err.getvalue().startswith("error: out of memory during initlab list (Unable to allocate 9.4 GiB")


def test_a_warning_stops_init_but_is_one_line_during_a_run(monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    from initlab.results import Result

    def warns(*args: object, **kwargs: object) -> Result:
        warnings.warn("something looks off\nsecond line", UserWarning, stacklevel=1)
        return Result("symmetry", {}, [], claims={"the claim": True}, answer="the answer")

    monkeypatch.setattr(experiments.EXPERIMENTS["symmetry"], "run", warns)
    out, err = io.StringIO(), io.StringIO()
    assert main(["run", "symmetry"], out=out, err=err) == 0  # the run goes on
    assert err.getvalue() == "warning: something looks off\n"
    assert out.getvalue().startswith("[x] the claim\n")
    # for init, a warning is a probable mistake of the user: it stops like an error, and nothing is saved
    monkeypatch.setattr(init_cmds, "explain", warns)
    out, err = io.StringIO(), io.StringIO()
    assert main(["init", "he_normal", "--shape", "2", "2"], out=out, err=err) == 2
    assert err.getvalue() == "error: something looks off\n" and out.getvalue() == ""


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "initlab", *argv], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_a_real_process_shows_no_traceback(tmp_path: Path) -> None:
    for argv in (
        ["run", "symmetry", "--set", "steps=1" + Z400],
        ["init", "normal(std=" + "(" * 3000 + "1" + ")" * 3000 + ")", "--shape", "2", "2"],
        ["init", "he_normal", "--shape", "99999999999999", "9"],
        ["run", "symmetry", "--out", "/proc/x"],
    ):
        result = _cli(*argv, cwd=tmp_path)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert os.listdir(tmp_path) == []


def test_a_closed_stdout_is_quiet(tmp_path: Path) -> None:
    """``initlab schemes | head -0``: the reader is gone; no traceback, exit code 141 (128 + SIGPIPE)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "initlab", "schemes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and stderr == ""


# --- initlab report on a damaged results folder: one line naming the file, exit 2, no report written -----------


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder with one small, whole run of symmetry."""
    folder = tmp_path_factory.mktemp("saved")
    argv = ["run", "symmetry", "--set", "widths=2", "--set", "steps=40", "--seeds", "1", "--out", str(folder)]
    assert main(argv, out=io.StringIO(), err=io.StringIO()) == 0
    return folder


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


DAMAGE = [
    ("config.json", lambda run: (run / "config.json").write_text("{not json"), "is not valid JSON"),
    ("config.json", lambda run: (run / "config.json").write_text("[1, 2]"), "must hold a JSON object"),
    ("rows.csv", lambda run: (run / "rows.csv").write_bytes(b"\xff\xfe bad"), "is not UTF-8"),
    ("arrays.npz", lambda run: _cut(run / "arrays.npz"), "truncated or damaged"),
    ("symmetry.png", lambda run: _cut(run / "symmetry.png"), "is truncated"),
]


@pytest.mark.parametrize(("file", "damage", "message"), DAMAGE)
def test_report_on_a_damaged_folder_is_one_line_naming_the_file(
    file: str, damage: Callable[[Path], object], message: str, saved: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "res"
    shutil.copytree(saved, folder)
    damage(folder / "symmetry")
    err = io.StringIO()
    assert main(["report", str(folder)], out=io.StringIO(), err=err) == 2
    text = err.getvalue()
    assert text.startswith("error: ") and text.count("\n") == 1
    assert str(folder / "symmetry" / file) in text and message in text, text
    assert not (folder / "report.html").exists()


def test_report_refuses_an_empty_folder_and_an_unknown_experiment(saved: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    err = io.StringIO()
    assert main(["report", str(tmp_path / "empty")], out=io.StringIO(), err=err) == 2
    assert "holds no run folder" in err.getvalue() and err.getvalue().count("\n") == 1
    folder = tmp_path / "res"
    shutil.copytree(saved, folder)
    (folder / "symmetry").rename(folder / "nosuch")
    meta = json.loads((folder / "nosuch" / "config.json").read_text())
    (folder / "nosuch" / "config.json").write_text(json.dumps({**meta, "experiment": "nosuch"}))
    err = io.StringIO()
    assert main(["report", str(folder)], out=io.StringIO(), err=err) == 2
    assert "unknown experiment 'nosuch'" in err.getvalue() and not (folder / "report.html").exists()


def test_report_on_a_whole_folder_writes_the_page(saved: Path) -> None:
    out = io.StringIO()
    assert main(["report", str(saved)], out=out, err=io.StringIO()) == 0
    assert out.getvalue() == f"report: {saved / 'report.html'}\n" and (saved / "report.html").stat().st_size > 0


def test_run_refuses_before_the_work_a_folder_that_save_would_refuse_after_it(workdir: Path) -> None:
    """The CLI applies the store's own rule: a run folder of another experiment at OUT/NAME is not replaced."""
    (workdir / "other" / "symmetry").mkdir(parents=True)
    (workdir / "other" / "symmetry" / "config.json").write_text(json.dumps({"experiment": "depth"}))
    before = _listing(workdir)
    err = io.StringIO()
    assert main(["run", "symmetry", *SMALL, "--out", "other"], out=io.StringIO(), err=err) == 2  # run() would fail
    text = err.getvalue()
    assert text.startswith("error: initlab run: --out holds 'other/symmetry', which has a config.json that is not "
                           "that of an initlab run of 'symmetry'") and text.count("\n") == 1, text  # fmt: skip
    assert _listing(workdir) == before
