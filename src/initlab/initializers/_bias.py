"""Bias policies: how ``b[l]``, of shape ``(n_l, 1)``, starts.

A policy is ``f(shape, rng, *, fan_in, dtype, ...) -> ndarray``; ``fan_in`` is
the fan-in of the layer's weight (only ``torch_default`` uses it).  Zero biases
are the default and, as the lecture says, fine once the weights are random: the
weights alone break the symmetry between hidden units.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._typing import RNGLike, ShapeLike
from .._validation import check_int
from . import _schemes as _init

__all__ = ["POLICIES", "constant", "normal", "torch_default", "uniform", "zeros"]

F64 = np.float64


def zeros(shape: ShapeLike, rng: RNGLike | None = None, *, fan_in: int = 1, dtype: Any = F64) -> np.ndarray:
    """``b = 0`` (the default).

    >>> zeros((2, 1), fan_in=3).ravel()
    array([0., 0.])
    """
    return _init.zeros(shape, rng, dtype=dtype)


def constant(
    shape: ShapeLike, rng: RNGLike | None = None, *, value: float = 0.0, fan_in: int = 1, dtype: Any = F64
) -> np.ndarray:
    """``b = value`` for every unit (e.g. 0.01 to keep ReLU units alive at the start).

    >>> constant((2, 1), value=0.1, fan_in=3).ravel()
    array([0.1, 0.1])
    """
    return _init.constant(shape, rng, value=value, dtype=dtype)


def normal(
    shape: ShapeLike, rng: RNGLike, *, mean: float = 0.0, std: float = 0.01, fan_in: int = 1, dtype: Any = F64
) -> np.ndarray:
    """``b ~ N(mean, std^2)``: random biases, as in the discussion's question.

    >>> normal((2, 1), np.random.RandomState(3), std=1.0, fan_in=3).ravel()
    array([1.78862847, 0.43650985])
    """
    return _init.normal(shape, rng, mean=mean, std=std, dtype=dtype)


def uniform(
    shape: ShapeLike, rng: RNGLike, *, low: float = -0.01, high: float = 0.01, fan_in: int = 1, dtype: Any = F64
) -> np.ndarray:
    """``b ~ U(low, high)``.

    >>> bool(abs(uniform((5, 1), 0, fan_in=3)).max() <= 0.01)
    True
    """
    return _init.uniform(shape, rng, low=low, high=high, dtype=dtype)


def torch_default(shape: ShapeLike, rng: RNGLike, *, fan_in: int, dtype: Any = F64) -> np.ndarray:
    """torch's ``nn.Linear``/``nn.ConvNd`` bias: ``b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    >>> bool(abs(torch_default((5, 1), 0, fan_in=4)).max() <= 0.5)
    True
    """
    fan_in = check_int(fan_in, "fan_in", "the torch_default bias", low=1)
    bound = 1.0 / math.sqrt(fan_in)
    return _init.uniform(shape, rng, low=-bound, high=bound, dtype=dtype)


#: The policy names, as :func:`initlab.initializers.get_bias` knows them.
POLICIES = ("zeros", "constant", "normal", "uniform", "torch_default")
