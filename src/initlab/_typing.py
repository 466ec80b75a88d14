"""Type aliases shared by initlab's modules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["Array", "DTypeLike", "RNGLike", "ShapeLike"]

#: A numpy array of floats (the engine works in float32 or float64).
Array = npt.NDArray[np.floating]

#: What a shape argument accepts: a sequence of positive ints, e.g. ``(256, 512)``.
ShapeLike = Sequence[int]

#: What an ``rng`` argument accepts: a Generator, an int seed, or a legacy RandomState.
RNGLike = np.random.Generator | np.random.RandomState | int | np.integer

#: A float dtype: ``np.float32``, ``np.float64``, ``"float32"``...
DTypeLike = npt.DTypeLike
