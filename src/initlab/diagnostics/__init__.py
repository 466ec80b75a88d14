"""Is a start healthy?  Per hidden layer: clones, rank, saturation, dead units, signal and gradients, and a verdict.

The numbers are the engine's metrics (:mod:`initlab.engine`: ``distinct_units``,
``clone_groups``, ``numerical_rank`` and the rest, each defined once there); this layer
reads them and gives each layer its verdict.
"""

from __future__ import annotations

from ._diagnose import (
    DEAD_SHARE,
    EXPLODING_RATIO,
    SATURATED_SHARE,
    VANISHING_RATIO,
    LayerReport,
    cosine_similarity,
    diagnose,
)

__all__ = [
    "DEAD_SHARE",
    "EXPLODING_RATIO",
    "SATURATED_SHARE",
    "VANISHING_RATIO",
    "LayerReport",
    "cosine_similarity",
    "diagnose",
]
