"""What an experiment returns: a tidy table, the arrays behind it, checked claims, and the answer in words."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Result"]


@dataclass
class Result:
    """The outcome of one experiment run.

    ``rows`` is the tidy table: one dict per model x step x layer x metric, with
    the columns ``model, step, layer, metric, value`` plus the model's own
    description (``init``, ``width``, ``seed``...).  ``arrays`` keeps the raw
    arrays the rows came from.  ``claims`` maps each claim of the lecture the
    experiment checks to whether the numbers bear it out; ``answer`` says it in
    words, with the numbers.
    """

    name: str
    config: dict[str, Any]
    rows: list[dict[str, Any]]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    claims: dict[str, bool] = field(default_factory=dict)
    answer: str = ""
    question: str = ""
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    command: str = ""

    def diverged(self) -> list[dict[str, Any]]:
        """The models whose loss became non-finite: their descriptive columns, the step, the last finite loss.

        Read from the rows ``diverged_at`` (the first step with a non-finite loss, or -1) and
        ``last_finite_loss``; a model with ``diverged_at == -1`` trained to the end.
        """
        skip = ("model", "step", "layer", "metric", "value")
        last = {}
        for r in self.rows:
            if r["metric"] == "last_finite_loss":
                last[tuple(sorted((k, str(v)) for k, v in r.items() if k not in skip[1:]))] = float(r["value"])
        out = []
        for r in self.rows:
            if r["metric"] == "diverged_at" and float(r["value"]) >= 0:
                key = tuple(sorted((k, str(v)) for k, v in r.items() if k not in skip[1:]))
                described = {k: v for k, v in r.items() if k not in skip}
                out.append({**described, "model": r["model"], "diverged_at": int(r["value"]),
                            "last_finite_loss": last.get(key, float("nan"))})  # fmt: skip
        return out

    def metric(self, name: str, **where: Any) -> list[dict[str, Any]]:
        """The rows of one metric, filtered by column values: ``result.metric("distinct_units", width=16)``."""
        return [r for r in self.rows if r["metric"] == name and all(r.get(k) == v for k, v in where.items())]
