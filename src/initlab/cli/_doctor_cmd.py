"""``initlab doctor``: is a PyTorch model's start healthy, and what would a fix change?

Everything is checked before anything is written: ``--out`` and ``--save`` first, then the
model file and its factory, ``--weights``, ``--data``, one run of the model on the input
and the plan of ``--fix``.  The work itself is :func:`initlab.torch.prepare_doctor`; this module
prints (rich, through ``_terminal``) and writes, all at once: the files are written to
temporary names in their folders and renamed at the end, so Ctrl-C or ``kill`` leaves no
partial file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from .._validation import check_int
from ._checks import UsageError, check_new_file, int64
from ._terminal import print_table, say

__all__ = ["add_parser", "doctor"]

WHERE = "initlab doctor"
#: what ``initlab doctor`` writes in ``--out``
REPORT, JSON_FILE = "report.html", "doctor.json"


def add_parser(sub: Any) -> None:
    """The ``doctor`` subcommand's arguments, on the subparsers object ``sub`` of the ``initlab`` parser."""
    d = sub.add_parser(
        "doctor",
        help="is a PyTorch model's start healthy? inspect, diagnose, fix, and write report.html",
        description="Load FACTORY from the file given by --model (that file only), build the model, run it on "
        "--data shaped as --input-shape, print its parameters, the health of every layer and the verdicts, "
        "then what --fix changes and the health after it.  Writes DIR/report.html and DIR/doctor.json.",
    )
    d.add_argument("--model", required=True, metavar="PATH.py:FACTORY",
                   help="a Python file and a function in it that takes no arguments and returns "
                   "an nn.Module")  # fmt: skip
    d.add_argument("--input-shape", required=True, metavar="N,...",
                   help="the input's shape, examples first, e.g. 8,3,32,32")  # fmt: skip
    d.add_argument("--data", metavar="digits|FILE",
                   help="digits (scikit-learn, with labels), or a .npy / .npz (x, y) / .pt file; default: "
                   "standard-normal inputs")  # fmt: skip
    d.add_argument("--fix", metavar="SCHEME",
                   help="he, xavier, auto (by the activation that follows), lsuv, or any initlab "
                   "scheme spec")  # fmt: skip
    d.add_argument("--seed", type=int64, default=0, help="seed of the data subset, the random inputs and the fix")
    d.add_argument("--weights", metavar="FILE", help="load this state_dict (torch.save) before the diagnosis")
    d.add_argument("--device", metavar="DEV", help="run on this torch device (cpu, cuda, cuda:1); default: where "
                   "the factory puts the model")  # fmt: skip
    d.add_argument("--save", metavar="FILE", help="save the (fixed) model's state_dict to FILE, a new file")
    d.add_argument("--out", default="initlab-doctor", metavar="DIR",
                   help="where report.html and doctor.json go (default ./initlab-doctor)")  # fmt: skip
    d.add_argument("--json", action="store_true", help="print the JSON instead of the tables")


@contextlib.contextmanager
def _warnings_kept(caught: list[str]) -> Iterator[None]:
    """Warnings of the user's code or the library during the work are kept as lines (printed on stderr later)."""
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in records:
                line = str(w.message).strip().splitlines()
                text = f"warning: {line[0] if line else w.category.__name__}"
                if text not in caught:
                    caught.append(text)


def _check_save(text: str) -> Path:
    path = check_new_file(text, "--save", WHERE)
    if path.exists():
        raise UsageError(f"{WHERE}: --save must name a new file; {text!r} exists (remove it or choose another name).")
    return path


class _Writes:
    """Files written whole or not at all: each to a temporary name in its folder, all renamed at the end."""

    def __init__(self) -> None:
        self.temps: list[tuple[Path, Path]] = []
        self.made: list[Path] = []

    def folder(self, path: Path) -> None:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
        self.made += missing  # deepest first: removed in this order when the work fails

    def add(self, target: Path, write: Callable[[BinaryIO], Any]) -> Path:
        tmp = target.parent / f".{target.name[:200]}.{secrets.token_hex(8)}.tmp"
        with open(tmp, "xb") as fh:  # created with the user's umask, as the final file would be
            self.temps.append((tmp, target))
            write(fh)
        return tmp

    def commit(self) -> None:
        for tmp, target in self.temps:
            os.replace(tmp, target)
        self.temps = []
        self.made = []

    def undo(self) -> None:
        for tmp, _ in self.temps:
            tmp.unlink(missing_ok=True)
        for folder in self.made:
            with contextlib.suppress(OSError):
                folder.rmdir()


def _prepare_doctor() -> Any:
    """``initlab.torch.prepare_doctor`` (importing initlab.torch raises a clear error when torch is missing)."""
    from ..torch import prepare_doctor

    return prepare_doctor


def _fmt(value: Any) -> str:
    """A number for the tables: 4 significant digits, ``-`` for a missing one."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _table(out: TextIO, rows: list[list[str]], head: tuple[str, ...], title: str) -> None:
    """A table; off a terminal (where tables have no header) its title and columns on plain lines first."""
    if not out.isatty():
        print(f"{title}:", file=out)
        print(f"  columns: {', '.join(head)}", file=out)
    print_table(out, rows, head, title=title)


def _print_diagnosis(out: TextIO, diagnosis: Any, title: str) -> None:
    cols = ("key", "module_type", "act_std", "grad_norm", "dead", "saturated", "distinct_units", "units",
            "update_ratio", "verdict", "reasons")  # fmt: skip
    rows = [[_fmt(r[c]) for c in cols] for r in diagnosis.rows()]
    head = ("module call", "type", "act std", "grad norm", "dead", "saturated", "distinct", "units", "update/weight",
            "verdict", "why")  # fmt: skip
    _table(out, rows, head, title)


def _print(out: TextIO, report: Any) -> None:
    print(f"initlab doctor: {report.model} ({report.model_type}), {report.data}", file=out)
    print(f"loss: {report.loss}", file=out)
    print("", file=out)
    ins = report.inspection
    cols = ("path", "module_type", "shape", "fan_in", "fan_out", "activation", "std", "he_std", "xavier_std")
    rows = [["x".join(map(str, r["shape"])) if c == "shape" else _fmt(r[c]) for c in cols] for r in ins.rows()]
    head = ("parameter", "type", "shape", "fan_in", "fan_out", "activation", "std", "he target", "xavier target")
    _table(out, rows, head, f"parameters ({ins.order} order)")
    for path, why in ins.not_understood:
        print(f"not understood: {path}: {why}", file=out)
    print("", file=out)
    _print_diagnosis(out, report.before, "diagnosis" + (" before the fix" if report.fix else ""))
    if report.fix is not None:
        print("", file=out)
        print(f"what --fix {report.fix} changes:", file=out)
        print(report.fix_text(), file=out)
        print("", file=out)
        _print_diagnosis(out, report.after, f"diagnosis after --fix {report.fix}")
    print("", file=out)
    arrow = " (before -> after)" if report.fix else ""
    print(f"verdicts{arrow}: {report.verdict_line()}", file=out)


def doctor(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """Check every input and run the model once; then inspect, diagnose, fix, diagnose; write; print."""
    from ..results import check_target

    check_int(args.seed, "--seed", WHERE, low=0)
    folder = check_target(args.out, arg="--out", where=WHERE)
    for name in (REPORT, JSON_FILE):
        if (folder / name).is_dir():
            raise UsageError(f"{WHERE}: --out {args.out!r} holds a folder named {name}; initlab writes a file there.")
    save = None if args.save is None else _check_save(args.save)
    import matplotlib

    matplotlib.use("Agg")  # the report's figures go to files only, never to a screen
    caught: list[str] = []
    with _warnings_kept(caught):
        case = _prepare_doctor()(args.model, args.input_shape, data=args.data, fix=args.fix, seed=args.seed,
                                 weights=args.weights, device=args.device)  # fmt: skip
        report = case.examine()
        page = report.html()
        doc = report.to_dict()
        text = json.dumps(doc, indent=2, allow_nan=False)
        writes = _Writes()
        try:
            if save is not None:
                case.check_weights(writes.add(save, case.save_weights))  # checked before it is renamed
            writes.folder(folder)
            writes.add(folder / REPORT, lambda fh: fh.write(page.encode("utf-8")))
            writes.add(folder / JSON_FILE, lambda fh: fh.write(text.encode("utf-8")))
            writes.commit()
        except OSError as exc:
            where = exc.filename or args.out
            raise UsageError(f"{WHERE}: could not write {str(where)!r} ({exc.strerror or exc}).") from None
        finally:
            writes.undo()
    for line in caught:  # after success only: a failure is one line
        say(err, line)
    files = {"report": str(folder / REPORT), "json": str(folder / JSON_FILE),
             "weights": None if save is None else str(save)}  # fmt: skip
    if args.json:
        print(json.dumps({**doc, "files": files}, indent=2, allow_nan=False), file=out)
        return
    _print(out, report)
    print("", file=out)
    print(f"report: {files['report']}", file=out)
    print(f"json: {files['json']}", file=out)
    if save is not None:
        print(f"weights: {save}", file=out)
