"""Randomness without a global state.

Every random function of initlab takes an ``rng`` argument: a
:class:`numpy.random.Generator`, an int seed (turned into ``default_rng(seed)``)
or a legacy :class:`numpy.random.RandomState`.  The legacy generator is accepted
so that the course's ``np.random.seed(3); np.random.randn(n, m) * 0.01`` sequences
reproduce bit for bit: pass ``np.random.RandomState(3)``.  Nothing in initlab
reads or advances numpy's global generator.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ._validation import InitlabTypeError, InitlabValueError, shown

__all__ = ["as_rng"]


def as_rng(rng: Any, where: str | None = None) -> np.random.Generator | np.random.RandomState:
    """Return a generator for ``rng``: a Generator or RandomState as is, an int seed as ``default_rng(seed)``.

    >>> as_rng(0).standard_normal(2)
    array([ 0.12573022, -0.13210486])
    >>> as_rng(np.random.RandomState(3)).standard_normal(2)
    array([1.78862847, 0.43650985])
    """
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    owner = f" of {where}" if where else ""
    msg = (
        f"The 'rng' argument{owner} must be a numpy.random.Generator, a numpy.random.RandomState "
        f"or an int seed >= 0. Got {shown(rng)} instead."
    )
    if isinstance(rng, bool):
        raise InitlabTypeError(msg)
    if isinstance(rng, numbers.Integral):
        if int(rng) < 0:
            raise InitlabValueError(msg)
        return np.random.default_rng(int(rng))
    raise InitlabTypeError(msg)
