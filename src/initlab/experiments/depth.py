"""Depth: why deep nets need Xavier (tanh) or He (relu) instead of ``0.01 * randn``.

Each layer multiplies the spread of the signal by about ``std(W) * sqrt(fan_in) * k``,
``k`` the activation's own factor (1 for tanh near 0 and linear, ``1/sqrt 2`` for
relu).  With ``0.01 * randn`` on 500-unit layers that is ``0.01 * sqrt(500) = 0.22``:
the signal shrinks about 4.5x per layer and is gone after ten.  With ``randn`` it
grows until tanh saturates.  Xavier (``1/sqrt(fan_avg)``) keeps the factor near 1 for
tanh; relu halves the variance at each layer, which He's ``sqrt(2/fan_in)`` makes up.

Three measurements, on real data (scikit-learn's breast cancer set, standardized):

1. at initialization, ``layers`` hidden layers of ``width`` units: per layer the
   activation std, the share of units x examples with ``|a| > 0.99`` (tanh) and the
   gradient norm ``||dW[l]||``, plus histograms of the activations;
2. a depth sweep to ``max_depth`` layers: the activation std at every depth (one
   forward pass per model, each layer drawn and discarded);
3. training a ``train_width``-wide net of the same depth for ``steps`` steps: does it
   learn (loss and accuracy), or does it stall or diverge?
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import data as _data
from .._validation import InitlabValueError, check_float, check_int
from ..engine import MLP, accuracy, backward, forward, get_activation, init_ensemble, train
from ..initializers import get
from ..results import Result
from ..seeding import as_rng

__all__ = ["SCHEMES", "Config", "run"]

#: label -> initializer spec
SCHEMES = {
    "0.01 * randn": "randn(scale=0.01)",
    "randn": "randn(scale=1)",
    "xavier": "xavier_normal",
    "he": "he_normal",
    "orthogonal": "orthogonal",
    "torch default": "torch_default",
}
BINS = np.linspace(-3.0, 3.0, 61)  # activation histograms; values beyond land in the end bins
GRAD_BINS = np.linspace(-16.0, 4.0, 41)  # histograms of log10 |dW| entries


@dataclass(frozen=True)
class Config:
    """The depth experiment's settings."""

    dataset: str = "breast_cancer"  # real data: 30 standardized features, binary labels
    layers: int = 10  # hidden layers at initialization
    width: int = 500  # units per hidden layer at initialization
    max_depth: int = 50  # the depth sweep goes to this many layers
    schemes: tuple[str, ...] = tuple(SCHEMES)
    activations: tuple[str, ...] = ("tanh", "relu", "linear")
    seeds: int = 2
    sweep_examples: int = 128  # examples pushed through the depth sweep (a std needs no more)
    train_width: int = 64  # the width of the nets trained for `steps` (the fixed budget), in float32
    steps: int = 200
    lr: float = 0.1

    def validated(self) -> Config:
        """Check every field; return self."""
        for s in self.schemes:
            if s not in SCHEMES:
                raise InitlabValueError(
                    f"The 'schemes' argument of depth must list names from {', '.join(SCHEMES)}. Got {s!r} instead."
                )
        for a in self.activations:
            if a not in ("tanh", "relu", "linear"):
                raise InitlabValueError(
                    f"The 'activations' argument of depth must list 'tanh', 'relu' or 'linear'. Got {a!r} instead."
                )
        check_int(self.layers, "layers", "depth", low=1)
        check_int(self.width, "width", "depth", low=1)
        check_int(self.max_depth, "max_depth", "depth", low=self.layers)
        check_int(self.seeds, "seeds", "depth", low=1)
        check_int(self.sweep_examples, "sweep_examples", "depth", low=2)
        check_int(self.train_width, "train_width", "depth", low=1)
        check_int(self.steps, "steps", "depth", low=1)
        check_float(self.lr, "lr", "depth", low=0.0, low_open=True)
        if self.dataset not in _data.DATASETS or self.dataset == "digits":
            raise InitlabValueError(f"The 'dataset' argument of depth must be a binary dataset. Got {self.dataset!r}.")
        return self


def _sweep(cfg: Config, X: np.ndarray, scheme: str, act: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Activation std and share |a| > 0.99 at depths 1..max_depth, drawing each layer and dropping it."""
    init, g, rng = get(SCHEMES[scheme]), get_activation(act), as_rng(seed)
    stds, sat = np.empty(cfg.max_depth), np.empty(cfg.max_depth)
    A = X
    with np.errstate(over="ignore", invalid="ignore"):
        for l in range(cfg.max_depth):
            A = g.forward(np, init((cfg.width, A.shape[0]), rng) @ A)  # biases start at 0
            stds[l], sat[l] = np.std(A), np.mean(np.abs(A) > 0.99)
    return stds, sat


def _at_init(cfg: Config, d: _data.Dataset, scheme: str, act: str) -> dict[str, np.ndarray]:
    net = MLP.make([d.n_x] + [cfg.width] * cfg.layers + [1], act, "bce")
    p = init_ensemble(net.layer_dims, seeds=list(range(cfg.seeds)), weights=SCHEMES[scheme], dtype=np.float32)
    X, Y = d.X_train.astype(np.float32), d.Y_train.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        _, caches = forward(net, p, X)
        grads = backward(net, p, caches, net.loss.grad(np, caches[-1][1], Y))
    acts = [caches[l][2] for l in range(cfg.layers)]  # A[1..layers], (M, width, m)
    return {
        "act_std": np.stack([a.std(axis=(-2, -1)) for a in acts], axis=-1),  # (M, layers)
        "saturated": np.stack([np.mean(np.abs(a) > 0.99, axis=(-2, -1)) for a in acts], axis=-1),
        "grad_norm": np.stack(
            [np.sqrt(np.sum(grads[f"dW{l}"] ** 2, axis=(-2, -1))) for l in range(1, cfg.layers + 1)], axis=-1
        ),
        "histogram": np.stack([np.histogram(np.clip(a[0], BINS[0], BINS[-1]), BINS)[0] for a in acts]),
        "grad_histogram": np.stack(
            [
                np.histogram(
                    np.clip(np.log10(np.abs(grads[f"dW{l}"][0]) + 1e-30), GRAD_BINS[0], GRAD_BINS[-1]), GRAD_BINS
                )[0]
                for l in range(1, cfg.layers + 1)
            ]
        ),
    }


def _train(cfg: Config, d: _data.Dataset, act: str) -> dict[str, Any]:
    net = MLP.make([d.n_x] + [cfg.train_width] * cfg.layers + [1], act, "bce")
    labels = [s for s in cfg.schemes for _ in range(cfg.seeds)]
    p = init_ensemble(net.layer_dims, seeds=[k for _ in cfg.schemes for k in range(cfg.seeds)],
                      weights=[SCHEMES[s] for s in labels], dtype=np.float32)  # fmt: skip
    X, Y = d.X_train.astype(np.float32), d.Y_train.astype(np.float32)
    try:  # the fused CPU kernel when it is installed; the reference engine otherwise
        h = train(net, p, X, Y, steps=cfg.steps, lr=cfg.lr, record_every=0, backend="numba")
    except InitlabValueError:
        h = train(net, p, X, Y, steps=cfg.steps, lr=cfg.lr, record_every=0)
    with np.errstate(over="ignore", invalid="ignore"):
        acc = np.asarray(accuracy(net, p, X, Y))
    return {"schemes": labels, "loss": h.loss, "accuracy": acc, "diverged_at": h.diverged_at}


def run(config: Config | None = None) -> Result:
    """Initialize, sweep depth and train every (scheme, activation); check the lecture's deep-net claims."""
    cfg = (config or Config()).validated()
    d = _data.load(cfg.dataset)
    assert d.X_test is not None
    rows: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    init_stats: dict[tuple[str, str], dict[str, np.ndarray]] = {}
    for act in cfg.activations:
        for scheme in cfg.schemes:
            st = _at_init(cfg, d, scheme, act)
            init_stats[(scheme, act)] = st
            arrays[f"{act}/{scheme}/histogram"] = st["histogram"]
            arrays[f"{act}/{scheme}/grad_histogram"] = st["grad_histogram"]
            sweeps = [_sweep(cfg, d.X_train[:, : cfg.sweep_examples], scheme, act, seed) for seed in range(cfg.seeds)]
            arrays[f"{act}/{scheme}/std_by_depth"] = np.stack([s[0] for s in sweeps])
            for k in range(cfg.seeds):
                base = {"model": k, "activation": act, "init": scheme, "seed": k, "step": 0}
                for l in range(cfg.layers):
                    for metric in ("act_std", "saturated", "grad_norm"):
                        rows.append({**base, "layer": l + 1, "metric": metric, "value": float(st[metric][k, l])})
                for l in range(cfg.max_depth):
                    rows.append({**base, "layer": l + 1, "metric": "act_std_by_depth", "value": float(sweeps[k][0][l])})
        tr = _train(cfg, d, act)
        arrays[f"{act}/train_loss"] = tr["loss"]
        for k, scheme in enumerate(tr["schemes"]):
            base = {"model": k, "activation": act, "init": scheme, "seed": k % cfg.seeds, "layer": 0}
            rows.append({**base, "step": cfg.steps, "metric": "final_loss", "value": float(tr["loss"][-1, k])})
            rows.append({**base, "step": cfg.steps, "metric": "train_accuracy", "value": float(tr["accuracy"][k])})
            rows.append({**base, "step": cfg.steps, "metric": "diverged_at", "value": float(tr["diverged_at"][k])})
    majority = float(max(d.Y_train.mean(), 1 - d.Y_train.mean()))

    def mean(metric: str, scheme: str, act: str, layer: int | None = None) -> float:
        values = [r["value"] for r in rows if r["metric"] == metric and r["init"] == scheme and r["activation"] == act
                  and (layer is None or r["layer"] == layer)]  # fmt: skip
        return float(np.mean(values)) if values else math.nan

    claims: dict[str, bool] = {}
    L = cfg.layers
    if {"tanh"} <= set(cfg.activations) and {"randn", "0.01 * randn"} <= set(cfg.schemes):
        deep_sat = np.mean([mean("saturated", "randn", "tanh", l) for l in range(2, L + 1)])
        claims[f"randn on {L} tanh layers of {cfg.width}: most units saturated (|a| > 0.99)"] = bool(deep_sat > 0.8)
        shrink = [mean("act_std", "0.01 * randn", "tanh", l) / mean("act_std", "0.01 * randn", "tanh", l + 1)
                  for l in range(2, L)]  # fmt: skip
        factor = 1 / (0.01 * math.sqrt(cfg.width))  # 1 / (std(W) sqrt(fan_in)): 4.5 for 500 units
        claims[f"0.01 * randn on {L} tanh layers: the signal shrinks about {factor:.1f}x per layer"] = bool(
            abs(np.median(shrink) / factor - 1) < 0.1
        )
    if "relu" in cfg.activations and {"he", "xavier"} <= set(cfg.schemes):
        he = arrays["relu/he/std_by_depth"].mean(axis=0)
        xav = arrays["relu/xavier/std_by_depth"].mean(axis=0)
        claims["he keeps a deep relu net's activation std within a factor 2 across depth"] = bool(
            he.max() / he.min() < 2
        )
        ratio = (xav[1:] / xav[:-1]) ** 2
        claims["xavier halves a relu net's activation variance at each layer"] = bool(abs(np.median(ratio) - 0.5) < 0.1)
    trained = {(r["init"], r["activation"]): r["value"] for r in rows if r["metric"] == "train_accuracy"}
    good = [("he", "relu"), ("xavier", "tanh")]
    if all(k in trained for k in [*good, ("0.01 * randn", "tanh")]):
        claims[f"in {cfg.steps} steps, he (relu) and xavier (tanh) learn; 0.01 * randn (tanh) does not"] = bool(
            min(mean("train_accuracy", s, a) for s, a in good) > majority + 0.1
            and mean("train_accuracy", "0.01 * randn", "tanh") < majority + 0.05)  # fmt: skip
    parts = []
    for act in cfg.activations:
        cells = []
        for scheme in cfg.schemes:
            std_l = mean("act_std", scheme, act, L)
            sat = mean("saturated", scheme, act, L)
            acc = mean("train_accuracy", scheme, act)
            cells.append(f"{scheme}: layer-{L} std {std_l:.2g}" + (f", {sat:.0%} saturated" if act == "tanh" else "")
                         + f", accuracy after training {acc:.2f}")  # fmt: skip
        parts.append(f"{act} ({'; '.join(cells)})")
    answer = f"{L} hidden layers of {cfg.width} units on {cfg.dataset} (majority class {majority:.2f}): "
    answer += ". ".join(parts) + "."
    if claims and all(claims.values()):
        answer += (
            " Xavier keeps tanh's signal alive and He keeps relu's: their std neither vanishes nor explodes with"
            " depth, and those nets learn in the budget."
        )
    return Result("depth", asdict(cfg), rows, arrays, claims, answer)
