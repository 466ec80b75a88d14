"""The health metrics of a layer, each defined once.

Every statistic that tells whether a start is healthy is written here, once,
against the array namespace ``xp`` (numpy, or torch's through array-api-compat),
batched over an optional leading model axis: an input ``(n_l, m)`` gives one
number (a 0-d array), an input ``(M, n_l, m)`` gives ``(M,)``.  The training
records (:func:`layer_stats`), the diagnostics, the fused kernel's columns and
the torch adapter all take their numbers from these definitions.

:data:`METRICS` is the table of what :func:`initlab.engine.train` records, in order:

===================  =================================================================
metric               meaning (layer ``l``, one model)
===================  =================================================================
``act_mean``         mean of ``A[l]`` over units and examples (``A[L]`` is the loss's output)
``act_std``          standard deviation of ``A[l]`` over units and examples
``saturated``        share of units x examples with ``g'(z) < SATURATION_FRACTION g'(0)``
                     (for tanh: ``|a| > 0.99``); saturating activations only (tanh, sigmoid)
``dead``             share of units that are 0 on every example; activations that can die (relu)
``dgz_mean``         mean of ``g'(Z[l])`` over units and examples; hidden layers
``grad_norm``        ``||dW[l]||`` (Frobenius)
``grad_ratio``       ``||dW[l]|| / ||W[l]||``
===================  =================================================================

A metric that means nothing for a layer (saturation of relu, dead units of tanh,
``g'`` of the output layer) is NaN, never 0.

Reductions run over the examples first, then the units, each model on its own
C-ordered slice (:func:`sum2`), so on numpy model ``k`` of a stack gives the same
bits as model ``k`` alone whatever the arrays' memory layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from ._activations import Activation
from ._backends import to_numpy
from ._losses import sum2
from ._mlp import MLP, Cache, Params

__all__ = [
    "CLONE_TOL",
    "METRICS",
    "Metric",
    "activation_mean",
    "activation_std",
    "clone_groups",
    "dead_share",
    "distinct_units",
    "gradient_norm",
    "layer_stats",
    "mean_slope",
    "numerical_rank",
    "saturated_share",
    "update_ratio",
]

#: Two units are clones when their weights, bias and activations agree to this, relative to the layer's scale.
CLONE_TOL = 1e-6


# --- the metric functions (one number per model) ----------------------------------------------


def _mean2(xp: Any, a: Any) -> Any:
    """Mean over the last two axes (units and examples), one per model."""
    return sum2(xp, a) / (a.shape[-1] * a.shape[-2])


def _nan_like(xp: Any, a: Any) -> Any:
    """NaN with the batch shape of ``a`` (``()`` or ``(M,)``), its dtype and device."""
    return xp.full_like(a[..., 0, 0], math.nan)


def activation_mean(xp: Any, A: Any) -> Any:
    """``mean(A)`` over units and examples: ``A`` is ``(n_l, m)`` or ``(M, n_l, m)``.

    >>> float(activation_mean(np, np.array([[1.0, 2.0], [3.0, 6.0]])))
    3.0
    """
    return _mean2(xp, A)


def activation_std(xp: Any, A: Any) -> Any:
    """``sqrt(mean((A - mean(A))^2))`` over units and examples (the population std, two passes).

    >>> float(activation_std(np, np.array([[1.0, 3.0], [1.0, 3.0]])))
    1.0
    """
    mean = _mean2(xp, A)
    d = A - xp.reshape(mean, (*mean.shape, 1, 1))
    return xp.sqrt(_mean2(xp, d * d))


def saturated_share(xp: Any, act: Activation, Z: Any, A: Any) -> Any:
    """Share of units x examples where ``g'(z) < SATURATION_FRACTION * g'(0)``; NaN unless ``act`` saturates.

    ``Z`` is the pre-activation and ``A = act(Z)``, both ``(n_l, m)`` or ``(M, n_l, m)``.
    For tanh the threshold ``0.02`` means ``|a| > 0.99``.

    >>> from initlab.engine import get_activation
    >>> Z = np.array([[0.0, 10.0]])
    >>> float(saturated_share(np, get_activation("tanh"), Z, np.tanh(Z)))
    0.5
    >>> float(saturated_share(np, get_activation("relu"), Z, Z))
    nan
    """
    if not act.saturating:
        return _nan_like(xp, Z)
    flat = act.derivative(xp, Z, A) < act.saturation_threshold
    return _mean2(xp, xp.astype(flat, Z.dtype))


def dead_share(xp: Any, act: Activation, A: Any) -> Any:
    """Share of units that are 0 on every example (they never learn again); NaN unless ``act`` can die (relu).

    >>> from initlab.engine import get_activation
    >>> float(dead_share(np, get_activation("relu"), np.array([[0.0, 0.0], [0.0, 2.0]])))
    0.5
    """
    if not act.can_die:
        return _nan_like(xp, A)
    dead = xp.astype(xp.logical_not(xp.any(A != 0, axis=-1)), A.dtype)  # (n_l,) per model
    return xp.sum(dead, axis=-1) / A.shape[-2]


def mean_slope(xp: Any, act: Activation, Z: Any, A: Any) -> Any:
    """``mean(g'(Z))`` over units and examples: how much of the gradient the layer lets through.

    >>> from initlab.engine import get_activation
    >>> Z = np.array([[0.0, 0.0]])
    >>> float(mean_slope(np, get_activation("sigmoid"), Z, 0.5 + Z))
    0.25
    """
    return _mean2(xp, act.derivative(xp, Z, A))


def gradient_norm(xp: Any, dW: Any) -> Any:
    """``||dW||``, the Frobenius norm of a weight gradient ``(n_l, n_{l-1})`` or ``(M, n_l, n_{l-1})``.

    >>> float(gradient_norm(np, np.array([[3.0, 4.0]])))
    5.0
    """
    return xp.sqrt(sum2(xp, dW * dW))


def update_ratio(xp: Any, dW: Any, W: Any) -> Any:
    """``||dW|| / ||W||``: the relative size of a gradient step per unit learning rate (inf for ``W = 0``).

    >>> float(update_ratio(np, np.array([[3.0, 4.0]]), np.array([[0.0, 10.0]])))
    0.5
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return gradient_norm(xp, dW) / gradient_norm(xp, W)


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One row of :data:`METRICS`: what the metric means, its function, and where it applies.

    ``inputs`` names the arguments ``function`` takes after ``xp``, from ``act`` (the
    layer's activation), ``Z``, ``A`` (for the output layer: the loss's output), ``dW``
    and ``W``.  ``hidden_only`` metrics are NaN for the output layer; ``requires``
    names the :class:`~initlab.engine.Activation` property (``saturating``,
    ``can_die``) without which the metric is NaN.
    """

    name: str
    description: str
    function: Callable[..., Any]
    inputs: tuple[str, ...]
    hidden_only: bool = False
    requires: str | None = None

    def applies(self, activation: Activation | None) -> bool:
        """Whether the metric means something for a layer with this activation (``None``: the output layer)."""
        if activation is None:
            return not self.hidden_only
        return self.requires is None or bool(getattr(activation, self.requires))


#: The metrics :func:`initlab.engine.train` records, by name, in the order of the columns everywhere.
METRICS: Mapping[str, Metric] = MappingProxyType(
    {
        m.name: m
        for m in (
            Metric("act_mean", "mean of A[l] over units and examples", activation_mean, ("A",)),
            Metric("act_std", "standard deviation of A[l] over units and examples", activation_std, ("A",)),
            Metric(
                "saturated",
                "share of units x examples with g'(z) < SATURATION_FRACTION g'(0)",
                saturated_share,
                ("act", "Z", "A"),
                hidden_only=True,
                requires="saturating",
            ),
            Metric(
                "dead",
                "share of units that are 0 on every example",
                dead_share,
                ("act", "A"),
                hidden_only=True,
                requires="can_die",
            ),
            Metric("dgz_mean", "mean of g'(Z[l]) over units and examples", mean_slope, ("act", "Z", "A"), True),
            Metric("grad_norm", "Frobenius norm of dW[l]", gradient_norm, ("dW",)),
            Metric("grad_ratio", "||dW[l]|| / ||W[l]||", update_ratio, ("dW", "W")),
        )
    }
)


def layer_stats(
    net: MLP, params: Params, caches: list[Cache], grads: Params | None, xp: Any = np
) -> dict[str, np.ndarray]:
    """The :data:`METRICS` of one step, each ``(M, L)`` float64 numpy (``M = 1`` for a single model).

    ``caches`` are :func:`~initlab.engine.forward`'s, ``grads`` :func:`~initlab.engine.backward`'s
    (or ``None``: the gradient metrics are then NaN).  A metric that does not apply to a
    layer is NaN there.
    """
    batch = params["W1"].shape[0] if params["W1"].ndim == 3 else 1
    out = {name: np.full((batch, net.n_layers), math.nan) for name in METRICS}
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite values are data
        layer_stats_into(net, params, caches, grads, xp, out, slice(None))
    return out


def layer_stats_into(net: MLP, params: Params, caches: list[Cache], grads: Params | None, xp: Any,
                     out: dict[str, np.ndarray], rows: Any) -> None:  # fmt: skip
    """:func:`layer_stats` written into ``out[name][rows, :]`` (NaN already there where a metric does not apply)."""
    L = net.n_layers
    numpy = isinstance(params["W1"], np.ndarray)
    for l in range(1, L + 1):
        _, Z, A = caches[l - 1]
        act = net.hidden[l - 1] if l < L else None
        inputs = {
            "act": act,
            "Z": Z,
            "A": A if act is not None else net.loss.output(xp, Z),
            "dW": None if grads is None else grads[f"dW{l}"],
            "W": params[f"W{l}"],
        }
        for name, metric in METRICS.items():
            if metric.applies(act) and all(inputs[k] is not None for k in metric.inputs):
                value = metric.function(xp, *(inputs[k] for k in metric.inputs))
                out[name][rows, l - 1] = value if numpy else to_numpy(value)


# --- clones and rank (numpy, one model at a time) -----------------------------------------------


def _scale(*arrays: np.ndarray) -> float:
    return max([1e-300] + [float(np.max(np.abs(a))) for a in arrays if a.size])


def clone_groups(features: np.ndarray, tol: float = CLONE_TOL) -> list[list[int]]:
    """Group the rows of ``features`` (one row per unit) that agree to ``tol`` times the largest entry.

    Rows are compared exactly by ``max |row_i - row_j|``; groups are the connected
    pieces of that relation, in order of their first unit.  A row with a NaN or an
    infinity agrees with nothing (a unit whose numbers are not finite is its own group,
    never a clone), and non-finite entries do not set the scale.

    >>> clone_groups(np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]))
    [[0, 2], [1]]
    """
    f = np.asarray(features, dtype=np.float64)
    n = f.shape[0]
    finite = np.isfinite(f).all(axis=1)
    limit = tol * _scale(f[finite])
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Sort the units along a fixed direction d: rows within `limit` of each other (max norm) project within
    # limit * sum|d|, so only neighbours in that order need the exact comparison.  (d only affects speed.)
    d = np.random.default_rng(0).standard_normal(f.shape[1])
    rows = np.flatnonzero(finite)
    proj = f[rows] @ d
    order = rows[np.argsort(proj, kind="stable")]
    proj = np.sort(proj, kind="stable")
    bound = limit * float(np.abs(d).sum())
    for a in range(order.size):
        b = a + 1
        while b < order.size and proj[b] - proj[a] <= bound:
            i, j = int(order[a]), int(order[b])
            if root(i) != root(j) and float(np.max(np.abs(f[i] - f[j]))) <= limit:
                parent[root(j)] = root(i)
            b += 1
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def distinct_units(w: np.ndarray, b: np.ndarray, a: np.ndarray, tol: float = CLONE_TOL) -> np.ndarray:
    """The number of distinct units of a layer, per model: clone groups of ``[W | b | A]`` rows.

    ``w`` is ``(n_l, n_{l-1})``, ``b`` ``(n_l, 1)``, ``a`` the activations ``(n_l, m)``, each
    with an optional leading model axis; returns an int array ``(M,)`` (``()`` for one model).
    A unit with a non-finite weight, bias or activation is counted as distinct (it is its own
    group); use ``np.isfinite`` on the parameters to tell a diverged model apart.

    >>> distinct_units(np.zeros((3, 2)), np.zeros((3, 1)), np.ones((3, 5))).tolist()
    1
    """
    rows = np.concatenate([to_numpy(w), to_numpy(b), to_numpy(a)], axis=-1)
    if rows.ndim == 2:
        return np.asarray(len(clone_groups(rows, tol)))
    return np.asarray([len(clone_groups(r, tol)) for r in rows])


def numerical_rank(w: np.ndarray) -> tuple[int, float]:
    """The rank of ``w`` and the tolerance used: singular values above ``max(shape) * eps * s_max``.

    ``w`` is one matrix.  A matrix with a NaN or an infinity has no rank: ``(-1, nan)``.

    >>> numerical_rank(np.ones((3, 4)))[0]
    1
    """
    w = np.asarray(to_numpy(w), dtype=np.float64)
    if not np.isfinite(w).all():
        return -1, math.nan
    s = np.linalg.svd(w, compute_uv=False)
    tol = float(max(w.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0))
    return int(np.sum(s > tol)), tol
