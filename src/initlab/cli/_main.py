"""The ``initlab`` command line: the parser, the table command -> handler, and the error policy.

The error policy, in one place (:func:`main`):

- bad input (argparse, the checks in ``_checks``, any :class:`~initlab.InitlabError`; for
  ``init`` also any warning, a probable mistake of the user) -> one line ``error: ...`` on
  stderr, exit code 2, nothing written;
- not enough memory: checked before the work starts (exit 2, with the size needed); a
  :class:`MemoryError` during the work anyway -> one line, exit code 1;
- Ctrl-C -> one line, exit code 130; SIGTERM (``kill``) -> one line, exit code 143; results
  are saved whole or not at all, so nothing partial is left;
- a closed stdout (``initlab schemes | head -1``) -> silence, exit code 141;
- anything else is a bug -> one line ``error: internal error ...`` saying how to report it,
  exit code 1.  ``INITLAB_DEBUG=1`` shows the traceback instead.

Never a traceback otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from .._validation import InitlabError
from .._version import __version__
from . import _doctor_cmd, _experiment_cmds, _explore_cmd, _init_cmds, _reproduce_cmd, _sweep_cmd
from ._checks import UsageError, int64

__all__ = ["COMMANDS", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_MEMORY", "EXIT_USAGE", "main", "main_entry"]

EXIT_USAGE = 2
EXIT_MEMORY = 1
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE

Handler = Callable[[argparse.Namespace, TextIO, TextIO], None]

#: command -> handler(args, out, err); each command group lives in its own module
COMMANDS: dict[str, Handler] = {
    "init": _init_cmds.init,
    "schemes": _init_cmds.schemes,
    "list": _experiment_cmds.experiments_list,
    "run": _experiment_cmds.run,
    "tour": _experiment_cmds.tour,
    "report": _experiment_cmds.report,
    "doctor": _doctor_cmd.doctor,
    "explore": _explore_cmd.explore,
    "reproduce": _reproduce_cmd.reproduce,
    "sweep": _sweep_cmd.sweep,
}

#: what an interrupted command leaves behind, said on its one line
_LEFT_BEHIND = {
    "tour": "the experiments saved before are kept, and the same command resumes",
    "run": "nothing was saved",
    "init": "nothing was saved",
    "report": "the report was not written",
    "doctor": "nothing was written",
    "explore": "nothing to save",
    "reproduce": "nothing was saved",
    "sweep": "the results recorded before are kept in the journal, and the same command resumes",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit; we report one line
        raise UsageError(f"{self.prog}: {message}")


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that the work unwinds (and cleans up) as for Ctrl-C."""


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
        type=int64,
        nargs="+",
        required=True,
        metavar="N",
        help="the weight's shape, (fan_out, fan_in, *kernel), e.g. --shape 256 512",
    )
    p.add_argument("--seed", type=int64, default=0, help="seed of the draw (default 0)")
    p.add_argument("--dtype", default="float64", help="float16, float32 or float64 (default float64)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--save", metavar="PATH", help="also write the drawn tensor to PATH as .npy")

    sub.add_parser("schemes", help="list the initializer names and their aliases")
    ls = sub.add_parser("list", help="list the experiments; with NAME, the settings of that experiment")
    ls.add_argument("name", metavar="NAME", nargs="?", help="an experiment: list its settings (what --set takes)")

    r = sub.add_parser(
        "run",
        help="run an experiment and print its answer",
        description="Run experiment NAME on its defaults (change them with --set), print the claims it "
        "checked and its answer, and with --out write its results and figures to DIR/NAME/.",
    )
    r.add_argument("name", metavar="NAME", help="an experiment (see 'initlab list')")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a setting, e.g. --set widths=2,8 --set steps=500 (repeatable)",
    )
    r.add_argument(
        "--seeds", type=int64, metavar="N", help=f"run each start with N seeds (1 to {_experiment_cmds.MAX_SEEDS})"
    )
    r.add_argument("--preset", metavar="P", help="named settings, e.g. 'regimes' for scale (see 'initlab list')")
    r.add_argument("--out", metavar="DIR", help="write rows.csv, config.json, arrays.npz, answer.txt and figures "
                   "to DIR/NAME/, all at once")  # fmt: skip
    r.add_argument("--json", action="store_true", help="print the result as JSON")

    t = sub.add_parser(
        "tour",
        help="the lecture end to end, then the classic papers: every run on its defaults, then report.html",
        description="Run symmetry, bias-vs-weights, scale, depth and course, then the seven paper reproductions "
        "(scaled down), on their defaults; save their results and figures under DIR, and write DIR/report.html. "
        "Runs already finished in DIR with the same settings are not run again, so a stopped tour resumes.",
    )
    t.add_argument("--out", default="initlab-tour", metavar="DIR", help="where to write (default ./initlab-tour)")
    t.add_argument("--no-papers", action="store_true", help="the lecture's experiments only (a few minutes less)")
    t.add_argument("--json", action="store_true", help="print a JSON summary instead of text")

    rp = sub.add_parser("report", help="write DIR/report.html from the results saved in DIR")
    rp.add_argument("folder", metavar="DIR")
    _doctor_cmd.add_parser(sub)
    _explore_cmd.add_parser(sub)
    _reproduce_cmd.add_parser(sub)
    _sweep_cmd.add_parser(sub)
    return parser


def _one_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _report(err: TextIO, line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr itself is gone: the exit code still tells
        print(line, file=err, flush=True)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input, 1 failure, 130 Ctrl-C)."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    command = "initlab"
    try:
        args = _build_parser().parse_args(argv)
        command = args.command
        with warnings.catch_warnings():
            if command == "init":  # a probable mistake in what the user asked for stops it like an error
                warnings.simplefilter("error")
            COMMANDS[command](args, out, err)
    except (UsageError, InitlabError, Warning) as exc:
        for line in getattr(exc, "problems", None) or [_one_line(exc)]:  # a grid file: one line per problem
            _report(err, f"error: {line}")
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version exit through argparse
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        _report(err, f"interrupted: initlab {command} stopped by Ctrl-C; {_LEFT_BEHIND.get(command, 'nothing saved')}.")
        return EXIT_INTERRUPTED
    except _Terminated:
        _report(err, f"terminated: initlab {command} stopped by SIGTERM; {_LEFT_BEHIND.get(command, 'nothing saved')}.")
        return EXIT_TERMINATED
    except BrokenPipeError:
        return EXIT_BROKEN_PIPE
    except MemoryError as exc:
        detail = f" ({_one_line(exc)})" if str(exc) else ""
        _report(err, f"error: out of memory during initlab {command}{detail}; try fewer seeds or smaller settings.")
        return EXIT_MEMORY
    except Exception as exc:
        if os.environ.get("INITLAB_DEBUG"):
            traceback.print_exc(file=err)
        else:
            _report(
                err,
                f"error: internal error in initlab {__version__} ({type(exc).__name__}: {_one_line(exc)[:200]}). "
                f"This is a bug: please report it with the command you ran; INITLAB_DEBUG=1 shows the traceback.",
            )
        return EXIT_INTERNAL
    return 0


def _terminate(signum: int, frame: Any) -> None:
    raise _Terminated


def main_entry() -> None:
    """The ``initlab`` console script: :func:`main`, with SIGTERM unwinding like Ctrl-C and a closed stdout quiet."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        code = main()
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        code = EXIT_BROKEN_PIPE
    if code == EXIT_BROKEN_PIPE:  # Python would complain again when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    sys.exit(code)
