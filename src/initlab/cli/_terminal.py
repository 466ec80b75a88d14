"""What the command line draws: tables on stdout and progress bars on stderr, with rich.

rich is imported inside the functions, so ``import initlab`` and ``initlab --help`` never load it.
On a terminal, tables have a header and rules; elsewhere (a pipe, a file) the same table is
plain aligned text without colours or trailing spaces, one row per line, never wrapped, so that
``grep`` and ``cut`` work.  Progress bars are drawn only when stderr is a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["print_table", "progress", "say"]


def print_table(
    out: TextIO,
    rows: Sequence[Sequence[str]],
    headers: Sequence[str],
    *,
    title: str | None = None,
    show_header: bool = True,
) -> None:
    """Print ``rows`` under ``headers``: a rich table on a terminal, aligned plain text elsewhere."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    terminal = out.isatty()
    console = Console(
        file=out,
        force_terminal=terminal,
        no_color=not terminal,
        highlight=False,
        width=None if terminal else 100_000,  # off a terminal, never wrap a row
    )
    table = Table(
        *headers,
        box=box.SIMPLE_HEAD if terminal else None,
        show_header=terminal and show_header,
        pad_edge=False,
        title=title if terminal else None,
        title_justify="left",
    )
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # text as given: "tuple[int, ...]" is not markup
    if terminal:
        console.print(table)
        return
    with console.capture() as captured:
        console.print(table)
    for line in captured.get().splitlines():
        print(line.rstrip(), file=out)


def say(err: TextIO, text: str) -> None:
    """One line on ``err`` (progress notes and skips), flushed at once."""
    print(text, file=err, flush=True)


@contextmanager
def progress(err: TextIO, label: str) -> Iterator[None]:
    """While the block runs, every training run of the engine draws a bar on ``err`` (a terminal only).

    One bar per experiment, restarted for each training run, then one closing line with the
    number of runs and the time taken.  Off a terminal nothing is drawn.
    """
    from ..engine import reporting_progress

    if not err.isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(file=err, highlight=False)
    start = time.perf_counter()
    state: dict[str, Any] = {"runs": 0, "open": False}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=console, transient=True) as bars:
        task = bars.add_task(label, total=None)

        def report(done: int, total: int) -> None:
            if not state["open"]:  # a new training run starts
                state["runs"] += 1
                state["open"] = True
                bars.reset(task, total=total, description=f"{label}, training run {state['runs']}")
            bars.update(task, completed=done, total=total)
            if done >= total:
                state["open"] = False

        with reporting_progress(report):
            yield
    runs = state["runs"]
    console.print(f"{label}: {runs} training run{'s' * (runs != 1)}, {time.perf_counter() - start:.0f} s")
