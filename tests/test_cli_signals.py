"""The command line under signals, in real processes: Ctrl-C and SIGTERM leave no partial files and one line;
a tour killed with SIGKILL resumes, recomputing only the experiments it had not finished (``test_cli.py``
checks in-process that a changed setting makes a tour run that experiment again).

Each process runs the real console entry (``main_entry``) from a small script that makes the
experiments small (``tour_configs``) and can stall one experiment, or the save, at a known point:
it prints ``STALLED <where>`` on stderr and sleeps there, so the test signals it at that point
and never by timing.  Every experiment that starts appends its name to a log file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import initlab.cli._experiment_cmds as cmds
    import initlab.results._figures as figures
    from initlab.cli import main_entry
    from initlab.experiments import EXPERIMENTS, LECTURE, make_config

    SMALL = {
        "symmetry": {"widths": "2", "steps": "40", "seeds": "1", "record_every": "10"},
        "bias-vs-weights": {"steps": "40", "seeds": "1", "record_every": "10", "width": "4"},
        "scale": {"steps": "40", "seeds": "1", "record_every": "10", "scales": "0, 0.01, 100"},
        "depth": {"layers": "3", "width": "16", "max_depth": "4", "seeds": "1", "sweep_examples": "16",
                  "train_width": "8", "steps": "20"},
        "course": {"steps": "40", "seeds": "3", "grid": "10"},
    }
    cmds.tour_configs = lambda papers=True: {name: make_config(name, SMALL[name]) for name in LECTURE}
    stall = os.environ.get("STALL", "")

    def stalled(where):
        print("STALLED " + where, file=sys.stderr, flush=True)
        while True:
            time.sleep(0.05)

    def logged(name, run):
        def wrapper(config):
            with open(os.environ["LOG"], "a") as log:
                print(name, file=log)
            if stall == "run " + name:
                stalled(stall)
            return run(config)
        return wrapper

    for name, module in EXPERIMENTS.items():
        module.run = logged(name, module.run)
    save_figures = figures.save_figures

    def stalling_figures(result, folder):
        written = save_figures(result, folder)
        if stall == "save":  # the data and the figures are written in the work folder, not yet moved in
            stalled(stall)
        return written

    figures.save_figures = stalling_figures
    if os.environ.get("TINY_FIGURES"):  # one small figure per experiment: the lecture's figures take seconds each
        def tiny(result):
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(1, 1))
            ax.plot([0, 1], [0, 1])
            return {result.name: fig}

        figures.figures = tiny
    sys.argv = ["initlab", *sys.argv[1:]]
    main_entry()
    """
)


def _start(tmp_path: Path, *argv: str, stall: str = "", tiny: bool = False) -> subprocess.Popen[str]:
    env = {**os.environ, "LOG": str(tmp_path / "log"), "STALL": stall, "TINY_FIGURES": "1" * tiny}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *argv],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_stall(proc: subprocess.Popen[str]) -> str:
    """Read stderr until the process says where it stalled; returns that line."""
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if line.startswith("STALLED "):
            return line.strip()
        assert time.monotonic() < deadline, "the process never reached the stall"
    raise AssertionError(f"the process ended before the stall, exit code {proc.wait()}")


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _log(tmp_path: Path) -> list[str]:
    return (tmp_path / "log").read_text().split()


def _leftovers(folder: Path) -> list[str]:
    """Anything in ``folder`` but finished run folders, the report and the store's lock file."""
    keep = {"report.html", ".initlab.lock"}
    return sorted(p.name for p in folder.iterdir() if p.name not in keep and (p.name.startswith(".") or p.is_file()))


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [
        (signal.SIGINT, 130, "interrupted: initlab run stopped by Ctrl-C; nothing was saved.\n"),
        (signal.SIGTERM, 143, "terminated: initlab run stopped by SIGTERM; nothing was saved.\n"),
    ],
    ids=["ctrl-c", "sigterm"],
)
@pytest.mark.parametrize("stall", ["run symmetry", "save"])
def test_a_stopped_run_says_one_line_and_leaves_no_partial_files(
    tmp_path: Path, sig: signal.Signals, code: int, line: str, stall: str
) -> None:
    proc = _start(tmp_path, "run", "symmetry", "--set", "steps=40", "--seeds", "1", "--out", "res", stall=stall)
    assert _wait_for_stall(proc) == f"STALLED {stall}"
    proc.send_signal(sig)
    returncode, out, err = _finish(proc)
    assert returncode == code
    assert err == line and out == ""  # one line, no traceback
    res = tmp_path / "res"
    assert not (res / "symmetry").exists()  # no run folder, whole or partial
    assert not res.exists() or _leftovers(res) == []  # and no hidden work folder left behind


def test_a_tour_killed_after_two_experiments_resumes_with_the_rest(tmp_path: Path) -> None:
    # the first tour is killed (SIGKILL: no cleanup at all) while its third experiment runs
    first = _start(tmp_path, "tour", "--out", "tour", stall="run scale", tiny=True)
    assert _wait_for_stall(first) == "STALLED run scale"
    first.kill()
    first.communicate(timeout=60)
    assert _log(tmp_path) == ["symmetry", "bias-vs-weights", "scale"]
    tour = tmp_path / "tour"
    assert sorted(p.name for p in tour.iterdir() if not p.name.startswith(".")) == ["bias-vs-weights", "symmetry"]
    kept = {name: (tour / name / "config.json").stat() for name in ("symmetry", "bias-vs-weights")}

    # the same command again: the two finished experiments are skipped, saying so; the other three run
    code, out, err = _finish(_start(tmp_path, "tour", "--out", "tour", tiny=True))
    assert code == 0, err
    assert _log(tmp_path) == ["symmetry", "bias-vs-weights", "scale", "scale", "depth", "course"]
    skipped = [line for line in err.splitlines() if line.endswith("with the same settings; skipped")]
    assert [s.split(": ")[0] for s in skipped] == ["[1/5] symmetry", "[2/5] bias-vs-weights"]
    for name, stat in kept.items():  # left as they were, not rewritten
        now = (tour / name / "config.json").stat()
        assert (now.st_ino, now.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
    assert (tour / "report.html").stat().st_size > 0 and "report: " in out
    assert _leftovers(tour) == []
