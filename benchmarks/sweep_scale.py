"""Sweep scale: models per second, cells per second and peak memory of `initlab sweep run` on this machine.

The grid: the ``train`` experiment's default net (circles, 2 hidden layers of 8 relu units, full-batch
gradient descent), 5 weight schemes x as many learning rates (log-spaced from 0.001 to 1) as make the
models asked for with 4 seeds a cell: 1,000 models are 250 cells, 10,000 are 2,500; ``--steps`` steps
each.  For each size it runs, in a fresh process each (``initlab sweep run GRID --out DIR``, timed
from the outside, peak memory the largest sum of the resident sets of the driver and its workers,
sampled every 50 ms):

  local pool   ``--workers N`` (the default executor)
  dask local   ``--dask-local N`` (a LocalCluster of N single-threaded worker processes)

and, in this process, a plain Python loop that trains each model alone with ``initlab.train`` (on
``--loop-models`` models, then scaled to the grid's size: its cost per model does not depend on it).
Sizes in ``--extrapolate`` are not run: their time is the straight line through the two largest
sizes run.  Last, the journal's own cost: the rows of the largest run are recorded again into a fresh
journal in tasks of the sizes the sweep used, timed per row.

Usage:
  python benchmarks/sweep_scale.py                                  # 1,000 and 10,000 models, 100,000 extrapolated
  python benchmarks/sweep_scale.py --models 1000 --steps 100 --executors local
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SCHEMES = ["he_normal", "xavier_normal", "lecun_normal", "randn(scale=0.01)", "orthogonal"]
SEEDS = 4


def cells_of(models: int) -> int:
    return len(SCHEMES) * max(1, models // (len(SCHEMES) * SEEDS))


def grid_text(models: int, steps: int) -> str:
    rates = max(1, models // (len(SCHEMES) * SEEDS))
    return "\n".join([
        'experiment = "train"',
        f"seeds = {SEEDS}",
        "[settings]",
        'dataset = "circles"',
        f"steps = {steps}",
        f"record_every = {max(1, steps // 10)}",
        "[axes]",
        "weights = [" + ", ".join(f'"{s}"' for s in SCHEMES) + "]",
        f"lr = {{logspace = [0.001, 1.0, {rates}]}}",
        "",
    ])  # fmt: skip


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):  # a worker that exited between the two calls
            total += p.memory_info().rss
    return total


def run_cli(grid: Path, out: Path, executor: str, workers: int) -> dict[str, Any]:
    flag = ["--workers", str(workers)] if executor == "local" else ["--dask-local", str(workers)]
    cmd = [sys.executable, "-m", "initlab", "sweep", "run", str(grid), "--out", str(out), "--yes", *flag]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {stderr.strip()}")
    return {"wall": wall, "peak": peak}


def loop_seconds_per_model(n: int, steps: int) -> float:
    """A plain loop: each model built and trained alone with ``initlab.train`` (the engine picks its backend)."""
    import warnings

    import numpy as np

    from initlab import data
    from initlab.engine import MLP, init_params, train

    d = data.load("circles")
    net = MLP.make([2, 8, 8, 1], "relu", "bce")
    train(net, init_params(net.layer_dims, weights="he_normal", rng=0), d.X_train, d.Y_train, steps=2)  # warm up
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(n):
            scheme, lr = SCHEMES[k % len(SCHEMES)], 10 ** (-3 + 3 * (k % 7) / 6)
            params = init_params(net.layer_dims, weights=scheme, rng=k)
            h = train(net, params, d.X_train, d.Y_train, steps=steps, lr=lr, record_every=0)
            np.asarray(h.loss[-1])
    return (time.perf_counter() - start) / n


def journal_seconds_per_row(folder: Path, scratch: Path) -> tuple[float, int]:
    """The rows of a finished sweep recorded again into a fresh journal, one transaction per task as the driver
    records them (its tasks are at most 1/32 of a 2-worker grid's models)."""
    from initlab.sweep import open_for_run, open_journal

    view = open_journal(folder)
    grid, rows = view.grid(), view.rows()
    size = math.ceil(len(rows) / 32)
    batches = [rows[k : k + size] for k in range(0, len(rows), size)]
    with open_for_run(scratch, grid, "benchmark") as journal:
        start = time.perf_counter()
        for batch in batches:
            journal.record(batch)
        elapsed = time.perf_counter() - start
    return elapsed / len(rows), len(batches)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="1000,10000", help="grid sizes to run, in models (comma-separated)")
    ap.add_argument("--extrapolate", default="100000", help="grid sizes to extrapolate ('' for none)")
    ap.add_argument("--steps", type=int, default=200, help="training steps per model")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--executors", default="local,dask")
    ap.add_argument("--loop-models", type=int, default=200, help="models the plain loop trains (then scaled)")
    args = ap.parse_args()
    sizes = [int(s) for s in args.models.split(",") if s]
    far = [int(s) for s in args.extrapolate.split(",") if s]
    executors = [e for e in args.executors.split(",") if e]
    print(f"# {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}; {args.steps} steps a model; "
          f"{args.workers} workers", flush=True)  # fmt: skip
    table: list[tuple[str, int, float, float, str]] = []
    per_loop = loop_seconds_per_model(args.loop_models, args.steps)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        measured: dict[str, list[tuple[int, float]]] = {e: [] for e in executors}
        last_folder: Path | None = None
        for n in sizes:
            grid = root / f"grid{n}.toml"
            grid.write_text(grid_text(n, args.steps))
            for e in executors:
                folder = root / f"{e}{n}"
                r = run_cli(grid, folder, e, args.workers)
                measured[e].append((n, r["wall"]))
                table.append((e, n, r["wall"], r["peak"] / 2**20, "run"))
                print(f"{e:>10} {n:>7} models: {r['wall']:8.1f} s, peak {r['peak'] / 2**20:7.0f} MiB", flush=True)
                last_folder = folder
            table.append(("loop", n, per_loop * n, float("nan"), f"{args.loop_models} run, scaled"))
        for e, points in measured.items():
            if len(points) < 2:
                continue
            (n0, t0), (n1, t1) = points[-2], points[-1]
            slope = (t1 - t0) / (n1 - n0)
            for n in far:
                table.append((e, n, t1 + slope * (n - n1), float("nan"), "extrapolated"))
        for n in far:
            table.append(("loop", n, per_loop * n, float("nan"), "scaled"))
        print()
        print("| executor | models | cells | wall (s) | models/s | cells/s | peak memory (MiB) | how |")
        print("|---|--:|--:|--:|--:|--:|--:|---|")
        for e, n, wall, peak, how in table:
            cells = cells_of(n)
            peak_text = "" if math.isnan(peak) else f"{peak:.0f}"
            rates = f"{n / wall:,.0f} | {cells / wall:.2f}"
            print(f"| {e} | {n:,} | {cells} | {wall:.1f} | {rates} | {peak_text} | {how} |")
        if last_folder is not None:
            per_row, tasks = journal_seconds_per_row(last_folder, root / "journal-again")
            print(f"\njournal: {per_row * 1e6:.0f} us per row recorded ({tasks} tasks, one transaction each)")


if __name__ == "__main__":
    main()
