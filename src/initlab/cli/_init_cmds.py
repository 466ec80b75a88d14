"""``initlab init`` (explain a scheme on a shape, draw it, measure it) and ``initlab schemes`` (the names)."""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
from pathlib import Path
from typing import TextIO

import numpy as np

from .._validation import check_dtype, check_int, check_memory, check_shape
from ..initializers import INITIALIZERS, Explanation, aliases, explain, get, names
from ._checks import UsageError, check_expression, check_new_file, reading
from ._terminal import print_table

__all__ = ["init", "init_bytes", "schemes"]

#: Bytes per drawn entry at the peak of ``explain``, measured with /usr/bin/time on 3000 x 3000:
#: the tensor itself, its float64 copy and one float64 temporary of the statistics
#: (23-24 B per entry in float64, 18 in float16); the orthogonal schemes also hold a QR (41 B).
_STATS_BYTES = 16
_ORTHOGONAL_BYTES = 48


def init_bytes(kind: str | None, shape: tuple[int, ...], itemsize: int) -> int:
    """The peak memory of ``initlab init`` on ``shape``, in bytes (an estimate from measurements).

    >>> init_bytes("normal", (1000, 1000), 8)
    24000000
    """
    n = math.prod(shape)
    per_entry = _ORTHOGONAL_BYTES if kind in ("orthogonal", "delta_orthogonal") else itemsize + _STATS_BYTES
    return n * per_entry


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _explanation_rows(e: Explanation) -> list[tuple[str, str]]:
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
    return rows


def _save(target: Path, weights: np.ndarray) -> None:
    """Write atomically: a temporary file in the same folder, renamed at the end (removed on any failure)."""
    folder = target.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name[:200]}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(f"initlab init: --save could not write {str(target)!r} ({exc.strerror}).") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, weights)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"initlab init: --save could not write {str(target)!r} ({exc.strerror}).") from None
    except BaseException:  # Ctrl-C or any failure: no partial file
        Path(tmp).unlink(missing_ok=True)
        raise


def init(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """Check SCHEME, the shape, the memory and --save before drawing; then print the plan and the statistics."""
    check_expression(args.scheme, "initlab init: SCHEME")
    with reading("initlab init: SCHEME"):
        scheme = get(args.scheme)  # the checks explain makes, in its order, in the command line's words
        dims = check_shape(args.shape, "initlab init", arg="--shape")
        check_int(args.seed, "--seed", "initlab init", low=0)
        itemsize = check_dtype(args.dtype, "initlab init", arg="--dtype").itemsize
        plan = scheme.plan(dims)
    shown = " x ".join(map(str, dims))
    check_memory(init_bytes(None if plan is None else plan.kind, dims, itemsize), f"a {shown} {args.dtype} tensor")
    target = None if args.save is None else check_new_file(args.save, "--save", "initlab init")
    e = explain(scheme, dims, seed=args.seed, dtype=args.dtype)
    if target is not None:
        _save(target, e.weights)
    if args.json:
        print(json.dumps(e.to_dict(), indent=2), file=out)
        return
    print_table(out, _explanation_rows(e), ("", ""), title=f"{e.spec} on {e.shape}", show_header=False)


def schemes(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """The initializers, one per line: name, first line of the docstring, aliases."""
    alias_of = aliases()
    rows = []
    for name in names(include_aliases=False):
        doc = (INITIALIZERS[name].__doc__ or "").strip().splitlines()[0].replace("``", "")
        also = [a for a, c in alias_of.items() if c == name]
        rows.append((name, doc, f"also: {', '.join(also)}" if also else ""))
    print_table(out, rows, ("scheme", "what it draws", "aliases"))
