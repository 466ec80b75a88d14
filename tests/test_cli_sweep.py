"""``initlab sweep`` end to end: plan, run, status, export, report; bad grids and two drivers refused in one line."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from initlab.cli import main
from initlab.sweep import open_journal

TINY = """
experiment = "train"
seeds = 2

[settings]
dataset = "circles"
width = 4
steps = 30
record_every = 10

[axes]
weights = ["zeros", "he_normal"]
lr = [0.1, 0.5]
"""


def _cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _grid(tmp_path: Path, text: str = TINY, name: str = "g.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_plan_run_status_export_report(tmp_path: Path) -> None:
    grid = _grid(tmp_path)
    code, out, err = _cli("sweep", "plan", str(grid))
    assert code == 0, err
    assert "4 cells" in out and "8 models" in out
    assert not (tmp_path / "initlab-sweeps").exists()  # plan writes nothing

    folder = tmp_path / "s"
    code, out, err = _cli("sweep", "run", str(grid), "--out", str(folder), "--workers", "0", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["total"] == 8 and doc["done"] + doc["diverged"] + doc["failed"] == 8 and doc["failed"] == 0
    view = open_journal(folder)
    rows = view.rows()
    assert len(rows) == 8 and len({(r.cell, r.seed) for r in rows}) == 8
    zeros = [r for r in rows if view.grid().cell(r.cell).axes["weights"] == "zeros"]
    # zero weights learn nothing on the balanced circles: the cost stays at ln 2 whatever the rate
    assert all(abs(r.metrics["final_loss"] - 0.6931471805599453) < 1e-9 for r in zeros)

    code, out, err = _cli("sweep", "run", str(grid), "--out", str(folder), "--workers", "0", "--json")
    assert code == 0 and json.loads(out)["total"] == 8  # a finished sweep: nothing new
    assert len(open_journal(folder).rows()) == 8

    code, out, err = _cli("sweep", "status", str(folder), "--json")
    assert code == 0, err
    status = json.loads(out)
    assert status["counts"]["missing"] == 0 and status["cells_complete"] == 4 and not status["running"]

    table = tmp_path / "t.parquet"
    code, out, err = _cli("sweep", "export", str(folder), "--parquet", str(table))
    assert code == 0, err
    import pyarrow.parquet as pq

    assert pq.read_table(table).num_rows == 8

    code, out, err = _cli("sweep", "report", str(folder))
    assert code == 0, err
    html = (folder / "report.html").read_text()
    assert "weights" in html and "he_normal" in html


BAD = {
    "unknown experiment": ('experiment = "trian"\n', "trian"),
    "unknown setting": ('experiment = "train"\n[settings]\nwidht = 4\n', "widht"),
    "wrong type": ('experiment = "train"\n[settings]\nwidth = "wide"\n', "width"),
    "empty axis": ('experiment = "train"\n[axes]\nwidth = []\n', "width"),
    "past the cell limit": ('experiment = "train"\n[axes]\nlr = {linspace = [0.01, 1.0, 20000]}\n', "--yes"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_grid_one_line_exit_2_nothing_written(tmp_path: Path, case: str) -> None:
    text, named = BAD[case]
    grid = _grid(tmp_path, text)
    before = sorted(os.listdir(tmp_path))
    code, out, err = _cli("sweep", "run", str(grid), "--out", str(tmp_path / "s"))
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], err
    assert sorted(os.listdir(tmp_path)) == before  # nothing written


def test_several_problems_one_line_each(tmp_path: Path) -> None:
    grid = _grid(tmp_path, 'experiment = "train"\n[settings]\nwidht = 4\n[axes]\ndepth = []\n')
    code, _, err = _cli("sweep", "plan", str(grid))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 2 and all(line.startswith("error: ") for line in lines), err


def test_bad_flags(tmp_path: Path) -> None:
    grid = _grid(tmp_path)
    for argv in (
        ["--memory", "0"],
        ["--workers", "-1"],
        ["--dask-local", "0"],
        ["--workers", "1", "--dask-local", "2"],
    ):
        code, _, err = _cli("sweep", "run", str(grid), "--out", str(tmp_path / "s"), *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, (argv, err)
    assert not (tmp_path / "s").exists()
    code, _, err = _cli("sweep", "status", str(tmp_path / "nothing"))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_second_driver_exits_2_naming_the_holder(tmp_path: Path) -> None:
    """A real driver holds DIR; a second `initlab sweep run` on it exits 2 with one line naming the first's pid."""
    grid = _grid(tmp_path, TINY.replace("steps = 30", "steps = 1000000").replace("width = 4", "width = 64"))
    folder = tmp_path / "s"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "initlab", "sweep", "run", str(grid), "--out", str(folder), "--workers", "1"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (folder / "journal.sqlite").exists():
            time.sleep(0.05)
        assert (folder / "journal.sqlite").exists(), f"the first driver did not start (exit {first.poll()})"
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {first.pid}" in lines[0], second.stderr
        assert first.poll() is None  # the first driver goes on
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_on_a_dask_cluster_started_as_the_readme_says(tmp_path: Path) -> None:
    """`dask scheduler` and `dask worker` processes, then `initlab sweep run --scheduler tcp://...`: the same
    bits as the sweep run in one process."""
    pytest.importorskip("distributed")
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip("the dask command is not installed beside this Python")
    grid = _grid(tmp_path)
    address = f"tcp://127.0.0.1:{_free_port()}"
    port = address.rsplit(":", 1)[1]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    scheduler = subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", port,
                                  "--dashboard-address", ":0"], **quiet)  # fmt: skip
    worker = subprocess.Popen([str(dask), "worker", address, "--nworkers", "1", "--nthreads", "1",
                               "--dashboard-address", ":0"], **quiet)  # fmt: skip
    try:
        code, out, err = _cli("sweep", "run", str(grid), "--out", str(tmp_path / "dask"), "--scheduler", address,
                              "--json")  # fmt: skip
        assert code == 0, err
        assert json.loads(out)["done"] + json.loads(out)["diverged"] == 8
    finally:
        for p in (worker, scheduler):
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    code, _, err = _cli("sweep", "run", str(grid), "--out", str(tmp_path / "here"), "--workers", "0")
    assert code == 0, err
    import numpy as np

    def bits(folder: Path) -> dict[tuple[str, int], list[int]]:
        return {(r.cell, r.seed): np.asarray(r.metrics["loss_curve"], dtype=np.float64).view(np.uint64).tolist()
                for r in open_journal(folder).rows()}  # fmt: skip

    there, here = bits(tmp_path / "dask"), bits(tmp_path / "here")
    assert len(there) == 8 and there == here
    assert {r.worker for r in open_journal(tmp_path / "dask").rows()} != {
        r.worker for r in open_journal(tmp_path / "here").rows()
    }
