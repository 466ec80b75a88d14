"""Glorot & Bengio (2010): the per-layer variance of activations and gradients at initialization, tanh.

The paper's linear-regime analysis (tanh'(0) = 1, zero biases, inputs and weights
independent) gives, for layer ``i`` of a net whose layers have ``n`` units::

    Var[z^i]            = Var[x] * prod_{i' < i} n_{i'} Var[W^{i'}]          (forward)
    Var[dCost/ds^i]     = Var[dCost/ds^d] * prod_{i' >= i} n_{i'+1} Var[W^{i'}]  (backward)
    Var[dCost/dw^i]     = prod_{i' < i} n Var[W] * prod_{i' >= i} n Var[W] * Var[x] Var[dCost/ds^d]

so each layer multiplies the forward variance, and each layer down multiplies the
back-propagated variance, by ``n Var[W]``: with the "standard" ``U[-1/sqrt(n), 1/sqrt(n)]``
that is ``n * (1/(3n)) = 1/3``; with the "normalized" ``U[-sqrt(6/(n_in+n_out)), +...]``
(``Var = 2/(n_in + n_out)``) it is 1 for equal widths.  The weight gradients' variance is
the same at every layer (for equal widths, either init).

What is measured here, on one batch at initialization, per model (seed): ``Var[A[l]]``
(the tanh outputs of hidden layer ``l``), ``Var[dZ[l]]`` (the back-propagated
``dLoss/dZ[l]``, the paper's ``dCost/ds``) and ``Var[dW[l]]``, each the population
variance over every entry.  The findings compare the median over layers of the per-layer
ratios ``Var[A[l+1]] / Var[A[l]]`` and ``Var[dZ[l]] / Var[dZ[l+1]]`` with 1/3 (standard;
holds within 25%) and 1 (normalized; holds within 25%: tanh's curvature makes the
measured ratio a little below 1, as the mean-field prediction in the second table shows),
and the spread of ``Var[dW[l]]`` over hidden layers ``2..L`` (largest / smallest) with 1
(holds below 2).  Layer 1 is left out of that one: its fan-in is the 64 inputs, not the
width, so the paper's equal-widths premise does not hold there (with the normalized init
the first layer scales the input's variance by ``2 * 64 / (64 + n)``, and its weight
gradient is several times the others').

Data: the paper used Shapeset-3x2 (32x32 images of shapes, 9 classes); it is not
shipped here, so the inputs are scikit-learn's 8x8 digits (64 standardized features, 10
classes, softmax cross-entropy), which is what the first layer's fan-in is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import data as _data
from ..engine import MLP, StepInfo, activation_std, init_ensemble, train
from ..experiments import Settings, setting
from ..results import Result
from ..theory import predict_layers
from ._common import Finding, Paper, paper_result, spread

__all__ = ["INITS", "PAPER", "Config", "run"]

PAPER = Paper(
    authors="Glorot & Bengio",
    year=2010,
    title="Understanding the difficulty of training deep feedforward neural networks",
    venue="AISTATS",
    setup=(
        "Five tanh hidden layers of 1000 units on Shapeset-3x2; the 'standard' init W ~ U[-1/sqrt(n_in), "
        "1/sqrt(n_in)] against the 'normalized' W ~ U[-sqrt(6/(n_in+n_out)), sqrt(6/(n_in+n_out))]; histograms of "
        "the activations and back-propagated gradients per layer at initialization (Figs. 6-7)."
    ),
    claim=(
        "With the standard init each layer scales the activations' variance, and each layer down scales the "
        "back-propagated gradients' variance, by n Var[W] = 1/3; the normalized init keeps both about constant, "
        "and the weight gradients' variance is about the same at every layer."
    ),
    scaled=(
        "The default uses 500-unit layers, 1000 examples of scikit-learn's digits (Shapeset-3x2 is not shipped; "
        "64 standardized features, 10 classes) and 3 seeds per init, in float32; `initlab reproduce glorot2010 "
        "--full` uses the paper's 1000-unit layers, every training example of digits and 10 seeds (still digits, "
        "not Shapeset)."
    ),
)

#: label -> weight spec: torch_default is exactly the paper's standard U[-1/sqrt(n_in), 1/sqrt(n_in)]
INITS = {"standard": "torch_default", "normalized": "xavier_uniform"}
#: the paper's per-layer factor n Var[W] of each init (equal widths)
FACTOR = {"standard": 1.0 / 3.0, "normalized": 1.0}
TOL = 0.25  # relative tolerance of the ratio findings
SPREAD_MAX = 2.0  # largest / smallest Var[dW[l]] over the hidden layers for "about the same"
ACT_BINS = np.linspace(-1.0, 1.0, 41)
GRAD_BINS = np.linspace(-4.0, 4.0, 41)  # dZ[l] in units of the top hidden layer's std


@dataclass(frozen=True)
class Config(Settings):
    """Glorot & Bengio (2010)'s Figs. 6-7 setting, on digits."""

    EXPERIMENT = "glorot2010"
    COMMAND = "reproduce"
    FULL: ClassVar[dict[str, Any]] = {"width": 1000, "examples": 1348, "seeds": 10}

    width: int = setting(500, "units in each tanh hidden layer (paper: 1000)", low=2, high=20_000)
    layers: int = setting(5, "tanh hidden layers (paper: 5)", low=2, high=100)
    examples: int = setting(1000, "digits training examples in the batch (at most 1348)", low=2, high=1348)
    seeds: int = setting(3, "seeds per init", low=1, high=1000)


def _sigma_w2(init: str, n_x: int, width: int, layers: int) -> list[float]:
    """``n_{l-1} Var[W[l]]`` of the hidden layers 1..layers for ``init``."""
    if init == "standard":
        return [1.0 / 3.0] * layers
    return [2.0 * n_x / (n_x + width)] + [1.0] * (layers - 1)


def _measure(cfg: Config, init: str, X: np.ndarray, Y: np.ndarray, seeds: list[int]) -> dict[str, np.ndarray]:
    """Per model: Var[A[l]] and Var[dZ[l]] of the hidden layers, Var[dW[l]] of every layer, and histograms."""
    dims = [X.shape[0]] + [cfg.width] * cfg.layers + [Y.shape[0]]
    net = MLP.make(dims, "tanh", "softmax_ce")
    params = init_ensemble(net.layer_dims, seeds=seeds, weights=INITS[init], biases="zeros", dtype=np.float32)
    out: dict[str, np.ndarray] = {}

    def grab(info: StepInfo) -> None:  # before the first update: the numbers at initialization
        L = cfg.layers
        acts = [np.asarray(info.caches[l][2], dtype=np.float64) for l in range(L)]
        dzs = [np.asarray(info.dZ[l], dtype=np.float64) for l in range(L)]
        out["act_var"] = np.stack([activation_std(np, a) ** 2 for a in acts], axis=-1)  # (M, L)
        out["bp_var"] = np.stack([activation_std(np, d) ** 2 for d in dzs], axis=-1)
        dws = [np.asarray(info.grads[f"dW{l}"], dtype=np.float64) for l in range(1, L + 2)]
        out["wg_var"] = np.stack([activation_std(np, d) ** 2 for d in dws], axis=-1)  # (M, L + 1)
        top = np.sqrt(out["bp_var"][:, -1])[:, None, None]
        out["act_hist"] = np.stack([np.histogram(np.clip(a, -1, 1), ACT_BINS)[0] / a.size for a in acts])
        with np.errstate(divide="ignore", invalid="ignore"):
            scaled = [np.clip(d / top, GRAD_BINS[0], GRAD_BINS[-1]) for d in dzs]
        out["bp_hist"] = np.stack([np.histogram(s, GRAD_BINS)[0] / s.size for s in scaled])  # (L, bins)

    train(net, params, X, Y, steps=1, optimizer="gd", lr=0.01, record_every=1, callback=grab, backend="numpy")
    return out


def _median_ratios(v: np.ndarray, down: bool) -> np.ndarray:
    """Per model, the median over layers of ``v[l+1] / v[l]`` (``v[l] / v[l+1]`` with ``down``)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = v[:, :-1] / v[:, 1:] if down else v[:, 1:] / v[:, :-1]
    return np.asarray(np.median(r, axis=1))


def run(config: Config | None = None) -> Result:
    """Measure the per-layer variances at initialization for both inits and compare with the paper.

    >>> r = run(Config(width=40, examples=60, seeds=2))
    >>> sorted(r.arrays)[:2]
    ['act_bins', 'grad_bins']
    """
    cfg = config or Config()
    d = _data.load("digits")
    X = np.ascontiguousarray(d.X_train[:, : cfg.examples], dtype=np.float32)
    Y = np.ascontiguousarray(d.Y_train[:, : cfg.examples], dtype=np.float32)
    q0 = float(np.mean(X.astype(np.float64) ** 2))
    seeds = list(range(cfg.seeds))
    chunk = max(1, int(2e8 // (4 * 6 * cfg.layers * cfg.width * cfg.examples)))  # ~200 MB of caches at a time
    rows: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {"act_bins": ACT_BINS, "grad_bins": GRAD_BINS}
    ratios: dict[str, dict[str, np.ndarray]] = {}
    theory_rows: list[dict[str, Any]] = []
    model = 0
    for init in INITS:
        parts = [_measure(cfg, init, X, Y, seeds[i : i + chunk]) for i in range(0, len(seeds), chunk)]
        sizes = [len(p["act_var"]) for p in parts]
        m = {k: np.concatenate([p[k] for p in parts]) for k in ("act_var", "bp_var", "wg_var")}
        for k in ("act_hist", "bp_hist"):  # shares over all models: the chunks weighted by their sizes
            m[k] = np.sum([p[k] * size for p, size in zip(parts, sizes, strict=True)], axis=0) / len(seeds)
        for k, v in m.items():
            arrays[f"{init}/{k}"] = v
        pred = predict_layers("tanh", _sigma_w2(init, X.shape[0], cfg.width, cfg.layers), 0.0, cfg.layers, q0)
        arrays[f"{init}/act_var_theory"] = pred.act_std**2
        ratios[init] = {
            "forward": _median_ratios(m["act_var"], down=False),
            "backward": _median_ratios(m["bp_var"], down=True),
            "weights": m["wg_var"][:, 1 : cfg.layers].max(axis=1) / m["wg_var"][:, 1 : cfg.layers].min(axis=1),
        }
        t = pred.act_std**2
        theory_rows.append({"init": init, "paper's n Var[W]": round(FACTOR[init], 4),
                            "mean-field median Var[A] ratio": round(float(np.median(t[1:] / t[:-1])), 4)})  # fmt: skip
        for i, seed in enumerate(seeds):
            for metric in ("act_var", "bp_var", "wg_var"):
                for l, value in enumerate(m[metric][i], start=1):
                    rows.append({"model": model, "init": init, "seed": seed, "width": cfg.width, "step": 0,
                                 "layer": l, "metric": metric, "value": float(value)})  # fmt: skip
            model += 1
    findings = []
    for init in INITS:
        f = FACTOR[init]
        for kind, what in (("forward", "Var[A[l+1]] / Var[A[l]]"), ("backward", "Var[dZ[l]] / Var[dZ[l+1]]")):
            r = ratios[init][kind]
            findings.append(Finding(
                f"{init} init: median over layers of {what} at initialization (paper's n Var[W] = {f:.3g}; "
                f"holds within {TOL:.0%})",
                f"{f:.3g}", spread(r), bool(np.all(np.abs(r - f) <= TOL * f)),
            ))  # fmt: skip
        w = ratios[init]["weights"]
        findings.append(Finding(
            f"{init} init: largest / smallest Var[dW[l]] over hidden layers 2..L (paper: about the same at every "
            f"layer of equal widths; holds below {SPREAD_MAX:g})",
            "about 1", spread(w), bool(np.all(w < SPREAD_MAX)),
        ))  # fmt: skip
    s, n = ratios["standard"], ratios["normalized"]
    answer = (
        f"Glorot & Bengio found that the standard init shrinks the activations' variance by about 1/3 per layer "
        f"going up and the back-propagated gradients' by about 1/3 per layer going down, while the normalized init "
        f"keeps both about constant. With {cfg.layers} tanh layers of {cfg.width} units on digits we measure median "
        f"per-layer ratios of {np.mean(s['forward']):.3f} (forward) and {np.mean(s['backward']):.3f} (backward) for "
        f"standard, and {np.mean(n['forward']):.3f} and {np.mean(n['backward']):.3f} for normalized. "
        f"{sum(x.holds for x in findings)} of {len(findings)} findings hold within the stated tolerances."
    )
    return paper_result("glorot2010", cfg, PAPER, findings, rows, arrays, answer,
                        tables={"Mean-field prediction": theory_rows})  # fmt: skip
