"""Saxe, McClelland & Ganguli (2014): deep linear nets learn in a depth-independent time from orthogonal init.

A deep linear net computes ``Y_hat = W_D ... W_2 W_1 X``.  The paper solves its gradient
dynamics exactly: learning is a set of decoupled modes, one per singular value ``s`` of the
input-output correlation, each mode's strength ``u`` growing along a sigmoid, in a time of order
``1 / (lr s)`` per layer-weight.  With a learning rate scaled as ``1 / N_l`` (``N_l`` the number of
weight layers: the paper's optimal rate shrinks that way) and initial conditions whose
product is norm-preserving in every direction, as random orthogonal matrices are, the time to
learn is independent of depth (after a finite jump from one to a few layers); with
"scaled random Gaussian" weights ``N(0, 1/N)`` the product preserves norms only on average:
its singular values spread out more with every layer (some shrink towards 0), and the
learning time grows with depth.

Here: deep linear autoencoders on scikit-learn's 8x8 digits (64 standardized features), ``depth``
weight layers of ``width`` units (``64 -> width -> ... -> width -> 64``, linear, biases 0 at
the start), mse loss to reconstruct the input.  An autoencoder, not a regression to the 10
one-hot labels, so that with ``width`` 64 every layer is square: an orthogonal init is then
exactly norm-preserving end to end and at the right scale for the target (the identity),
where with one-hot targets every net must first shrink its unit-gain map to the labels'
small variance (which alone makes deep nets slow) and the last layer is 64 -> 10.  Every
model of one depth (both inits x ``seeds``) is one ensemble, trained by mini-batch SGD
(batches of 64, shuffled) at ``lr / depth`` per step (``lr_scaling="depth"``, the paper's
``1/N_l``) or ``lr`` at every depth (``"fixed"``).

Learning time: the first step at which the mean of the last ``WINDOW`` (5) mini-batch losses
falls below ``criterion`` x ``E[x^2]`` (``E[x^2]`` is the loss of the all-zero map; 0.2 means 80%
of the inputs' variance reconstructed).  A model that never gets there within ``steps``
counts as ``steps`` (a lower bound, drawn as such).

Findings (seed by seed, ``T(D)`` the learning time at depth ``D``; "shallowest" is the
shallowest depth with a hidden layer, 2 by default: a one-layer net's dynamics are linear, its
modes growing exponentially rather than along the deep nets' sigmoids, and it learns faster at
the same rate: the learning time jumps from one layer to a few, then stays flat):

- orthogonal: ``T(deepest) / T(shallowest)`` lies within a factor ``RATIO_TOL`` (2) of 1;
- scaled Gaussian: ``T(deepest) / T(shallowest)`` exceeds ``GROW`` (2) times orthogonal's, for every
  pair of seeds (the smallest Gaussian ratio against the largest orthogonal one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .. import data as _data
from ..engine import MLP, init_ensemble, train
from ..experiments import MAX_STEPS, Settings, setting
from ..results import Result
from ._common import Finding, Paper, paper_result, spread

__all__ = ["GROW", "INITS", "PAPER", "RATIO_TOL", "WINDOW", "Config", "run"]

PAPER = Paper(
    authors="Saxe, McClelland & Ganguli",
    year=2014,
    title="Exact solutions to the nonlinear dynamics of learning in deep linear neural networks",
    venue="ICLR",
    setup=(
        "Deep linear networks trained on MNIST by gradient descent at a learning rate chosen per depth; the number "
        "of epochs to reach a training-error criterion against depth (up to about 100 layers), from random "
        "orthogonal and from scaled random Gaussian N(0, 1/N) weights."
    ),
    claim=(
        "With random orthogonal initial weights the learning time is nearly independent of depth; with scaled "
        "random Gaussian weights it grows with depth."
    ),
    scaled=(
        "Deep linear autoencoders of width 64 on scikit-learn's digits (MNIST is not shipped; 64 standardized "
        "features), depths 1 to 32 weight layers, 400 steps of mini-batch SGD at lr 1/depth (the paper's 1/N_l "
        "scaling, not a search per depth), 3 seeds per init; `initlab reproduce saxe2014 --full` runs depths 1 to "
        "64 for 1000 steps with 5 seeds (still width 64, digits)."
    ),
)

#: label -> weight spec: lecun_normal is N(0, 1/fan_in), the paper's scaled Gaussian N(0, 1/N)
INITS = {"orthogonal": "orthogonal", "gaussian": "lecun_normal"}
WINDOW = 5  # mini-batch losses averaged for the learning-time criterion
RATIO_TOL = 2.0  # orthogonal: T(deepest) / T(shallowest) within [1/RATIO_TOL, RATIO_TOL]
GROW = 2.0  # gaussian: T(deepest) / T(shallowest) > GROW x orthogonal's


@dataclass(frozen=True)
class Config(Settings):
    """Saxe et al. (2014)'s learning time against depth, as deep linear autoencoders on digits."""

    EXPERIMENT = "saxe2014"
    COMMAND = "reproduce"
    FULL: ClassVar[dict[str, Any]] = {"depths": (1, 2, 4, 8, 16, 32, 64), "steps": 1000, "seeds": 5}

    width: int = setting(64, "units in each linear hidden layer (64: every layer square)", low=1, high=4096)
    depths: tuple[int, ...] = setting((1, 2, 4, 8, 16, 32), "numbers of weight layers", low=1, high=512)
    steps: int = setting(400, "mini-batch SGD steps (the budget of the learning time)", low=1, high=MAX_STEPS)
    batch_size: int = setting(64, "examples per mini-batch (at most the 1347 training examples)", low=1, high=1347)
    lr: float = setting(1.0, "learning rate (divided by the depth with lr_scaling=depth)", low=0.0, high=100.0,
                        low_open=True)  # fmt: skip
    lr_scaling: str = setting("depth", "depth: lr / depth (the paper's 1/N_l); fixed: lr", choices=("depth", "fixed"))
    criterion: float = setting(0.2, "learning done when the loss < criterion x E[x^2]", low=0.0, high=0.999,
                               low_open=True)  # fmt: skip
    seeds: int = setting(3, "seeds per (init, depth)", low=1, high=1000)


def _train_depth(cfg: Config, depth: int, X: np.ndarray, level: float) -> dict[str, np.ndarray]:
    """Both inits x seeds at one depth as one ensemble: learning time, final loss and the smoothed curve."""
    net = MLP.make([X.shape[0]] + [cfg.width] * (depth - 1) + [X.shape[0]], "linear", "mse")
    specs = [spec for spec in INITS.values() for _ in range(cfg.seeds)]
    seeds = list(range(cfg.seeds)) * len(INITS)
    params = init_ensemble(net.layer_dims, seeds=seeds, weights=specs, biases="zeros", dtype=np.float32)
    lr = cfg.lr / depth if cfg.lr_scaling == "depth" else cfg.lr
    h = train(net, params, X, X, steps=cfg.steps, optimizer="gd", lr=lr, record_every=0,
              batch_size=min(cfg.batch_size, X.shape[1]), shuffle_seed=0)  # fmt: skip
    losses = np.asarray(h.loss, dtype=np.float64).T  # (M, steps)
    ends = np.arange(1, cfg.steps + 1)
    with np.errstate(invalid="ignore", over="ignore"):  # a diverged model's inf/nan stays so, and never counts
        cums = np.concatenate([np.zeros((losses.shape[0], 1)), np.cumsum(losses, axis=1)], axis=1)
        window = np.minimum(ends, WINDOW)
        curve = (cums[:, ends] - cums[:, ends - window]) / window
        below = curve < level
    reached = below.any(axis=1)
    every = max(1, cfg.steps // 200)
    keep = np.unique(np.r_[np.arange(every - 1, cfg.steps, every), cfg.steps - 1])
    return {
        "time": np.where(reached, ends[np.argmax(below, axis=1)], cfg.steps).astype(np.float64),
        "reached": reached.astype(np.float64),
        "final": curve[:, -1],
        "curve": curve[:, keep],
        "curve_steps": ends[keep].astype(np.float64),
    }


def run(config: Config | None = None) -> Result:
    """Learning time against depth for both inits, compared with the paper.

    >>> r = run(Config(depths=(1, 2), steps=30, seeds=1))
    >>> r.arrays["depths"].tolist()
    [1.0, 2.0]
    """
    cfg = config or Config()
    X = np.ascontiguousarray(_data.load("digits").X_train, dtype=np.float32)
    zero_loss = float(np.mean(X.astype(np.float64) ** 2))
    level = cfg.criterion * zero_loss
    depths = sorted(cfg.depths)
    n = cfg.seeds
    arrays: dict[str, np.ndarray] = {
        "depths": np.asarray(depths, dtype=np.float64),
        "level": np.asarray([level]),
        "budget": np.asarray([float(cfg.steps)]),
    }
    times = {init: np.zeros((n, len(depths))) for init in INITS}
    reached = {init: np.zeros((n, len(depths))) for init in INITS}
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    model = 0
    for j, depth in enumerate(depths):
        out = _train_depth(cfg, depth, X, level)
        arrays[f"depth{depth}/curve_steps"] = out["curve_steps"]
        for i, init in enumerate(INITS):
            part = {k: v[i * n : (i + 1) * n] for k, v in out.items() if k != "curve_steps"}
            times[init][:, j] = part["time"]
            reached[init][:, j] = part["reached"]
            arrays[f"depth{depth}/{init}/curve"] = part["curve"]
            for s in range(n):
                base = {"model": model, "init": init, "depth": depth, "seed": s, "width": cfg.width, "layer": 0}
                rows.append({**base, "step": int(part["time"][s]), "metric": "learning_time",
                             "value": float(part["time"][s])})  # fmt: skip
                rows.append({**base, "step": cfg.steps, "metric": "reached", "value": float(part["reached"][s])})
                rows.append({**base, "step": cfg.steps, "metric": "final_loss", "value": float(part["final"][s])})
                model += 1
            summary.append({"depth": depth, "init": init, "learning time (steps)": spread(part["time"]),
                            "reached": f"{int(part['reached'].sum())} of {n}",
                            "final loss": spread(part["final"])})  # fmt: skip
    for init in INITS:
        arrays[f"{init}/learning_time"] = times[init]
        arrays[f"{init}/reached"] = reached[init]
    deep = depths[-1]
    shallow = next((d for d in depths if d >= 2), depths[0])  # the shallowest net with a hidden layer
    k = depths.index(shallow)
    ratio = {init: times[init][:, -1] / times[init][:, k] for init in INITS}
    o, g = ratio["orthogonal"], ratio["gaussian"]
    censored = int(np.sum(reached["gaussian"][:, -1] == 0))
    findings = [
        Finding(
            f"orthogonal init: learning time at the deepest depth / at the shallowest with a hidden layer (paper: "
            f"nearly independent of depth; holds within a factor {RATIO_TOL:g} of 1 for every seed)",
            "about 1",
            spread(o),
            bool(np.all((o <= RATIO_TOL) & (o >= 1.0 / RATIO_TOL))),
        ),
        Finding(
            f"scaled Gaussian init: learning time at the deepest depth / at the shallowest with a hidden layer "
            f"(paper: grows with depth; holds when every seed's exceeds {GROW:g} x the largest orthogonal one; a "
            f"model that never reaches the criterion counts as the budget, a lower bound)",
            "grows",
            spread(g) + (f", {censored} of {n} at the budget (lower bound)" if censored else ""),
            bool(np.min(g) > GROW * np.max(o)),
        ),
    ]
    t_o, t_g = times["orthogonal"].mean(axis=0), times["gaussian"].mean(axis=0)
    answer = (
        f"Saxe et al. found that deep linear nets learn in a time nearly independent of depth from random "
        f"orthogonal weights, and in a time growing with depth from scaled Gaussian ones. With linear autoencoders "
        f"of width {cfg.width} on digits, lr {cfg.lr:g}{' / depth' if cfg.lr_scaling == 'depth' else ''} and {n} "
        f"seeds, the time to reach {cfg.criterion:g} x E[x^2] goes from {t_o[k]:.0f} steps at depth {shallow} to "
        f"{t_o[-1]:.0f} at depth {deep} from orthogonal weights (ratio {np.mean(o):.2f}), and from {t_g[k]:.0f} to "
        f"{t_g[-1]:.0f}{' or more' if censored else ''} from Gaussian ones (ratio {np.mean(g):.2f}). "
        f"{sum(f.holds for f in findings)} of {len(findings)} findings hold."
    )
    return paper_result("saxe2014", cfg, PAPER, findings, rows, arrays, answer,
                        tables={"Learning time per depth": summary})  # fmt: skip
