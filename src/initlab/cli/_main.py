"""The ``initlab`` command line: the only module that prints.

Bad input never produces a traceback: one line on stderr, exit code 2, nothing written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .._validation import InitlabError
from .._version import __version__
from ..engine import reporting_progress
from ..initializers import INITIALIZERS, Explanation, aliases, explain, names

__all__ = ["main"]

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad command-line input: reported on one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit; we report one line
        raise UsageError(f"{self.prog}: {message}")


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="initlab", description="See, check and choose how a neural network starts.")
    parser.add_argument("--version", action="version", version=f"initlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "init",
        help="explain a scheme on a shape, then draw it and measure the result",
        description="Print the plan of SCHEME on --shape (formula, fans, gain, std or bounds), "
        "then draw the tensor and print its realized statistics.",
    )
    p.add_argument("scheme", metavar="SCHEME", help="a scheme name or spec, e.g. he_normal or 'normal(std=0.01)'")
    p.add_argument(
        "--shape",
        type=int,
        nargs="+",
        required=True,
        metavar="N",
        help="the weight's shape, (fan_out, fan_in, *kernel), e.g. --shape 256 512",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the draw (default 0)")
    p.add_argument("--dtype", default="float64", help="float16, float32 or float64 (default float64)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--save", metavar="PATH", help="also write the drawn tensor to PATH as .npy")

    sub.add_parser("schemes", help="list the initializer names and their aliases")
    sub.add_parser("list", help="list the experiments")

    r = sub.add_parser(
        "run",
        help="run an experiment and print its answer",
        description="Run experiment NAME on its defaults (change them with --set), print the claims it "
        "checked and its answer, and with --out write its results to DIR/NAME/.",
    )
    r.add_argument("name", metavar="NAME", help="an experiment (see 'initlab list')")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a setting, e.g. --set widths=2,8 --set steps=500 (repeatable)",
    )
    r.add_argument("--seeds", type=int, metavar="N", help="run each start with N seeds")
    r.add_argument("--preset", metavar="P", help="named settings, e.g. 'regimes' for scale (see 'initlab list')")
    r.add_argument("--out", metavar="DIR", help="write rows.csv, config.json, arrays.npz and answer.txt to DIR/NAME/")
    r.add_argument("--json", action="store_true", help="print the result as JSON")

    t = sub.add_parser(
        "tour",
        help="the lecture end to end: every experiment on its defaults, then report.html",
        description="Run symmetry, bias-vs-weights, scale, depth and course on their defaults, save "
        "their results and figures under DIR, and write DIR/report.html.",
    )
    t.add_argument("--out", default="initlab-tour", metavar="DIR", help="where to write (default ./initlab-tour)")
    t.add_argument("--json", action="store_true", help="print a JSON summary instead of text")

    rp = sub.add_parser("report", help="write DIR/report.html from the results saved in DIR")
    rp.add_argument("folder", metavar="DIR")
    return parser


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _print_explanation(e: Explanation, out: TextIO) -> None:
    p = e.plan
    rows: list[tuple[str, str]] = [("scheme", e.spec)]
    if p is not None:
        if p.scheme != e.spec.split("(")[0]:
            rows.append(("computed by", p.scheme))
        rows += [
            ("formula", p.formula),
            ("shape", f"{e.shape}  (fan_out, fan_in, *receptive)"),
            ("fan_in", _fmt(p.fan_in)),
            ("fan_out", _fmt(p.fan_out)),
            ("gain", _fmt(p.gain)),
            ("mean", _fmt(p.mean)),
            ("std", _fmt(p.std)),
            ("bounds", "none" if p.low is None and p.high is None else f"[{_fmt(p.low)}, {_fmt(p.high)}]"),
        ]
        if p.kind == "constant":
            rows.append(("note", "every entry is equal: the units of a layer start identical and stay so"))
    else:
        rows.append(("shape", str(e.shape)))
    rows.append(("drawn", f"seed {e.seed}, {e.dtype}"))
    rows += [(f"  {k}", _fmt(v)) for k, v in e.realized.items()]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}", file=out)


def _save(path: str, weights: np.ndarray) -> None:
    """Write atomically: a temporary file in the same folder, renamed at the end."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise UsageError(f"initlab init: --save must name a file in an existing folder. Got {path!r} instead.")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.tmp")
    except OSError as exc:
        raise UsageError(f"initlab init: --save must name a writable place. Got {path!r} ({exc.strerror}).") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, weights)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"initlab init: --save could not write {path!r} ({exc.strerror}).") from None


def _settings(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"initlab run: --set must be KEY=VALUE. Got {pair!r} instead.")
        settings[key.strip()] = value.strip()
    return settings


def _progress_bar(err: TextIO, label: str) -> Any:
    """A one-line progress bar on ``err`` for each training run of an experiment."""

    def draw(done: int, total: int) -> None:
        filled = round(20 * done / total)
        end = "\n" if done == total else ""
        print(f"\r  {label}: [{'#' * filled}{'.' * (20 - filled)}] step {done}/{total}", end=end, file=err, flush=True)

    return draw


def _run_experiment(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    import time

    from .. import results as store
    from ..experiments import EXPERIMENTS, make_config

    config = make_config(args.name, _settings(args.set), args.seeds, args.preset)
    if args.out:
        store.check_writable(args.out)  # fail before the work, not after it
    start = time.perf_counter()
    if err.isatty():  # progress only for a person watching
        print(f"running {args.name}", file=err, flush=True)
        with reporting_progress(_progress_bar(err, args.name)):
            result = EXPERIMENTS[args.name].run(config)
        print(f"{args.name}: {time.perf_counter() - start:.0f} s", file=err, flush=True)
    else:
        result = EXPERIMENTS[args.name].run(config)
    folder = None
    if args.out:
        from ..results import save_figures

        folder = store.save(result, args.out)
        save_figures(result, folder)
    if args.json:
        doc = {"experiment": result.name, "claims": result.claims, "answer": result.answer,
               "out": None if folder is None else str(folder)}  # fmt: skip
        print(json.dumps(doc, indent=2), file=out)
        return
    for claim, held in result.claims.items():
        print(f"[{'x' if held else ' '}] {claim}", file=out)
    print(f"\n{result.answer}", file=out)
    if folder is not None:
        print(f"\nresults: {folder}", file=out)


def _tour(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    import time

    from .. import results as store
    from ..experiments import EXPERIMENTS
    from ..results import save_figures, write_report

    store.check_writable(args.out)
    show = err.isatty()  # progress only for a person watching
    summary = {}
    for i, (name, module) in enumerate(EXPERIMENTS.items(), start=1):
        start = time.perf_counter()
        if show:
            print(f"[{i}/{len(EXPERIMENTS)}] {name}", file=err, flush=True)
            with reporting_progress(_progress_bar(err, name)):
                result = module.run(module.Config())
        else:
            result = module.run(module.Config())
        save_figures(result, store.save(result, args.out))
        summary[name] = {"claims": result.claims, "answer": result.answer}
        if show:
            print(f"[{i}/{len(EXPERIMENTS)}] {name}: {time.perf_counter() - start:.0f} s", file=err, flush=True)
    report = write_report(args.out)
    if args.json:
        print(json.dumps({"report": str(report), "experiments": summary}, indent=2), file=out)
        return
    for name, s in summary.items():
        held = sum(s["claims"].values())
        print(f"{name:<16} {held}/{len(s['claims'])} claims hold", file=out)
    print(f"\nreport: {report}", file=out)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    if args.command == "tour":
        _tour(args, out, err)
        return
    if args.command == "report":
        from ..results import write_report

        if not Path(args.folder).is_dir():
            raise UsageError(f"initlab report: DIR must be a folder of saved results. Got {args.folder!r}.")
        print(f"report: {write_report(args.folder)}", file=out)
        return
    if args.command == "list":
        from ..experiments import EXPERIMENTS, PRESETS, REGIMES

        for name, module in EXPERIMENTS.items():
            print(f"{name:<16} {(module.__doc__ or '').strip().splitlines()[0]}", file=out)
        for preset, (name, settings) in PRESETS.items():
            shown = " ".join(f"--set '{k}={v}'" for k, v in settings.items())
            print(f"\npreset {preset!r}: initlab run {name} --preset {preset}  (= {shown})", file=out)
        print("the learner's regimes: " + ", ".join(f"{k} = {v}" for k, v in REGIMES.items()), file=out)
        return
    if args.command == "run":
        _run_experiment(args, out, err)
        return
    if args.command == "schemes":
        alias_of = aliases()
        for name in names(include_aliases=False):
            doc = (INITIALIZERS[name].__doc__ or "").strip().splitlines()[0].replace("``", "")
            also = [a for a, c in alias_of.items() if c == name]
            suffix = f"  (also: {', '.join(also)})" if also else ""
            print(f"{name:<18} {doc}{suffix}", file=out)
        return
    e = explain(args.scheme, args.shape, seed=args.seed, dtype=args.dtype)
    if args.save:
        _save(args.save, e.weights)
    if args.json:
        print(json.dumps(e.to_dict(), indent=2), file=out)
    else:
        _print_explanation(e, out)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        args = _build_parser().parse_args(argv)
        with warnings.catch_warnings():
            if args.command == "init":  # a probable mistake in what the user asked for stops it like an error
                warnings.simplefilter("error")
            _run(args, out, err)
    except (UsageError, InitlabError, Warning) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=err)
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version exit through argparse
        return int(exc.code or 0)
    return 0


def main_entry() -> None:
    """The ``initlab`` console script."""
    sys.exit(main())
