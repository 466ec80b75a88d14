"""What every reproduction shares: the paper's card, the findings (paper vs ours) and the Result they make."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..experiments import Result, command

__all__ = ["TABLE", "Finding", "Paper", "paper_result", "spread"]


@dataclass(frozen=True)
class Paper:
    """A paper's card: who, when, what it set up, and what initlab's default run scales down."""

    authors: str  # "Glorot & Bengio"
    year: int
    title: str
    venue: str
    setup: str  # the paper's own setup, in a sentence or two
    claim: str  # the headline result reproduced, in one sentence
    scaled: str  # what the default run changes from the paper's setup, and what --full runs

    @property
    def cite(self) -> str:
        return f"{self.authors} ({self.year}), {self.title}, {self.venue}"


@dataclass(frozen=True)
class Finding:
    """One number of the paper beside ours: ``paper`` and ``ours`` as text (ours with its seed spread)."""

    quantity: str  # what is compared, stable across runs: it is the claim's key
    paper: str
    ours: str
    holds: bool

    def row(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "paper": self.paper, "ours": self.ours,
                "holds": "yes" if self.holds else "no"}  # fmt: skip


#: The title of the paper-vs-ours table in every reproduction's Result (the CLI and the report show it).
TABLE = "Paper vs ours"


def spread(values: Any, digits: int = 3) -> str:
    """``mean ± sd (n seeds)`` over the finite values, in ``digits`` significant digits; ``n/a`` for none."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "n/a"
    if v.size == 1:
        return f"{v[0]:.{digits}g} (1 seed)"
    return f"{v.mean():.{digits}g} ± {v.std(ddof=1):.{digits}g} ({v.size} seeds)"


def paper_result(
    name: str,
    config: Any,
    paper: Paper,
    findings: Sequence[Finding],
    rows: list[dict[str, Any]],
    arrays: dict[str, np.ndarray],
    answer: str,
    tables: dict[str, list[dict[str, Any]]] | None = None,
) -> Result:
    """The :class:`~initlab.results.Result` of a reproduction: the findings become the claims (quantity -> holds)
    and the first table, the paper's card the question, ``command`` the ``initlab reproduce`` line."""
    return Result(
        name,
        dataclasses.asdict(config),
        rows,
        arrays,
        {f.quantity: f.holds for f in findings},
        answer,
        question=f"{paper.cite}. {paper.claim} Setup: {paper.setup} Here: {paper.scaled}",
        tables={TABLE: [f.row() for f in findings], **(tables or {})},
        command=command(config),
    )
