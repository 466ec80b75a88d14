"""Train: any dataset, net and start (or two starts side by side), the numbers the explorer shows.

Not one of the lecture's claims on its own, but the workbench for all of them: pick a
dataset, a depth and width, an activation and a start (one of the learner's four regimes,
or any initializer spec such as ``normal(std=0.5)``), optionally a second start trained in
lockstep on the same data and seeds, and train.  ``initlab run train --set weights=zero``
shows, as numbers, what ``initlab explore`` shows live: one distinct unit per hidden layer
and a cost stuck at ln 2.

The models are one ensemble: start A's ``seeds`` models (seeds ``seed, seed+1, ...``),
then start B's with the same seeds, so model ``k`` of a start is
``init_params(dims, weights=..., biases=..., rng=seed + k)`` bit for bit.  The loss is the
labels' (``auto``) or chosen (``bce``, ``softmax_ce``, ``mse``); each step takes the whole
training set, or with ``batch_size`` one mini-batch of an order drawn per epoch from ``shuffle``.

Sweeps train one model per config: :func:`train_models` trains configs that differ only in
seed, weights, biases and learning rate (equal :func:`ensemble_key`) as one ensemble, each
model's result independent of the others; :func:`model_bytes` and :func:`model_cost` size the
chunks and estimate the time.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from .. import data as _data
from .._validation import InitlabError, InitlabTypeError, InitlabValueError, shown
from ..engine import (
    ACTIVATIONS,
    METRICS,
    MLP,
    OPTIMIZERS,
    Optimizer,
    Params,
    StepInfo,
    SymmetryWarning,
    accuracy_from_logits,
    backward,
    forward,
    get_optimizer,
    init_ensemble,
    init_params,
    layer_stats,
    train,
)
from ..results import Result
from ._common import ROW_BYTES, Divergence, distinct, diverged_sentence, mean_sd
from ._settings import MAX_STEPS, Settings, command, setting

__all__ = ["DATASETS", "LOSS_CHOICES", "QUESTION", "Built", "Config", "ModelResult", "Start", "accuracy_of", "build",
           "ensemble_key", "loss_name", "make_optimizer", "model_bytes", "model_cost", "peak_bytes", "python_call",
           "run", "train_models", "weights_spec"]  # fmt: skip

QUESTION = "How does this start train this net on this dataset: its cost, its accuracy, its clones and its layers?"
#: the datasets of initlab.data that the explorer offers (the 2-D ones, and the 8x8 digits with 10 classes)
DATASETS = ("circles", "flower", "moons", "xor", "spirals", "blobs", "digits")
#: the loss for binary labels (one output) and for one-hot classes
BINARY_LOSS, CLASSES_LOSS = "bce", "softmax_ce"
#: the ``loss`` setting: ``auto`` is BINARY_LOSS for one output and CLASSES_LOSS for one-hot classes
LOSS_CHOICES = ("auto", BINARY_LOSS, CLASSES_LOSS, "mse")
_SPEC_ERRORS = (InitlabError, ValueError, TypeError, RecursionError, MemoryError, OverflowError)


@dataclass(frozen=True)
class Config(Settings):
    """The train experiment's settings: one net, one or two starts, full-batch or mini-batch training."""

    EXPERIMENT = "train"

    dataset: str = setting("circles", "the dataset (digits: 64 pixels, 10 classes; the others 2-D, 2 classes)",
                           choices=DATASETS)  # fmt: skip
    # the explorer keeps its own smaller limits (initlab.explorer: EXPLORER_LIMITS)
    depth: int = setting(2, "hidden layers", low=1, high=100)
    width: int = setting(8, "units per hidden layer", low=1, high=2048)
    activation: str = setting("relu", "the hidden layers' activation", choices=tuple(ACTIVATIONS))
    loss: str = setting("auto", "the loss: auto (bce for one output, softmax_ce for classes), bce, softmax_ce or mse",
                        choices=LOSS_CHOICES)  # fmt: skip
    weights: str = setting("he_normal", "start A: a regime (zero, too small, appropriate, too large) or an "
                           "initializer spec such as normal(std=0.5)")  # fmt: skip
    biases: str = setting("zeros", "start A's bias policy, e.g. zeros or normal(std=0.1)")
    compare: str = setting("", "start B, trained in lockstep on the same data and seeds ('' = none)")
    compare_biases: str = setting("", "start B's bias policy ('' = the same as biases)")
    optimizer: str = setting("gd", "the optimizer", choices=tuple(OPTIMIZERS))
    # 0.1: He on circles with the default net (2 x 8 relu) reaches cost 0.058 after 2000 steps (seed 0 passes 0.1
    # at step 1209; 15 of seeds 0-15 are below 0.1 at step 2000, the last at 2239).  0.3 is faster (seed 0 below
    # 0.1 at step 512) but sends 3 of 4 seeds of He on flower at depth 8, width 64 to NaN; 0.1 diverged nowhere
    # in that check (every dataset, depth 2 x 8 relu and tanh, depth 8 x 64 relu).  Plain gd on relu spikes now and
    # then once the cost is small (seed 0: 3.36 at step 2152, back below 0.1 ten steps later); 0.07 spikes too and
    # 0.05 does not reach 0.1 within 2000 steps.
    lr: float = setting(0.1, "the learning rate", low=0.0, low_open=True, high=100.0)
    batch_size: int = setting(0, "examples per step: 0 = the whole training set, else mini-batches of this many",
                              low=0)  # fmt: skip
    shuffle: int = setting(0, "the seed of the mini-batch order: one permutation per epoch, the same for every model",
                           low=0, high=2**31 - 1)  # fmt: skip
    seed: int = setting(0, "model k of each start uses seed + k", low=0, high=2**31 - 1)
    seeds: int = setting(1, "models per start (the spread over seeds)", low=1, high=16)
    steps: int = setting(2000, "training steps (initlab run train; the explorer runs until paused)", low=1,
                         high=MAX_STEPS)  # fmt: skip
    record_every: int = setting(100, "layer statistics and distinct units every this many steps", low=1,
                                high=MAX_STEPS)  # fmt: skip

    def check_together(self) -> None:
        _check_loss(self)
        m = _dataset(self.dataset).X_train.shape[1]
        if self.batch_size > m:
            raise InitlabValueError(
                f"The 'batch_size' setting of train must be 0 (the full batch) or an int from 1 to {m}, the "
                f"examples of the {self.dataset!r} training set. Got {self.batch_size} instead."
            )
        dims = _layer_dims(self)
        dims = dims[:2] + dims[-2:] if len(dims) > 4 else dims  # every layer shape there is, drawn once
        _check_spec("weights", self.weights, dims, bias=False)
        _check_spec("biases", self.biases, dims, bias=True)
        if self.compare:
            _check_spec("compare", self.compare, dims, bias=False)
        if self.compare_biases:
            _check_spec("compare_biases", self.compare_biases, dims, bias=True)


@dataclass(frozen=True)
class Start:
    """One start: its label (``A``, ``B``), its weight and bias specs, and its models' indices in the ensemble."""

    label: str
    weights: str
    biases: str
    models: range


@dataclass(frozen=True)
class Built:
    """A config made concrete: the net, the initial parameters of every model, the data and the starts.

    ``params`` is ``{"W1": (M, n_1, n_0), "b1": (M, n_1, 1), ...}`` in float64 with ``M = len(seeds)``;
    ``X`` is the train inputs ``(n_0, m)`` and ``Y`` the labels ``(n_L, m)`` (one-hot for digits).
    """

    net: MLP
    params: Params
    data: _data.Dataset
    starts: tuple[Start, ...]
    seeds: tuple[int, ...]
    X: np.ndarray
    Y: np.ndarray


def weights_spec(text: str) -> str:
    """The initializer spec of a ``weights`` setting: a learner's regime by name, else the text itself.

    >>> weights_spec("too large"), weights_spec("he_normal")
    ('randn(scale=100)', 'he_normal')
    """
    from . import REGIMES  # the package face defines it after importing this module

    return REGIMES.get(text, text)


@functools.cache
def _dataset(name: str) -> _data.Dataset:
    return _data.load(name)


def _load(name: str) -> _data.Dataset:
    """The dataset, generated once per process; each caller gets its own copy of the arrays."""
    d = _dataset(name)
    test = {} if d.X_test is None or d.Y_test is None else {"X_test": d.X_test.copy(), "Y_test": d.Y_test.copy()}
    return replace(d, X_train=d.X_train.copy(), Y_train=d.Y_train.copy(), **test)


def _layer_dims(cfg: Config) -> list[int]:
    d = _dataset(cfg.dataset)
    return [d.n_x] + [cfg.width] * cfg.depth + [d.n_y]


def _check_loss(cfg: Config) -> None:
    """bce needs one output (labels 0/1), softmax_ce two or more one-hot classes; mse takes either."""
    n_y = _dataset(cfg.dataset).n_y
    if cfg.loss == BINARY_LOSS and n_y != 1:
        why, others = f"'bce' needs one output and the {cfg.dataset!r} labels are {n_y} one-hot classes", "softmax_ce"
    elif cfg.loss == CLASSES_LOSS and n_y == 1:
        why, others = f"'softmax_ce' needs two or more classes and the {cfg.dataset!r} labels are one output", "bce"
    else:
        return
    raise InitlabValueError(
        f"The 'loss' setting of train must be 'auto', {others!r} or 'mse' for the {cfg.dataset!r} dataset ({why}). "
        f"Got {cfg.loss!r} instead."
    )


def _check_spec(name: str, text: str, dims: list[int], *, bias: bool) -> None:
    """Draw one model with the spec on the real layer shapes: any error is the setting's, in one line."""
    _check_spec_once(name, text, tuple(dims), bias)


@functools.lru_cache(maxsize=256)
def _check_spec_once(name: str, text: str, dims: tuple[int, ...], bias: bool) -> None:
    """:func:`_check_spec`, remembered: a sweep checks the same spec on the same shapes for many cells."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SymmetryWarning)  # a symmetric start is allowed here: it is the lesson
            if bias:
                init_params(list(dims), weights="zeros", biases=text, rng=0)
            else:
                init_params(list(dims), weights=weights_spec(text), biases="zeros", rng=0)
    except _SPEC_ERRORS as exc:
        from . import REGIMES

        what = "a bias policy spec such as zeros or normal(std=0.1)" if bias else (
            f"a regime ({', '.join(REGIMES)}) or an initializer spec")  # fmt: skip
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InitlabValueError(
            f"The {name!r} setting of train must be {what}. Got {shown(text)} instead: {reason}"
        ) from None


def _starts(cfg: Config) -> tuple[Start, ...]:
    n = cfg.seeds
    starts = [Start("A", weights_spec(cfg.weights), cfg.biases, range(0, n))]
    if cfg.compare:
        starts.append(Start("B", weights_spec(cfg.compare), cfg.compare_biases or cfg.biases, range(n, 2 * n)))
    return tuple(starts)


def loss_name(cfg: Config) -> str:
    """The loss ``cfg`` trains with: its ``loss`` setting, where ``auto`` is bce for one output, softmax_ce for classes.

    >>> loss_name(Config()), loss_name(Config(dataset="digits")), loss_name(Config(loss="mse"))
    ('bce', 'softmax_ce', 'mse')
    """
    if cfg.loss != "auto":
        return cfg.loss
    return BINARY_LOSS if _dataset(cfg.dataset).n_y == 1 else CLASSES_LOSS


def _batching(cfg: Config) -> dict[str, Any]:
    """The mini-batch arguments of the engine's ``train`` (none for the full batch)."""
    return {} if cfg.batch_size == 0 else {"batch_size": cfg.batch_size, "shuffle_seed": cfg.shuffle}


def accuracy_of(net: MLP, ZL: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """The share of the ``m`` examples each model gets right, from its logits ``Z[L]`` ``(M, n_L, m)``: ``(M,)``.

    bce and softmax_ce decide as the engine's ``predict`` does; mse, which regresses onto the labels, decides
    by the output nearest to them: above 0.5 for one output (labels 0/1), the largest of one-hot classes.

    >>> net = MLP.make([1, 1], "linear", "mse")
    >>> accuracy_of(net, np.array([[[0.9, 0.2, 0.4]]]), np.array([[1.0, 0.0, 1.0]])).round(3).tolist()
    [0.667]
    """
    if net.loss.name != "mse":
        return np.asarray(accuracy_from_logits(net, ZL, Y), dtype=np.float64)
    if ZL.shape[-2] == 1:
        right = (ZL[..., 0, :] > 0.5) == (Y[0] > 0.5)
    else:
        right = np.argmax(ZL, axis=-2) == np.argmax(Y, axis=0)
    return np.asarray(right.mean(axis=-1), dtype=np.float64)


def build(cfg: Config) -> Built:
    """The net, the data and the initial parameters of every model of ``cfg`` (start A's seeds, then B's).

    >>> b = build(Config(compare="zero", seeds=2))
    >>> b.net.layer_dims, b.seeds, [(s.label, s.weights, list(s.models)) for s in b.starts]
    ((2, 8, 8, 1), (0, 1, 0, 1), [('A', 'he_normal', [0, 1]), ('B', 'zeros', [2, 3])])
    """
    d = _load(cfg.dataset)
    net = MLP.make([d.n_x] + [cfg.width] * cfg.depth + [d.n_y], cfg.activation, loss_name(cfg))
    starts = _starts(cfg)
    seeds = tuple(cfg.seed + k for k in range(cfg.seeds)) * len(starts)
    weights = [s.weights for s in starts for _ in s.models]
    biases = [s.biases for s in starts for _ in s.models]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymmetryWarning)  # zero and constant starts are the point here
        params = init_ensemble(net.layer_dims, seeds=list(seeds), weights=weights, biases=biases, dtype=np.float64)
    return Built(net, params, d, starts, seeds, d.X_train, d.Y_train)


def make_optimizer(cfg: Config) -> Optimizer:
    """A fresh optimizer of ``cfg`` (its state, e.g. Adam's moments, starts empty) with ``cfg.lr``."""
    return get_optimizer(cfg.optimizer, cfg.lr)


def _per_model(values: list[str], n: int) -> str:
    """``values`` (one per start) as the Python expression of one entry per model."""
    if len(set(values)) == 1:
        return repr(values[0])
    return " + ".join(f"[{v!r}] * {n}" for v in values)


def python_call(cfg: Config) -> str:
    """The Python lines that build and train what ``cfg`` describes (a runnable snippet).

    >>> print(python_call(Config(steps=500)))
    from initlab import data
    from initlab.engine import MLP, init_ensemble, loss_and_grads, train
    <BLANKLINE>
    d = data.load('circles')
    net = MLP.make([2, 8, 8, 1], 'relu', 'bce')
    params = init_ensemble(net.layer_dims, seeds=[0], weights='he_normal', biases='zeros')
    history = train(net, params, d.X_train, d.Y_train, steps=500, optimizer='gd', lr=0.1, backend='numpy')
    cost, _ = loss_and_grads(net, params, d.X_train, d.Y_train)  # one cost per model, after the last step
    """
    d = _dataset(cfg.dataset)
    starts = _starts(cfg)
    n = cfg.seeds
    seeds = f"list(range({cfg.seed}, {cfg.seed + n}))" if n > 1 else f"[{cfg.seed}]"
    if len(starts) > 1:
        seeds += f" * {len(starts)}"
    weights = _per_model([s.weights for s in starts], n)
    biases = _per_model([s.biases for s in starts], n)
    dims = [d.n_x] + [cfg.width] * cfg.depth + [d.n_y]
    batching = "".join(f", {k}={v}" for k, v in _batching(cfg).items())
    return "\n".join([
        "from initlab import data",
        "from initlab.engine import MLP, init_ensemble, loss_and_grads, train",
        "",
        f"d = data.load({cfg.dataset!r})",
        f"net = MLP.make({dims}, {cfg.activation!r}, {loss_name(cfg)!r})",
        f"params = init_ensemble(net.layer_dims, seeds={seeds}, weights={weights}, biases={biases})",
        f"history = train(net, params, d.X_train, d.Y_train, steps={cfg.steps}, optimizer={cfg.optimizer!r}, "
        f"lr={cfg.lr!r}{batching}, backend='numpy')",
        "cost, _ = loss_and_grads(net, params, d.X_train, d.Y_train)  # one cost per model, after the last step",
    ])  # fmt: skip


# --- run: train, record, check ---------------------------------------------------------------------------------


def _record_steps(cfg: Config) -> list[int]:
    """The steps with a record: every ``record_every`` from 0, the last step's start, and the end (``steps``)."""
    return [t for t in range(cfg.steps) if t % cfg.record_every == 0 or t == cfg.steps - 1] + [cfg.steps]


def peak_bytes(cfg: Config) -> int:
    """An estimate of the run's peak memory: the ensemble's training arrays, its history, and the tidy rows."""
    d = _dataset(cfg.dataset)
    m = d.X_train.shape[1]
    M = cfg.seeds * (2 if cfg.compare else 1)
    L = cfg.depth + 1
    units = cfg.depth * cfg.width + d.n_y
    weights = d.n_x * cfg.width + (cfg.depth - 1) * cfg.width**2 + cfg.width * d.n_y + units
    # Z and A of every layer, dZ and dA of one, temporaries; params, grads, optimizer state.  Measured (ru_maxrss
    # growth over the run): 730 MiB for 32 models of 8 x 64 on digits recording every step (the estimate: 794),
    # 181 MiB on circles recording every 10 steps (280).  With mini-batches a step holds one mini-batch's arrays
    # and the final pass the whole set's Z and A.
    mb = cfg.batch_size or m
    training = M * 8 * (4 * units * mb + (2 * units * m if mb < m else 0) + 6 * weights)
    R = len(_record_steps(cfg))
    history = M * 8 * (cfg.steps + R * L * (len(METRICS) + 1))
    rows = M * (R * (1 + L * (len(METRICS) + 1)) + 6) * ROW_BYTES
    return int(training + history + rows + 8 * d.X_train.size)


def _distinct_per_layer(params: Params, caches: list[Any], n_layers: int) -> np.ndarray:
    """Distinct units of every layer, per model: ``(M, L)`` floats, NaN where a model is not finite."""
    return np.stack([distinct(params[f"W{l}"], params[f"b{l}"], caches[l - 1][2]) for l in range(1, n_layers + 1)],
                    axis=-1)  # fmt: skip


def _range(values: np.ndarray) -> str:
    """Integers over models as ``8`` or ``7-8`` (``n/a`` when none is finite)."""
    v = values[np.isfinite(values)]
    if v.size == 0:
        return "n/a"
    low, high = int(v.min()), int(v.max())
    return str(low) if low == high else f"{low}-{high}"


def run(config: Config | None = None) -> Result:
    """Train every start's models in lockstep (numpy, the reference path) and record what the explorer shows.

    Rows (one per model x step x layer x metric; ``start``, ``init``, ``biases`` and ``seed`` name the model):
    ``loss`` (layer 0) at every record step, the cost after ``t`` updates, and at step ``steps`` the cost after
    the last one; the engine's METRICS and ``distinct_units`` per layer at the same steps; at the end
    ``train_accuracy``, ``test_accuracy`` (NaN for a diverged model), ``diverged_at`` and ``last_finite_loss``.
    The loss of every step is in ``arrays["loss"]`` ``(steps, M)``, the final costs in ``arrays["cost"]``.
    With ``batch_size`` set, the loss and statistics of a step are its mini-batch's; the final cost and the
    accuracies are over the whole training (test) set.
    """
    cfg = config or Config()
    b = build(cfg)
    net, params, n_layers = b.net, b.params, b.net.n_layers
    n_models = len(b.seeds)
    zero = ~np.any([v.reshape(n_models, -1).any(axis=1) for v in params.values()], axis=0)  # (M,) all zero at start
    counts: list[np.ndarray] = []

    def record(info: StepInfo) -> None:
        counts.append(_distinct_per_layer(info.params, info.caches, n_layers))

    history = train(net, params, b.X, b.Y, steps=cfg.steps, optimizer=make_optimizer(cfg),
                    record_every=cfg.record_every, callback=record, backend="numpy", **_batching(cfg))  # fmt: skip
    with np.errstate(all="ignore"):  # a diverged model's numbers are data
        ZL, caches = forward(net, params, b.X)  # one pass for the final cost, gradients, statistics and accuracy
        cost = np.asarray(net.loss.value(np, ZL, b.Y), dtype=np.float64)
        grads = backward(net, params, caches, net.loss.grad(np, ZL, b.Y))
        final = layer_stats(net, params, caches, grads)
        counts.append(_distinct_per_layer(params, caches, n_layers))
        acc = accuracy_of(net, ZL, b.Y)
        test = _test_accuracy(net, params, b.data, cost.shape)
    div = _divergence(history.loss, history.diverged_at, cost, cfg.steps)
    acc[div.diverged], test[div.diverged] = np.nan, np.nan  # a diverged model's predictions mean nothing
    steps = _record_steps(cfg)
    losses = np.concatenate([history.loss[steps[:-1]], cost[None]])  # (R, M)
    stats = {m: np.concatenate([history.stats[m], np.asarray(final[m])[None]]) for m in METRICS}  # (R, M, L)
    units = np.stack(counts)  # (R, M, L)

    rows: list[dict[str, Any]] = []
    for start in b.starts:
        for k in start.models:
            base = {"model": k, "start": start.label, "init": start.weights, "biases": start.biases,
                    "seed": b.seeds[k]}  # fmt: skip
            for r, t in enumerate(steps):
                rows.append({**base, "step": t, "layer": 0, "metric": "loss", "value": float(losses[r, k])})
                for l in range(n_layers):
                    for metric, values in stats.items():
                        rows.append({**base, "step": t, "layer": l + 1, "metric": metric,
                                     "value": float(values[r, k, l])})  # fmt: skip
                    rows.append({**base, "step": t, "layer": l + 1, "metric": "distinct_units",
                                 "value": float(units[r, k, l])})  # fmt: skip
            for metric, value in (("train_accuracy", acc[k]), ("test_accuracy", test[k])):
                rows.append({**base, "step": cfg.steps, "layer": 0, "metric": metric, "value": float(value)})
            rows += div.rows(k, base, cfg.steps)

    claims, sentences, table = {}, [], []
    for start in b.starts:
        sel = list(start.models)
        ok = np.isin(np.arange(n_models), sel) & ~div.diverged
        hidden = units[:, ok, : n_layers - 1]  # (R, models, hidden layers)
        name = f"start {start.label} ({start.weights}"
        name += ")" if start.biases == "zeros" else f", biases {start.biases})"
        if cfg.width > 1 and hidden.size and (hidden[0] == 1).all():
            claims[f"{name}: hidden units that start as clones stay clones (one distinct unit per hidden layer "
                   "at every record)"] = bool((hidden == 1).all())  # fmt: skip
        if ok.any() and zero[sel].all() and net.loss.name == BINARY_LOSS and float(b.Y.mean()) == 0.5:
            off = np.abs(np.concatenate([history.loss[:, ok], cost[None, ok]]) - math.log(2))
            claims[f"{name}: the cost stays at ln 2 = 0.6931 on balanced labels (nothing is learnt)"] = bool(
                np.nanmax(off) < 1e-9
            )
        table.append({
            "start": start.label, "weights": start.weights, "biases": start.biases, "models": len(sel),
            "diverged": int(div.diverged[sel].sum()), "cost at step 0": _num(history.loss[0, ok], 4),
            f"cost after {cfg.steps} steps": _num(cost[ok], 4), "train accuracy": _num(acc[ok], 2),
            "test accuracy": _num(test[ok], 2),
            "distinct units per hidden layer": ", ".join(_range(units[-1, ok, l]) for l in range(n_layers - 1)),
        })  # fmt: skip
        sentences.append(_sentence(cfg, start, history.loss[0, ok], cost[ok], acc[ok], test[ok], units[-1, ok],
                                   stats["saturated"][0, ok, : n_layers - 1]))  # fmt: skip
    answer = " ".join([*sentences, diverged_sentence([div])]).strip()
    arrays = {"loss": history.loss, "cost": cost, "record_steps": np.asarray(steps), "distinct_units": units}
    arrays |= {f"stats_{m}": v for m, v in stats.items()}
    return Result("train", asdict(cfg), rows, arrays, claims, answer, question=QUESTION,
                  tables={"Cost, accuracy and distinct units by start": table}, command=command(cfg))  # fmt: skip


def _test_accuracy(net: MLP, params: Params, d: _data.Dataset, shape: tuple[int, ...]) -> np.ndarray:
    """Each model's accuracy on the test set (NaN where the dataset has none)."""
    if d.X_test is None or d.Y_test is None:
        return np.full(shape, np.nan)
    return accuracy_of(net, forward(net, params, d.X_test)[0], d.Y_test)


def _divergence(loss: np.ndarray, at: np.ndarray, cost: np.ndarray, steps: int) -> Divergence:
    """Divergence over the whole run: the history's, and a model whose cost after the last update is not finite
    diverged at ``steps``.  The last finite loss of a model that did not diverge is its final cost."""
    at = np.where((at < 0) & ~np.isfinite(cost), steps, at)
    with np.errstate(invalid="ignore"):
        last = np.where(at < 0, cost, np.where(at == steps, loss[-1], np.nan))
        for k in np.flatnonzero((at >= 0) & (at < steps)):
            last[k] = loss[at[k] - 1, k] if at[k] > 0 else np.nan
        grew = (at < 0) & (cost > loss[0] + 1e-6 * np.abs(loss[0]))
    return Divergence(at, last, grew)


def _num(values: np.ndarray, digits: int) -> str:
    """One model's value as ``0.0578``; several as ``0.0578 ± 0.0012``."""
    if values.size == 1:
        return f"{float(values[0]):.{digits}g}" if np.isfinite(values[0]) else "n/a"
    return mean_sd(values, digits)


def _sentence(cfg: Config, start: Start, first: np.ndarray, cost: np.ndarray, acc: np.ndarray, test: np.ndarray,
              units: np.ndarray, saturated: np.ndarray) -> str:  # fmt: skip
    """One sentence on one start: cost from step 0 to the end, accuracies, distinct units per hidden layer, and
    the hidden layers' saturated share at step 0 when it is large."""
    if cost.size == 0:
        return f"Start {start.label} ({start.weights}): every model diverged."
    over = "" if cost.size == 1 else f", mean ± sd over {cost.size} seeds,"
    layers = ", ".join(_range(units[:, l]) for l in range(units.shape[1] - 1))
    tested = "" if not np.isfinite(test).any() else f", test {_num(test, 2)}"
    share = float(np.nanmean(saturated)) if np.isfinite(saturated).any() else 0.0
    hot = f" At step 0, {share:.0%} of its hidden activations were saturated." if share >= 0.1 else ""
    return (
        f"Start {start.label} ({start.weights}, biases {start.biases}){over} went from cost {_num(first, 4)} to "
        f"{_num(cost, 4)} in {cfg.steps} steps, with train accuracy {_num(acc, 2)}{tested}; distinct units per "
        f"hidden layer at the end: {layers} of {cfg.width}.{hot}"
    )


# --- per model: what a sweep trains -------------------------------------------------------------------------------

#: the settings that may differ between the models of one ensemble (the engine takes one of each per model)
PER_MODEL = ("seed", "weights", "biases", "lr")
#: the hidden activations of the engine's fused numba kernel (a test checks them against the kernel's own list)
FUSED_ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")


@dataclass(frozen=True)
class ModelResult:
    """One model's end, as :func:`train_models` reports it.

    ``status`` is ``done`` or ``diverged`` (its loss, or the cost after the last update, stopped being finite:
    ``diverged_at`` is that step, ``steps`` for the final cost).  ``metrics``: ``final_loss`` (the cost on the
    whole training set after the last update), ``min_loss`` (the lowest finite loss of the curve and every step,
    NaN if none), ``last_finite_loss``, ``train_accuracy``, ``test_accuracy`` (NaN for a diverged model or a dataset
    without a test set), ``loss_curve`` (the loss at ``curve_steps``: ``0, r, 2r, ...`` for ``r = record_every``,
    then ``steps``, the final cost) and ``curve_steps``.
    """

    status: str
    metrics: dict[str, Any]
    diverged_at: int | None = None


def ensemble_key(cfg: Config) -> str:
    """The ensemble ``cfg``'s model trains in: models whose configs have equal keys can train as one.

    Every setting but :data:`PER_MODEL` (seed, weights, biases, lr) is part of it (``shuffle`` only with
    mini-batches).  The mini-batch order is seeded by the ``shuffle`` setting, not by the model's seed, so the
    models of every seed of a cell share an ensemble (and one order of examples per epoch).

    >>> ensemble_key(Config(seed=3, lr=0.5)) == ensemble_key(Config()), ensemble_key(Config(width=4))[:26]
    (True, 'train:circles:2x4:relu:bce')
    """
    rest = {k: v for k, v in sorted(asdict(cfg).items()) if k not in PER_MODEL}
    if cfg.batch_size == 0:
        del rest["shuffle"]  # no mini-batches, no order: it changes nothing
    digest = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:12]
    return f"train:{cfg.dataset}:{cfg.depth}x{cfg.width}:{cfg.activation}:{loss_name(cfg)}:{digest}"


def _backend(cfg: Config) -> str:
    """The engine backend of ``cfg``'s models, from the config alone: the fused kernel where it applies."""
    fused = (cfg.activation in FUSED_ACTIVATIONS and loss_name(cfg) == BINARY_LOSS and cfg.optimizer == "gd"
             and cfg.batch_size == 0)  # fmt: skip
    return "numba" if fused else "numpy"


def _weights(cfg: Config, *, biases: bool = True) -> int:
    """The parameters of one model (``W`` and, with ``biases``, ``b`` of every layer)."""
    return sum(a * b + (b if biases else 0) for a, b in itertools.pairwise(_layer_dims(cfg)))


def model_bytes(cfg: Config) -> int:
    """An estimate of the peak bytes one model of ``cfg`` adds to an ensemble's :func:`train_models` (the data,
    shared by the ensemble, excluded).

    On the numpy path a step holds Z, A, dZ and dA of every layer on a (mini-)batch with the temporaries between
    them, and the parameters several times over (the drawn ones, the working copy, the gradients, the updated
    copy, the optimizer's state); the passes after training hold Z and A of every layer on the training (then
    the test) set.  The fused kernel keeps no per-layer arrays per model (its scratch is per thread), only
    copies of the parameters.
    """
    # Measured with tracemalloc (the peak of train_models on 9 models minus on 1, over 8) against this estimate:
    # numpy, digits 4 x 64 relu heavy_ball, 50 steps, full batch: 17.6 MB per model (estimate 18.0);
    # numpy, digits 8 x 256 relu adam, 10 steps, batch 128: 48.4 MB per model (estimate 52.1, the final passes).
    # numba, circles 4 x 256 tanh, 20 steps: 5.6 MB per model by tracemalloc, 6.7 MB by ru_maxrss growth over 64
    # models in a fresh process (the kernel's scratch included; estimate 8.1).
    d = _dataset(cfg.dataset)
    m = d.X_train.shape[1]
    m_test = 0 if d.X_test is None else d.X_test.shape[1]
    units = cfg.depth * cfg.width + d.n_y
    weights = _weights(cfg)
    final = 2 * units * max(m, m_test) + 2 * weights  # Z and A of a pass after training, beside the parameters
    if _backend(cfg) == "numba":
        return int(8 * (max(4 * weights, final) + 2 * cfg.steps))
    state = {"gd": 0, "momentum": 1, "heavy_ball": 1, "nesterov": 1, "adam": 2}.get(cfg.optimizer, 2)
    step = 6 * units * (cfg.batch_size or m) + (5 + state) * weights  # the activations' derivatives, temporaries
    return int(8 * (max(step, final) + cfg.steps))


def model_cost(cfg: Config) -> float:
    """The multiply-adds of training one model of ``cfg`` and its final passes: ``3 x batch x weights`` per step
    (the forward matmuls, and twice that backward), then one forward on the training and test sets.

    >>> model_cost(Config(steps=10))  # 2 -> 8 -> 8 -> 1 has 88 weights; circles has 300 + 100 examples
    827200.0
    """
    d = _dataset(cfg.dataset)
    weights = _weights(cfg, biases=False)
    m = d.X_train.shape[1]
    m_test = 0 if d.X_test is None else d.X_test.shape[1]
    return float(weights * (3 * cfg.steps * (cfg.batch_size or m) + m + m_test))


def _check_models(configs: Any) -> list[Config]:
    if isinstance(configs, (str, bytes)) or not isinstance(configs, Sequence) or not configs:
        raise InitlabTypeError(f"The 'configs' argument of train_models must be a non-empty list of train Configs. "
                               f"Got {shown(configs)} instead.")  # fmt: skip
    cfgs = list(configs)
    for k, c in enumerate(cfgs):
        if not isinstance(c, Config):
            raise InitlabTypeError(f"The 'configs' argument of train_models must hold train Configs. Got "
                                   f"{type(c).__name__} at index {k} instead.")  # fmt: skip
        if c.seeds != 1 or c.compare:
            raise InitlabValueError(f"The 'configs' argument of train_models must hold one model per config (seeds=1, "
                                    f"compare=''). Got seeds={c.seeds}, compare={c.compare!r} at index {k} "
                                    "instead.")  # fmt: skip
        if ensemble_key(c) != ensemble_key(cfgs[0]):
            raise InitlabValueError(f"The 'configs' argument of train_models must share one ensemble_key (only seed, "
                                    f"weights, biases and lr may differ). Got {ensemble_key(c)!r} at index {k} and "
                                    f"{ensemble_key(cfgs[0])!r} at index 0 instead.")  # fmt: skip
    return cfgs


def _finite_min(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.min()) if finite.size else math.nan


def train_models(configs: Sequence[Config]) -> list[ModelResult]:
    """Train ``configs[k]`` as model ``k`` of one ensemble; one :class:`ModelResult` per config, in order.

    Each config is one model (``seeds=1``, ``compare=''``) with its own ``seed``, ``weights``, ``biases`` and
    ``lr``; all share :func:`ensemble_key`.  Model ``k`` is ``init_params(dims, weights=..., biases=...,
    rng=seed)`` trained by one engine ``train`` call (``record_every=0``: the loss of every step only), with the
    backend chosen from the config, never from the number of models: the fused numba kernel where it applies
    (hidden tanh, relu, sigmoid or linear; bce; gd; full batch), else the numpy reference.  Both give model ``k``
    the same bits alone as beside any other models, so a result does not depend on how a sweep chunks its
    ensembles.  On the numpy path the numbers are those of :func:`run` for the same model; the kernel's agree
    with them to about 1e-10.  Mini-batches follow one order per epoch seeded by the ``shuffle`` setting (shared
    by the ensemble; the models' seeds do not change it).

    >>> a, b = train_models([Config(steps=50, seed=s) for s in (0, 1)])
    >>> alone = train_models([Config(steps=50, seed=1)])[0]
    >>> a.status, a.metrics["curve_steps"], b.metrics["loss_curve"] == alone.metrics["loss_curve"]
    ('done', [0, 50], True)
    """
    cfgs = _check_models(configs)
    cfg = cfgs[0]
    d = _load(cfg.dataset)
    net = MLP.make(_layer_dims(cfg), cfg.activation, loss_name(cfg))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymmetryWarning)  # a symmetric start is a model like any other
        params = init_ensemble(net.layer_dims, seeds=[c.seed for c in cfgs], weights=[weights_spec(c.weights)
                               for c in cfgs], biases=[c.biases for c in cfgs], dtype=np.float64)  # fmt: skip
    history = train(net, params, d.X_train, d.Y_train, steps=cfg.steps, optimizer=cfg.optimizer,
                    lr=[c.lr for c in cfgs], record_every=0, backend=_backend(cfg), **_batching(cfg))  # fmt: skip
    with np.errstate(all="ignore"):  # a diverged model's numbers are data
        ZL = forward(net, params, d.X_train)[0]  # the caches go at once: the test pass needs the memory
        cost = np.asarray(net.loss.value(np, ZL, d.Y_train), dtype=np.float64)  # (M,) after the last update
        acc = accuracy_of(net, ZL, d.Y_train)
        test = _test_accuracy(net, params, d, cost.shape)
    div = _divergence(history.loss, history.diverged_at, cost, cfg.steps)
    curve_steps = [*range(0, cfg.steps, cfg.record_every), cfg.steps]
    out = []
    for k in range(len(cfgs)):
        diverged = bool(div.diverged[k])
        curve = np.append(history.loss[curve_steps[:-1], k], cost[k])
        metrics = {
            "final_loss": float(cost[k]),
            "min_loss": _finite_min(np.append(history.loss[:, k], cost[k])),
            "last_finite_loss": float(div.last_finite[k]),
            "train_accuracy": math.nan if diverged else float(acc[k]),
            "test_accuracy": math.nan if diverged else float(test[k]),
            "loss_curve": [float(v) for v in curve],
            "curve_steps": list(curve_steps),
        }
        out.append(ModelResult("diverged" if diverged else "done", metrics, int(div.at[k]) if diverged else None))
    return out
