"""Full-batch training with a record of what happens inside, for one model or an ensemble.

:func:`train` runs gradient steps and returns a :class:`History`: the loss of
every model at every step, and every ``record_every`` steps, per layer and per
model, the health statistics of :data:`~initlab.engine.METRICS` (defined once, in
:mod:`initlab.engine._metrics`).

A model whose loss is not finite is marked ``diverged`` at the first such step;
the other models of the ensemble train on (the models never mix: each has its
own slice of every array).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_int
from ._backends import namespace, to_backend, to_numpy
from ._metrics import METRICS, layer_stats
from ._mlp import MLP, Cache, Params, backward, forward
from ._optim import Optimizer, get_optimizer

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
    """What a callback sees at a recorded step (arrays on the training backend)."""

    step: int
    params: Params
    caches: list[Cache]
    grads: Params
    loss: Any


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


def _train_numba(net: MLP, params: Params, X: Any, Y: Any, steps: int, opt: Optimizer, record_every: int,
                 callback: Any) -> History:  # fmt: skip
    """The fused CPU kernel of :mod:`initlab.engine`: same math, same history, no callback."""
    from ._fused import check_supported, train_fused

    check_supported(net, params, opt)
    if callback is not None:
        raise InitlabValueError("The 'numba' backend takes no callback (it keeps no caches). Got a callback.")
    losses, records, raw = train_fused(net, params, X, Y, steps=steps, lr=opt.lr, record_every=record_every)
    report = _PROGRESS.get()
    if report is not None:  # the kernel runs all steps in one call: one report at its end
        report(steps, steps)
    stats = {metric: raw[..., i] for i, metric in enumerate(METRICS)}  # the kernel wrote the table's columns
    diverged_at = _first_nonfinite(losses)
    return History(losses, records, stats, diverged_at)


def train(
    net: MLP,
    params: Params,
    X: Any,
    Y: Any,
    *,
    steps: int = 1000,
    optimizer: str | Optimizer = "gd",
    lr: Any = 0.01,
    record_every: int = 100,
    callback: Callable[[StepInfo], Any] | None = None,
    backend: str | None = None,
    device: str | None = None,
) -> History:
    """Train ``params`` (updated in place) for ``steps`` full-batch steps on ``X``, ``Y``.

    ``optimizer`` is a name (``gd``, ``momentum``, ``adam``, taking ``lr``: a float or one
    per model) or an :class:`~initlab.engine.Optimizer`.  Every ``record_every`` steps
    (and at the last step) the :data:`METRICS` are recorded and ``callback(StepInfo)``
    is called; whatever it returns is kept in ``History.extra``.  ``record_every=0``
    records nothing but the loss.

    Backends: the arrays may be numpy or torch tensors (see :mod:`initlab.engine`),
    and the math runs where they are.  Or pass ``backend="torch"`` (with
    ``device="cuda"`` for a GPU): ``params``, ``X`` and ``Y`` are moved there for the
    run and the trained values are written back into ``params`` in their original
    type.  The history is numpy either way.

    >>> from initlab.engine import init_params
    >>> net = MLP.make([2, 8, 1], "tanh")
    >>> p = init_params(net.layer_dims, weights="xavier_normal", rng=0)
    >>> X = np.array([[0.0, 0, 1, 1], [0, 1, 0, 1]]); Y = np.array([[0.0, 1, 1, 0]])
    >>> h = train(net, p, X, Y, steps=2000, lr=1.0, record_every=1000)
    >>> bool(h.loss[-1, 0] < 0.01), h.record_steps.tolist(), h.stats["act_std"].shape
    (True, [0, 1000, 1999], (3, 1, 2))
    """
    steps = check_int(steps, "steps", "train", low=1)
    record_every = check_int(record_every, "record_every", "train", low=0)
    opt = get_optimizer(optimizer, lr)
    if backend == "numba":
        return _train_numba(net, params, X, Y, steps, opt, record_every, callback)
    if backend is not None:
        home = "numpy" if isinstance(params["W1"], np.ndarray) else "torch"
        moved = to_backend(params, backend, device)
        X, Y = to_backend(X, backend, device), to_backend(Y, backend, device)
        history = train(net, moved, X, Y, steps=steps, optimizer=opt, record_every=record_every, callback=callback)
        params.update(to_backend(moved, home))
        return history
    xp = namespace(params["W1"])
    report = _PROGRESS.get()
    every = max(1, steps // 50)
    n_models = params["W1"].shape[0] if params["W1"].ndim == 3 else 1
    losses = np.empty((steps, n_models))
    records: list[int] = []
    stats: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    extra: list[Any] = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is data, not an error
        for t in range(steps):
            ZL, caches = forward(net, params, X, xp)
            loss = net.loss.value(xp, ZL, Y)
            grads = backward(net, params, caches, net.loss.grad(xp, ZL, Y), xp)
            losses[t] = to_numpy(loss)
            if record_every and (t % record_every == 0 or t == steps - 1):
                records.append(t)
                for metric, values in layer_stats(net, params, caches, grads, xp).items():
                    stats[metric].append(values)
                if callback is not None:
                    extra.append(callback(StepInfo(t, params, caches, grads, loss)))
            opt.step(params, grads, xp)
            if report is not None and ((t + 1) % every == 0 or t == steps - 1):
                report(t + 1, steps)
    diverged_at = _first_nonfinite(losses)
    n_layers = net.n_layers
    stacked = {m: np.stack(v) if v else np.empty((0, n_models, n_layers)) for m, v in stats.items()}
    return History(losses, np.asarray(records, dtype=int), stacked, diverged_at, extra)
