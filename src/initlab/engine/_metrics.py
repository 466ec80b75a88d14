"""The health metrics of a layer, each defined once.

:func:`train` runs gradient steps and returns a :class:`History`: the loss of
every model at every step, and every ``record_every`` steps, per layer and per
model, the statistics that tell whether a start is healthy:

===================  =================================================================
metric               meaning (layer ``l``, one model)
===================  =================================================================
``act_mean``         mean of ``A[l]`` over units and examples (``A[L]`` is the output)
``act_std``          standard deviation of ``A[l]`` over units and examples
``saturated``        share of units x examples with ``g'(z) < 0.02 g'(0)`` (tanh,
                     sigmoid only: for tanh, ``|a| > 0.99``); NaN for other activations
``dead``             share of units that are 0 on every example (relu only); NaN otherwise
``dgz_mean``         mean of ``g'(Z[l])`` over units and examples (hidden layers)
``grad_norm``        ``||dW[l]||`` (Frobenius)
``grad_ratio``       ``||dW[l]|| / ||W[l]||``
===================  =================================================================
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._backends import to_numpy
from ._losses import sum2
from ._mlp import MLP, Cache, Params

__all__ = ["METRICS", "layer_stats"]

METRICS = ("act_mean", "act_std", "saturated", "dead", "dgz_mean", "grad_norm", "grad_ratio")


def _norm(xp: Any, a: Any) -> Any:
    """Frobenius norm over the last two axes (one per model)."""
    return xp.sqrt(sum2(xp, a * a))


def _mean2(xp: Any, a: Any) -> Any:
    """Mean over the last two axes (one per model)."""
    return sum2(xp, a) / (a.shape[-1] * a.shape[-2])


def layer_stats(net: MLP, params: Params, caches: list[Cache], grads: Params, xp: Any = np) -> dict[str, np.ndarray]:
    """The :data:`METRICS` of one step, each ``(M, L)`` (``M = 1`` for a single model), as numpy."""
    L = net.n_layers
    ensemble = params["W1"].ndim == 3
    out: dict[str, list[Any]] = {m: [] for m in METRICS}
    for l in range(1, L + 1):
        _, Z, A = caches[l - 1]
        act = net.loss.output(xp, Z) if l == L else A
        mean = _mean2(xp, act)
        out["act_mean"].append(mean)
        out["act_std"].append(xp.sqrt(_mean2(xp, (act - xp.reshape(mean, (*mean.shape, 1, 1))) ** 2)))
        nan = xp.full(mean.shape, math.nan, dtype=mean.dtype) if ensemble else math.nan
        if l < L:
            g = net.hidden[l - 1]
            dgz = g.derivative(xp, Z, A)
            out["dgz_mean"].append(_mean2(xp, dgz))
            if g.saturating:
                flat = xp.astype(dgz < g.saturation_threshold, Z.dtype)
                out["saturated"].append(_mean2(xp, flat))
            else:
                out["saturated"].append(nan)
            if g.can_die:
                alive = xp.any(A != 0, axis=-1)  # (n_l,) per model: active on some example
                out["dead"].append(1.0 - xp.mean(xp.astype(alive, Z.dtype), axis=-1))
            else:
                out["dead"].append(nan)
        else:
            for metric in ("dgz_mean", "saturated", "dead"):
                out[metric].append(nan)
        gn = _norm(xp, grads[f"dW{l}"])
        out["grad_norm"].append(gn)
        out["grad_ratio"].append(gn / _norm(xp, params[f"W{l}"]))
    result = {}
    for metric, per_layer in out.items():
        cols = [np.atleast_1d(to_numpy(v)).astype(np.float64) for v in per_layer]
        result[metric] = np.stack(cols, axis=-1)  # (M, L)
    return result
