"""Mishkin & Matas (2016), "All you need is a good init": LSUV on a deep fully connected net.

Layer-sequential unit-variance initialization (:func:`initlab.engine.lsuv`, the paper's
Algorithm 1): orthonormal weights, then each layer's weight divided by the std of its
output on one batch until that std is 1 (within ``Tol_var = 0.1``, at most ``T_max = 10``
rescalings).  LSUV measures instead of deriving, so what scale does it land on?

With unit-variance, zero-mean pre-activations ``Z[l-1]``, the next layer's input has mean
square ``E[phi(z)^2]`` (``z ~ N(0, 1)``), so ``Var[Z[l]] = n Var[W[l]] E[phi(z)^2]`` and unit
output needs the gain ``g_l = std(W[l]) sqrt(fan_in) = 1 / sqrt(E[phi(z)^2])``:

- relu: ``E[relu(z)^2] = 1/2``, so ``g = sqrt(2)``: He et al.'s scale, found by measurement;
- tanh: ``E[tanh(z)^2] = 0.394``, so ``g = 1.59``, not Xavier/LeCun's 1 (which lets tanh's
  variance decay slowly with depth, as in the CS231n demo): LSUV holds the pre-activations
  at unit variance, where tanh is already curved;
- layer 1 sees the data: ``g_1 = 1 / sqrt(q0)``, ``q0`` the inputs' mean square (about 1
  for standardized data).

Findings: every layer reaches the target (the share of layers within tolerance is 1);
the median gain over layers ``2..L`` (the linear output layer included) within 5% of
``sqrt(2)`` (relu) and of ``1 / sqrt(E[tanh(z)^2])`` (tanh, from
:func:`initlab.theory.predict_layers`); layer 1's gain within 5% of ``1 / sqrt(q0)``; before
LSUV the orthonormal start (gain 1) lets relu's output std fall by ``1/sqrt(2)`` per layer
(``std(Z[L]) / std(Z[1])`` within a factor 1.5 of ``2^{-(L-1)/2}``).  Then, with
``train_steps > 0``, a short training run of LSUV against He's and the orthonormal start on
a narrower net of the same depth: LSUV's test accuracy within 3 points of He's or better
(the paper: LSUV trains as well as or better than the other starts).

Data: the paper used convolutional nets (FitNets and others on MNIST and CIFAR, CaffeNet
and GoogLeNet on ImageNet); here a fully connected relu net on scikit-learn's digits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from .. import data as _data
from ..engine import MLP, HeavyBall, accuracy, activation_std, forward, init_ensemble, lsuv, train
from ..experiments import MAX_STEPS, Settings, setting
from ..results import Result
from ..theory import predict_layers
from ._common import Finding, Paper, paper_result, spread

__all__ = ["PAPER", "Config", "run"]

PAPER = Paper(
    authors="Mishkin & Matas",
    year=2016,
    title="All you need is a good init",
    venue="ICLR",
    setup=(
        "LSUV (Algorithm 1): orthonormal weights, then layer by layer the weight divided by the std of its output "
        "on one mini-batch until the std is 1 (Tol_var 0.1, T_max 10); deep conv nets (FitNets on MNIST and "
        "CIFAR-10/100, CaffeNet and GoogLeNet on ImageNet) with relu, maxout, tanh and other activations."
    ),
    claim=(
        "A data-driven init (orthonormal, then each layer scaled to unit output variance on a batch) lets very deep "
        "thin nets train with plain SGD, as well as or better than hand-derived scales. What scale it lands on is "
        "derived here, not a number of the paper: He et al.'s sqrt(2) for relu."
    ),
    scaled=(
        "Fully connected nets on scikit-learn's digits instead of conv nets on CIFAR/ImageNet: the default has 20 "
        "hidden layers of 256 units, an LSUV batch of 512 examples and 5 seeds, and trains nets of 20 layers of 64 "
        "units for 150 mini-batch steps (3 seeds per start); `initlab reproduce mishkin2016 --full` uses 30 hidden "
        "layers of 512 units, the whole training set as the batch, 10 seeds, and 500 training steps at width 128 "
        "with learning rate 0.003 (0.01 made some of the 30-layer nets diverge; 5 seeds per start; still digits, "
        "still fully connected)."
    ),
)

TOL = 0.05  # relative tolerance of the gain findings
DECAY_FACTOR = 1.5  # the orthonormal start's collapse: within this factor of 2^{-(L-1)/2}
ACC_MARGIN = 0.03  # LSUV's test accuracy at least He's minus this
TRAINED = ("lsuv", "he", "orthogonal")


@dataclass(frozen=True)
class Config(Settings):
    """LSUV on a deep fully connected net (digits)."""

    EXPERIMENT = "mishkin2016"
    COMMAND = "reproduce"
    FULL: ClassVar[dict[str, Any]] = {"layers": 30, "width": 512, "batch": 1348, "seeds": 10, "train_width": 128,
                                      "train_seeds": 5, "train_steps": 500, "lr": 0.003}  # fmt: skip

    layers: int = setting(20, "hidden layers", low=2, high=500)
    width: int = setting(256, "units per hidden layer", low=2, high=20_000)
    batch: int = setting(512, "digits training examples in the LSUV batch (at most 1348)", low=2, high=1348)
    seeds: int = setting(5, "seeds per activation", low=1, high=1000)
    activations: tuple[str, ...] = setting(("relu", "tanh"), "hidden activations", choices=("relu", "tanh"))
    tol: float = setting(0.1, "LSUV's Tol_var: relative tolerance on the output std", low=0.0, high=1.0,
                         low_open=True)  # fmt: skip
    max_iter: int = setting(10, "LSUV's T_max: most rescalings per layer", low=1, high=1000)
    train_width: int = setting(64, "units per hidden layer of the trained nets", low=2, high=20_000)
    train_seeds: int = setting(3, "seeds per start (LSUV, He, orthonormal) in the training run", low=1, high=1000)
    train_steps: int = setting(150, "SGD steps of the trained relu nets (0: no training run)", low=0, high=MAX_STEPS)
    lr: float = setting(0.01, "learning rate of the training run (heavy-ball momentum 0.9)", low=0.0, low_open=True)
    batch_size: int = setting(128, "mini-batch size of the training run", low=1, high=1348)


def _gains(net: MLP, params: dict[str, Any]) -> np.ndarray:
    """``std(W[l]) * sqrt(fan_in)`` per model and layer, ``(M, L)``."""
    gains = [np.asarray(activation_std(np, params[f"W{l}"]), dtype=np.float64) * math.sqrt(net.layer_dims[l - 1])
             for l in range(1, net.n_layers + 1)]  # fmt: skip
    return np.stack(gains, axis=-1)


def _z_stds(net: MLP, params: dict[str, Any], X: np.ndarray) -> np.ndarray:
    """The std of ``Z[l]`` per model and layer, ``(M, L)``."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        _, caches = forward(net, params, X)
        return np.stack([np.asarray(activation_std(np, Z), dtype=np.float64) for _, Z, _ in caches], axis=-1)


def _predicted_gain(act: str) -> float:
    """``1 / sqrt(E[phi(z)^2])``, ``z ~ N(0, 1)``: the gain that keeps unit-variance pre-activations so."""
    return 1.0 / math.sqrt(float(predict_layers(act, 1.0, 0.0, 1, 1.0).act_sq[0]))


def _close(values: np.ndarray, target: float, tol: float = TOL) -> bool:
    return bool(abs(float(np.mean(values)) - target) <= tol * target)


def _lsuv_part(cfg: Config, act: str, X: np.ndarray, n_out: int) -> dict[str, np.ndarray]:
    net = MLP.make([X.shape[0]] + [cfg.width] * cfg.layers + [n_out], act, "softmax_ce")
    seeds = list(range(cfg.seeds))
    with threadpool_limits(1, user_api="blas"):  # small QRs and matmuls: one thread each is several times faster
        params = init_ensemble(net.layer_dims, seeds=seeds, weights="orthogonal", biases="zeros")
        before = _z_stds(net, params, X)
        report = lsuv(net, params, X, tol=cfg.tol, max_iter=cfg.max_iter, pre_init=False)
        after = _z_stds(net, params, X)
    return {"std_before": before, "std_after": after, "gain": _gains(net, params),
            "iterations": report.iterations.astype(np.float64),
            "reached": report.reached.astype(np.float64)}  # fmt: skip


def _train_part(cfg: Config) -> dict[str, np.ndarray]:
    """Train LSUV, He and orthonormal starts of a ``layers``-deep relu net of ``train_width`` units (one ensemble)."""
    d = _data.load("digits")
    X, Y = d.X_train, d.Y_train
    net = MLP.make([d.n_x] + [cfg.train_width] * cfg.layers + [Y.shape[0]], "relu", "softmax_ce")
    s = cfg.train_seeds
    specs = ["orthogonal"] * s + ["he_normal"] * s + ["orthogonal"] * s
    with threadpool_limits(1, user_api="blas"):
        params = init_ensemble(net.layer_dims, seeds=list(range(3 * s)), weights=specs, biases="zeros")
    part = {k: np.ascontiguousarray(v[:s]) for k, v in params.items()}
    lsuv(net, part, np.ascontiguousarray(X[:, : cfg.batch]), tol=cfg.tol, max_iter=cfg.max_iter, pre_init=False)
    for k, v in part.items():
        params[k][:s] = v
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        history = train(net, params, X, Y, steps=cfg.train_steps, optimizer=HeavyBall(cfg.lr, momentum=0.9),
                        record_every=0, batch_size=cfg.batch_size, shuffle_seed=0)  # fmt: skip
        test_acc = np.asarray(accuracy(net, params, d.X_test, d.Y_test), dtype=np.float64)
    return {"loss": np.asarray(history.loss, dtype=np.float64).T.reshape(3, s, -1), "test_acc": test_acc.reshape(3, s)}


def run(config: Config | None = None) -> Result:
    """LSUV's per-layer gains and output stds, and (with ``train_steps``) a short training run.

    >>> r = run(Config(layers=4, width=32, batch=64, seeds=2, activations=("relu",), train_steps=0))
    >>> r.arrays["relu/gain"].shape
    (2, 5)
    """
    cfg = config or Config()
    d = _data.load("digits")
    X = np.ascontiguousarray(d.X_train[:, : cfg.batch])
    q0 = float(np.mean(X**2))
    rows: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    findings: list[Finding] = []
    words: list[str] = []
    L = cfg.layers + 1
    model = 0
    for act in cfg.activations:
        part = _lsuv_part(cfg, act, X, d.Y_train.shape[0])
        arrays |= {f"{act}/{k}": v for k, v in part.items()}
        for k in range(cfg.seeds):
            for metric in ("std_before", "std_after", "gain", "iterations"):
                for l in range(L):
                    value = float(part[metric][k, l])
                    rows.append({"model": model, "activation": act, "init": "lsuv", "seed": k, "width": cfg.width,
                                 "step": 0, "layer": l + 1, "metric": metric, "value": value})  # fmt: skip
            model += 1
        gain, pred = part["gain"], _predicted_gain(act)
        arrays[f"{act}/predicted_gain"] = np.array([pred])  # 1 / sqrt(E[phi(z)^2]), drawn as the figure's line
        median = np.median(gain[:, 1:], axis=1)
        share = part["reached"].mean(axis=1)
        findings.append(Finding(f"{act}: share of layers whose output std is within Tol_var of 1 after LSUV "
                                "(holds at 1)", "1 (Algorithm 1)", spread(share),
                                bool(np.all(share == 1.0))))  # fmt: skip
        what = "sqrt(2), He's scale" if act == "relu" else "1/sqrt(E[tanh(z)^2]), z ~ N(0, 1)"
        findings.append(Finding(f"{act}: median gain std(W[l]) sqrt(fan_in) over layers 2..L after LSUV (within "
                                f"{TOL:.0%} of {what})", f"{pred:.4g} (derived, not the paper's number)",
                                spread(median),
                                _close(median, pred)))  # fmt: skip
        g1 = 1 / math.sqrt(q0)
        findings.append(Finding(f"{act}: layer-1 gain after LSUV (within {TOL:.0%} of 1 / sqrt(q0), the inputs' "
                                "mean square q0)", f"{g1:.4g} (derived)", spread(gain[:, 0]),
                                _close(gain[:, 0], g1)))  # fmt: skip
        words.append(f"{act}: median gain {np.mean(median):.3f} over layers 2..L (predicted {pred:.3f}), "
                     f"layer 1 {np.mean(gain[:, 0]):.3f}")  # fmt: skip
        if act == "relu":
            before = part["std_before"]
            ratio = before[:, -2] / before[:, 0]  # last hidden layer over the first
            expect = 2.0 ** (-(cfg.layers - 1) / 2)
            findings.append(Finding(
                f"relu, the orthonormal start before LSUV: std(Z[L-1]) / std(Z[1]) (within a factor {DECAY_FACTOR:g} "
                "of 2^(-(L-2)/2): relu halves the variance at every layer)",
                f"{expect:.3g} (derived)", spread(ratio),
                bool(DECAY_FACTOR ** -1 <= float(np.exp(np.mean(np.log(ratio)))) / expect <= DECAY_FACTOR),
            ))  # fmt: skip
    tables: dict[str, list[dict[str, Any]]] = {}
    if cfg.train_steps > 0:
        t = _train_part(cfg)
        arrays |= {"train/loss": t["loss"], "train/test_acc": t["test_acc"]}
        acc = {name: t["test_acc"][i] for i, name in enumerate(TRAINED)}
        tail = max(1, cfg.train_steps // 10)
        tables["Training run"] = [{"init": name, "final training loss": spread(t["loss"][i][:, -tail:].mean(axis=1)),
                                   "test accuracy": spread(acc[name])} for i, name in enumerate(TRAINED)]  # fmt: skip
        for name in TRAINED:
            for k in range(cfg.train_seeds):
                value = float(acc[name][k])
                rows.append({"model": model, "activation": "relu", "init": name, "seed": k, "width": cfg.train_width,
                             "step": cfg.train_steps, "layer": -1, "metric": "test_acc", "value": value})  # fmt: skip
                model += 1
        findings.append(Finding(
            f"relu, the short training run (train_steps SGD steps): LSUV's test accuracy, at least He's minus "
            f"{ACC_MARGIN:.0%}",
            "as good as or better than the other starts", f"LSUV {spread(acc['lsuv'])}; He {spread(acc['he'])}",
            bool(np.mean(acc["lsuv"]) >= np.mean(acc["he"]) - ACC_MARGIN),
        ))  # fmt: skip
        words.append(f"after {cfg.train_steps} steps LSUV reaches {np.mean(acc['lsuv']):.3f} test accuracy, He "
                     f"{np.mean(acc['he']):.3f}, the orthonormal start {np.mean(acc['orthogonal']):.3f}")  # fmt: skip
    answer = (
        f"Mishkin & Matas's LSUV scales each layer until its output has unit variance; for relu that lands on He's "
        f"sqrt(2) gain without deriving it. On {cfg.layers} hidden layers of {cfg.width} units (digits) we measure: "
        + "; ".join(words)
        + f". {sum(f.holds for f in findings)} of {len(findings)} findings hold."
    )
    return paper_result("mishkin2016", cfg, PAPER, findings, rows, arrays, answer, tables=tables)
