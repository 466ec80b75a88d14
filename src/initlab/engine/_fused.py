"""The fused CPU backend: the engine's math compiled with numba, for ensembles of small nets.

This is a second lowering of exactly the math of :mod:`initlab.engine` (forward,
backward, gradient descent, the recorded statistics of :data:`METRICS`), written
for speed on a CPU, and checked against the numpy reference in the tests.  Each
model is one thread's run of the same compiled code on its own arrays, so model
``k`` of an ensemble gets the same bits as model ``k`` alone; they are not the numpy
path's bits (sums are reassociated, float32 tanh is approximated).  Layout:

- each thread owns whole models (``prange`` over the model axis) and trains one
  model through all its steps before the next, so the model's weights and
  activations (a few hundred KB for width 64 and 1,000 examples) stay in cache;
- per layer, one single-threaded BLAS call (``np.dot``; BLAS is held to one thread
  while the kernel runs, the parallelism is across models), then one loop that adds
  the bias and applies the activation; backward, one loop computes
  ``dZ = dA * g'(Z)`` and the bias gradient together;
- float32 ``tanh`` uses a rational approximation (Eigen's, max error about 1 ulp),
  much faster than a libm call per element; float64 uses ``math.tanh``.

Supported: hidden activations ``tanh``, ``relu``, ``sigmoid``, ``linear``; loss
``bce``; plain gradient descent with a learning rate per model; float32 and
float64; numpy arrays; no callback.  :func:`initlab.engine.train` uses it by default for
runs in this scope that are large enough to pay for loading it, always with
``backend="numba"`` (and says why when a run is outside this scope).  numba is
imported on first use only; it compiles the kernel once per machine (about 10 s)
and caches it on disk (``cache=True``), so a later process loads it in about a second.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import InitlabValueError
from ._metrics import METRICS

__all__ = ["KERNEL_METRICS", "SUPPORTED_ACTIVATIONS", "train_fused"]

SUPPORTED_ACTIVATIONS = {"linear": 0, "tanh": 1, "relu": 2, "sigmoid": 3}

#: The statistics the kernel computes, by name, in the order of its ``cols`` argument: it writes each
#: into the column that :data:`METRICS` gives that name, so the table's order is free to change.
KERNEL_METRICS = ("act_mean", "act_std", "saturated", "dead", "dgz_mean", "grad_norm", "grad_ratio")


def _columns() -> np.ndarray:
    """Where the kernel writes each of :data:`KERNEL_METRICS`: its column in :data:`METRICS`, by name."""
    names = list(METRICS)
    if set(KERNEL_METRICS) != set(names):  # pragma: no cover - a new metric needs a kernel column too
        raise InitlabValueError(f"The fused kernel computes {KERNEL_METRICS}; METRICS lists {tuple(names)}.")
    return np.asarray([names.index(name) for name in KERNEL_METRICS], dtype=np.int64)


def _kernel() -> Any:
    """The compiled kernel (numba is imported here, on first use, never by ``import initlab``)."""
    try:
        from ._fused_kernel import train_kernel
    except ImportError as exc:  # pragma: no cover - numba, scipy and threadpoolctl are dependencies of initlab
        raise InitlabValueError(
            "The 'numba' backend of train needs numba, scipy and threadpoolctl (dependencies of initlab: reinstall "
            f"it). Importing them failed: {exc}."
        ) from exc
    return train_kernel


def train_fused(net: Any, params: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, *, steps: int, lr: Any,
                record_every: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Train ``params`` in place with the fused kernel; returns (losses, record_steps, stats (R, M, L, len(METRICS))).

    ``stats[..., i]`` is the metric ``list(METRICS)[i]``.
    """
    kernel = _kernel()
    ensemble = params["W1"].ndim == 3
    L = net.n_layers
    n_models = params["W1"].shape[0] if ensemble else 1
    dtype = params["W1"].dtype
    if dtype not in (np.float32, np.float64):
        raise InitlabValueError(f"The 'numba' backend supports float32 and float64. Got {dtype} instead.")

    def stacked(key: str) -> np.ndarray:
        v = params[key]
        return (v if ensemble else v[None]).reshape(n_models, -1)

    W = np.ascontiguousarray(np.concatenate([stacked(f"W{l}") for l in range(1, L + 1)], axis=1), dtype=dtype)
    B = np.ascontiguousarray(np.concatenate([stacked(f"b{l}") for l in range(1, L + 1)], axis=1), dtype=dtype)
    rates = np.broadcast_to(np.asarray(lr, dtype=dtype).reshape(-1), (n_models,)).copy()
    dims = np.asarray(net.layer_dims, dtype=np.int64)
    kinds = np.asarray([SUPPORTED_ACTIVATIONS[a.name] for a in net.hidden] + [0], dtype=np.int64)
    records = sorted({t for t in range(0, steps, record_every)} | {steps - 1}) if record_every else []
    losses = np.empty((n_models, steps))
    stats = np.full((n_models, len(records), L, len(METRICS)), np.nan)
    Xc = np.ascontiguousarray(X, dtype=dtype)
    Yc = np.ascontiguousarray(Y, dtype=dtype)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, user_api="blas"):  # parallel across models, not inside a BLAS call
        kernel(W, B, Xc, Yc, dims, kinds, rates, steps, record_every, dtype == np.float32, _columns(), losses, stats)
    ow = ob = 0
    for l in range(1, L + 1):
        shape_w, shape_b = params[f"W{l}"].shape, params[f"b{l}"].shape
        size_w, size_b = net.layer_dims[l] * net.layer_dims[l - 1], net.layer_dims[l]
        params[f"W{l}"] = W[:, ow : ow + size_w].reshape(shape_w).copy()
        params[f"b{l}"] = B[:, ob : ob + size_b].reshape(shape_b).copy()
        ow, ob = ow + size_w, ob + size_b
    return losses.T, np.asarray(records, dtype=int), stats.transpose(1, 0, 2, 3)
