"""Type aliases shared by initlab's modules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["RNGLike", "ShapeLike"]

#: What a shape argument accepts: a sequence of positive ints, e.g. ``(256, 512)``.
ShapeLike = Sequence[int]

#: What an ``rng`` argument accepts: a Generator, an int seed, or a legacy RandomState
#: (:func:`initlab.seeding.as_rng` turns it into a Generator or a RandomState).
RNGLike = np.random.Generator | np.random.RandomState | int | np.integer
