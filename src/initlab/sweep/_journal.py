"""The sweep journal: one SQLite database per output folder, the system of record of a sweep.

A sweep's folder ``DIR`` holds ``journal.sqlite`` (with its WAL files), ``grid.toml`` (the grid's text, as run)
and ``.sweep.lock`` (the driver's lock).  Only the driver process writes the journal, one transaction per batch
of results as they arrive; every model of the grid ends as at most one row, keyed by ``(cell key, seed)``, so a
second run on the same folder only trains the models still missing.

The database runs in WAL mode with ``synchronous=NORMAL``: a committed transaction is in the WAL file before
``COMMIT`` returns, so killing the driver (``kill -9`` included) loses no committed result; only a power cut may
lose the last few.  Readers (``sweep status``, ``export``, ``report``) open it read-only and see a consistent
snapshot while the driver goes on writing.

The lock is an ``flock`` on ``.sweep.lock``, held for the life of a :class:`Journal`; the OS frees it when the
process ends, however it ends, so a stale lock never blocks a later run.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import socket
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .._validation import InitlabValueError
from .._version import __version__
from ..results import write_text_atomic
from ._grid import Grid
from ._grid_file import parse_grid
from ._types import STATUSES, Cell, Row

__all__ = [
    "GRID_FILE",
    "JOURNAL_FILE",
    "LOCK_FILE",
    "SCHEMA_VERSION",
    "Journal",
    "JournalView",
    "Record",
    "SweepLockedError",
    "open_for_run",
    "open_journal",
]

#: the version of the tables below; a journal of another version is refused, not guessed at
SCHEMA_VERSION = 1
JOURNAL_FILE = "journal.sqlite"
GRID_FILE = "grid.toml"
LOCK_FILE = ".sweep.lock"
_OWN_FILES = {JOURNAL_FILE, f"{JOURNAL_FILE}-wal", f"{JOURNAL_FILE}-shm", GRID_FILE, LOCK_FILE}

_SCHEMA = f"""
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cells (key TEXT PRIMARY KEY, position INTEGER NOT NULL, config TEXT NOT NULL, axes TEXT NOT NULL);
CREATE TABLE results (
    cell TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
    metrics TEXT NOT NULL,
    diverged_at INTEGER,
    error TEXT,
    seconds REAL NOT NULL,
    worker TEXT NOT NULL,
    versions TEXT NOT NULL,
    finished TEXT NOT NULL,
    PRIMARY KEY (cell, seed)
);
"""


class SweepLockedError(InitlabValueError):
    """Another driver holds the folder's lock: two drivers never write one journal."""


# -- values -------------------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values (for ``json.dumps``)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"a metric value must be a number or a list of numbers, not {type(value).__name__}")


def dumps(value: Any) -> str:
    """JSON text that reads back bit for bit: floats as their shortest repr, NaN and +-Infinity kept.

    >>> dumps({"a": -0.0, "b": float("nan"), "c": 5e-324})
    '{"a": -0.0, "b": NaN, "c": 5e-324}'
    >>> loads(dumps([float("-inf"), 0.1]))
    [-inf, 0.1]
    """
    return json.dumps(value, allow_nan=True, default=_plain)


def loads(text: str) -> Any:
    """The inverse of :func:`dumps`."""
    return json.loads(text)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _when(stamp: str) -> str:
    """An ISO time as ``2026-11-28 05:01:02 UTC``."""
    try:
        return datetime.fromisoformat(stamp).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return stamp


def versions() -> dict[str, str]:
    """The versions a result depends on: initlab, numpy, Python and the platform."""
    return {
        "initlab": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# -- the folder and its lock ------------------------------------------------------------------------------------


def _is_sweep_dir(out: Path) -> bool:
    return (out / JOURNAL_FILE).is_file()


def _check_dir_for_run(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InitlabValueError(f"The --out folder {str(out)!r} must be a folder. Got a file instead.")
    if out.is_dir() and not _is_sweep_dir(out):
        foreign = sorted(p.name for p in out.iterdir() if p.name not in _OWN_FILES and not p.name.startswith(GRID_FILE))
        if foreign:
            raise InitlabValueError(
                f"The --out folder {str(out)!r} must be new, empty or a sweep's folder. "
                f"Got a folder holding other files ({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}) "
                "instead."
            )


def _read_holder(fd: int) -> dict[str, Any] | None:
    os.lseek(fd, 0, os.SEEK_SET)
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    try:
        info = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _holder_text(info: dict[str, Any] | None) -> str:
    if info is None:
        return "holder not yet named"
    since = _when(str(info.get("started")))
    return f"pid {info.get('pid')} on host {info.get('host')}, `{info.get('command')}`, since {since}"


def _take_lock(out: Path, command: str) -> int:
    """Take the folder's lock (non-blocking) and write who holds it; raise :class:`SweepLockedError` if held."""
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info = _read_holder(fd)
        os.close(fd)
        raise SweepLockedError(
            f"{out} is being written by another sweep ({_holder_text(info)}): wait for it to finish or stop it."
        ) from None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": _now(), "command": command}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
    os.fsync(fd)
    return fd


def _lock_holder(out: Path) -> dict[str, Any] | None:
    """Who holds the folder's lock now (None when nobody does): try it on a fresh descriptor, release at once."""
    try:
        fd = os.open(out / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# -- the driver's handle ----------------------------------------------------------------------------------------


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode != "wal":  # pragma: no cover - a file system without shared memory
        conn.close()
        raise InitlabValueError(f"The journal {str(path)!r} must support WAL mode. Got mode {mode!r} instead.")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _meta(conn: sqlite3.Connection) -> dict[str, Any]:
    return {key: loads(value) for key, value in conn.execute("SELECT key, value FROM meta")}


def _not_a_journal(path: Path, why: str) -> InitlabValueError:
    return InitlabValueError(
        f"The journal {str(path)!r} must be a sweep journal of schema {SCHEMA_VERSION}. Got {why}."
    )


def _create(conn: sqlite3.Connection, out: Path, grid: Grid, command: str) -> None:
    seeds = sorted({seed for _, seed in grid.models})
    meta = {
        "schema_version": SCHEMA_VERSION,
        "experiment": grid.experiment,
        "grid_text": grid.text,
        "grid_source": str(grid.source),
        "seeds": seeds,
        "axes": [axis.name for axis in grid.axes],
        "models": len(grid.models),
        "command": command,
        "created": _now(),
        "versions": versions(),
    }
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA.split(";"):  # one by one: executescript would commit on its own
            if statement.strip():
                conn.execute(statement)
        conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, dumps(v)) for k, v in meta.items()])
        conn.executemany(
            "INSERT INTO cells VALUES (?, ?, ?, ?)",
            [(c.key, i, dumps(c.config), dumps(c.axes)) for i, c in enumerate(grid.cells)],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    write_text_atomic(out / GRID_FILE, grid.text)


def _seeds_text(seeds: Any) -> str:
    """Seeds for a message, short however many there are.

    >>> _seeds_text([0, 1]), _seeds_text(list(range(300)))
    ('[0, 1]', '[0, 1, 2, 3, ..., 299] (300 seeds)')
    """
    if not isinstance(seeds, list) or len(seeds) <= 6:
        return str(seeds)
    return f"[{', '.join(map(str, seeds[:4]))}, ..., {seeds[-1]}] ({len(seeds)} seeds)"


def _check_same(conn: sqlite3.Connection, path: Path, grid: Grid) -> None:
    try:
        meta = _meta(conn)
    except sqlite3.DatabaseError as err:
        raise _not_a_journal(path, f"a database without its tables ({err})") from None
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise _not_a_journal(path, f"schema {meta.get('schema_version')!r}")
    keys = {key for (key,) in conn.execute("SELECT key FROM cells")}
    seeds = sorted({seed for _, seed in grid.models})
    theirs = f"experiment {meta.get('experiment')!r}, {len(keys)} cells, seeds {_seeds_text(meta.get('seeds'))}"
    if meta.get("experiment") != grid.experiment or keys != {c.key for c in grid.cells} or meta.get("seeds") != seeds:
        raise InitlabValueError(
            f"The --out folder {str(path.parent)!r} must hold this grid's sweep to resume it "
            f"(experiment {grid.experiment!r}, {len(grid.cells)} cells, seeds {_seeds_text(seeds)}). "
            f"Got a different sweep ({theirs}, from {meta.get('grid_source')}) instead: use another --out."
        )


class Journal:
    """The driver's handle on a sweep's journal; holds the folder's lock until :meth:`close`.

    Made by :func:`open_for_run`.  Use it as a context manager::

        with open_for_run(out, grid, command) as journal:
            for rows in results:
                journal.record(rows)
    """

    def __init__(self, out: Path, grid: Grid, conn: sqlite3.Connection, lock_fd: int) -> None:
        self.out = out
        self.grid = grid
        self._conn: sqlite3.Connection | None = conn
        self._lock_fd = lock_fd
        self._models = set(grid.models)
        self._versions = dumps(versions())

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the journal is closed")
        return self._conn

    def _recorded(self) -> set[tuple[str, int]]:
        return {(cell, seed) for cell, seed in self.conn.execute("SELECT cell, seed FROM results")}

    def missing(self) -> list[tuple[str, int]]:
        """The grid's models without a row, in grid order: what a run (or a resumed run) still has to train."""
        done = self._recorded()
        return [model for model in self.grid.models if model not in done]

    def record(self, rows: Sequence[Row]) -> int:
        """Write ``rows`` in one transaction; a model that already has a row keeps it.  Return the rows inserted.

        A row whose ``(cell, seed)`` is not a model of the grid, or whose status is not one of
        :data:`STATUSES`, is a bug of the caller: it raises and nothing is written.
        """
        values = []
        finished = _now()
        for row in rows:
            if (row.cell, row.seed) not in self._models:
                raise ValueError(f"the row ({row.cell!r}, {row.seed}) is not a model of this sweep's grid")
            if row.status not in STATUSES:
                raise ValueError(f"the row ({row.cell!r}, {row.seed}) has status {row.status!r}, not one of {STATUSES}")
            values.append(
                (
                    row.cell,
                    row.seed,
                    row.status,
                    dumps(row.metrics),
                    row.diverged_at,
                    row.error,
                    float(row.seconds),
                    row.worker,
                    self._versions,
                    finished,
                )
            )
        conn = self.conn
        before = conn.total_changes
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cell, seed) DO NOTHING", values
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return conn.total_changes - before

    def counts(self) -> dict[str, int]:
        """Models per status, with ``missing`` and ``total`` (the grid's models)."""
        return _counts(self.conn, len(self._models))

    def forget_failed(self) -> int:
        """Delete the rows of failed models (one transaction) so that a run trains them again; return how many."""
        conn = self.conn
        before = conn.total_changes
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM results WHERE status = 'failed'")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return conn.total_changes - before

    def close(self) -> None:
        """Close the database and release the lock (the lock file stays, emptied)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            os.ftruncate(self._lock_fd, 0)
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def _counts(conn: sqlite3.Connection, total: int) -> dict[str, int]:
    out = dict.fromkeys(STATUSES, 0)
    for status_, n in conn.execute("SELECT status, COUNT(*) FROM results GROUP BY status"):
        out[status_] = n
    out["missing"] = total - sum(out.values())
    out["total"] = total
    return out


def open_for_run(out: Path | str, grid: Grid, command: str) -> Journal:
    """Open (creating or resuming) the journal of ``grid`` in the folder ``out`` and take its lock.

    ``out`` is made if needed (parents too); an existing folder must be empty or hold this grid's sweep (the same
    experiment, cell keys and seeds), else a one-line error says so.  Another live driver on ``out`` raises
    :class:`SweepLockedError` naming it.
    """
    out = Path(out)
    _check_dir_for_run(out)
    out.mkdir(parents=True, exist_ok=True)
    fd = _take_lock(out, command)
    path = out / JOURNAL_FILE
    conn: sqlite3.Connection | None = None
    try:
        new = not path.exists()
        try:
            conn = _connect(path)
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as err:
            raise _not_a_journal(path, f"a file SQLite cannot read ({err})") from None
        if new or not tables:
            _create(conn, out, grid, command)
        else:
            _check_same(conn, path, grid)
            if not (out / GRID_FILE).exists():
                write_text_atomic(out / GRID_FILE, _meta(conn)["grid_text"])
        return Journal(out, grid, conn, fd)
    except BaseException:
        if conn is not None:
            conn.close()
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise


# -- reading ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """A journal row as stored: the :class:`Row`, when the driver wrote it and the versions it ran under."""

    row: Row
    finished: str
    versions: dict[str, Any]


def _record(values: tuple[Any, ...], seen: dict[str, dict[str, Any]]) -> Record:
    cell, seed, status_, metrics, diverged_at, error, seconds, worker, versions_, finished = values
    row = Row(cell, seed, status_, loads(metrics), diverged_at, error, seconds, worker)
    if versions_ not in seen:  # one driver writes one versions text: read it once
        seen[versions_] = loads(versions_)
    return Record(row, finished, seen[versions_])


_SELECT_RECORDS = (
    "SELECT r.cell, r.seed, r.status, r.metrics, r.diverged_at, r.error, r.seconds, r.worker, r.versions, r.finished "
    "FROM results AS r JOIN cells AS c ON r.cell = c.key ORDER BY c.position, r.seed"
)


class JournalView:
    """A read-only view of a sweep's journal (for ``status``, ``export`` and ``report``); made by :func:`open_journal`.

    Each method reads a consistent snapshot, also while a driver is writing; :meth:`snapshot` reads the cells and
    the records in one.
    """

    def __init__(self, out: Path, conn: sqlite3.Connection) -> None:
        self.out = out
        self._conn = conn
        self.meta: dict[str, Any] = _meta(conn)

    def grid(self) -> Grid:
        """The stored grid, parsed again from its text."""
        return parse_grid(self.meta["grid_text"], self.meta["grid_source"], yes=True)

    def cells(self) -> list[Cell]:
        """The grid's cells in grid order."""
        rows = self._conn.execute("SELECT key, config, axes FROM cells ORDER BY position").fetchall()
        return [Cell(key, loads(config), loads(axes)) for key, config, axes in rows]

    def records(self) -> list[Record]:
        """Every result with its time and versions, in cell order, then seed."""
        seen: dict[str, dict[str, Any]] = {}
        return [_record(values, seen) for values in self._conn.execute(_SELECT_RECORDS).fetchall()]

    def rows(self) -> list[Row]:
        """Every result row, in cell order, then seed."""
        return [record.row for record in self.records()]

    def snapshot(self) -> tuple[list[Cell], list[Record]]:
        """The cells and the records read in one transaction (they agree even while a driver writes)."""
        self._conn.execute("BEGIN")
        try:
            return self.cells(), self.records()
        finally:
            self._conn.execute("COMMIT")

    def counts(self) -> dict[str, int]:
        """Models per status, with ``missing`` and ``total`` (the grid's models)."""
        return _counts(self._conn, int(self.meta["models"]))

    def holder(self) -> dict[str, Any] | None:
        """Who holds the folder's lock now (``pid``, ``host``, ``started``, ``command``), or None when nobody does."""
        return _lock_holder(self.out)

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``'ok'`` for a sound database."""
        return "\n".join(str(line) for (line,) in self._conn.execute("PRAGMA integrity_check"))

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JournalView:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_journal(out: Path | str) -> JournalView:
    """Open the journal in the sweep folder ``out`` read-only; a folder that is not a sweep's is a one-line error."""
    out = Path(out)
    path = out / JOURNAL_FILE
    if not path.is_file():
        what = "a folder without a journal" if out.is_dir() else ("a file" if out.exists() else "nothing there")
        raise InitlabValueError(
            f"The sweep folder {str(out)!r} must hold a sweep's {JOURNAL_FILE} (made by `initlab sweep run`). "
            f"Got {what} instead."
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
        conn.execute("PRAGMA busy_timeout = 30000")
        return JournalView(out, conn)
    except sqlite3.DatabaseError as err:
        raise _not_a_journal(path, f"a file SQLite cannot read as one ({err})") from None
