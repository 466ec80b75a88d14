"""lsuv(net, params, X): layer-sequential unit-variance initialization (Mishkin & Matas 2016, Algorithm 1).

"All you need is a good init" (ICLR 2016): pre-initialize every layer with an
orthonormal matrix (Saxe et al. 2014), then, layer after layer in the order the
forward pass runs them, push one batch through the network and divide the layer's
weight by the std of its output until that std is close to the target::

    while |std(Z[l]) - target| > tol * target and iterations < max_iter:
        W[l] <- W[l] * target / std(Z[l])

The same algorithm, with the same choices, as :func:`initlab.torch.lsuv`, on the engine's
fully connected :class:`~initlab.engine.MLP`:

- **Which layers.**  Every weight layer ``l = 1..L``, the linear output layer ``L``
  included (as the torch adapter rescales every ``nn.Linear``).
- **The output measured.**  ``Z[l] = W[l] A[l-1] + b[l]``, the layer's output before its
  activation (what a hook on ``nn.Linear`` sees).  Its std is the population std over
  every unit and example, computed in float64 with :func:`~initlab.engine.activation_std`.
- **Orthonormal pre-init** (``pre_init=True``, the default): each ``W[l]`` gets
  orthonormal rows or columns (initlab's ``orthogonal`` initializer, gain 1) from ``rng``,
  drawn in the order ``W1, W2, ...``; with ``pre_init=False`` the given weights are kept
  and only rescaled.  Biases are kept as they are and never rescaled (the paper rescales
  weights only), so with a bias the output is not exactly proportional to the scale and
  the loop measures again after each step.
- **Ensembles.**  With a leading model axis ``M``, each model is processed on its own:
  its own pre-init stream (``rng`` is then a list of ``M`` seeds or generators), its own
  iterations and scales.  Model ``k`` of the ensemble ends with the same weights as model
  ``k`` alone with ``rng=rng[k]`` (on numpy, bit for bit: every matmul and reduction is
  the one a single model makes).
- **Failures.**  A layer whose output does not vary over the batch (zero std within every
  unit: only its bias shows, so no weight scale reaches the target), or is not finite, is
  an :class:`~initlab.InitlabValueError` naming the layer (and the model); a target not
  reached in ``max_iter`` rescalings is an :class:`LSUVWarning` with the numbers, and the
  layer's status is ``not reached`` (``report.ok`` is then False).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import InitlabTypeError, InitlabValueError, check_float, check_int, shown
from ..initializers import get
from ..seeding import as_rng
from ._metrics import activation_std
from ._mlp import MLP, Params, matmul
from ._training import _blas_controller, _blas_threads

__all__ = ["LSUVReport", "LSUVWarning", "lsuv"]

OK = "ok"
NOT_REACHED = "not reached"
_ZERO = 1e-8  # an output whose std within each unit is below _ZERO * target has zero variance


class LSUVWarning(UserWarning):
    """LSUV did not bring a layer's output std within the tolerance of the target."""


@dataclass(frozen=True)
class LSUVReport:
    """What :func:`lsuv` did, per model and layer: arrays ``(M, L)`` (``M = 1`` for one model).

    ``iterations`` is the number of rescalings; ``std_before`` the output std after the
    pre-init (and the rescaling of the layers before), ``std_after`` after the last
    rescaling; ``scale`` the product of the factors applied to ``W[l]``; ``reached``
    whether ``|std_after - target| <= tol * target``.
    """

    target: float
    tol: float
    max_iter: int
    pre_init: bool
    ensemble: bool
    iterations: np.ndarray
    std_before: np.ndarray
    std_after: np.ndarray
    scale: np.ndarray
    reached: np.ndarray

    @property
    def ok(self) -> bool:
        """True when every layer of every model ended within ``tol * target`` of the target."""
        return bool(np.all(self.reached))

    def rows(self) -> list[dict[str, Any]]:
        """One dict per model and layer: model, layer, iterations, std_before, std_after, scale, status."""
        M, L = self.scale.shape
        return [
            {"model": k, "layer": l + 1, "iterations": int(self.iterations[k, l]),
             "std_before": float(self.std_before[k, l]), "std_after": float(self.std_after[k, l]),
             "scale": float(self.scale[k, l]), "status": OK if self.reached[k, l] else NOT_REACHED}
            for k in range(M) for l in range(L)
        ]  # fmt: skip


def _streams(rng: Any, n_models: int, ensemble: bool, pre_init: bool) -> list[Any]:
    """One generator per model for the orthonormal pre-init (none needed without it)."""
    if not pre_init:
        return [None] * n_models
    if not ensemble:
        return [as_rng(0 if rng is None else rng, "lsuv")]
    if isinstance(rng, (str, bytes)) or not isinstance(rng, Sequence) or len(rng) != n_models:
        raise InitlabValueError(
            f"The 'rng' argument of lsuv must be a list of {n_models} seeds or generators for an ensemble of "
            f"{n_models} models (one stream per model, so that model k is model k alone). Got {shown(rng)} instead."
        )
    return [as_rng(r, "lsuv") for r in rng]


def _check(net: MLP, params: Params, X: Any) -> bool:
    """Whether ``params`` is an ensemble; refuses parameters that do not fit ``net`` or an ``X`` that does not."""
    if not isinstance(net, MLP):
        raise InitlabTypeError(f"The 'net' argument of lsuv must be an initlab.engine.MLP. Got {shown(net)} instead.")
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.shape[0] != net.layer_dims[0]:
        raise InitlabValueError(
            f"The 'X' argument of lsuv must be a numpy array of shape (n_0, m) = ({net.layer_dims[0]}, m), examples "
            f"as columns. Got {shown(X)} instead."
        )
    ndim = None
    for l in range(1, net.n_layers + 1):
        w = params.get(f"W{l}") if isinstance(params, dict) else None
        want = (net.layer_dims[l], net.layer_dims[l - 1])
        if not isinstance(w, np.ndarray) or w.ndim not in (2, 3) or w.shape[-2:] != want or ndim not in (None, w.ndim):
            raise InitlabValueError(
                f"The 'params' argument of lsuv must hold W{l} as a numpy array of shape {want} (or (M, *{want}) for "
                f"an ensemble), like init_params or init_ensemble give. Got {shown(w)} instead."
            )
        if not np.issubdtype(w.dtype, np.floating):
            raise InitlabValueError(f"The 'params' argument of lsuv must hold float weights. W{l} is {w.dtype}.")
        ndim = w.ndim
    return ndim == 3


def _check_variance(Z: np.ndarray, std: float, layer: int, model: int | None, target: float) -> None:
    """Refuse a non-finite output, and one that does not vary over the batch (no weight scale changes its std)."""
    where = f"layer {layer}" + ("" if model is None else f" of model {model}")
    if not math.isfinite(std):
        raise InitlabValueError(
            f"lsuv cannot rescale {where}: its output on the batch is not finite (std {std}). Check the batch X "
            "and the layers before it."
        )
    z = np.asarray(Z, dtype=np.float64)
    within = float(np.sqrt(np.mean((z - z.mean(axis=-1, keepdims=True)) ** 2)))
    if within < _ZERO * target:
        raise InitlabValueError(
            f"lsuv cannot rescale {where}: its output has zero variance over the batch (std {within:.3g} within "
            f"each unit; {std:.3g} overall, from the bias), so no weight scale reaches the target. Its input does "
            "not vary: dead ReLUs upstream (a large negative bias), zero weights before it, a constant batch X or "
            "a batch of one example."
        )


def lsuv(
    net: MLP,
    params: Params,
    X: Any,
    *,
    target: float = 1.0,
    tol: float = 0.1,
    max_iter: int = 10,
    pre_init: bool = True,
    rng: Any = None,
) -> LSUVReport:
    """Layer-sequential unit-variance initialization of ``params`` on the batch ``X``, in place (Mishkin & Matas
    2016, Algorithm 1).

    For ``l = 1..L``: ``W[l] <- W[l] * target / std(Z[l])`` until ``|std(Z[l]) - target| <= tol * target``
    or ``max_iter`` rescalings, ``Z[l] = W[l] A[l-1] + b[l]`` measured on ``X`` (``(n_0, m)``).

    Args:
        net: the architecture (:class:`MLP`).
        params: ``W1, b1, ...`` of one model (``W[l]`` is ``(n_l, n_{l-1})``) or of an ensemble
            (``(M, n_l, n_{l-1})``); the weights are changed in place.
        X: the batch, ``(n_0, m)``, shared by every model.
        target: the output std each layer is brought to (> 0; default 1.0).
        tol: relative tolerance (> 0; default 0.1, the paper's ``Tol_var``).
        max_iter: the most rescalings per layer (>= 1; default 10, the paper's ``T_max``).
        pre_init: start from orthonormal weights (default True); False keeps the given weights.
        rng: the pre-init's stream: an int seed or a generator (None: seed 0) for one model, a list of
            ``M`` of them for an ensemble.

    Returns:
        An :class:`LSUVReport` with per model and layer the iterations, stds and scales.

    >>> from initlab.engine import init_params
    >>> net = MLP.make([16, 32, 32, 4], "relu", "softmax_ce")
    >>> p = init_params(net.layer_dims, weights="he_normal", rng=0)
    >>> X = np.random.default_rng(1).standard_normal((16, 256))
    >>> report = lsuv(net, p, X, rng=0)
    >>> report.ok, report.std_after.round(1).tolist()
    (True, [[1.0, 1.0, 1.0]])
    """
    ensemble = _check(net, params, X)
    target = check_float(target, "target", "lsuv", low=0.0, low_open=True)
    tol = check_float(tol, "tol", "lsuv", low=0.0, low_open=True)
    max_iter = check_int(max_iter, "max_iter", "lsuv", low=1, high=10_000)
    if not isinstance(pre_init, bool):
        raise InitlabTypeError(f"The 'pre_init' argument of lsuv must be True or False. Got {shown(pre_init)}.")
    n_models = params["W1"].shape[0] if ensemble else 1
    streams = _streams(rng, n_models, ensemble, pre_init)
    threads = _blas_threads(net, X.shape[1])
    if threads is None:
        return _lsuv(net, params, X, target, tol, max_iter, pre_init, streams, ensemble)
    with _blas_controller().limit(limits=threads, user_api="blas"):  # as train does: small matmuls on one thread
        return _lsuv(net, params, X, target, tol, max_iter, pre_init, streams, ensemble)


def _lsuv(net: MLP, params: Params, X: np.ndarray, target: float, tol: float, max_iter: int, pre_init: bool,
          streams: list[Any], ensemble: bool) -> LSUVReport:  # fmt: skip
    """:func:`lsuv` after its checks."""
    L = net.n_layers
    n_models = len(streams)
    if pre_init:
        ortho = get("orthogonal")
        for k, gen in enumerate(streams):
            for l in range(1, L + 1):
                w = params[f"W{l}"]
                shape = (net.layer_dims[l], net.layer_dims[l - 1])
                drawn = ortho(shape, gen, dtype=w.dtype)
                if ensemble:
                    w[k] = drawn
                else:
                    w[...] = drawn
    shape2 = (n_models, L)
    iterations = np.zeros(shape2, dtype=np.int64)
    before, after, scale = np.zeros(shape2), np.zeros(shape2), np.ones(shape2)
    A = X.astype(params["W1"].dtype, copy=False)
    for l in range(1, L + 1):
        W, b = params[f"W{l}"], params[f"b{l}"]

        def measure(W: Any = W, b: Any = b, A: Any = A) -> tuple[Any, np.ndarray]:
            Z = matmul(np, W, A) + b
            std = np.atleast_1d(np.asarray(activation_std(np, np.asarray(Z, dtype=np.float64)), dtype=np.float64))
            return Z, std

        Z, std = measure()
        for k in range(n_models):
            _check_variance(Z[k] if ensemble else Z, float(std[k]), l, k if ensemble else None, target)
        before[:, l - 1] = std
        todo = np.abs(std - target) > tol * target
        while np.any(todo & (iterations[:, l - 1] < max_iter)):
            for k in np.flatnonzero(todo & (iterations[:, l - 1] < max_iter)).tolist():
                factor = target / float(std[k])
                if ensemble:
                    W[k] *= W.dtype.type(factor)
                else:
                    W *= W.dtype.type(factor)
                scale[k, l - 1] *= factor
                iterations[k, l - 1] += 1
            Z, std = measure()
            for k in range(n_models):
                _check_variance(Z[k] if ensemble else Z, float(std[k]), l, k if ensemble else None, target)
            todo = np.abs(std - target) > tol * target
        after[:, l - 1] = std
        for k in np.flatnonzero(todo).tolist():
            which = f"layer {l}" + (f" of model {k}" if ensemble else "")
            warnings.warn(
                f"lsuv: the output std of {which} is {float(std[k]):.4g} after {int(iterations[k, l - 1])} "
                f"rescalings (max_iter={max_iter}); the target is {target:g} +- {tol * target:.3g} (tol={tol:g}). "
                "A bias that dominates the output can cause this.",
                LSUVWarning,
                stacklevel=2,
            )
        if l < L:
            A = net.hidden[l - 1].forward(np, Z)
    reached = np.abs(after - target) <= tol * target
    return LSUVReport(target, tol, max_iter, pre_init, ensemble, iterations, before, after, scale, reached)
