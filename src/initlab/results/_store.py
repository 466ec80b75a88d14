"""Writing and reading experiment results: one folder per run.

``DIR/<experiment>/`` holds ``rows.csv`` (the tidy table), ``config.json`` (the
settings, the claims, the answer, the versions), ``arrays.npz`` and ``answer.txt``.
A run is written to a temporary folder beside its target and moved into place at
the end, so a failure leaves nothing half written and a rerun replaces only its own
folder.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import InitlabValueError
from .._version import __version__
from ._result import Result

__all__ = ["FILES", "check_writable", "load", "save"]

FILES = ("rows.csv", "config.json", "arrays.npz", "answer.txt")


def check_writable(out: str | Path) -> Path:
    """The folder ``out`` (created later if missing) must be a folder, or creatable, and writable."""
    path = Path(out)
    probe = path if path.exists() else next((p for p in path.parents if p.exists()), Path("."))
    if path.exists() and not path.is_dir():
        raise InitlabValueError(f"The '--out' argument must be a folder. Got {str(out)!r}, which is a file.")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise InitlabValueError(f"The '--out' argument must be a writable folder. Got {str(out)!r}.")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # JSON has no inf/nan; "inf", "nan" read back with float()
    return value


def save(result: Result, out: str | Path, *, seed_note: str = "") -> Path:
    """Write ``result`` to ``out/<name>/`` atomically; returns that folder."""
    root = check_writable(out)
    root.mkdir(parents=True, exist_ok=True)
    target = root / result.name
    tmp = Path(tempfile.mkdtemp(prefix=f".{result.name}.", dir=root))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the results are ordinary files
    try:
        columns: list[str] = []
        for row in result.rows:
            columns += [k for k in row if k not in columns]
        with open(tmp / "rows.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            writer.writerows(result.rows)
        meta = {
            "experiment": result.name,
            "config": result.config,
            "claims": result.claims,
            "answer": result.answer,
            "seed_note": seed_note,
            "versions": {"initlab": __version__, "numpy": np.__version__, "python": platform.python_version()},
        }
        (tmp / "config.json").write_text(json.dumps(_jsonable(meta), indent=2) + "\n")
        arrays: dict[str, Any] = {k.replace("/", "__"): v for k, v in result.arrays.items()}
        np.savez_compressed(tmp / "arrays.npz", **arrays)
        (tmp / "answer.txt").write_text(result.answer + "\n")
        old = None
        if target.exists():
            old = root / f".{result.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        tmp.rename(target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def load(folder: str | Path) -> Result:
    """Read a folder written by :func:`save` back into a :class:`Result`."""
    path = Path(folder)
    missing = [f for f in FILES if not (path / f).exists()]
    if missing:
        raise InitlabValueError(
            f"The folder must hold an experiment's results ({', '.join(FILES)}). Got {str(folder)!r}, missing "
            f"{', '.join(missing)}."
        )
    meta = json.loads((path / "config.json").read_text())
    with open(path / "rows.csv", newline="") as fh:
        rows: list[dict[str, Any]] = []
        for raw in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for k, v in raw.items():
                try:
                    row[k] = int(v) if k in ("model", "step", "layer", "seed") else float(v) if k == "value" else v
                except ValueError:
                    row[k] = v
            rows.append(row)
    with np.load(path / "arrays.npz") as npz:
        arrays = {k.replace("__", "/"): npz[k] for k in npz.files}
    return Result(meta["experiment"], meta["config"], rows, arrays, meta["claims"], meta["answer"])
