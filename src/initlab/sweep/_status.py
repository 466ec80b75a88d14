"""Where a sweep stands, read from its journal: what ``initlab sweep status DIR`` prints.

Counts by status, cells complete, whether a driver holds the folder's lock (and who), when the
first and last results came and how fast, and the first distinct errors of failed models.  A
reader: it may run while the driver writes (the journal's WAL gives it a consistent snapshot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ._journal import _holder_text, _when, open_journal
from ._types import STATUSES

__all__ = ["SweepStatus", "status"]


@dataclass(frozen=True)
class SweepStatus:
    """Where a sweep stands: what ``initlab sweep status DIR`` prints (:meth:`lines`) or dumps (:meth:`to_dict`)."""

    out: str
    experiment: str
    source: str
    counts: dict[str, int]
    cells_total: int
    cells_complete: int
    holder: dict[str, Any] | None
    first: str | None
    last: str | None
    models_per_second: float | None
    errors: list[tuple[str, int]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The status as a few lines of text."""
        total = self.counts["total"]

        def part(status_: str) -> str:
            n = self.counts[status_]
            return f"{n} {status_} ({100.0 * n / total:.1f}%)" if total else f"{n} {status_}"

        out = [
            f"sweep {self.out}: experiment {self.experiment}, grid {self.source}",
            f"models: {', '.join(part(s) for s in (*STATUSES, 'missing'))} of {total}",
            f"cells complete: {self.cells_complete} of {self.cells_total}",
        ]
        if self.holder is None:
            out.append("running: no")
        else:
            out.append(f"running: yes ({_holder_text(self.holder or None)})")
        if self.first is not None and self.last is not None:
            rate = "" if self.models_per_second is None else f", {self.models_per_second:.3g} models per second"
            out.append(f"results: first {_when(self.first)}, last {_when(self.last)}{rate}")
        for error, n in self.errors:
            out.append(f"failed ({n}): {error}")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The status as JSON-able data."""
        return {
            "out": self.out,
            "experiment": self.experiment,
            "source": self.source,
            "counts": dict(self.counts),
            "cells_total": self.cells_total,
            "cells_complete": self.cells_complete,
            "running": self.holder is not None,
            "holder": self.holder,
            "first": self.first,
            "last": self.last,
            "models_per_second": self.models_per_second,
            "errors": [{"error": e, "models": n} for e, n in self.errors],
        }


def status(out: Path | str, errors: int = 5) -> SweepStatus:
    """Read where the sweep in ``out`` stands; ``errors`` is how many distinct errors of failed models to keep."""
    with open_journal(out) as view:
        conn = view._conn
        conn.execute("BEGIN")
        try:
            counts = view.counts()
            n_cells = conn.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
            per_cell = counts["total"] // n_cells if n_cells else 0
            complete = conn.execute(
                "SELECT COUNT(*) FROM (SELECT cell FROM results GROUP BY cell HAVING COUNT(*) >= ?)", (per_cell,)
            ).fetchone()[0]
            first, last, n = conn.execute("SELECT MIN(finished), MAX(finished), COUNT(*) FROM results").fetchone()
            failed = conn.execute(
                "SELECT error, COUNT(*) FROM results WHERE status = 'failed' GROUP BY error ORDER BY MIN(finished) "
                "LIMIT ?",
                (errors,),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        rate = None
        if first is not None and last is not None and n > 1:
            span = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
            rate = n / span if span > 0 and math.isfinite(span) else None
        return SweepStatus(
            out=str(out),
            experiment=view.meta["experiment"],
            source=view.meta["grid_source"],
            counts=counts,
            cells_total=n_cells,
            cells_complete=complete,
            holder=view.holder(),
            first=first,
            last=last,
            models_per_second=rate,
            errors=[(str(e), int(k)) for e, k in failed],
        )
