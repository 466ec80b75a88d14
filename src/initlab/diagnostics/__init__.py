"""Is a start healthy?  Per hidden layer: clones, rank, saturation, dead units, signal and gradients, and a verdict."""

from __future__ import annotations

from ._diagnose import (
    CLONE_TOL,
    DEAD_SHARE,
    EXPLODING_RATIO,
    SATURATED_SHARE,
    VANISHING_RATIO,
    LayerReport,
    clone_groups,
    cosine_similarity,
    diagnose,
    distinct_units,
    numerical_rank,
)

__all__ = [
    "CLONE_TOL",
    "DEAD_SHARE",
    "EXPLODING_RATIO",
    "SATURATED_SHARE",
    "VANISHING_RATIO",
    "LayerReport",
    "clone_groups",
    "cosine_similarity",
    "diagnose",
    "distinct_units",
    "numerical_rank",
]
