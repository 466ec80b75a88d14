"""Full-batch or mini-batch training with a record of what happens inside, for one model or an ensemble.

:func:`train` runs gradient steps (each on the whole batch, or on one mini-batch
of ``batch_size`` examples) and returns a :class:`History`: the loss of
every model at every step, and every ``record_every`` steps, per layer and per
model, the health statistics of :data:`~initlab.engine.METRICS` (defined once, in
:mod:`initlab.engine._metrics`).

A model whose loss is not finite is marked ``diverged`` at the first such step;
the other models of the ensemble train on (the models never mix: each has its
own slice of every array).

Model ``k`` of an ensemble is model ``k`` alone
-----------------------------------------------
On numpy (the reference path) every per-model quantity is computed by the same
call on the same memory layout as for a single model: parameters are C-ordered
working copies; each matmul of a stack is one 2-D BLAS call per model into a
preallocated output, the shared ``X`` the same 2-D operand (a single model makes
that very call); each sum (the loss, the bias gradients, every metric) reduces one
model's C-ordered 2-D slice along the same axes in the same order; elementwise
operations give each element the same result wherever it sits.  So model ``k`` of
``train(net, stack, ...)`` has the same losses, parameters and records, bit for
bit, as ``train(net, model_k, ...)`` (mini-batches too: every model of an ensemble
takes the same mini-batches, cut from one permutation per epoch; the BLAS thread rule below depends on one
model's sizes only, so both runs use the same one), on any CPU and numpy build
whose BLAS gives the same result for the same call on operands of the same shape
and layout (OpenBLAS, BLIS, Accelerate and the reference BLAS do; MKL may vary with
memory alignment unless its conditional numerical reproducibility is on).  The fused
numba kernel gives the same guarantee for its own numbers (each model is one
thread's run of the same compiled code); they are not the numpy path's bits (the
kernel reassociates sums and uses a rational tanh in float32) and agree with them
to about 1e-10 (float64) and 1e-5 (float32).  On torch the ensemble runs as one
batched computation and agrees with each model alone to rounding, not bit for bit.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_choice, check_int
from ._backends import namespace, to_backend, to_numpy
from ._checks import check_data, check_params
from ._metrics import METRICS, layer_stats
from ._mlp import MLP, Cache, Params, _backprop, forward
from ._optim import OPTIMIZERS, GradientDescent, Optimizer, _check_lr, get_optimizer

__all__ = ["History", "StepInfo", "reporting_progress", "train"]

_PROGRESS: ContextVar[Callable[[int, int], None] | None] = ContextVar("initlab_progress", default=None)


@contextmanager
def reporting_progress(report: Callable[[int, int], None]) -> Iterator[None]:
    """Within the block, every :func:`train` calls ``report(steps_done, steps)`` about 50 times per run.

    The command line uses it to draw progress bars; library code never prints.
    """
    token = _PROGRESS.set(report)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


@dataclass
class StepInfo:
    """What a callback sees at a recorded step (arrays on the training backend), before that step's update.

    ``caches``, ``grads`` and ``loss`` are those of the step's batch (its mini-batch
    when ``batch_size`` is set).  ``dZ[l - 1]`` and ``dA[l - 1]`` are the back-propagated
    ``dLoss/dZ[l]`` and ``dLoss/dA[l]`` of layer ``l = 1..L``, ``(n_l, m)`` or
    ``(M, n_l, m)`` like ``Z[l]``: ``dZ[L - 1]`` is the loss's gradient at the logits,
    ``dA[l - 1] = W[l + 1]^T dZ[l]`` for ``l < L`` and ``dA[L - 1]`` is ``dZ[L - 1]`` (the
    output's activation in the caches is the logits).  They are the arrays
    :func:`~initlab.engine.backward` computed for the gradients, not recomputed.
    """

    step: int
    params: Params
    caches: list[Cache]
    grads: Params
    loss: Any
    dA: list[Any] = field(default_factory=list)
    dZ: list[Any] = field(default_factory=list)


@dataclass
class History:
    """The record of one :func:`train` call; the model axis is always there (``M = 1`` for one model).

    ``loss`` is ``(steps, M)``; ``stats[metric]`` is ``(R, M, L)`` at the steps
    ``record_steps`` (``R`` of them); ``diverged_at[k]`` is the first step whose loss
    was not finite, or -1; ``last_finite_loss[k]`` is the loss just before it (the last
    loss when the model did not diverge, NaN when its first loss was not finite).
    """

    loss: np.ndarray
    record_steps: np.ndarray
    stats: dict[str, np.ndarray]
    diverged_at: np.ndarray
    extra: list[Any] = field(default_factory=list)

    @property
    def diverged(self) -> np.ndarray:
        """One bool per model."""
        return self.diverged_at >= 0

    @property
    def last_finite_loss(self) -> np.ndarray:
        """One float per model: the loss at step ``diverged_at - 1`` (at the last step if it never diverged)."""
        steps = self.loss.shape[0]
        at = np.where(self.diverged_at < 0, steps, self.diverged_at) - 1  # -1: not one finite loss
        cols = np.arange(self.loss.shape[1])
        return np.where(at >= 0, self.loss[np.maximum(at, 0), cols], np.nan)

    def rows(self) -> Iterator[dict[str, Any]]:
        """The tidy table: one dict per model x step x layer x metric (loss rows have layer 0)."""
        steps, models = self.loss.shape
        for t in range(steps):
            for k in range(models):
                yield {"model": k, "step": t, "layer": 0, "metric": "loss", "value": float(self.loss[t, k])}
        for r, t in enumerate(self.record_steps):
            for metric, values in self.stats.items():
                for k in range(values.shape[1]):
                    for l in range(values.shape[2]):
                        v = float(values[r, k, l])
                        yield {"model": k, "step": int(t), "layer": l + 1, "metric": metric, "value": v}


def _first_nonfinite(losses: np.ndarray) -> np.ndarray:
    """Per model (column), the first step whose loss is not finite, or -1."""
    finite = np.isfinite(losses)
    return np.where(finite.all(axis=0), -1, np.argmin(finite, axis=0))


#: What ``train``'s ``backend`` accepts (None: numba where it applies and pays, else where the arrays are).
TRAIN_BACKENDS = ("numpy", "numba", "torch")

#: ``backend=None`` takes the fused kernel (when the run is in its scope) if the numpy path would need more than
#: this many seconds by :func:`_numpy_seconds`: below it, loading the compiled kernel (about 1 s per process) does not
#: pay.
NUMBA_MIN_SECONDS = 2.0

#: The numpy path holds BLAS to one thread when one model's largest matmul has fewer multiply-adds than this
#: (n_l x n_{l-1} x m; 256 x 256 x 1000 is 6.6e7).  Measured on 2 cores: below it one thread is as fast on a
#: quiet machine and up to 14x faster when other work shares the cores; at 500 x 500 x 1000 two threads are
#: 1.6x faster on a quiet machine, 1.3x slower beside one busy process.
BLAS_ONE_THREAD_BELOW = 1e8


def _fused_scope(net: MLP, params: Params, X: Any, opt: Optimizer, callback: Any, batch_size: int | None = None
                 ) -> str | None:  # fmt: skip
    """Why the fused kernel cannot run this (a sentence), or None when it can."""
    from ._fused import SUPPORTED_ACTIVATIONS

    if batch_size is not None:
        return f"trains on the full batch only (batch_size=None). Got batch_size={batch_size}"
    bad = [a.name for a in net.hidden if a.name not in SUPPORTED_ACTIVATIONS]
    if bad:
        return f"supports the hidden activations {', '.join(SUPPORTED_ACTIVATIONS)}. Got {bad[0]!r}"
    if net.loss.name != "bce":
        return f"supports the loss 'bce'. Got {net.loss.name!r}"
    if type(opt) is not GradientDescent:
        return f"supports the optimizer 'gd'. Got {opt.name!r}"
    if callback is not None:
        return "takes no callback (it keeps no caches). Got a callback"
    if not all(isinstance(v, np.ndarray) for v in params.values()) or not isinstance(X, np.ndarray):
        return "needs numpy arrays. Got another array type"
    if params["W1"].dtype not in (np.float32, np.float64):
        return f"supports float32 and float64. Got {params['W1'].dtype}"
    return None


def _numpy_seconds(net: MLP, n_models: int, m: int, steps: int) -> float:
    """A rough estimate of the numpy path's time: 40 us of calls per layer and model-step, plus 3 matmuls per layer
    at 2e9 multiply-adds per second (a 2-core laptop)."""
    weights = sum(a * b for a, b in zip(net.layer_dims[:-1], net.layer_dims[1:], strict=True))
    return float(steps) * n_models * (40e-6 * net.n_layers + 3.0 * m * weights / 2e9)


def _train_numba(net: MLP, params: Params, X: Any, Y: Any, steps: int, opt: Optimizer, record_every: int) -> History:
    """The fused CPU kernel of :mod:`initlab.engine`: same math, same history, no callback."""
    from ._fused import train_fused

    losses, records, raw = train_fused(net, params, X, Y, steps=steps, lr=opt.lr, record_every=record_every)
    report = _PROGRESS.get()
    if report is not None:  # the kernel runs all steps in one call: one report at its end
        report(steps, steps)
    stats = {metric: raw[..., i] for i, metric in enumerate(METRICS)}  # the kernel wrote the table's columns
    return History(losses, records, stats, _first_nonfinite(losses))


def _minibatches(X: Any, Y: Any, batch_size: int | None, shuffle_seed: int | None) -> Iterator[tuple[Any, Any]]:
    """The ``(X, Y)`` of every step, without end: the whole batch each time (``batch_size=None``), or the
    mini-batches of ``batch_size`` consecutive columns of each epoch's order (the last one smaller when
    ``batch_size`` does not divide ``m``).  The order is ``0..m-1``, or with ``shuffle_seed`` a fresh permutation
    each epoch from one ``numpy.random.Generator`` seeded by it.  Each batch is a C-ordered copy on numpy."""
    if batch_size is None:
        while True:
            yield X, Y
    m = int(X.shape[1])
    rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
    order = np.arange(m)
    while True:
        if rng is not None:
            order = rng.permutation(m)
        for start in range(0, m, batch_size):
            idx = order[start : start + batch_size]
            yield _columns(X, idx), _columns(Y, idx)


def _columns(a: Any, idx: np.ndarray) -> Any:
    """The columns ``idx`` of ``a`` as a new array (C-ordered on numpy)."""
    if isinstance(a, np.ndarray):
        return np.ascontiguousarray(a[:, idx])
    xp = namespace(a)
    return xp.take(a, xp.asarray(idx, device=a.device), axis=1)


def _train_batched(net: MLP, params: Params, X: Any, Y: Any, steps: int, opt: Optimizer, record_every: int,
                   callback: Any, batch_size: int | None = None, shuffle_seed: int | None = None
                   ) -> History:  # fmt: skip
    """The ensemble as one batched computation (on numpy, matmuls and sums per model: see the module docstring)."""
    xp = namespace(params["W1"])
    batches = _minibatches(X, Y, batch_size, shuffle_seed)
    report = _PROGRESS.get()
    every = max(1, steps // 50)
    n_models = params["W1"].shape[0] if params["W1"].ndim == 3 else 1
    losses = np.empty((steps, n_models))
    records: list[int] = []
    stats: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    extra: list[Any] = []
    for t in range(steps):
        Xb, Yb = next(batches)
        ZL, caches = forward(net, params, Xb, xp)
        loss = net.loss.value(xp, ZL, Yb)
        grads, dA, dZ = _backprop(net, params, caches, net.loss.grad(xp, ZL, Yb), xp)
        losses[t] = to_numpy(loss)
        if record_every and (t % record_every == 0 or t == steps - 1):
            records.append(t)
            for metric, values in layer_stats(net, params, caches, grads, xp).items():
                stats[metric].append(values)
            if callback is not None:
                extra.append(callback(StepInfo(t, params, caches, grads, loss, dA, dZ)))
        opt.step(params, grads, xp)
        if report is not None and ((t + 1) % every == 0 or t == steps - 1):
            report(t + 1, steps)
    n_layers = net.n_layers
    stacked = {m: np.stack(v) if v else np.empty((0, n_models, n_layers)) for m, v in stats.items()}
    return History(losses, np.asarray(records, dtype=int), stacked, _first_nonfinite(losses), extra)


def _blas_controller() -> Any:
    """threadpoolctl's view of the BLAS libraries loaded in the process, searched again only after new imports.

    ``threadpool_limits(...)`` searches the loaded libraries on every call: about 5 ms with numba and scipy
    loaded, most of a short ``train`` call (the explorer trains 10 steps at a time).  A library is loaded by an
    import, so the search is kept while ``sys.modules`` has not grown."""
    return _controller_for(len(sys.modules))


@functools.lru_cache(maxsize=1)
def _controller_for(n_modules: int) -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _blas_threads(net: MLP, m: int) -> int | None:
    """The numpy path's BLAS thread count for one step on ``m`` examples (the mini-batch's size): 1 for small
    matrices (threads cost more than they give), else as is."""
    largest = max(a * b for a, b in zip(net.layer_dims[:-1], net.layer_dims[1:], strict=True)) * m
    return 1 if largest < BLAS_ONE_THREAD_BELOW else None


def train(
    net: MLP,
    params: Params,
    X: Any,
    Y: Any,
    *,
    steps: int = 1000,
    optimizer: str | Optimizer = "gd",
    lr: Any = None,
    record_every: int = 100,
    callback: Callable[[StepInfo], Any] | None = None,
    backend: str | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    shuffle_seed: int | None = None,
) -> History:
    """Train ``params`` (updated in place) for ``steps`` gradient steps on ``X``, ``Y``.

    ``X`` is ``(n_0, m)`` and ``Y`` ``(n_L, m)`` (examples as columns; labels 0/1 for
    ``bce``, one-hot columns for ``softmax_ce``); ``params`` holds ``W1, b1, ..., WL, bL``
    of one model or of ``M`` (a leading model axis).  All of it is checked before the
    first step.  ``optimizer`` is a name (``gd``, ``momentum``, ``adam``,
    ``heavy_ball``, ``nesterov``: :data:`~initlab.engine.OPTIMIZERS`) with ``lr``
    (a float or one per model; 0.01 when left out), or an
    :class:`~initlab.engine.Optimizer`, which carries its own ``lr``.  Every
    ``record_every`` steps (and at the last step) the :data:`METRICS` are recorded
    and ``callback(StepInfo)`` is called; whatever it returns is kept in
    ``History.extra``.  ``record_every=0`` records nothing but the loss.

    Mini-batches: with ``batch_size=None`` (the default) every step uses all ``m``
    examples.  With an int ``B`` (``1 <= B <= m``) a step is one update on one
    mini-batch (stochastic gradient descent): each epoch cuts its order of the
    examples into ``ceil(m / B)`` consecutive mini-batches (the last smaller when ``B``
    does not divide ``m``) and epochs follow one another as ``steps`` needs.  The order
    is ``0..m-1`` in every epoch, or with ``shuffle_seed`` (an int >= 0) a fresh
    permutation per epoch drawn from one ``numpy.random.default_rng(shuffle_seed)``;
    every model of an ensemble sees the same mini-batches.  The recorded loss, the
    :data:`METRICS` and the callback's :class:`StepInfo` are then those of the step's
    mini-batch (its mean loss), not of the whole training set.  ``batch_size=m`` without
    a shuffle gives the full-batch bits.  The fused kernel is full-batch only.

    Backends (``backend``):

    - ``None`` (the default): the fused numba kernel when the run is in its scope
      (numpy float32/float64 arrays; hidden activations tanh, relu, sigmoid, linear;
      loss ``bce``; optimizer ``gd``; full batch; no callback) and large enough to pay for loading
      it (the numpy path would take more than ``NUMBA_MIN_SECONDS``, 2 s, by the estimate
      ``steps x M x (40 us x L + 3 m x weights / 2e9)``); otherwise the numpy
      reference, or torch when the arrays are torch tensors.
    - ``"numpy"``: always the reference path (exact per-step values; model ``k`` of an
      ensemble is model ``k`` alone, bit for bit: see :mod:`initlab.engine`).
    - ``"numba"``: the fused kernel, or an error saying why the run is outside it.
    - ``"torch"`` (with ``device="cuda"`` for a GPU): ``params``, ``X`` and ``Y`` are
      moved there for the run and the trained values are written back into ``params``
      in their original type.

    Threads: on the numpy path, BLAS is held to one thread (threadpoolctl, for the
    run only) while one model's largest matmul (``n_l x n_{l-1} x m``) is below
    ``BLAS_ONE_THREAD_BELOW`` (1e8 multiply-adds, e.g. width 256 on 1,000 examples):
    there a second thread gains nothing on a quiet machine and, when other work shares
    the cores, makes each step up to 14x slower (width 64, 1,000 examples, 2 cores).
    Larger matrices use BLAS's own threads (1.6x faster at width 500 on a quiet 2-core
    machine).  The numba kernel runs one model per thread with BLAS held to
    one thread.  The history is numpy either way.

    >>> from initlab.engine import init_params
    >>> net = MLP.make([2, 8, 1], "tanh")
    >>> p = init_params(net.layer_dims, weights="xavier_normal", rng=0)
    >>> X = np.array([[0.0, 0, 1, 1], [0, 1, 0, 1]]); Y = np.array([[0.0, 1, 1, 0]])
    >>> h = train(net, p, X, Y, steps=2000, lr=1.0, record_every=1000)
    >>> bool(h.loss[-1, 0] < 0.01), h.record_steps.tolist(), h.stats["act_std"].shape
    (True, [0, 1000, 1999], (3, 1, 2))

    Mini-batches of ``m`` examples in order are the full batch, to the bit; two shuffled
    mini-batches of 2 make 2 steps per epoch:

    >>> a, b, c = (init_params(net.layer_dims, weights="xavier_normal", rng=0) for _ in range(3))
    >>> full, mini = train(net, a, X, Y, steps=50), train(net, b, X, Y, steps=50, batch_size=4)
    >>> bool((full.loss == mini.loss).all())
    True
    >>> train(net, c, X, Y, steps=6, lr=1.0, batch_size=2, shuffle_seed=0).loss.shape
    (6, 1)
    """
    steps = check_int(steps, "steps", "train", low=1)
    record_every = check_int(record_every, "record_every", "train", low=0)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", "train", low=1)
    if shuffle_seed is not None:
        shuffle_seed = check_int(shuffle_seed, "shuffle_seed", "train", low=0)
        if batch_size is None:
            raise InitlabValueError(
                f"The 'shuffle_seed' argument of train needs a 'batch_size' (it orders the mini-batches). "
                f"Got shuffle_seed={shuffle_seed} with batch_size=None."
            )
    if backend is not None:
        backend = check_choice(backend, "backend", TRAIN_BACKENDS, "train")
    if device is not None and backend != "torch":
        raise InitlabValueError(
            f"The 'device' argument of train needs backend='torch'. Got device={device!r} with backend={backend!r}."
        )
    if callback is not None and not callable(callback):
        raise InitlabValueError(f"The 'callback' argument of train must be callable. Got {type(callback).__name__}.")
    if isinstance(optimizer, Optimizer):
        if lr is not None:
            raise InitlabValueError(
                f"The 'lr' argument of train must be left out when 'optimizer' is an Optimizer: it has its own "
                f"(lr={optimizer.lr!r}). Got lr={lr!r} as well."
            )
        opt = optimizer
    else:
        rate = 0.01 if lr is None else _check_lr(lr, "train")
        opt = get_optimizer(check_choice(optimizer, "optimizer", list(OPTIMIZERS), "train"), rate)
    n_models = check_params(net, params)
    opt.rates(n_models, "train", "lr" if not isinstance(optimizer, Optimizer) else "optimizer")
    X, Y = check_data(net, X, Y)
    if batch_size is not None and batch_size > int(X.shape[1]):
        raise InitlabValueError(
            f"The 'batch_size' argument of train must be at most the number of examples m = {int(X.shape[1])} "
            f"(the columns of X). Got {batch_size} instead."
        )
    if backend == "torch":
        home = "numpy" if isinstance(params["W1"], np.ndarray) else "torch"
        moved = to_backend(params, "torch", device)
        Xt, Yt = to_backend(X, "torch", device), to_backend(Y, "torch", device)
        history = _train_batched(net, moved, Xt, Yt, steps, opt, record_every, callback, batch_size, shuffle_seed)
        params.update(to_backend(moved, home))
        return history
    numpy_arrays = isinstance(params["W1"], np.ndarray)
    if backend == "numpy" and not numpy_arrays:
        home = to_backend(params, "numpy")
        history = train(net, home, to_numpy(X), to_numpy(Y), steps=steps, optimizer=opt, record_every=record_every,
                        callback=callback, backend="numpy", batch_size=batch_size,
                        shuffle_seed=shuffle_seed)  # fmt: skip
        params.update(to_backend(home, "torch", str(getattr(params["W1"], "device", "cpu"))))
        return history
    why_not = _fused_scope(net, params, X, opt, callback, batch_size)
    if backend == "numba" and why_not is not None:
        raise InitlabValueError(f"The 'numba' backend of train {why_not}: use backend='numpy' or 'torch'.")
    m = int(X.shape[1])
    auto = backend is None and why_not is None and _numpy_seconds(net, n_models, m, steps) >= NUMBA_MIN_SECONDS
    if backend == "numba" or auto:
        return _train_numba(net, params, X, Y, steps, opt, record_every)
    if not numpy_arrays:
        return _train_batched(net, params, X, Y, steps, opt, record_every, callback, batch_size, shuffle_seed)
    # C-ordered working arrays: a model alone and model k of a stack start in the same memory layout (an
    # orthogonal init comes out of QR F-ordered); the caller's arrays are never written into
    work = {key: np.ascontiguousarray(value) for key, value in params.items()}
    X, Y = np.ascontiguousarray(X), np.ascontiguousarray(Y)
    threads = _blas_threads(net, m if batch_size is None else min(batch_size, m))  # one step's matmuls
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is data, not an error
        if threads is None:
            history = _train_batched(net, work, X, Y, steps, opt, record_every, callback, batch_size, shuffle_seed)
        else:
            with _blas_controller().limit(limits=threads, user_api="blas"):
                history = _train_batched(net, work, X, Y, steps, opt, record_every, callback, batch_size, shuffle_seed)
    params.update(work)
    return history
