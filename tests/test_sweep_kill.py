"""A sweep survives being killed: the driver by SIGKILL at 0%, about half way and at 99%, a Dask worker mid-task.

Each time the journal ends with every model exactly once, sound, and with the bits of a run that
was never interrupted.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from initlab.sweep import Grid, parse_grid
from initlab.sweep._driver import Progress, run_sweep
from initlab.sweep._executors import InProcessExecutor
from initlab.sweep._journal import open_journal

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the run tests hold the helpers (import-mode=importlib)
from test_sweep_run import outcome

# 100 cells of one seed: 99 quick models (one task each), then one slow one in an ensemble of its own, last in
# the task order, so that the journal sits at 99 of 100 for a while
N = 100
KILL_GRID = f"""
experiment = "train"
[settings]
dataset = "circles"
depth = 2
width = 4
record_every = 20
[[zip]]
lr = {[round(0.01 * (k + 1), 2) for k in range(N)]}
steps = {[60] * (N - 1) + [20000]}
"""

DRIVER = """
import sys
from initlab.sweep._driver import run_sweep
from initlab.sweep._executors import LocalExecutor
from initlab.sweep import parse_grid

if __name__ == "__main__":
    grid = parse_grid(sys.argv[1])
    with LocalExecutor(2) as ex:
        run_sweep(grid, sys.argv[2], executor=ex, memory_bytes=1, command="test driver")
"""


def journaled(out: Path) -> dict[tuple[str, int], tuple[Any, ...]]:
    """The journal's rows by model, after checking the database is sound and holds no model twice."""
    with open_journal(out) as view:
        assert view.integrity() == "ok"
        rows = view.rows()
    got = {(r.cell, r.seed): outcome(r) for r in rows}
    assert len(got) == len(rows)
    return got


def rows_now(out: Path) -> int | None:
    """Rows in the journal now (None before the journal exists or while it cannot be read)."""
    try:
        with open_journal(out) as view:
            counts = view.counts()
    except Exception:
        return None
    return counts["total"] - counts["missing"]


def lock_held(out: Path) -> bool:
    try:
        with open_journal(out) as view:
            return view.holder() is not None
    except Exception:
        return False


@pytest.fixture(scope="module")
def kill_grid() -> Grid:
    return parse_grid(KILL_GRID)


@pytest.fixture(scope="module")
def reference(kill_grid: Grid, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], tuple[Any, ...]]:
    """The rows of an uninterrupted run, in this process."""
    out = tmp_path_factory.mktemp("reference")
    with InProcessExecutor() as ex:
        run_sweep(kill_grid, out, executor=ex, memory_bytes=1)
    rows = journaled(out)
    assert len(rows) == N and {o[2] for o in rows.values()} == {"done"}
    return rows


def kill_driver_at(grid: Grid, out: Path, fraction: float) -> int:
    """Start the driver in its own process group, SIGKILL the whole group once the journal holds ``fraction`` of
    the models (0: once the lock is taken, before any row), and return the rows the journal held then."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    log = out.with_name(out.name + ".log")
    with open(log, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-c", DRIVER, grid.text, str(out)], start_new_session=True,
                                env=env, stdout=f, stderr=subprocess.STDOUT)  # fmt: skip
    target = math.ceil(fraction * N)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-2000:]
            if fraction == 0 and lock_held(out):
                break
            if fraction > 0 and (rows_now(out) or 0) >= target:
                break
            time.sleep(0.02)
        else:
            raise AssertionError(f"the journal never reached {fraction:.0%}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return rows_now(out) or 0


def resume_and_check(grid: Grid, out: Path, reference: dict[tuple[str, int], tuple[Any, ...]], before: int) -> None:
    seen: list[Progress] = []
    with InProcessExecutor() as ex:
        final = run_sweep(grid, out, executor=ex, memory_bytes=1, on_progress=seen.append)
    assert final.missing_at_start == N - before
    assert (final.total, final.done, final.finished) == (N, N, N)
    got = journaled(out)
    assert len(got) == N and set(got) == set(grid.models)
    assert got == reference


@pytest.mark.parametrize("fraction", [pytest.param(0.0, marks=pytest.mark.slow), 0.5,
                                      pytest.param(0.99, marks=pytest.mark.slow)])  # fmt: skip
def test_a_driver_killed_at_any_point_resumes_to_the_uninterrupted_bits(
    kill_grid: Grid, reference: dict[tuple[str, int], tuple[Any, ...]], tmp_path: Path, fraction: float
) -> None:
    out = tmp_path / "sweep"
    before = kill_driver_at(kill_grid, out, fraction)
    if fraction == 0:
        assert before == 0
    else:
        assert math.ceil(fraction * N) <= before < N  # killed about there, with work left
    resume_and_check(kill_grid, out, reference, before)


def test_the_check_sees_a_wrong_row(kill_grid: Grid, reference: dict[tuple[str, int], tuple[Any, ...]]) -> None:
    # negative control: one model's metrics off by one ulp is not the reference
    key = next(iter(reference))
    cell, seed, status, metrics, at, error = reference[key]
    loaded = json.loads(metrics)
    loaded["final_loss"] += 1
    assert {**reference, key: (cell, seed, status, json.dumps(loaded, sort_keys=True), at, error)} != reference


DASK_GRID = """
experiment = "train"
seeds = 2
[settings]
dataset = "circles"
depth = 2
width = 4
steps = 3000
record_every = 500
[axes]
lr = [0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2]
"""


def test_a_dask_worker_killed_mid_task_loses_no_model_and_changes_no_bit(tmp_path: Path) -> None:
    from initlab.experiments import train
    from initlab.sweep._executors import DaskExecutor

    grid = parse_grid(DASK_GRID)
    two = 2 * train.model_bytes(grid.model_config(grid.cells[0], 0))  # tasks of two models: ten tasks
    with InProcessExecutor() as ex:
        run_sweep(grid, tmp_path / "reference", executor=ex, memory_bytes=two)
    reference = journaled(tmp_path / "reference")
    assert len(reference) == 20

    killed: list[int] = []
    assigned: list[str] = []
    with DaskExecutor(local_workers=2) as ex:
        pids: dict[str, int] = ex.client.run(os.getpid)
        assert len(set(pids.values())) == 2

        def kill_the_busy_one(p: Progress) -> None:
            if killed or p.finished >= p.total:
                return
            with open_journal(tmp_path / "sweep") as view:
                last = view.rows()  # the worker that just finished a task took the next one; so did the other
            finisher = {int(r.worker.rsplit(":", 1)[1]) for r in last}
            busy = [addr for addr, pid in pids.items() if pid not in finisher] or list(pids)
            assigned.extend(ex.client.processing()[busy[0]])  # the tasks the scheduler has given it
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(pids[busy[0]])

        final = run_sweep(grid, tmp_path / "sweep", executor=ex, memory_bytes=two, on_progress=kill_the_busy_one)
    assert len(killed) == 1 and assigned  # it died with work on it
    assert (final.total, final.done, final.failed) == (20, 20, 0)
    got = journaled(tmp_path / "sweep")
    assert len(got) == 20 and set(got) == set(grid.models)
    assert got == reference
