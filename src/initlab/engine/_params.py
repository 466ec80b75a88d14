"""Parameters for the engine's networks: one model, or an ensemble of models stacked on a leading axis.

``W[l]`` is ``(n_l, n_{l-1})`` and ``b[l]`` is ``(n_l, 1)``; an ensemble adds a leading
model axis ``M``.  Draws come from initlab's initializers and bias policies by spec.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_dtype
from ..initializers import get, get_bias
from ..seeding import as_rng
from ._mlp import MLP, Params

__all__ = ["SymmetryWarning", "init_ensemble", "init_params"]


class SymmetryWarning(UserWarning):
    """The units of a layer start identical: they will stay identical under gradient descent."""


def _per_layer(value: Any, n: int, arg: str) -> list[Any]:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise InitlabValueError(
                f"The {arg!r} argument must be one spec for every layer or a list of {n} (one per layer). "
                f"Got a list of {len(value)} instead."
            )
        return list(value)
    return [value] * n


def _check_symmetry(params: Params, n_layers_: int) -> None:
    """Warn when a layer's units start identical (same incoming weights and bias)."""
    for l in range(1, n_layers_ + 1):
        w, b = params[f"W{l}"], params[f"b{l}"]
        if w.shape[-2] < 2:
            continue
        wb = np.concatenate([w, b], axis=-1)  # one row per unit: its incoming weights and its bias
        same = np.all(wb == wb[..., :1, :], axis=(-2, -1))  # one bool per model
        if np.any(same):
            which = "" if same.ndim == 0 else f" (in models {np.flatnonzero(same).tolist()})"
            warnings.warn(
                f"All {w.shape[-2]} units of layer {l} start with identical weights and biases{which}: they will "
                "compute the same function and receive the same gradient at every step, so the layer acts as one "
                "unit (the symmetry problem). Draw W randomly (e.g. 'he_normal' or 'randn(scale=0.01)').",
                SymmetryWarning,
                stacklevel=3,
            )


def _draw_layers(
    layer_dims: tuple[int, ...], weights: Any, biases: Any, rng: Any, dtype: Any, out: Params | None, k: int | None
) -> Params:
    """Draw W[1], b[1], W[2], b[2], ... in that order from one stream (into ``out[...][k]`` for an ensemble)."""
    n = len(layer_dims) - 1
    w_specs = [get(s) for s in _per_layer(weights, n, "weights")]
    b_specs = [get_bias(s) if isinstance(s, str) else s for s in _per_layer(biases, n, "biases")]
    params: Params = {} if out is None else out
    for l in range(1, n + 1):
        shape = (layer_dims[l], layer_dims[l - 1])
        w = w_specs[l - 1](shape, rng, dtype=dtype)
        b = b_specs[l - 1]((layer_dims[l], 1), rng, fan_in=layer_dims[l - 1], dtype=dtype)
        if k is None:
            params[f"W{l}"], params[f"b{l}"] = w, b
        else:
            params[f"W{l}"][k], params[f"b{l}"][k] = w, b
    return params


def init_params(
    layer_dims: Sequence[int],
    *,
    weights: Any,
    biases: Any = "zeros",
    rng: Any = 0,
    dtype: Any = np.float64,
) -> Params:
    """Parameters ``{"W1", "b1", ..., "WL", "bL"}`` for ``layer_dims = [n_0, ..., n_L]``.

    ``weights`` is an initializer, a spec (``"he_normal"``, ``"randn(scale=0.01)"``) or
    a list with one per layer; ``biases`` a bias policy spec (``"zeros"``,
    ``"normal(std=0.1)"``, ``"torch_default"``) or a list.  Draws are taken from
    ``rng`` in the order ``W1, b1, W2, b2, ...``, so with ``rng=np.random.RandomState(3)``
    and ``weights=[f"normal(std={f})" ...]`` this is the course's
    ``np.random.seed(3); W[l] = np.random.randn(n_l, n_{l-1}) * f`` bit for bit.

    Warns with :class:`SymmetryWarning` when a layer's units start identical.

    >>> p = init_params([2, 4, 1], weights="randn", rng=np.random.RandomState(3))
    >>> p["W1"].shape, p["b1"].shape, p["W2"].shape
    ((4, 2), (4, 1), (1, 4))
    """
    dims = MLP.make(layer_dims, "linear").layer_dims
    params = _draw_layers(
        dims, weights, biases, as_rng(rng, "init_params"), check_dtype(dtype, "init_params"), None, None
    )
    _check_symmetry(params, len(dims) - 1)
    return params


def init_ensemble(
    layer_dims: Sequence[int],
    *,
    seeds: Sequence[Any],
    weights: Any,
    biases: Any = "zeros",
    dtype: Any = np.float64,
) -> Params:
    """Parameters of ``M = len(seeds)`` models stacked on a leading axis: ``W[l]`` is ``(M, n_l, n_{l-1})``.

    Model ``k`` is drawn from its own stream (``default_rng(seeds[k])`` for an int; a
    Generator or a legacy RandomState is used as it is) straight into
    its slice of the stack, with the fans of one model, so it is bit for bit
    ``init_params(layer_dims, ..., rng=seeds[k])``.  ``weights`` and ``biases`` are
    one spec for all models, or a list of exactly ``M`` entries, one per model (each
    may itself be a per-layer list), so models may differ in initializer, scale and
    bias policy.  For per-layer specs shared by every model, pass ``[per_layer] * M``.

    >>> p = init_ensemble([2, 3, 1], seeds=[0, 1], weights="xavier_normal")
    >>> p["W1"].shape, bool((p["W1"][1] == init_params([2, 3, 1], weights="xavier_normal", rng=1)["W1"]).all())
    ((2, 3, 2), True)
    """
    dims = MLP.make(layer_dims, "linear").layer_dims
    dt = check_dtype(dtype, "init_ensemble")
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or len(seeds) < 1:
        raise InitlabValueError(
            f"The 'seeds' argument of init_ensemble must be a non-empty list of ints. Got {seeds!r}."
        )
    m = len(seeds)

    def per_model(value: Any, arg: str) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            return [value] * m
        if len(value) != m:
            raise InitlabValueError(
                f"The {arg!r} argument of init_ensemble must be one spec for all models or a list of {m} "
                f"(one per model). Got a list of {len(value)} instead."
            )
        return list(value)

    w_per, b_per = per_model(weights, "weights"), per_model(biases, "biases")
    out: Params = {}
    for l in range(1, len(dims)):
        out[f"W{l}"] = np.empty((m, dims[l], dims[l - 1]), dtype=dt)
        out[f"b{l}"] = np.empty((m, dims[l], 1), dtype=dt)
    for k, seed in enumerate(seeds):
        _draw_layers(dims, w_per[k], b_per[k], as_rng(seed, "init_ensemble"), dt, out, k)
    _check_symmetry(out, len(dims) - 1)
    return out
