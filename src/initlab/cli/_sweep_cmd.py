"""``initlab sweep``: a grid of runs declared in a TOML file, run here or on a Dask cluster, every result kept.

- ``initlab sweep plan GRID``: the cells, the models, the ensembles and tasks they group into, and an
  estimate of the memory and time (nothing is run or written);
- ``initlab sweep run GRID [--out DIR]``: runs the models DIR's journal does not hold yet (so the same
  command resumes a stopped sweep, and does nothing on a finished one), on a local process pool or on
  Dask (``--dask-local N``, ``--scheduler tcp://...``), with a progress bar on stderr;
- ``initlab sweep status DIR``, ``initlab sweep export DIR --parquet FILE``, ``initlab sweep report DIR``.

The grid is read and checked whole before anything runs: each problem is one line on stderr, exit 2,
nothing written.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from .._validation import format_duration
from ._checks import UsageError, int64

__all__ = ["DEFAULT_MEMORY_MIB", "DEFAULT_OUT", "add_parser", "sweep"]

WHERE = "initlab sweep"
#: where ``sweep run GRID`` writes without --out: ``initlab-sweeps/<the grid file's name without .toml>``
DEFAULT_OUT = "initlab-sweeps"
#: the memory one task (one worker's ensemble) may take, in MiB, without --memory
DEFAULT_MEMORY_MIB = 512


def add_parser(sub: Any) -> None:
    """The ``sweep`` command and its subcommands, on the subparsers object ``sub`` of the ``initlab`` parser."""
    s = sub.add_parser(
        "sweep",
        help="a grid of runs from a TOML file: plan, run (here or on Dask), status, export, report",
        description="Declare a grid once in a TOML file (an experiment and the values of each axis), then plan it, "
        "run it (resumable: the same command runs only what the journal in DIR lacks), follow it, export it to "
        "Parquet and draw its heat maps. Examples: examples/sweeps/*.toml.",
    )
    actions = s.add_subparsers(dest="action", metavar="ACTION", parser_class=type(s))
    actions.required = True

    def budget(p: Any) -> None:
        p.add_argument(
            "--memory",
            type=int64,
            default=DEFAULT_MEMORY_MIB,
            metavar="MIB",
            help=f"memory one task (one worker's ensemble) may take, in MiB (default {DEFAULT_MEMORY_MIB})",
        )
        p.add_argument("--yes", action="store_true", help="run a grid larger than the cell limit")  # fmt: skip

    p = actions.add_parser("plan", help="cells, models, ensembles, tasks, and the memory and time they need")
    p.add_argument("grid", metavar="GRID", help="the grid file (.toml)")
    p.add_argument("--workers", type=int64, default=os.cpu_count() or 1, metavar="N",
                   help="workers the time estimate assumes (default: this machine's cores)")  # fmt: skip
    budget(p)

    r = actions.add_parser("run", help="run the models the journal in DIR does not hold yet")
    r.add_argument("grid", metavar="GRID", help="the grid file (.toml)")
    r.add_argument("--out", metavar="DIR", help=f"the sweep's folder (default ./{DEFAULT_OUT}/<grid name>)")
    where = r.add_mutually_exclusive_group()
    where.add_argument(
        "--workers",
        type=int64,
        metavar="N",
        help="local worker processes (default: this machine's cores; 0 runs in this process)",
    )
    where.add_argument("--dask-local", type=int64, metavar="N", help="a local Dask cluster of N worker processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://10.0.0.1:8786")
    r.add_argument("--retry-failed", action="store_true", help="run the models recorded as failed again")
    r.add_argument("--json", action="store_true", help="print the final counts as JSON")  # fmt: skip
    budget(r)

    st = actions.add_parser("status", help="how far the sweep in DIR is: done, diverged, failed, missing")
    st.add_argument("folder", metavar="DIR")
    st.add_argument("--json", action="store_true", help="print the status as JSON")

    e = actions.add_parser("export", help="write the results as one tidy Parquet table (atomically)")
    e.add_argument("folder", metavar="DIR")
    e.add_argument("--parquet", required=True, metavar="FILE", help="the table to write (.parquet)")

    rp = actions.add_parser("report", help="write DIR/report.html: heat maps over two axes, curves, counts")
    rp.add_argument("folder", metavar="DIR")
    rp.add_argument("--x", metavar="AXIS", help="the heat maps' x axis (default: the grid's [report] x)")
    rp.add_argument("--y", metavar="AXIS", help="the heat maps' y axis (default: the grid's [report] y)")
    rp.add_argument("--metric", metavar="NAME", help="what the heat maps show (default: the grid's [report] metric)")


def _memory(args: argparse.Namespace) -> int:
    if not 1 <= args.memory <= 1 << 30:
        raise UsageError(f"{WHERE} {args.action}: --memory must be an int of MiB >= 1. Got {args.memory}.")
    return int(args.memory) << 20


def _workers(value: int | None, flag: str, action: str, low: int = 1) -> int | None:
    if value is not None and not low <= value <= 1024:
        raise UsageError(f"{WHERE} {action}: {flag} must be an int from {low} to 1024. Got {value}.")
    return value


def _grid(args: argparse.Namespace) -> Any:
    from ..sweep import load_grid

    return load_grid(args.grid, yes=args.yes)


def _plan(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    from ..sweep import plan

    workers = _workers(args.workers, "--workers", "plan")
    grid = _grid(args)
    for line in plan(grid, memory_bytes=_memory(args), workers=workers or 1).lines():
        print(line, file=out)


def _command(args: argparse.Namespace, out_dir: Path) -> str:
    parts = ["initlab", "sweep", "run", args.grid, "--out", str(out_dir)]
    if args.memory != DEFAULT_MEMORY_MIB:
        parts += ["--memory", str(args.memory)]
    if args.yes:
        parts.append("--yes")
    return " ".join(shlex.quote(p) for p in parts)


def _executor(args: argparse.Namespace) -> Any:
    from ..sweep import DaskExecutor, InProcessExecutor, LocalExecutor

    if args.scheduler is not None:
        return DaskExecutor(scheduler=args.scheduler)
    if args.dask_local is not None:
        return DaskExecutor(local_workers=args.dask_local)
    if args.workers == 0:
        return InProcessExecutor()
    return LocalExecutor(args.workers or os.cpu_count() or 1)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    from ..sweep import run_sweep

    _workers(args.workers, "--workers", "run", low=0)
    _workers(args.dask_local, "--dask-local", "run")
    memory = _memory(args)
    grid = _grid(args)  # the whole grid is checked before anything is written
    folder = Path(args.out) if args.out else Path(DEFAULT_OUT) / Path(args.grid).stem
    with _executor(args) as executor, _bar(err) as on_progress:
        final = run_sweep(grid, folder, executor=executor, memory_bytes=memory, command=_command(args, folder),
                          on_progress=on_progress, retry_failed=args.retry_failed)  # fmt: skip
    counts = {"total": final.total, "done": final.done, "diverged": final.diverged, "failed": final.failed}
    if args.json:
        print(json.dumps({"out": str(folder), **counts, "seconds": round(final.elapsed, 3)}), file=out)
        return
    print(f"{folder}: {final.total} models: {final.done} done, {final.diverged} diverged, {final.failed} failed "
          f"({final.elapsed:.1f} s this run)", file=out)  # fmt: skip
    print(f"next: initlab sweep report {shlex.quote(str(folder))}", file=out)


@contextmanager
def _bar(err: TextIO) -> Iterator[Any]:
    """A progress callback: a rich bar with done, diverged, failed and an ETA on a terminal, else nothing."""
    if not err.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(file=err, highlight=False)
    columns = (TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("models: {task.fields[counts]}"),
               TextColumn("{task.fields[eta]}"))  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bars:
        task = bars.add_task("sweep", total=None, counts="", eta="")

        def update(p: Any) -> None:
            ended = p.done + p.diverged + p.failed
            counts = f"done {p.done}, diverged {p.diverged}, failed {p.failed}"
            eta = "" if p.eta is None else f"ETA {format_duration(p.eta)}"  # the driver's, weighted by each task's cost
            bars.update(task, completed=ended, total=p.total, counts=counts, eta=eta)

        yield update


def _status(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    from ..sweep import status

    s = status(Path(args.folder))
    if args.json:
        print(json.dumps(s.to_dict(), indent=2), file=out)
        return
    for line in s.lines():
        print(line, file=out)


def _export(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    from ..sweep import export_parquet

    start = time.perf_counter()
    n = export_parquet(Path(args.folder), Path(args.parquet))
    print(f"{args.parquet}: {n} rows ({time.perf_counter() - start:.1f} s)", file=out)


def _report(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    from ..sweep import write_report

    path = write_report(Path(args.folder), x=args.x, y=args.y, metric=args.metric)
    print(f"report: {path}", file=out)


_ACTIONS = {"plan": _plan, "run": _run, "status": _status, "export": _export, "report": _report}


def sweep(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """Dispatch ``initlab sweep ACTION``."""
    _ACTIONS[args.action](args, out, err)
