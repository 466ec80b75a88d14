"""A sweep's journal as one tidy Parquet file: one row per model, for pandas, polars, DuckDB or R.

Columns, in order: ``cell``, ``seed``, ``status``, ``diverged_at``, ``error``, ``seconds``, ``worker``,
``finished`` (UTC time the driver wrote the row), one column per grid axis (the cell's value of it), ``config``
(the cell's every setting, JSON text) and one column per metric: a scalar metric as ``float64``, a curve as
``list<double>``.  A metric a row lacks (a failed model has none) is null; a NaN stays NaN.  The floats are the
journal's, bit for bit.  The journal's meta (experiment, grid text, versions) rides along as the file's
``initlab.sweep`` key-value metadata.

The file is written atomically: to ``FILE.tmp-<pid>`` in the same folder, flushed to disk, then renamed over
``FILE``, so a reader (or a kill -9 of the export) never sees half a file.  The export reads one snapshot of the
journal, so it may run while the driver is still writing.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from .._validation import InitlabValueError
from ._journal import Record, dumps, open_journal
from ._types import Cell

__all__ = ["BATCH_ROWS", "export_parquet"]

#: rows per Parquet row group: the export builds and writes one group at a time
BATCH_ROWS = 4096

_FIXED = ("cell", "seed", "status", "diverged_at", "error", "seconds", "worker", "finished")


def _check_file(file: Path) -> None:
    if file.suffix != ".parquet":
        raise InitlabValueError(f"The --parquet file must end in '.parquet'. Got {str(file)!r} instead.")
    if file.is_dir():
        raise InitlabValueError(f"The --parquet file must be a file, not a folder. Got the folder {str(file)!r}.")
    if not file.parent.is_dir():
        raise InitlabValueError(
            f"The --parquet file's folder must exist. Got {str(file)!r}, whose folder {str(file.parent)!r} does not."
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove_stale(file: Path) -> None:
    """Remove temp files of earlier exports of ``file`` whose process is gone (a killed export leaves one)."""
    for tmp in file.parent.glob(f"{file.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[1]
        if not pid.isdigit() or int(pid) == os.getpid() or not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _metric_kinds(records: list[Record]) -> dict[str, str]:
    """Each metric's column kind, in first-seen order: ``list`` (a curve), ``float`` or ``text``."""
    kinds: dict[str, str] = {}
    for record in records:
        for name, value in record.row.metrics.items():
            kind = "list" if isinstance(value, list) else "text" if isinstance(value, str) else "float"
            if kinds.get(name, kind) != kind:
                kind = "text"  # a metric of mixed kinds is kept as JSON text
            kinds[name] = kind
    return kinds


def _names(axes: list[str], metrics: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Column names of the axes and the metrics, prefixed only where one would repeat an earlier column."""
    taken = set(_FIXED) | {"config"}
    axis_cols = {}
    for name in axes:
        col = name if name not in taken else f"axis:{name}"
        axis_cols[name] = col
        taken.add(col)
    metric_cols = {}
    for name in metrics:
        col = name if name not in taken else f"metric:{name}"
        metric_cols[name] = col
        taken.add(col)
    return axis_cols, metric_cols


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def export_parquet(out: Path | str, file: Path | str) -> int:
    """Write the journal of the sweep folder ``out`` to the Parquet file ``file``; return the rows written.

    ``file`` must end in ``.parquet`` and its folder must exist; an older ``file`` is replaced whole, and temp
    files left by a killed export of the same ``file`` are removed first.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    file = Path(file)
    _check_file(file)
    with open_journal(out) as view:
        meta = view.meta
        cells, records = view.snapshot()
    by_key: dict[str, Cell] = {cell.key: cell for cell in cells}
    axes = list(meta.get("axes") or (cells[0].axes if cells else []))
    kinds = _metric_kinds(records)
    axis_cols, metric_cols = _names(axes, list(kinds))

    axis_types: dict[str, Any] = {}
    for name in axes:
        try:
            axis_types[name] = pa.array([cell.axes.get(name) for cell in cells]).type
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
            axis_types[name] = None  # values of mixed types: kept as JSON text
    fields = [
        pa.field("cell", pa.string(), nullable=False),
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("diverged_at", pa.int64()),
        pa.field("error", pa.string()),
        pa.field("seconds", pa.float64()),
        pa.field("worker", pa.string()),
        pa.field("finished", pa.timestamp("ms", tz="UTC")),
        *(pa.field(axis_cols[name], axis_types[name] or pa.string()) for name in axes),
        pa.field("config", pa.string()),
        *(
            pa.field(metric_cols[name], {"list": pa.list_(pa.float64()), "float": pa.float64()}.get(kind, pa.string()))
            for name, kind in kinds.items()
        ),
    ]
    schema = pa.schema(fields, metadata={"initlab.sweep": json.dumps(meta, allow_nan=True)})
    configs = {cell.key: dumps(cell.config) for cell in cells}

    def column(name: str, batch: list[Record]) -> list[Any]:
        kind = kinds[name]
        values = [r.row.metrics.get(name) for r in batch]
        if kind == "list":
            return [None if v is None else [float(x) for x in v] for v in values]
        if kind == "float":
            return [_float(v) for v in values]
        return [None if v is None else v if isinstance(v, str) else dumps(v) for v in values]

    def axis(name: str, batch: list[Record]) -> list[Any]:
        values = [by_key[r.row.cell].axes.get(name) for r in batch]
        return values if axis_types[name] is not None else [dumps(v) for v in values]

    def table(batch: list[Record]) -> Any:
        rows = [r.row for r in batch]
        data = [
            [r.cell for r in rows],
            [r.seed for r in rows],
            [r.status for r in rows],
            [r.diverged_at for r in rows],
            [r.error for r in rows],
            [float(r.seconds) for r in rows],
            [r.worker for r in rows],
            [datetime.fromisoformat(r.finished) for r in batch],
            *(axis(name, batch) for name in axes),
            [configs[r.cell] for r in rows],
            *(column(name, batch) for name in kinds),
        ]
        return pa.Table.from_arrays(
            [pa.array(d, type=f.type) for d, f in zip(data, fields, strict=True)], schema=schema
        )

    _remove_stale(file)
    tmp = file.with_name(f"{file.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as sink:
            with pq.ParquetWriter(sink, schema) as writer:
                for start in range(0, max(len(records), 1), BATCH_ROWS):
                    writer.write_table(table(records[start : start + BATCH_ROWS]))
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(file.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself reaches the disk
    finally:
        os.close(fd)
    return len(records)
