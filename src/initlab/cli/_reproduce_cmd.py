"""``initlab reproduce``: re-run a classic initialization paper and put its number beside ours.

``initlab reproduce --list`` shows the reproductions; ``initlab reproduce NAME`` checks its
settings and ``--out`` before any work, runs the scaled-down default (``--full``: the paper's
own size), saves the results and figures to ``DIR/NAME/`` at once, and prints the paper, its
setup, what was scaled down, the table of the paper's numbers beside ours with whether each
holds, the answer, and where the figures are.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

from .._validation import closest, quoted
from ._checks import UsageError, int64, reading
from ._experiment_cmds import MAX_SEEDS, _settings, _settings_table, _text, _warnings_as_lines
from ._terminal import print_table, progress

__all__ = ["DEFAULT_OUT", "add_parser", "reproduce"]

WHERE = "initlab reproduce"
#: where the results and figures go without --out
DEFAULT_OUT = "initlab-papers"


def add_parser(sub: Any) -> None:
    """The ``reproduce`` subcommand's arguments, on the subparsers object ``sub`` of the ``initlab`` parser."""
    r = sub.add_parser(
        "reproduce",
        help="re-run a classic initialization paper: its number beside ours, and its figure",
        description="Run the reproduction NAME on its scaled-down defaults (--full: the paper's own size), print "
        "the paper's numbers beside ours with whether each holds, and write the results and figures to DIR/NAME/. "
        "--list shows the reproductions.",
    )
    r.add_argument("name", metavar="NAME", nargs="?", help="a reproduction (see --list)")
    r.add_argument("--list", action="store_true", help="list the reproductions; with NAME, its settings and the "
                   "paper's size that --full runs")  # fmt: skip
    r.add_argument("--full", action="store_true", help="the paper's own size instead of the scaled-down default")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a setting (repeatable; 'initlab reproduce --list NAME' shows them)")  # fmt: skip
    r.add_argument("--seeds", type=int64, metavar="N", help=f"seeds per configuration (1 to {MAX_SEEDS})")
    r.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"write rows.csv, config.json, arrays.npz, answer.txt and figures to DIR/NAME/ "
                   f"(default ./{DEFAULT_OUT})")  # fmt: skip
    r.add_argument("--json", action="store_true", help="print the result as JSON")


def _list(out: TextIO, name: str | None) -> None:
    from ..papers import PAPERS, get

    if name is not None:
        module = get(_check_name(name))
        _settings_table(name, out, module.Config, command="reproduce")
        full = " ".join(f"--set '{k}={_text(v)}'" for k, v in module.Config.FULL.items())
        print(f"--full = {full}", file=out)
        return
    rows = []
    for name in PAPERS:
        paper = get(name).PAPER
        rows.append((name, f"{paper.authors} {paper.year}", paper.claim))
    print_table(out, rows, ("reproduction", "paper", "what it re-checks"))
    print("run one: initlab reproduce NAME (scaled down; --full for the paper's size)", file=out)


def _check_name(name: str) -> str:
    from ..papers import PAPERS

    if name not in PAPERS:
        near = closest(name, PAPERS)
        raise UsageError(
            f"{WHERE}: NAME must be one of {', '.join(PAPERS)}. Got {quoted(name)}."
            + (f" Did you mean {near!r}?" if near else "")
        )
    return name


def reproduce(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """--list, or: check everything, run, save data and figures at once, print the paper beside ours."""
    from .. import papers, results

    if args.list:
        if args.full or args.set or args.seeds is not None:
            raise UsageError(f"{WHERE}: --list takes no --full, --set or --seeds.")
        _list(out, args.name)
        return
    if args.name is None:
        raise UsageError(f"{WHERE}: give a NAME ({', '.join(papers.PAPERS)}) or --list.")
    _check_name(args.name)
    if args.seeds is not None and not 1 <= args.seeds <= MAX_SEEDS:
        raise UsageError(f"{WHERE}: --seeds must be an int from 1 to {MAX_SEEDS}. Got {args.seeds}.")
    settings = _settings(args.set, WHERE)
    with reading(f"{WHERE}: --set"):
        config = papers.make_config(args.name, settings, full=args.full, seeds=args.seeds)
    folder = results.check_target(args.out, args.name, arg="--out", where=WHERE)
    module = papers.get(args.name)
    with _warnings_as_lines(err), progress(err, args.name):
        result = module.run(config)
    saved = results.save(result, folder, figures=True)  # data and figures, at once
    figures = sorted(str(p) for p in saved.glob("*.png"))
    if args.json:
        doc = {"reproduction": result.name, "paper": module.PAPER.cite, "findings": result.tables[papers.TABLE],
               "claims": result.claims, "answer": result.answer, "out": str(saved), "figures": figures}  # fmt: skip
        print(json.dumps(doc, indent=2), file=out)
        return
    paper = module.PAPER
    print(f"{paper.cite}\n", file=out)
    print(f"paper's setup: {paper.setup}", file=out)
    print(f"here:          {paper.scaled}\n", file=out)
    rows = [(r["quantity"], r["paper"], r["ours"], r["holds"]) for r in result.tables[papers.TABLE]]
    print_table(out, rows, ("quantity", "paper", "ours", "holds"), title=f"{result.name}: paper vs ours")
    held = sum(result.claims.values())
    print(f"\n{held} of {len(result.claims)} hold. {result.answer}", file=out)
    for path in figures:
        print(f"figure: {path}", file=out)
    print(f"results: {saved}", file=out)
