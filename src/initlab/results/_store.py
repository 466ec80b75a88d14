"""Run folders on disk: written whole or not at all, read back only when whole.

``OUT/<experiment>/`` holds ``rows.csv`` (the tidy table), ``config.json`` (the
settings, question, claims, answer, tables, command, column types and versions),
``arrays.npz``, ``answer.txt`` and the figures (``<figure>.png`` and ``.svg``).

How a save stays whole when it is killed at any instant, or when two savers meet:

1. Under the lock ``OUT/.initlab.lock`` (``fcntl.flock``, exclusive), the leftovers
   of killed saves are removed and a hidden working folder
   ``OUT/.<experiment>.initlab-tmp-XXXXXXXX`` is made; its saver holds a ``flock`` on it
   for as long as it lives (the kernel drops it when the process dies, however it dies).
2. Data and figures are written into the working folder (without the lock: drawing
   takes seconds).
3. Under the lock again, the working folder and ``OUT/<experiment>`` are swapped in one
   step (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames, which the next
   save undoes if it finds the old run set aside and no run in its place), and the old
   run is deleted.

A working folder whose ``flock`` can be taken belongs to a save that died: the next
save deletes it; :func:`load` and the report never read hidden folders.  Readers take
the lock shared, so a swap is never seen half done.  ``save`` never deletes what it did
not write: a file or folder at ``OUT/<experiment>`` that is not an initlab run folder
is an error that names it.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import errno
import json
import os
import platform
import re
import secrets
import shutil
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import InitlabValueError, quoted
from .._version import __version__
from ._result import Result

__all__ = ["FILES", "check_target", "finished", "load", "save", "write_text_atomic"]

#: The data files of every run folder (figures come beside them as ``.png`` and ``.svg``).
FILES = ("rows.csv", "config.json", "arrays.npz", "answer.txt")
FIGURE_SUFFIXES = (".png", ".svg")
LOCK_NAME = ".initlab.lock"
_WORK = re.compile(r"^\.(?P<name>.+)\.initlab-(?P<kind>tmp|old)-[0-9a-f]{16}$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_KEY_COLUMNS = ("model", "step", "layer", "metric", "value")  # every row has them (see Result)


# ---------------------------------------------------------------------------------------------- checks of `out`


def _subject(arg: str, where: str) -> str:
    """How a message names the argument: ``The 'out' argument of save``, or, for a command line's flag or
    placeholder (``--out``, ``DIR``), ``initlab run: --out``."""
    if arg.startswith("-") or arg.isupper():
        return f"{where}: {arg}"
    return f"The {arg!r} argument of {where}"


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _run_folder_problem(path: Path, name: str) -> str | None:
    """Why ``path`` is not an initlab run folder of experiment ``name``, said after "which" (None when it is one)."""
    if path.is_symlink():
        return "is a symbolic link"
    if not path.is_dir():
        return "is a file"
    try:
        entries = list(path.iterdir())
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    extra = sorted(p.name for p in entries if not (p.name in FILES or p.suffix in FIGURE_SUFFIXES))
    if extra:
        return f"holds {', '.join(map(repr, extra[:3]))}{' and more' if len(extra) > 3 else ''}, not written by initlab"
    if any(not p.is_file() or p.is_symlink() for p in entries):
        return "holds folders or links, not written by initlab"
    try:
        meta = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "has no readable config.json"
    if not isinstance(meta, dict) or meta.get("experiment") != name:
        return f"has a config.json that is not that of an initlab run of {name!r}"
    return None


def _check_run_folder(target: Path, name: str, arg: str = "out", where: str = "save") -> None:
    """Refuse ``target`` (``OUT/<name>``) when something is there that is not an initlab run folder of ``name``."""
    if not (target.exists() or target.is_symlink()):
        return
    why = _run_folder_problem(target, name)
    if why is not None:
        raise InitlabValueError(
            f"{_subject(arg, where)} holds {str(target)!r}, which {why}; it is not an initlab run folder, and "
            f"{where} never replaces what it did not write. Move it away or choose another {arg}."
        )


def check_target(out: str | Path, name: str | None = None, *, arg: str = "out", where: str = "save") -> Path:
    """The check :func:`save` makes first: a run can be saved at ``out/<name>``.  Returns ``Path(out)``.

    ``out`` must be a folder, or a path where one can be made, and initlab must be able to
    write there: the path is not empty, holds no NUL, its names fit the file system, it goes
    through no dangling symbolic link and no file, and an empty folder can be made and
    removed in its nearest existing folder (the one sure test, even for root on ``/proc``).
    With ``name``, ``out/<name>`` must be missing or an initlab run folder of that
    experiment: save never replaces what it did not write.

    Callers run it before hours of work, so that a bad ``out`` fails early; the messages
    name the argument ``arg`` of ``where`` (``initlab run`` passes ``--out``).

    >>> import tempfile
    >>> from initlab.results import check_target
    >>> with tempfile.TemporaryDirectory() as out:
    ...     print(check_target(Path(out) / "new" / "folder", "symmetry").name)
    folder
    >>> check_target("", arg="--out", where="initlab run")
    Traceback (most recent call last):
    initlab._validation.InitlabValueError: initlab run: --out must be a folder. Got '' instead.
    """
    text = os.fspath(out)
    subject = _subject(arg, where)
    if not text.strip():
        raise InitlabValueError(f"{subject} must be a folder. Got {text!r} instead.")
    if "\x00" in text:
        raise InitlabValueError(f"{subject} must not hold a NUL character. Got {quoted(text, 80)}.")
    path = Path(text)
    limit = _name_max(Path(path.anchor or "."))  # checked first: the system refuses even to look up a longer name
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise InitlabValueError(
                f"{subject} has a name of {len(part)} characters; the file system takes at most {limit}. "
                f"Got {quoted(text, 80)}."
            )
    if len(os.fsencode(os.path.abspath(text))) >= 4096:
        raise InitlabValueError(
            f"{subject} is a path of {len(text)} characters; at most 4095 are possible. Got {quoted(text, 40)}."
        )
    base = Path(".")
    try:
        for p in (path, *path.parents):
            if p.is_symlink() and not p.exists():
                link = "is a" if p == path else "goes through the"
                raise InitlabValueError(
                    f"{subject} must be a folder. Got {quoted(text, 80)}, which {link} dangling symbolic link "
                    f"{'' if p == path else repr(str(p)) + ' '}(to {quoted(os.readlink(p), 80)})."
                )
            if p.exists():
                if not p.is_dir():
                    how = "which is a file" if p == path else f"but {str(p)!r} is a file"
                    raise InitlabValueError(f"{subject} must be a folder. Got {quoted(text, 80)}, {how}.")
                base = p
                break
        if name is not None:
            _check_run_folder(path / name, name, arg, where)
    except OSError as exc:
        raise InitlabValueError(f"{subject} cannot be looked at ({exc.strerror}). Got {quoted(text, 80)}.") from None
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".initlab-probe-", dir=base))
    except OSError as exc:
        raise InitlabValueError(
            f"{subject} must be a place initlab can write; {str(base)!r} is not ({exc.strerror}). "
            f"Got {quoted(text, 80)}."
        ) from None
    return path


# ------------------------------------------------------------------------------------------------------ locking


@contextlib.contextmanager
def _locked(root: Path, *, shared: bool) -> Iterator[None]:
    """Hold ``root/.initlab.lock``: exclusive for writers, shared for readers.

    Readers never create the lock file: where there is none, no save has run, and they
    read unlocked.  Where ``fcntl`` does not exist (Windows), nothing is locked.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        yield
        return
    try:
        fd = os.open(root / LOCK_NAME, os.O_RDONLY if shared else os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        if not shared:
            raise
        yield  # no save ever ran here (saves make the lock file first), or the folder is gone
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def _hold(folder: Path, *, wait: bool) -> int | None:
    """A descriptor holding an exclusive ``flock`` on ``folder`` (None when another process holds it)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX
        return os.open(folder, os.O_RDONLY)
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _clean(root: Path) -> None:
    """Remove what killed saves left in ``root`` (call with the lock held exclusively).

    A working folder is a leftover when nobody holds its ``flock``.  A run set aside by
    the two-rename swap is put back when its place is empty, and deleted otherwise.
    """
    for entry in sorted(root.iterdir()):
        match = _WORK.match(entry.name)
        if match is None or entry.is_symlink() or not entry.is_dir():
            continue
        fd = _hold(entry, wait=False)
        if fd is None:
            continue  # a save in progress
        try:
            target = root / match["name"]
            if match["kind"] == "old" and not target.exists() and not target.is_symlink():
                os.rename(entry, target)
            else:
                _remove(entry)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------------------------------------- the swap


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one step (Linux ``renameat2``); False where the system cannot."""
    if sys.platform != "linux":
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False  # an old kernel, or a file system without the exchange
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _swap_in(work: Path, target: Path) -> None:
    """Make ``work`` the run at ``target`` and delete the run it replaces (call with the lock held)."""
    if not target.exists() and not target.is_symlink():
        os.rename(work, target)
    elif _exchange(work, target):
        _remove(work)  # the old run, now at the working folder's name
    else:
        aside = target.with_name(f".{target.name}.initlab-old-{secrets.token_hex(8)}")
        os.rename(target, aside)
        os.rename(work, target)
        _remove(aside)


# ------------------------------------------------------------------------------------------------------- saving


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)  # JSON has no inf/nan; "inf", "nan" read back with float()
    return value


def _column_types(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Each column's type (int, float, bool or str), so that :func:`load` gives the rows back as they were."""
    seen: dict[str, set[str]] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, np.generic):
                value = value.item()
            kind = "bool" if isinstance(value, bool) else type(value).__name__
            seen.setdefault(key, set()).add(kind if kind in ("bool", "int", "float") else "str")
    types = {}
    for key, kinds in seen.items():
        types[key] = kinds.pop() if len(kinds) == 1 else "float" if kinds <= {"int", "float"} else "str"
    return types


def _write_data(result: Result, folder: Path, figures: list[str]) -> None:
    types = _column_types(result.rows)
    with open(folder / "rows.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(types))
        writer.writeheader()
        writer.writerows(result.rows)
    meta = {
        "experiment": result.name,
        "question": result.question,
        "config": result.config,
        "claims": result.claims,
        "answer": result.answer,
        "tables": result.tables,
        "command": result.command,
        "columns": types,
        "figures": figures,
        "versions": {"initlab": __version__, "numpy": np.__version__, "python": platform.python_version()},
    }
    text = json.dumps(_jsonable(meta), indent=2, allow_nan=False, ensure_ascii=False)
    (folder / "config.json").write_text(text + "\n", encoding="utf-8")
    arrays: dict[str, Any] = {k.replace("/", "__"): v for k, v in result.arrays.items()}
    np.savez_compressed(folder / "arrays.npz", **arrays)
    (folder / "answer.txt").write_text(result.answer + "\n", encoding="utf-8")


def save(result: Result, out: str | Path, *, figures: bool = True) -> Path:
    """Write ``result`` (its data and, unless ``figures=False``, its figures as PNG and SVG) to ``out/<name>/``.

    The folder appears whole or not at all, even when the process is killed or
    another process saves the same experiment into ``out`` at the same moment (the
    last one to finish wins, whole).  Returns that folder.

    >>> import tempfile
    >>> from initlab.results import Result, finished, load, save
    >>> with tempfile.TemporaryDirectory() as out:
    ...     folder = save(Result("demo", {"steps": 3}, [], answer="42"), out, figures=False)
    ...     print(folder.name, load(folder).answer, finished(out, "demo", {"steps": 3}), finished(out, "demo", {}))
    demo 42 True False
    """
    name = result.name
    if not isinstance(name, str) or not name or name.startswith(".") or "/" in name or os.sep in name or "\0" in name:
        raise InitlabValueError(
            f"The 'result' argument of save must have a name that is a plain folder name (no '/', not hidden). "
            f"Got {name!r} instead."
        )
    root = check_target(out, name)  # fails before touching anything; the run folder is checked again under the lock
    target = root / name
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"The 'out' argument of save must be a folder. Got {str(out)!r}: {exc.strerror}."
        raise InitlabValueError(msg) from None
    umask = os.umask(0)
    os.umask(umask)
    with _locked(root, shared=False):
        _clean(root)
        _check_run_folder(target, name)
        work = root / f".{result.name}.initlab-tmp-{secrets.token_hex(8)}"
        work.mkdir(mode=0o777 & ~umask)
        held = _hold(work, wait=True)
    assert held is not None
    try:
        drawn: list[str] = []
        if figures:
            from ._figures import save_figures

            drawn = [p.stem for p in save_figures(result, work)]
        _write_data(result, work, drawn)
        with _locked(root, shared=False):
            _check_run_folder(target, name)  # a user may have put something there meanwhile
            _swap_in(work, target)
    except BaseException:
        _remove(work)
        raise
    finally:
        os.close(held)
    return target


# ------------------------------------------------------------------------------------------------------ reading


def _damaged(file: Path, what: str) -> InitlabValueError:
    return InitlabValueError(f"The results file {str(file)!r} {' '.join(what.split())}.")


def _text(file: Path) -> str:
    try:
        return file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _damaged(file, f"is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
    except OSError as exc:
        raise _damaged(file, f"cannot be read ({exc.strerror})") from None


def _expect(file: Path, key: str, value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, kind):
        raise _damaged(file, f"must hold {key!r} as {what}; it holds {type(value).__name__} {str(value)[:40]!r}")
    return value


def _meta(file: Path, name: str) -> dict[str, Any]:
    try:
        meta = json.loads(_text(file))
    except json.JSONDecodeError as exc:
        raise _damaged(file, f"is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if not isinstance(meta, dict):
        raise _damaged(file, f"must hold a JSON object; it holds {type(meta).__name__}")
    missing = [k for k in ("experiment", "config", "claims", "answer") if k not in meta]
    if missing:
        raise _damaged(file, f"lacks {', '.join(repr(k) for k in missing)}")
    _expect(file, "experiment", meta["experiment"], str, "a name")
    _expect(file, "config", meta["config"], dict, "an object")
    claims = _expect(file, "claims", meta["claims"], dict, "an object of claim -> true/false")
    if not all(isinstance(v, bool) for v in claims.values()):
        raise _damaged(file, "must hold 'claims' as an object of claim -> true/false")
    for key in ("answer", "question", "command"):
        _expect(file, key, meta.setdefault(key, ""), str, "text")
    tables = _expect(file, "tables", meta.setdefault("tables", {}), dict, "an object of title -> list of rows")
    for title, rows in tables.items():
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise _damaged(file, f"must hold the table {title!r} as a list of rows (objects)")
    shown = _expect(file, "figures", meta.setdefault("figures", []), list, "a list of figure names")
    if not all(isinstance(v, str) for v in shown):
        raise _damaged(file, "must hold 'figures' as a list of figure names")
    columns = _expect(file, "columns", meta.setdefault("columns", {}), dict, "an object of column -> type")
    if not all(v in ("int", "float", "bool", "str") for v in columns.values()):
        raise _damaged(file, "must give each column's type as int, float, bool or str")
    if meta["experiment"] != name:
        raise _damaged(file, f"is that of the experiment {meta['experiment']!r}, but its folder is named {name!r}")
    return meta


def _parse(text: str, kind: str) -> Any:
    if kind == "bool":
        return {"True": True, "False": False}[text]
    return int(text) if kind == "int" else float(text) if kind == "float" else text


def _rows(file: Path, columns: dict[str, str]) -> list[dict[str, Any]]:
    text = _text(file)
    rows: list[dict[str, Any]] = []
    try:
        reader = csv.DictReader(text.splitlines(), strict=True)
        for raw in reader:
            if None in raw or None in raw.values():
                raise _damaged(file, f"has a row of the wrong length on line {reader.line_num}") from None
            row: dict[str, Any] = {}
            for key, value in raw.items():
                kind = columns.get(key) or ("int" if key in ("model", "step", "layer", "seed") else
                                            "float" if key == "value" else "str")  # fmt: skip
                if value == "":
                    continue  # this row has no such column (an empty text cell reads back as missing too)
                try:
                    row[key] = _parse(value, kind)
                except (ValueError, KeyError):
                    what = f"has {value[:20]!r} in the {kind} column {key!r} on line {reader.line_num}"
                    raise _damaged(file, what) from None
            lacking = [c for c in _KEY_COLUMNS if c not in row]
            if lacking:
                raise _damaged(file, f"has no {', '.join(map(repr, lacking))} on line {reader.line_num}")
            rows.append(row)
    except csv.Error as exc:
        raise _damaged(file, f"is not valid CSV ({exc})") from None
    return rows


def _arrays(file: Path) -> dict[str, np.ndarray]:
    try:
        with open(file, "rb") as fh:  # our own handle, closed on any error
            npz = np.load(fh, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise _damaged(file, "is not an .npz archive")
            with npz:
                return {k.replace("__", "/"): npz[k] for k in npz.files}
    except InitlabValueError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise _damaged(file, f"is truncated or damaged ({type(exc).__name__}: {exc})") from None


def _png_problem(data: bytes) -> str | None:
    """What is wrong with a PNG file's bytes: its signature, a chunk's length or CRC, or a missing IEND."""
    if not data.startswith(_PNG_SIGNATURE):
        return "is not a PNG image"
    at = len(_PNG_SIGNATURE)
    while at + 12 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        kind = data[at + 4 : at + 8]
        end = at + 12 + length
        if end > len(data):
            return f"is truncated (its {kind.decode('latin-1')!r} chunk ends past the end of the file)"
        if zlib.crc32(data[at + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            return f"is damaged (the CRC of its {kind.decode('latin-1')!r} chunk does not match)"
        if kind == b"IEND":
            return None
        at = end
    return "is truncated (it has no IEND chunk)"


def _figures(folder: Path, order: list[str]) -> dict[str, bytes]:
    """The run's PNG figures, by name, in ``order`` then by name, each checked whole; the SVGs checked complete."""
    out = {}
    pngs = sorted(folder.glob("*.png"), key=lambda p: (order.index(p.stem) if p.stem in order else len(order), p.stem))
    for png in pngs:
        data = png.read_bytes()
        problem = _png_problem(data)
        if problem:
            raise _damaged(png, problem)
        out[png.stem] = data
    for svg in sorted(folder.glob("*.svg")):
        if not _text(svg).rstrip().endswith("</svg>"):
            raise _damaged(svg, "is truncated (it does not end with </svg>)")
    return out


def _read(folder: Path) -> tuple[Result, dict[str, bytes]]:
    """A run folder read whole (the lock is the caller's): the result and its PNG figures."""
    if not folder.is_dir():
        raise InitlabValueError(f"The run folder {str(folder)!r} does not exist or is not a folder.")
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise InitlabValueError(
            f"The run folder {str(folder)!r} must hold {', '.join(FILES)}; it lacks {', '.join(missing)}."
        )
    meta = _meta(folder / "config.json", folder.name)
    rows = _rows(folder / "rows.csv", meta["columns"])
    _text(folder / "answer.txt")
    arrays = _arrays(folder / "arrays.npz")
    figures = _figures(folder, meta["figures"])
    result = Result(
        meta["experiment"],
        meta["config"],
        rows,
        arrays,
        meta["claims"],
        meta["answer"],
        question=meta["question"],
        tables=meta["tables"],
        command=meta["command"],
    )
    return result, figures


def load(folder: str | Path) -> Result:
    """Read a run folder written by :func:`save` back into a :class:`Result`.

    Everything is checked: a missing, truncated or non-UTF-8 file, or a config.json of
    the wrong shape, raises :class:`~initlab.InitlabValueError` naming the file.
    """
    path = Path(folder)
    with _locked(path.parent, shared=True) if path.parent.is_dir() else contextlib.nullcontext():
        return _read(path)[0]


def finished(out: str | Path, name: str, config: dict[str, Any]) -> bool:
    """Whether ``out`` holds a whole, readable run of experiment ``name`` made with ``config``.

    ``initlab tour`` uses it to resume: an experiment finished before a kill is not run again.
    """
    root = Path(out)
    folder = root / name
    if not folder.is_dir():
        return False
    try:
        with _locked(root, shared=True):
            result, _ = _read(folder)
    except (InitlabValueError, OSError):
        return False
    wanted = json.loads(json.dumps(_jsonable(config), allow_nan=False))
    return bool(result.config == wanted)


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write ``text`` to ``path`` whole or not at all: a hidden temporary file beside it, flushed to disk, then
    renamed over it.  A process killed meanwhile leaves the previous file (or none), never half of one.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = write_text_atomic(Path(d) / "a.txt", "whole")
    ...     (Path(d) / "a.txt").read_text(), sorted(p.name for p in Path(d).iterdir())
    ('whole', ['a.txt'])
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
