"""Train: any dataset, net and start (or two starts side by side), the numbers the explorer shows.

Not one of the lecture's claims on its own, but the workbench for all of them: pick a
dataset, a depth and width, an activation and a start (one of the learner's four regimes,
or any initializer spec such as ``normal(std=0.5)``), optionally a second start trained in
lockstep on the same data and seeds, and train.  ``initlab run train --set weights=zero``
shows, as numbers, what ``initlab explore`` shows live: one distinct unit per hidden layer
and a cost stuck at ln 2.

The models are one ensemble: start A's ``seeds`` models (seeds ``seed, seed+1, ...``),
then start B's with the same seeds, so model ``k`` of a start is
``init_params(dims, weights=..., biases=..., rng=seed + k)`` bit for bit.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace

import numpy as np

from .. import data as _data
from .._validation import InitlabError, InitlabValueError, shown
from ..engine import (
    ACTIVATIONS,
    MLP,
    OPTIMIZERS,
    Optimizer,
    Params,
    SymmetryWarning,
    get_optimizer,
    init_ensemble,
    init_params,
)
from ._settings import MAX_STEPS, Settings, setting

__all__ = ["DATASETS", "QUESTION", "Built", "Config", "Start", "build", "make_optimizer", "python_call",
           "weights_spec"]  # fmt: skip

QUESTION = "How does this start train this net on this dataset: its cost, its accuracy, its clones and its layers?"
#: the datasets of initlab.data that the explorer offers (the 2-D ones, and the 8x8 digits with 10 classes)
DATASETS = ("circles", "flower", "moons", "xor", "spirals", "blobs", "digits")
#: the loss for binary labels (one output) and for one-hot classes
BINARY_LOSS, CLASSES_LOSS = "bce", "softmax_ce"
_SPEC_ERRORS = (InitlabError, ValueError, TypeError, RecursionError, MemoryError, OverflowError)


@dataclass(frozen=True)
class Config(Settings):
    """The train experiment's settings: one net, one or two starts, full-batch training."""

    EXPERIMENT = "train"

    dataset: str = setting("circles", "the dataset (digits: 64 pixels, 10 classes; the others 2-D, 2 classes)",
                           choices=DATASETS)  # fmt: skip
    depth: int = setting(2, "hidden layers", low=1, high=8)
    width: int = setting(8, "units per hidden layer", low=1, high=64)
    activation: str = setting("relu", "the hidden layers' activation", choices=tuple(ACTIVATIONS))
    weights: str = setting("he_normal", "start A: a regime (zero, too small, appropriate, too large) or an "
                           "initializer spec such as normal(std=0.5)")  # fmt: skip
    biases: str = setting("zeros", "start A's bias policy, e.g. zeros or normal(std=0.1)")
    compare: str = setting("", "start B, trained in lockstep on the same data and seeds ('' = none)")
    compare_biases: str = setting("", "start B's bias policy ('' = the same as biases)")
    optimizer: str = setting("gd", "the optimizer", choices=tuple(OPTIMIZERS))
    # 0.1: He on circles with the default net (2 x 8 relu) reaches cost 0.058 after 2000 steps (seed 0 passes 0.1
    # at step 1209; 15 of seeds 0-15 are below 0.1 at step 2000, the last at 2239).  0.3 is faster (seed 0 below
    # 0.1 at step 512) but sends 3 of 4 seeds of He on flower at depth 8, width 64 to NaN; 0.1 diverged nowhere
    # in that check (every dataset, depth 2 x 8 relu and tanh, depth 8 x 64 relu).
    lr: float = setting(0.1, "the learning rate", low=0.0, low_open=True, high=100.0)
    seed: int = setting(0, "model k of each start uses seed + k", low=0, high=2**31 - 1)
    seeds: int = setting(1, "models per start (the spread over seeds)", low=1, high=16)
    steps: int = setting(2000, "training steps (initlab run train; the explorer runs until paused)", low=1,
                         high=MAX_STEPS)  # fmt: skip
    record_every: int = setting(100, "layer statistics and distinct units every this many steps", low=1,
                                high=MAX_STEPS)  # fmt: skip

    def check_together(self) -> None:
        dims = _layer_dims(self)
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


def _check_spec(name: str, text: str, dims: list[int], *, bias: bool) -> None:
    """Draw one model with the spec on the real layer shapes: any error is the setting's, in one line."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SymmetryWarning)  # a symmetric start is allowed here: it is the lesson
            if bias:
                init_params(dims, weights="zeros", biases=text, rng=0)
            else:
                init_params(dims, weights=weights_spec(text), biases="zeros", rng=0)
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


def _loss(d: _data.Dataset) -> str:
    return BINARY_LOSS if d.n_y == 1 else CLASSES_LOSS


def build(cfg: Config) -> Built:
    """The net, the data and the initial parameters of every model of ``cfg`` (start A's seeds, then B's).

    >>> b = build(Config(compare="zero", seeds=2))
    >>> b.net.layer_dims, b.seeds, [(s.label, s.weights, list(s.models)) for s in b.starts]
    ((2, 8, 8, 1), (0, 1, 0, 1), [('A', 'he_normal', [0, 1]), ('B', 'zeros', [2, 3])])
    """
    d = _load(cfg.dataset)
    net = MLP.make([d.n_x] + [cfg.width] * cfg.depth + [d.n_y], cfg.activation, _loss(d))
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
    return "\n".join([
        "from initlab import data",
        "from initlab.engine import MLP, init_ensemble, loss_and_grads, train",
        "",
        f"d = data.load({cfg.dataset!r})",
        f"net = MLP.make({dims}, {cfg.activation!r}, {_loss(d)!r})",
        f"params = init_ensemble(net.layer_dims, seeds={seeds}, weights={weights}, biases={biases})",
        f"history = train(net, params, d.X_train, d.Y_train, steps={cfg.steps}, optimizer={cfg.optimizer!r}, "
        f"lr={cfg.lr!r}, backend='numpy')",
        "cost, _ = loss_and_grads(net, params, d.X_train, d.Y_train)  # one cost per model, after the last step",
    ])  # fmt: skip
