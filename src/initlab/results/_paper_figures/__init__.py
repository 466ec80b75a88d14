"""The figures of the paper reproductions: one module per paper, each with ``draw(result, plt) -> {name: Figure}``.

Like the experiments' figures, each is drawn from the Result's rows and arrays alone, so a
saved run draws the same figure again.  The modules are imported only when a figure is drawn.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np

from .._result import Result

__all__ = ["NAMES", "draw", "seed_stat"]

#: the reproductions that have figures here (the names of ``initlab.papers.PAPERS``)
NAMES = ("glorot2010", "saxe2014", "he2015", "mishkin2016", "schoenholz2017", "pennington2017", "cs231n")


def draw(result: Result, plt: Any) -> dict[str, Any] | None:
    """The figures of a reproduction's result; None when ``result`` is not one."""
    if result.name not in NAMES:
        return None
    module = importlib.import_module(f".{result.name}", __name__)
    figures: dict[str, Any] = module.draw(result, plt)
    return figures


def seed_stat(fn: Any, curve: np.ndarray) -> np.ndarray:
    """``fn`` (``np.nanmedian``, ``np.nanmin``...) over seeds (axis 0), a diverged model's inf or nan left out; a
    point where every seed diverged stays nan, without a warning."""
    finite = np.where(np.isfinite(curve), curve, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(fn(finite, axis=0))
