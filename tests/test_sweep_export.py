"""Parquet export of a sweep journal: exact values, the columns, one-line refusals, atomic writes under kill -9."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from initlab.sweep._export import export_parquet
from initlab.sweep._journal import open_for_run, open_journal
from initlab.sweep._types import Row

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the journal's tests hold the helpers (import-mode=importlib)
from test_sweep_journal import BATCH, WRITER, bits, make_grid, same_bits, spawn, tricky_rows, wait_line


def test_round_trip_is_bit_identical(tmp_path: Path) -> None:
    grid = make_grid()
    out = tmp_path / "sweep"
    with open_for_run(out, grid, "c") as journal:
        journal.record(tricky_rows(grid))
    file = tmp_path / "all.parquet"
    assert export_parquet(out, file) == 3
    table = pq.read_table(file)
    assert table.column_names == [
        "cell",
        "seed",
        "status",
        "diverged_at",
        "error",
        "seconds",
        "worker",
        "finished",
        "width",
        "config",
        "final_loss",
        "min_loss",
        "curve",
        "last_finite_loss",
    ]
    assert table.schema.field("final_loss").type == pa.float64()
    assert table.schema.field("curve").type == pa.list_(pa.float64())
    assert table.schema.field("finished").type == pa.timestamp("ms", tz="UTC")
    meta = json.loads(table.schema.metadata[b"initlab.sweep"])
    assert meta["experiment"] == "train" and meta["grid_text"] == grid.text
    with open_journal(out) as view:
        rows = view.rows()
        cells = {c.key: c for c in view.cells()}
    got = table.to_pylist()
    assert len(got) == len(rows) == 3
    for g, r in zip(got, rows, strict=True):
        assert (g["cell"], g["seed"], g["status"], g["diverged_at"], g["error"], g["worker"]) == (
            r.cell,
            r.seed,
            r.status,
            r.diverged_at,
            r.error,
            r.worker,
        )
        assert bits(g["seconds"]) == bits(r.seconds)
        assert g["width"] == cells[r.cell].axes["width"]
        assert json.loads(g["config"]) == cells[r.cell].config
        # every metric the row has comes back bit for bit; a metric it lacks is null (not NaN)
        assert same_bits({k: g[k] for k in r.metrics}, r.metrics)
        assert all(g[k] is None for k in ("final_loss", "min_loss", "curve", "last_finite_loss") if k not in r.metrics)
    assert math.isnan(got[1]["final_loss"]) and bits(got[0]["min_loss"]) == bits(-0.0)
    assert bits(got[1]["last_finite_loss"]) == bits(5e-324)
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_bad_files_are_refused_in_one_line(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    open_for_run(out, make_grid(), "c").close()
    (tmp_path / "dir.parquet").mkdir()
    cases = {
        tmp_path / "x.csv": "must end in '.parquet'",
        tmp_path / "dir.parquet": "must be a file, not a folder",
        tmp_path / "nowhere" / "x.parquet": "folder must exist",
    }
    for file, message in cases.items():
        with pytest.raises(ValueError, match=message) as err:
            export_parquet(out, file)
        assert "\n" not in str(err.value) and str(file) in str(err.value)
    with pytest.raises(ValueError, match="must hold a sweep's journal.sqlite"):
        export_parquet(tmp_path, tmp_path / "x.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.parquet", "sweep"]  # nothing written


def test_an_empty_journal_exports_an_empty_table(tmp_path: Path) -> None:
    open_for_run(tmp_path / "s", make_grid(), "c").close()
    assert export_parquet(tmp_path / "s", tmp_path / "e.parquet") == 0
    table = pq.read_table(tmp_path / "e.parquet")
    assert table.num_rows == 0 and table.column_names[:2] == ["cell", "seed"] and "width" in table.column_names


BIG = make_grid(widths=tuple(range(2, 32)), seeds=tuple(range(100)))  # 30 cells x 100 seeds = 3000 models


def big_journal(out: Path, n: int) -> None:
    with open_for_run(out, BIG, "c") as journal:
        journal.record(
            [Row(c, s, "done", {"final_loss": s / 7, "curve": [s / 3] * 20}, seconds=0.5) for c, s in BIG.models[:n]]
        )


PAUSED_EXPORT = textwrap.dedent(
    """
    import sys
    import pyarrow.parquet as pq
    from initlab.sweep import _export

    _export.BATCH_ROWS = 300
    write = pq.ParquetWriter.write_table
    calls = []

    def write_and_pause(self, table, *args, **kwargs):
        write(self, table, *args, **kwargs)
        calls.append(1)
        if len(calls) == 2:  # half way: two row groups of ten are in the temp file
            print("mid", flush=True)
            sys.stdin.readline()

    pq.ParquetWriter.write_table = write_and_pause
    print(_export.export_parquet(sys.argv[1], sys.argv[2]), flush=True)
    """
)


def killed_export(out: Path, file: Path) -> Path:
    """Run an export in another process, kill -9 it half way through writing; return the temp file it left."""
    with subprocess.Popen(
        [sys.executable, "-c", PAUSED_EXPORT, str(out), str(file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        wait_line(proc, "mid")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    tmp = file.with_name(f"{file.name}.tmp-{proc.pid}")
    assert tmp.is_file() and tmp.stat().st_size > 0
    return tmp


def test_kill_9_during_export_leaves_no_or_the_previous_whole_file(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    big_journal(out, 3000)
    file = tmp_path / "big.parquet"
    tmp = killed_export(out, file)
    assert not file.exists()
    with pytest.raises(pa.ArrowInvalid):  # the half-written temp file is not a Parquet file (negative control)
        pq.read_table(tmp)
    # the next export removes the dead one's temp file and writes the whole file
    assert export_parquet(out, file) == 3000
    assert not tmp.exists()
    previous = file.read_bytes()
    assert pq.read_table(file).num_rows == 3000
    # killed again: the previous whole file stays, byte for byte
    tmp = killed_export(out, file)
    assert file.read_bytes() == previous
    assert export_parquet(out, file) == 3000
    assert not tmp.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["big.parquet", "sweep"]
    table = pq.read_table(file)
    assert table.column("curve")[2999].as_py() == [99 / 3] * 20
    assert bits(table.column("final_loss")[2999].as_py()) == bits(99 / 7)


def test_export_while_a_driver_writes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    with spawn(out, WRITER) as writer:
        assert writer.stdout is not None
        wait_line(writer, "ready")
        committed = 0
        while committed < 20:
            committed = int(writer.stdout.readline())
        n = export_parquet(out, tmp_path / "live.parquet")
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    # a snapshot: whole transactions only, every row whole
    assert n >= committed * BATCH and n % BATCH == 0
    rows: list[dict[str, Any]] = pq.read_table(tmp_path / "live.parquet").to_pylist()
    assert len(rows) == n
    assert all(r["curve"] == [r["seed"] / 3] * 500 and r["status"] == "done" for r in rows)
