"""Explain a scheme before using it: its plan, then the tensor it actually draws.

>>> e = explain("he_normal", (256, 512), seed=0)
>>> e.plan.fan_in, e.plan.std
(512, 0.0625)
>>> round(e.realized["std"], 3)
0.063
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_dtype, check_float, check_int, check_shape, shown
from .._version import __version__
from ._fans import fans
from ._plans import Plan, centre_tap
from ._registry import Initializer, resolve

__all__ = ["Explanation", "explain", "orthogonality_error"]


def orthogonality_error(w: np.ndarray, gain: float = 1.0) -> float:
    """``max |Q Q^T - gain^2 I|`` of ``w`` viewed as ``(shape[0], -1)`` (``Q^T Q`` if taller than wide), in float64.

    >>> orthogonality_error(np.eye(3))
    0.0
    """
    try:
        q = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        q = np.empty(0)
    if q.ndim < 2 or q.size == 0:
        raise InitlabValueError(
            "The 'w' argument of orthogonality_error must be a non-empty array of numbers with at least 2 axes. "
            f"Got {shown(w)} instead."
        )
    gain = check_float(gain, "gain", "orthogonality_error")
    q = q.reshape(q.shape[0], -1)
    gram = q @ q.T if q.shape[0] <= q.shape[1] else q.T @ q
    return float(np.abs(gram - gain * gain * np.eye(gram.shape[0])).max())


@dataclass(frozen=True)
class Explanation:
    """A scheme's plan on a shape and the statistics of one tensor drawn from it."""

    spec: str
    shape: tuple[int, ...]
    dtype: str
    seed: int
    plan: Plan | None
    realized: dict[str, float]
    weights: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: spec, shape, dtype, seed, initlab version, plan, realized (the weights left out)."""
        return {
            "spec": self.spec,
            "shape": list(self.shape),
            "dtype": self.dtype,
            "seed": self.seed,
            "initlab_version": __version__,
            "plan": None if self.plan is None else self.plan.to_dict(),
            "realized": dict(self.realized),
        }


def explain(spec: str | Initializer, shape: Any, *, seed: int = 0, dtype: Any = "float64") -> Explanation:
    """Plan ``spec`` on ``shape``, draw it with ``seed``, and measure what was drawn.

    ``realized`` holds the mean, std, min and max of the drawn tensor, and for the
    orthogonal schemes the orthogonality error of (the centre tap of) the tensor.
    """
    init = resolve(spec, "explain")
    dims = check_shape(shape, "explain")
    seed = check_int(seed, "seed", "explain", low=0)
    dt = check_dtype(dtype, "explain")
    plan = init.plan(dims)
    if plan is not None and plan.fan_in is None and len(dims) >= 2:
        # plain distributions ignore the fans; show them anyway, to compare with the fan-based schemes
        fan_in, fan_out = fans(dims)
        plan = dataclasses.replace(plan, fan_in=fan_in, fan_out=fan_out)
    w = init(dims, np.random.default_rng(seed), dtype=dt)
    w64 = w.astype(np.float64)
    realized = {
        "mean": float(w64.mean()),
        "std": float(w64.std()),
        "min": float(w64.min()),
        "max": float(w64.max()),
        "fraction_zero": float(np.mean(w64 == 0.0)),
    }
    if plan is not None and plan.kind in ("orthogonal", "delta_orthogonal"):
        gain = plan.params["gain"]
        tap = w64 if plan.kind == "orthogonal" else w64[centre_tap(dims)]
        realized["orthogonality_error"] = orthogonality_error(tap, gain)
    if not all(math.isfinite(v) for v in realized.values()):  # pragma: no cover - every scheme is finite
        realized["non_finite"] = float(np.sum(~np.isfinite(w64)))
    return Explanation(init.spec, dims, dt.name, seed, plan, realized, w)
