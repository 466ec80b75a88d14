"""The few distributions initializers draw from, and the truncated normal's exact moments.

Draws go through :func:`standard_normal` and :func:`uniform01` so that a legacy
``RandomState`` reproduces numpy's ``randn`` stream bit for bit, while a
``Generator`` draws float32 natively when float32 is asked for.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._typing import ShapeLike
from ._validation import InitlabValueError
from .seeding import AnyRNG

__all__ = [
    "standard_normal",
    "truncated_normal_moments",
    "truncated_standard_normal",
    "uniform01",
]

_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def _cast(x: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    return x if x.dtype == dtype else x.astype(dtype)


def standard_normal(rng: AnyRNG, shape: ShapeLike, dtype: np.dtype[Any]) -> np.ndarray:
    """N(0, 1) draws of ``shape`` in ``dtype`` (float32 natively on a Generator)."""
    if isinstance(rng, np.random.Generator) and dtype == np.float32:
        return rng.standard_normal(tuple(shape), dtype=np.float32)
    return _cast(np.asarray(rng.standard_normal(tuple(shape))), dtype)


def uniform01(rng: AnyRNG, shape: ShapeLike, dtype: np.dtype[Any]) -> np.ndarray:
    """U[0, 1) draws of ``shape`` in ``dtype`` (float32 natively on a Generator)."""
    if isinstance(rng, np.random.Generator) and dtype == np.float32:
        return rng.random(tuple(shape), dtype=np.float32)
    return _cast(
        np.asarray(
            rng.random_sample(tuple(shape)) if isinstance(rng, np.random.RandomState) else rng.random(tuple(shape))
        ),
        dtype,
    )


def _pdf(x: float) -> float:
    return 0.0 if math.isinf(x) else math.exp(-0.5 * x * x) / _SQRT2PI


def _xpdf(x: float) -> float:
    return 0.0 if math.isinf(x) else x * _pdf(x)


def _mass(a: float, b: float) -> float:
    """P(a <= z <= b) for z ~ N(0, 1), computed without cancellation in either tail."""
    if a >= 0.0:  # upper tail: Q(a) - Q(b)
        return 0.5 * (math.erfc(a / _SQRT2) - math.erfc(b / _SQRT2))
    if b <= 0.0:  # lower tail, by symmetry
        return _mass(-b, -a)
    return 1.0 - 0.5 * (math.erfc(-a / _SQRT2) + math.erfc(b / _SQRT2))


def truncated_normal_moments(a: float, b: float) -> tuple[float, float]:
    """Mean and std of a standard normal truncated to ``[a, b]`` (bounds in std units).

    With ``Z = Phi(b) - Phi(a)`` and ``phi`` the standard normal density::

        mean = (phi(a) - phi(b)) / Z
        var  = 1 + (a phi(a) - b phi(b)) / Z - mean^2

    (Johnson, Kotz & Balakrishnan 1994).  Infinite bounds are allowed.  Keras and
    JAX hard-code the ``[-2, 2]`` case, ``std = 0.87962566103423978``.

    >>> mean, std = truncated_normal_moments(-2.0, 2.0)
    >>> round(mean, 12), round(std, 14)
    (0.0, 0.87962566103424)
    """
    if not a < b:
        raise InitlabValueError(
            f"The bounds of a truncated normal must satisfy low < high. Got [{a!r}, {b!r}] instead."
        )
    z = _mass(a, b)
    if z <= 0.0:
        raise InitlabValueError(
            "The bounds of a truncated normal must hold some probability mass of the normal "
            f"(within about 37 standard deviations of the mean). Got [{a!r}, {b!r}] in standard deviations instead."
        )
    mean = (_pdf(a) - _pdf(b)) / z
    var = 1.0 + (_xpdf(a) - _xpdf(b)) / z - mean * mean
    return mean, math.sqrt(max(var, 0.0))


def _acceptance(a: float, b: float, z: float) -> dict[str, float]:
    """Acceptance rate of each rejection sampler for [a, b] with a >= 0 (mass z)."""
    rates = {"normal": z}
    if math.isfinite(b):
        rates["uniform"] = _SQRT2PI * z * math.exp(0.5 * a * a) / (b - a)
    lam = 0.5 * (a + math.sqrt(a * a + 4.0))  # Robert (1995)'s optimal exponential rate
    rates["exponential"] = _SQRT2PI * z * lam * math.exp(lam * a - 0.5 * lam * lam)
    return rates


def truncated_standard_normal(rng: AnyRNG, n: int, a: float, b: float) -> np.ndarray:
    """``n`` float64 draws of a standard normal truncated to ``[a, b]``, by rejection.

    Of three proposals the one with the best acceptance rate is used: the normal
    itself (bounds around the centre), a uniform on ``[a, b]`` (narrow bounds), or
    Robert's (1995) shifted exponential (bounds in a tail).  Every rate is at least
    about 0.3 whatever the bounds, so this stays fast where the inverse-CDF method
    of torch's ``trunc_normal_`` loses its precision (bounds far from the mean).
    """
    flip = b <= 0.0  # sample [-b, -a] and negate, so that the tail case has a >= 0
    if flip:
        a, b = -b, -a
    z = _mass(a, b)
    rates = _acceptance(max(a, 0.0), b, z) if a >= 0.0 else {"normal": z, "uniform": _SQRT2PI * z / (b - a)}
    method = max(rates, key=lambda k: rates[k])
    rate = rates[method]
    out = np.empty(n)
    filled = 0
    while filled < n:
        want = n - filled
        batch = int(want / rate * 1.1) + 16
        if method == "normal":
            x = np.asarray(rng.standard_normal(batch))
            x = x[(x >= a) & (x <= b)]
        elif method == "uniform":
            x = a + (b - a) * uniform01(rng, (batch,), np.dtype(np.float64))
            peak = 0.0 if a < 0.0 else a  # the density's maximum on [a, b]
            u = uniform01(rng, (batch,), np.dtype(np.float64))
            x = x[u <= np.exp(0.5 * (peak * peak - x * x))]
        else:
            lam = 0.5 * (a + math.sqrt(a * a + 4.0))
            x = a + np.asarray(rng.standard_exponential(batch)) / lam
            u = uniform01(rng, (batch,), np.dtype(np.float64))
            x = x[(u <= np.exp(-0.5 * (x - lam) ** 2)) & (x <= b)]
        take = min(want, x.size)
        out[filled : filled + take] = x[:take]
        filled += take
    return -out if flip else out
