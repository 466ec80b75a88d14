"""The lecture's claims as experiments: each module has a ``Config`` dataclass and ``run(config) -> Result``.

Experiments compute; figures, reports and files are made elsewhere from the
:class:`~initlab.experiments.result.Result` (a tidy table, arrays, and the answer
in words).  Every experiment trains many seeds at once as one ensemble.
"""

from __future__ import annotations

from . import bias_vs_weights, course, depth, scale, symmetry
from .result import Result

__all__ = ["EXPERIMENTS", "Result", "bias_vs_weights", "course", "depth", "scale", "symmetry"]

#: name -> module with ``Config`` and ``run``, in the lecture's order
EXPERIMENTS = {"symmetry": symmetry, "bias-vs-weights": bias_vs_weights, "scale": scale, "depth": depth,
               "course": course}  # fmt: skip
