"""Losses on the last layer's pre-activation ``Z[L]`` (the logits), each with its gradient.

``Z`` and ``Y`` are ``(n_L, m)`` (examples as columns), or ``(M, n_L, m)`` for an
ensemble of ``M`` models; a loss returns one number per model.  Working from
the logits keeps every loss finite for any weights: binary cross-entropy never
takes ``log(0)``, however saturated the sigmoid.

=====================  ====================  ==========================================
loss                   output ``A[L]``       value (mean over the ``m`` examples)
=====================  ====================  ==========================================
``bce``                sigmoid(Z)            ``max(z, 0) - z y + log(1 + e^-|z|)``
``softmax_ce``         softmax(Z) (columns)  ``-sum_k y_k log softmax(z)_k``
``mse``                Z                     ``(z - y)^2`` averaged over outputs too
=====================  ====================  ==========================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_choice
from ._activations import stable_sigmoid

__all__ = ["LOSSES", "Loss", "course_cost", "get_loss", "sum2"]


def sum2(xp: Any, a: Any) -> Any:
    """Sum over the last two axes (examples, then units), one number per model.

    numpy adds in an order that depends on the array's memory layout (an F-ordered
    matrix is summed column by column, a C-ordered one row by row, pairwise), so a
    model alone and the same model in a stack could round differently.  Here every
    numpy matrix is summed as a C-ordered 2-D array, first along its rows, then the
    row sums: model ``k`` of a stack ``(M, n, m)`` is summed by exactly the call that
    sums it alone, whatever the layouts.  Other namespaces (torch) sum the stack at once.
    """
    if isinstance(a, np.ndarray):
        if a.ndim == 3:
            return np.stack([_sum2_numpy(a[k]) for k in range(a.shape[0])])
        return _sum2_numpy(a)
    return xp.sum(xp.sum(a, axis=-1), axis=-1)


def _sum2_numpy(a: np.ndarray) -> Any:
    add = np.add.reduce  # what np.sum calls, without its wrapper (this runs once per model and metric)
    return add(add(a if a.flags.c_contiguous else np.ascontiguousarray(a), axis=-1), axis=-1)


@dataclass(frozen=True)
class Loss:
    """A loss: ``value(xp, Z, Y)`` per model, ``grad(xp, Z, Y) = dLoss/dZ``, ``output(xp, Z) = A[L]``."""

    name: str
    value: Callable[[Any, Any, Any], Any]
    grad: Callable[[Any, Any, Any], Any]
    output: Callable[[Any, Any], Any]

    def __repr__(self) -> str:
        return f"Loss({self.name!r})"


def _bce(xp: Any, z: Any, y: Any) -> Any:
    # -y log s(z) - (1 - y) log(1 - s(z)), rewritten so that no exp overflows and no log sees 0
    per_example = xp.where(z > 0, z, 0.0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))
    return sum2(xp, per_example) / z.shape[-1]


def _d_bce(xp: Any, z: Any, y: Any) -> Any:  # dL/dZ = (sigmoid(Z) - Y) / m
    return (stable_sigmoid(xp, z) - y) / z.shape[-1]


def _log_softmax(xp: Any, z: Any) -> Any:
    shifted = z - xp.max(z, axis=-2, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=-2, keepdims=True))


def _softmax(xp: Any, z: Any) -> Any:
    return xp.exp(_log_softmax(xp, z))


def _softmax_ce(xp: Any, z: Any, y: Any) -> Any:
    return -sum2(xp, y * _log_softmax(xp, z)) / z.shape[-1]


def _d_softmax_ce(xp: Any, z: Any, y: Any) -> Any:  # dL/dZ = (softmax(Z) - Y) / m
    return (_softmax(xp, z) - y) / z.shape[-1]


def _mse(xp: Any, z: Any, y: Any) -> Any:
    d = z - y
    return sum2(xp, d * d) / (z.shape[-1] * z.shape[-2])


def _d_mse(xp: Any, z: Any, y: Any) -> Any:  # dL/dZ = 2 (Z - Y) / (n_L m)
    return 2.0 * (z - y) / (z.shape[-1] * z.shape[-2])


def _identity(xp: Any, z: Any) -> Any:
    return z


LOSSES: dict[str, Loss] = {
    "bce": Loss("bce", _bce, _d_bce, stable_sigmoid),
    "softmax_ce": Loss("softmax_ce", _softmax_ce, _d_softmax_ce, _softmax),
    "mse": Loss("mse", _mse, _d_mse, _identity),
}


def get_loss(name: str | Loss) -> Loss:
    """A loss by name: ``bce``, ``softmax_ce`` or ``mse``."""
    if isinstance(name, Loss):
        return name
    return LOSSES[check_choice(name, "loss", list(LOSSES))]


def course_cost(a: Any, y: Any) -> Any:
    """The deeplearning.ai assignments' cost, ``1/m * nansum(-y log a - (1 - y) log(1 - a))``, on numpy arrays.

    It is computed from the sigmoid's output ``a``, so it is ``inf`` as soon as an
    example is confidently wrong enough that ``a`` rounds to exactly 0 or 1 (``|z|``
    above about 36.7 in float64), and it silently drops the ``0 * log(0)`` terms of
    confidently right examples.  Wherever ``a`` does not round to 0 or 1 it equals
    :data:`LOSSES` ``["bce"]`` up to rounding.  initlab uses it only to compare
    with the course's printed numbers.
    """
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        logprobs = np.multiply(-np.log(a), y) + np.multiply(-np.log(1 - a), 1 - y)
    return 1.0 / a.shape[-1] * np.nansum(logprobs, axis=(-2, -1))
