"""What every result of the torch adapter offers in a notebook: a table, a frame, JSON, a text table.

Each result class (inspection, plan, diagnosis, LSUV report, coordinate check)
derives from :class:`Tabular` and defines ``rows()`` (one flat dict per row) and
``to_dict()``; ``to_frame()`` comes from here.  :func:`text_table` lays out the
plain-text tables of their ``repr``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .._validation import InitlabError

__all__ = ["Tabular", "num", "text_table"]


class Tabular:
    """A result that is a table: ``rows()`` is the tidy table, ``to_frame()`` the same as a pandas DataFrame."""

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per row (same keys in every row)."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """Everything, as plain JSON-ready values."""
        raise NotImplementedError

    def to_frame(self) -> Any:
        """``rows()`` as a ``pandas.DataFrame`` (pandas is optional: ``pip install pandas``)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise InitlabError(
                f"{type(self).__name__}.to_frame() needs pandas, which is not installed: `pip install pandas`, "
                "or use .rows(), a list of dicts."
            ) from exc
        return pd.DataFrame(self.rows())


def num(x: float | None, digits: int = 4) -> str:
    """A number for a text table: ``-`` for None, ``nan`` for NaN, otherwise ``digits`` significant digits."""
    if x is None:
        return "-"
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    return f"{x:.{digits}g}"


def text_table(head: Sequence[str], body: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Lines of a left-aligned plain-text table: the head, then one line per row of ``body``."""
    table = [tuple(head), *(tuple(row) for row in body)]
    widths = [max(len(line[i]) for line in table) for i in range(len(head))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in table]
