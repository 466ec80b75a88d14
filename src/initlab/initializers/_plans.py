"""What an initializer will draw, and the one place where every initializer draws.

Every initializer of :mod:`initlab.initializers` and :mod:`initlab.initializers` first builds
a :class:`Plan` (the sampling recipe with its formula, fans, gain, std and bounds)
and then hands it to :func:`draw`.  So :func:`plan` can show what a call would draw
without drawing it, using the very code path of a real call.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._typing import ShapeLike
from .._validation import InitlabTypeError, InitlabValueError, check_dtype, check_memory, check_shape, shown
from ..seeding import as_rng
from ._distributions import standard_normal, truncated_standard_normal, uniform01

__all__ = ["Plan", "centre_tap", "draw", "plan"]

F64 = np.float64


def centre_tap(shape: ShapeLike) -> tuple[Any, ...]:
    """The index of the centre tap ``W[:, :, k1 // 2, ..., kd // 2]`` of a conv kernel ``(out, in, *k)``.

    For an even kernel size ``k`` the tap is ``k // 2``, right of the middle (as torch's ``dirac_``).

    >>> centre_tap((8, 4, 3, 4))
    (slice(None, None, None), slice(None, None, None), 1, 2)
    """
    dims = check_shape(shape, "centre_tap", min_dims=2)
    return (slice(None), slice(None), *(k // 2 for k in dims[2:]))


@dataclass(frozen=True)
class Plan:
    """What an initializer draws, known before drawing.

    ``kind`` is the sampling recipe (``constant``, ``normal``, ``uniform``,
    ``truncated_normal``, ``orthogonal``, ``eye``, ``dirac``, ``delta_orthogonal``,
    ``sparse``).  ``mean`` and ``std`` are the analytic mean and standard deviation
    of one entry (for the structured kinds, ``std`` is the root mean square of the
    entries); ``low``/``high`` bound every entry where the scheme has bounds.
    ``params`` holds the recipe's own numbers; ``args`` the caller's numeric arguments
    that set the scale (``{"std": 0.01}``, ``{"gain": 1.0}``), named in errors when the
    weights would not be finite in the requested dtype.
    """

    scheme: str
    kind: str
    shape: tuple[int, ...]
    formula: str
    mean: float
    std: float
    low: float | None = None
    high: float | None = None
    fan_in: int | None = None
    fan_out: int | None = None
    gain: float | None = None
    params: Mapping[str, float] = field(default_factory=dict)
    args: Mapping[str, float] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the plan."""
        return {
            "scheme": self.scheme,
            "kind": self.kind,
            "shape": list(self.shape),
            "formula": self.formula,
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "gain": self.gain,
            "mean": self.mean,
            "std": self.std,
            "low": self.low,
            "high": self.high,
            "params": dict(self.params),
        }


class _Planned(Exception):
    """Carries a plan out of an initializer called by :func:`plan`."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan.scheme)
        self.plan = plan


class _NotPlannable(Exception):
    """Raised when a callable that is not initlab's uses the rng :func:`plan` passed."""


class _PlanOnly:
    """The ``rng`` that :func:`plan` passes: initlab's initializers stop at their plan."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # introspection (doctest, copy, pickle) sees a plain object
            raise AttributeError(name)
        raise _NotPlannable(name)


_PLAN_ONLY: Any = _PlanOnly()


def plan(initializer: Callable[..., Any], shape: ShapeLike, **kwargs: Any) -> Plan | None:
    """The :class:`Plan` that ``initializer(shape, rng, **kwargs)`` would draw from.

    Arguments are validated exactly as in a real call.  Returns None for a
    callable that draws without going through initlab's :func:`draw`.  (A
    callable that wraps an initlab initializer gets the plan of the first one it
    calls, whatever it does with the result: plan such wrappers yourself.)

    >>> from initlab import kaiming_normal
    >>> p = plan(kaiming_normal, (256, 512), nonlinearity="relu")
    >>> p.fan_in, round(p.gain, 6), p.std
    (512, 1.414214, 0.0625)
    """
    if not callable(initializer):
        raise InitlabTypeError(
            "The 'initializer' argument of plan must be an initializer function such as initlab.normal "
            f"(for a spec string, use initlab.get(spec).plan(shape)). Got {shown(initializer)} instead."
        )
    try:
        initializer(shape, _PLAN_ONLY, **kwargs)
    except _Planned as planned:
        return planned.plan
    except _NotPlannable:
        return None
    return None


def _orthonormal(rng: Any, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) float64 matrix with orthonormal rows or columns (whichever fit).

    QR of a Gaussian matrix with the signs of R's diagonal moved into Q, so that Q
    is Haar distributed (Mezzadri 2007), as in torch and JAX.
    """
    flat = np.asarray(rng.standard_normal((rows, cols)), dtype=F64)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    signs = np.sign(np.diagonal(r))
    signs[signs == 0] = 1.0
    q *= signs
    return q.T if rows < cols else q


def _magnitudes(p: Plan) -> dict[str, float]:
    """The numbers a draw of ``p`` computes with, by what they are: each must be finite in the dtype."""
    values = {"mean": p.mean, "std": p.std}
    if p.low is not None and p.high is not None:
        values.update(low=p.low, high=p.high)
        if p.kind == "uniform":
            values["high - low"] = p.high - p.low  # the draw scales U[0, 1) by it
    values.update((k, v) for k, v in p.params.items() if k in ("gain", "std", "loc", "scale"))
    if p.kind == "truncated_normal":  # infinite bounds are allowed there; the clip to them is harmless
        values = {k: v for k, v in values.items() if k not in ("low", "high") or math.isfinite(v)}
    return values


_MEANING = {
    "mean": "mean",
    "std": "std",
    "low": "lower bound",
    "high": "upper bound",
    "high - low": "range",
    "gain": "gain",
    "loc": "parent normal's mean",
    "scale": "parent normal's std",
}


def _not_finite(p: Plan, dt: np.dtype[Any], what: str) -> InitlabValueError:
    """The error for weights that are not finite in ``dt``, naming the caller's arguments."""
    top = float(np.finfo(dt).max)
    # name the arguments that are themselves beyond the dtype; when none is, their combination (the non-zero ones)
    named = (
        {k: v for k, v in p.args.items() if not abs(v) <= top}
        or {k: v for k, v in p.args.items() if v != 0.0}
        or dict(p.args)
    )
    if not named:
        return InitlabValueError(f"The 'dtype' argument of {p.scheme} must hold the weights; {what}. Got {dt.name}.")
    args = " and ".join(repr(k) for k in named)
    noun = "argument" if len(named) == 1 else "arguments"
    got = ", ".join(f"{k}={v!r}" for k, v in named.items())
    return InitlabValueError(
        f"The {args} {noun} of {p.scheme} must keep the weights finite in {dt.name}, whose largest value is "
        f"{top:.4g}; {what}. Got {got} with dtype={dt.name} instead."
    )


_CHECKED_BYTES = 64 * 2**20  # arrays below this are drawn without asking how much memory is free


def draw(p: Plan, rng: Any, dtype: Any) -> np.ndarray:
    """Draw the array that plan ``p`` describes (the one place every initializer draws).

    Refused before drawing: a plan whose numbers (std, bounds, gain...) are beyond the range of
    ``dtype``, and an array larger than the memory available now; refused after drawing, as a
    last guard, weights that came out infinite or NaN (a normal's tail beyond the range).
    """
    if not isinstance(p, Plan):
        raise InitlabTypeError(f"The 'p' argument of draw must be a Plan. Got {shown(p)} instead.")
    dt = check_dtype(dtype, p.scheme)
    top = float(np.finfo(dt).max)
    for name, value in _magnitudes(p).items():
        if not abs(value) <= top:
            raise _not_finite(p, dt, f"here the weights' {_MEANING[name]} would be {value:.4g}")
    if rng is _PLAN_ONLY:
        raise _Planned(p)
    size = math.prod(p.shape)
    nbytes = size * max(dt.itemsize, 8)  # most recipes draw in float64 before casting
    if nbytes > _CHECKED_BYTES:
        check_memory(nbytes, f"the weights of {p.scheme} of shape {p.shape} ({size} entries)")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, naming the argument
        out = _draw(p, rng, dt)
    if not np.isfinite(out).all():
        bad = int(np.count_nonzero(~np.isfinite(out)))
        raise _not_finite(p, dt, f"here {bad} of the {size} weights drawn came out infinite or NaN")
    return out


def _draw(p: Plan, rng: Any, dt: np.dtype[Any]) -> np.ndarray:
    shape, params = p.shape, p.params
    if p.kind in ("constant", "eye", "dirac") and rng is not None:
        as_rng(rng, p.scheme)  # deterministic schemes draw nothing, but a bad rng is still a mistake
    if p.kind == "constant":
        return np.full(shape, p.mean, dtype=dt)
    if p.kind == "eye":
        out = np.zeros(shape, dtype=dt)
        np.fill_diagonal(out, params["gain"])
        return out
    if p.kind == "dirac":
        out = np.zeros(shape, dtype=dt)
        groups = int(params["groups"])
        per_group = shape[0] // groups
        taps = out[centre_tap(shape)]  # a view of the centre taps, (out, in)
        for g in range(groups):
            for d in range(min(per_group, shape[1])):
                taps[g * per_group + d, d] = params["gain"]
        return out
    gen = as_rng(rng, p.scheme)
    if p.kind == "normal":
        x = standard_normal(gen, shape, dt)
        x *= p.std
        if p.mean != 0.0:
            x += p.mean
        return x
    if p.kind == "uniform":
        assert p.low is not None and p.high is not None
        x = uniform01(gen, shape, dt)
        x *= p.high - p.low
        x += p.low
        return np.clip(x, p.low, p.high, out=x)
    if p.kind == "truncated_normal":
        assert p.low is not None and p.high is not None
        z = truncated_standard_normal(gen, math.prod(shape), params["a"], params["b"])
        x = (params["loc"] + params["scale"] * z).reshape(shape).astype(dt, copy=False)
        return np.clip(x, p.low, p.high, out=x)
    if p.kind == "orthogonal":
        q = _orthonormal(gen, shape[0], math.prod(shape[1:]))
        return (q * params["gain"]).reshape(shape).astype(dt)
    if p.kind == "delta_orthogonal":
        out = np.zeros(shape, dtype=dt)
        out[centre_tap(shape)] = _orthonormal(gen, shape[0], shape[1]) * params["gain"]
        return out
    if p.kind == "sparse":
        cols = shape[1]
        x = standard_normal(gen, shape, dt)
        x *= params["std"]
        n_zeros = int(params["zeros_per_column"])
        if n_zeros:
            # each column's zero rows: the rows of its n_zeros smallest uniforms, a uniformly random subset
            keys = uniform01(gen, shape, np.dtype(F64))
            zero_rows = np.argpartition(keys, n_zeros - 1, axis=0)[:n_zeros]
            x[zero_rows, np.arange(cols)] = 0.0
        return x
    raise AssertionError(f"unknown plan kind {p.kind!r}")  # pragma: no cover
