"""The sweep journal: schema, exact round trip, resume, refusals, the lock across real processes, kill -9."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from initlab.sweep import Grid, parse_grid
from initlab.sweep._journal import (
    GRID_FILE,
    JOURNAL_FILE,
    LOCK_FILE,
    SCHEMA_VERSION,
    SweepLockedError,
    dumps,
    loads,
    open_for_run,
    open_journal,
)
from initlab.sweep._status import status
from initlab.sweep._types import WHOLE_RUN, Row

HERE = Path(__file__).resolve().parent


def make_grid(widths: tuple[int, ...] = (2, 3, 4), seeds: tuple[int, ...] = (0, 1), experiment: str = "train") -> Grid:
    """A real grid over the axis ``width``; ``seeds`` only for per-model experiments (``train``)."""
    seeds_line = f"seeds = {list(seeds)}\n" if experiment == "train" else ""
    return parse_grid(f'experiment = "{experiment}"\n{seeds_line}[axes]\nwidth = {list(widths)}\n', "g.toml")


# floats whose bits a careless store would change
TRICKY = [0.1, -0.0, 0.0, 5e-324, 2.2250738585072014e-308 / 3, 1e308, -1.7976931348623157e308, 1 / 3, 2.0**-1074]


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same_bits(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or bits(a) == bits(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_bits(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_bits(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def tricky_rows(grid: Grid) -> list[Row]:
    (c0, s0), (c1, s1), (c2, s2) = grid.models[:3]
    curve = [*TRICKY, math.nan, math.inf, -math.inf]
    return [
        Row(c0, s0, "done", {"final_loss": 0.1, "min_loss": -0.0, "curve": curve}, seconds=0.25, worker="h:1"),
        Row(c1, s1, "diverged", {"final_loss": math.nan, "last_finite_loss": 5e-324}, diverged_at=7, worker="h:2"),
        Row(c2, s2, "failed", {}, error="ValueError: boom", seconds=1e-9, worker="h:3"),
    ]


def test_dumps_round_trip_keeps_every_bit() -> None:
    for x in [*TRICKY, math.inf, -math.inf]:
        assert bits(loads(dumps(x))) == bits(x)
    assert math.isnan(loads(dumps(math.nan)))
    # negative control: a store through float32 (or a rounded text) would not keep them
    assert struct.pack("<d", float(struct.unpack("<f", struct.pack("<f", 0.1))[0])) != bits(0.1)


def test_schema_and_round_trip(tmp_path: Path) -> None:
    grid = make_grid()
    out = tmp_path / "a" / "b"  # parents are made
    with open_for_run(out, grid, "initlab sweep run g.toml") as journal:
        assert journal.record(tricky_rows(grid)) == 3
        assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert journal.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(JOURNAL_FILE + "-")) == [
        LOCK_FILE,
        GRID_FILE,
        JOURNAL_FILE,
    ]
    assert (out / GRID_FILE).read_text() == grid.text
    with open_journal(out) as view:
        assert view.meta["schema_version"] == SCHEMA_VERSION
        assert view.meta["experiment"] == "train"
        assert view.meta["seeds"] == [0, 1]
        assert view.meta["axes"] == ["width"]
        assert view.meta["models"] == 6
        assert view.meta["command"] == "initlab sweep run g.toml"
        assert set(view.meta["versions"]) == {"initlab", "numpy", "python", "platform"}
        assert view.cells() == list(grid.cells)
        rows = view.rows()
        assert len(rows) == 3
        for got, want in zip(rows, tricky_rows(grid), strict=True):
            assert (got.cell, got.seed, got.status, got.diverged_at, got.error, got.worker) == (
                want.cell,
                want.seed,
                want.status,
                want.diverged_at,
                want.error,
                want.worker,
            )
            assert bits(got.seconds) == bits(want.seconds)
            assert same_bits(got.metrics, want.metrics)
        assert not same_bits(rows[0].metrics, {**rows[0].metrics, "min_loss": 0.0})  # -0.0 is told from 0.0
        assert view.integrity() == "ok"
        assert view.counts() == {"done": 1, "diverged": 1, "failed": 1, "missing": 3, "total": 6}
        columns = [r[1] for r in view._conn.execute("PRAGMA table_info(results)")]
        assert columns[:2] == ["cell", "seed"] and "finished" in columns and "versions" in columns
    # the status column refuses anything else, at the database itself
    conn = sqlite3.connect(out / JOURNAL_FILE)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO results VALUES ('x', 0, 'running', '{}', NULL, NULL, 0, '', '{}', '')")
    conn.close()


def test_numpy_values_are_stored_as_plain_floats(tmp_path: Path) -> None:
    import numpy as np

    grid = make_grid()
    with open_for_run(tmp_path, grid, "c") as journal:
        curve = np.array([0.1, np.nan, 3.0], dtype=np.float32)
        journal.record([Row(grid.models[0][0], 0, "done", {"a": np.float64(0.1), "c": curve})])
    with open_journal(tmp_path) as view:
        (row,) = view.rows()
    assert bits(row.metrics["a"]) == bits(0.1)
    assert [bits(x) for x in row.metrics["c"][::2]] == [bits(float(np.float32(0.1))), bits(3.0)]


def test_a_model_is_written_once(tmp_path: Path) -> None:
    grid = make_grid()
    cell, seed = grid.models[0]
    with open_for_run(tmp_path, grid, "c") as journal:
        assert journal.record([Row(cell, seed, "done", {"final_loss": 1.0})]) == 1
        assert journal.record([Row(cell, seed, "done", {"final_loss": 2.0})]) == 0
        # a batch with a repeat inside it and a new model: only the new one
        new = grid.models[1]
        assert journal.record([Row(cell, seed, "failed", error="x"), Row(*new, "done"), Row(*new, "done")]) == 1
        assert journal.counts()["done"] == 2
    with open_journal(tmp_path) as view:
        rows = view.rows()
    assert [(r.cell, r.seed, r.metrics) for r in rows] == [(cell, seed, {"final_loss": 1.0}), (*new, {})]


def test_a_row_outside_the_grid_is_a_bug_and_nothing_is_written(tmp_path: Path) -> None:
    grid = make_grid()
    with open_for_run(tmp_path, grid, "c") as journal:
        good = Row(*grid.models[0], "done")
        with pytest.raises(ValueError, match="not a model of this sweep"):
            journal.record([good, Row(grid.models[0][0], 99, "done")])
        with pytest.raises(ValueError, match="status 'running'"):
            journal.record([good, Row(*grid.models[1], "running")])
        assert journal.counts()["done"] == 0


def test_missing_and_resume(tmp_path: Path) -> None:
    grid = make_grid()
    with open_for_run(tmp_path, grid, "first") as journal:
        assert journal.missing() == grid.models
        journal.record([Row(*grid.models[i], "done", {"i": float(i)}) for i in (0, 3, 4)])
        assert journal.missing() == [grid.models[i] for i in (1, 2, 5)]
    # the same grid again: the same journal, only the rest missing; its grid.toml was kept
    (tmp_path / GRID_FILE).unlink()
    with open_for_run(tmp_path, make_grid(), "second") as journal:
        assert journal.missing() == [grid.models[i] for i in (1, 2, 5)]
        assert journal.record([Row(*m, "done") for m in grid.models]) == 3
        assert journal.missing() == []
        assert journal.counts() == {"done": 6, "diverged": 0, "failed": 0, "missing": 0, "total": 6}
    assert (tmp_path / GRID_FILE).read_text() == grid.text
    with open_journal(tmp_path) as view:
        assert view.meta["command"] == "first"  # the journal's creator
        assert [r.metrics.get("i") for r in view.rows()] == [0.0, None, None, 3.0, 4.0, None]


def test_forget_failed_makes_failed_models_missing_again(tmp_path: Path) -> None:
    grid = make_grid()
    m = grid.models
    with open_for_run(tmp_path, grid, "c") as journal:
        journal.record([Row(*m[0], "done"), Row(*m[1], "failed", error="E"), Row(*m[2], "diverged", diverged_at=1)])
        journal.record([Row(*m[4], "failed", error="E")])
        assert journal.forget_failed() == 2
        assert journal.missing() == [m[1], m[3], m[4], m[5]]
        assert journal.counts() == {"done": 1, "diverged": 1, "failed": 0, "missing": 4, "total": 6}
        assert journal.forget_failed() == 0


def test_a_whole_run_grid_and_the_stored_grid(tmp_path: Path) -> None:
    grid = make_grid(experiment="scale")
    assert grid.seeds == (WHOLE_RUN,)
    claims = {"claims_held": 1.0, "claims_total": 2.0, "all_claims_hold": 0.0, "claim: large weights saturate": 1.0}
    with open_for_run(tmp_path, grid, "c") as journal:
        assert journal.missing() == [(c.key, WHOLE_RUN) for c in grid.cells]
        assert journal.record([Row(grid.cells[1].key, WHOLE_RUN, "done", claims)]) == 1
    with open_journal(tmp_path) as view:
        stored = view.grid()
        (row,) = view.rows()
    assert stored.experiment == "scale" and stored.cells == grid.cells and stored.models == grid.models
    assert (row.cell, row.seed, row.metrics) == (grid.cells[1].key, WHOLE_RUN, claims)


@pytest.mark.parametrize(
    "other",
    [make_grid(widths=(2, 3, 5)), make_grid(seeds=(0, 1, 2)), make_grid(experiment="scale"), make_grid(widths=(2, 3))],
)
def test_a_different_grid_is_refused(tmp_path: Path, other: Grid) -> None:
    with open_for_run(tmp_path, make_grid(), "c") as journal:
        journal.record([Row(*journal.grid.models[0], "done")])
    with pytest.raises(ValueError, match="must hold this grid's sweep") as err:
        open_for_run(tmp_path, other, "c")
    msg = str(err.value)
    assert "\n" not in msg and msg.endswith("instead: use another --out.")
    assert f"(experiment {other.experiment!r}, {len(other.cells)} cells, seeds {list(other.seeds)})" in msg
    assert "Got a different sweep (experiment 'train', 3 cells, seeds [0, 1], from g.toml)" in msg
    # the refusal let go of the lock and changed nothing
    with open_for_run(tmp_path, make_grid(), "c") as journal:
        assert journal.counts()["done"] == 1


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="must be new, empty or a sweep's folder.*notes.txt") as err:
        open_for_run(tmp_path, make_grid(), "c")
    assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing written
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="must be a folder. Got a file"):
        open_for_run(tmp_path / "file", make_grid(), "c")
    with pytest.raises(ValueError, match="must hold a sweep's journal.sqlite .* Got a folder without a journal"):
        open_journal(tmp_path)
    with pytest.raises(ValueError, match="Got nothing there"):
        open_journal(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / JOURNAL_FILE).write_text("not a database, just text " * 100)
    with pytest.raises(ValueError, match="must be a sweep journal") as err:
        open_for_run(tmp_path / "bad", make_grid(), "c")
    assert "\n" not in str(err.value)
    # an empty folder is fine
    (tmp_path / "empty").mkdir()
    open_for_run(tmp_path / "empty", make_grid(), "c").close()


# -- real processes ---------------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {here!r})
    from test_sweep_journal import make_grid
    from initlab.sweep._journal import open_for_run
    from initlab.sweep._types import Row
    """
)


def spawn(out: Path, body: str) -> subprocess.Popen[str]:
    code = CHILD.format(here=str(HERE)) + textwrap.dedent(body).format(out=str(out))
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def wait_line(proc: subprocess.Popen[str], want: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == want, f"the child said {line!r} (exit {proc.poll()})"


HOLD = """
journal = open_for_run({out!r}, make_grid(), "initlab sweep run g.toml")
print("ready", flush=True)
sys.stdin.readline()
journal.close()
print("closed", flush=True)
"""


def holder(out: Path) -> dict[str, Any] | None:
    with open_journal(out) as view:
        return view.holder()


def test_a_second_driver_is_refused_with_the_first_ones_name(tmp_path: Path) -> None:
    with spawn(tmp_path, HOLD) as first:
        wait_line(first, "ready")
        with pytest.raises(SweepLockedError) as err:
            open_for_run(tmp_path, make_grid(), "initlab sweep run other.toml")
        msg = str(err.value)
        assert f"(pid {first.pid} on host " in msg and "`initlab sweep run g.toml`, since 20" in msg, msg
        assert msg.startswith(f"{tmp_path} is being written by another sweep") and msg.endswith("or stop it.")
        assert "\n" not in msg
        # readers see who holds it, and can read meanwhile
        info = holder(tmp_path)
        assert info is not None and info["pid"] == first.pid and info["command"] == "initlab sweep run g.toml"
        with open_journal(tmp_path) as view:
            assert view.counts()["missing"] == 6
        assert status(tmp_path).to_dict()["running"] is True
        assert first.stdin is not None
        first.stdin.write("go\n")
        first.stdin.flush()
        wait_line(first, "closed")
        assert first.wait(timeout=30) == 0
    assert holder(tmp_path) is None
    open_for_run(tmp_path, make_grid(), "c").close()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    with spawn(tmp_path, HOLD) as first:
        wait_line(first, "ready")
        assert holder(tmp_path) is not None
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    assert holder(tmp_path) is None  # the lock file is still there, with the dead holder's name
    assert str(first.pid) in (tmp_path / LOCK_FILE).read_text()
    with open_for_run(tmp_path, make_grid(), "c") as journal:
        assert journal.missing() == make_grid().models


BATCH = 7
WRITER = """
grid = make_grid(widths=tuple(range(2, 32)), seeds=tuple(range(300)))  # 9000 models
journal = open_for_run({out!r}, grid, "writer")
print("ready", flush=True)
models = grid.models
for n, start in enumerate(range(0, len(models), 7)):
    rows = [Row(c, s, "done", {{"curve": [float(s) / 3] * 500, "seed": float(s)}}) for c, s in models[start : start + 7]]
    journal.record(rows)
    print(n + 1, flush=True)
sys.stdin.readline()
"""


def test_kill_9_in_the_middle_of_writing_loses_no_committed_row(tmp_path: Path) -> None:
    with spawn(tmp_path, WRITER) as writer:
        assert writer.stdout is not None
        wait_line(writer, "ready")
        committed = 0
        while committed < 40:  # let it commit a good number of transactions, then kill it while it goes on
            line = writer.stdout.readline()
            assert line, f"the writer stopped (exit {writer.poll()})"
            committed = int(line)
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=30) == -signal.SIGKILL
    with open_journal(tmp_path) as view:
        assert view.integrity() == "ok"
        rows = view.rows()
    # every transaction reported as committed is there; none is there in part
    assert len(rows) >= committed * BATCH
    assert len(rows) % BATCH == 0 and len(rows) < 9000, len(rows)
    grid = make_grid(widths=tuple(range(2, 32)), seeds=tuple(range(300)))
    assert [(r.cell, r.seed) for r in rows] == grid.models[: len(rows)]
    assert all(r.metrics == {"curve": [r.seed / 3] * 500, "seed": float(r.seed)} for r in rows)
    # a driver picks it up again where it stopped
    with open_for_run(tmp_path, grid, "resume") as journal:
        assert journal.missing() == grid.models[len(rows) :]


# -- status -----------------------------------------------------------------------------------------------------


def test_status_lines_on_a_real_journal(tmp_path: Path) -> None:
    grid = make_grid()
    m = grid.models
    with open_for_run(tmp_path, grid, "initlab sweep run g.toml") as journal:
        journal.record([Row(*m[0], "done"), Row(*m[1], "done")])
        time.sleep(0.01)  # the two batches get distinct times (a rate needs a span)
        journal.record(
            [
                Row(*m[2], "diverged", diverged_at=3),
                Row(*m[3], "failed", error="ValueError: bad width"),
                Row(*m[5], "failed", error="ValueError: bad width"),
            ]
        )
        running = status(tmp_path)
        assert running.holder is not None and running.holder["pid"] == os.getpid()
        assert any(line.startswith(f"running: yes (pid {os.getpid()} on host ") for line in running.lines())
    st = status(tmp_path)
    lines = st.lines()
    assert lines[0] == f"sweep {tmp_path}: experiment train, grid g.toml"
    assert lines[1] == "models: 2 done (33.3%), 1 diverged (16.7%), 2 failed (33.3%), 1 missing (16.7%) of 6"
    assert lines[2] == "cells complete: 2 of 3"  # the first (two done) and the second (diverged + failed)
    assert lines[3] == "running: no"
    assert lines[4].startswith("results: first 20") and "models per second" in lines[4]
    assert lines[5:] == ["failed (2): ValueError: bad width"]
    data = st.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["counts"]["missing"] == 1 and data["running"] is False and data["models_per_second"] > 0


def test_status_of_a_new_sweep(tmp_path: Path) -> None:
    open_for_run(tmp_path, make_grid(), "c").close()
    st = status(tmp_path)
    assert st.lines()[1] == "models: 0 done (0.0%), 0 diverged (0.0%), 0 failed (0.0%), 6 missing (100.0%) of 6"
    assert st.first is None and st.models_per_second is None and len(st.lines()) == 4
