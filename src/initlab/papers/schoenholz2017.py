"""Schoenholz, Gilmer, Ganguli & Sohl-Dickstein (2017): the depth scale ``xi_c`` bounds the trainable depth.

Mean-field theory of a deep tanh net with ``W[l]_ij ~ N(0, sigma_w2 / n_{l-1})`` and
``b[l]_i ~ N(0, sigma_b2)`` (Poole et al. 2016; :mod:`initlab.theory`): the correlation ``c^l``
of two inputs' pre-activations approaches its fixed point ``c*`` like ``exp(-l / xi_c)``, with::

    xi_c = -1 / ln(chi_c),   chi_c = sigma_w2 E[phi'(u1) phi'(u2)]   at (q*, c*)

(:func:`initlab.theory.depth_scales`).  ``xi_c`` diverges at the order-to-chaos line
(``chi_1 = 1``: ``sigma_w2 = 1.761`` for ``sigma_b2 = 0.05``,
:func:`~initlab.theory.critical_sigma_w2`).  The paper's claim: a net of ``L`` layers is
trainable when ``L < 6 xi_c`` and not beyond, so that the trainable region of the
(``sigma_w2``, ``L``) plane lies under the curve ``6 xi_c`` and reaches deepest at criticality.

What is run here: every (``sigma_w2``, depth, seed) net on scikit-learn's digits (64
standardized features, 10 classes, softmax cross-entropy), tanh hidden layers of ``width``
units, the paper's init (``variance_scaling(scale=sigma_w2, distribution='normal')``: exactly
``N(0, sigma_w2 / fan_in)``, every layer including the read-out; biases
``normal(std=sqrt(sigma_b2))``), trained for a fixed budget of mini-batch SGD steps with
momentum (``v = 0.9 v + 0.1 g``, ``theta -= lr v``), all nets of one depth as one ensemble.  Then the accuracy on the
whole training set (and on the test set) of each net.

The rule (threshold and tolerances), fixed before any run was looked at:

- a cell (``sigma_w2``, ``L``) is *trainable* when its mean train accuracy over the seeds is
  at least midway between chance (1/10) and the best cell's mean accuracy on the grid;
  ``predicted trainable`` means ``L < 6 xi_c`` (the setting ``factor``, 6 by default);
- finding 1: the share of grid cells where the two agree (holds at >= 80%);
- finding 2: per ``sigma_w2``, the *measured boundary* is the deepest grid depth up to which
  every depth is trainable (0 when the shallowest is not), the *predicted boundary* the
  deepest grid depth below ``6 xi_c``; they agree when they are the same grid depth or
  neighbours (the grid's resolution); holds when they agree for at least 75% of the
  ``sigma_w2`` values;
- finding 3: the ``sigma_w2`` with the best mean accuracy at the deepest grid depth is the
  grid value nearest the critical one or one of its two neighbours (holds when it is).

The per-seed spreads apply the same threshold to each seed's accuracies.

What the paper measured is the trainable depth after long training (from memory, the
accuracy heat maps after a growing number of SGD steps on MNIST and CIFAR10, the trainable
region filling the area under ``6 xi_c`` as training goes on); a short fixed budget
shrinks the region: a deep net near criticality trains slowly, and at width 64 the
finite-width fluctuations (of order ``L / width``) grow with depth.  So the default grid
keeps to depths the budget can train at criticality (at most 48) and reaches the
boundary through ``sigma_w2`` below 1.3 (ordered: ``6 xi_c`` from 9 to 36) and at 4
(chaotic: 42).  The grid, the optimizer and its learning rate were chosen after trial
runs, which the rule above did not change: with a step ten times larger (heavy-ball
momentum at 0.01) the shallow nets train faster but every 48-layer net stays near chance
and at 32 layers the ordered ``sigma_w2 = 1.2`` trains best, not the critical one: the
budget, not ``xi_c``, then sets the depth.  Depth 96 at width 64 did not train in 300
steps (best train accuracy 0.23) at any ``sigma_w2`` from 1 to 4 with the three optimizer
settings tried (momentum at 0.01, heavy-ball momentum at 0.01 and at 0.003).

The full size (``--full``: width 300, depths 10 to 300, ten ``sigma_w2`` from 1 to 4, 3000
steps, 3 seeds) is about 55 million model-layer-steps; at the measured 1.25 ms of CPU for
each at width 300 (batch 32, one BLAS thread) that is about 19 hours on one core, so it has
not been run whole here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from threadpoolctl import threadpool_limits

from .. import data as _data
from ..engine import MLP, init_ensemble, train
from ..experiments import MAX_STEPS, Settings, setting
from ..results import Result
from ..theory import QuadratureWarning, critical_sigma_w2, depth_scales
from ._common import Finding, Paper, paper_result, spread

__all__ = ["AGREE_MIN", "BOUNDARY_MIN", "PAPER", "Config", "run", "xi_c"]

PAPER = Paper(
    authors="Schoenholz, Gilmer, Ganguli & Sohl-Dickstein",
    year=2017,
    title="Deep Information Propagation",
    venue="ICLR",
    setup=(
        "Fully connected tanh nets with W ~ N(0, sigma_w2 / N), b ~ N(0, sigma_b2), sigma_b2 = 0.05, swept over "
        "sigma_w2 (about 1 to 4) and depth (up to 300 layers), trained with SGD on MNIST (and CIFAR10); the "
        "accuracy as a heat map over (sigma_w2, depth) with the curve 6 xi_c drawn over it."
    ),
    claim=(
        "Nets train when their depth is below about 6 xi_c, the depth scale over which two inputs' correlation "
        "converges, and fail beyond; xi_c diverges at the order-to-chaos point, so the deepest trainable nets "
        "are near criticality."
    ),
    scaled=(
        "The default uses scikit-learn's digits (MNIST is not shipped; 64 standardized features, 10 classes), "
        "64-unit tanh layers, depths 6 to 48, 8 values of sigma_w2 from 0.6 to 4, 400 mini-batch SGD steps "
        "(batch 32, momentum) and 2 seeds; `initlab reproduce schoenholz2017 --full` uses 300-unit "
        "layers, depths 10 to 300, ten sigma_w2 from 1 to 4, 3000 steps and 3 seeds (still digits, and fewer steps "
        "than the paper's long training: see the module's docstring for why the budget shrinks the trainable "
        "region); it takes an estimated 19 hours of one CPU core."
    ),
)

AGREE_MIN = 0.8  # finding 1: share of cells where trainable agrees with L < 6 xi_c
BOUNDARY_MIN = 0.75  # finding 2: share of sigma_w2 values whose boundaries agree within one grid step
CHANCE = 0.1  # ten classes
NODES = 300  # Gauss-Hermite nodes of the theory where 100 do not resolve tanh (large sigma_w2)
CURVE = 21  # points of the figure's xi_c curve over sigma_w2 (and six more around the critical value)


@dataclass(frozen=True)
class Config(Settings):
    """Schoenholz et al. (2017)'s trainability heat map (Fig. 6 of the paper, from memory), on digits."""

    EXPERIMENT = "schoenholz2017"
    COMMAND = "reproduce"
    FULL: ClassVar[dict[str, Any]] = {
        "width": 300,
        "depths": (10, 20, 40, 80, 160, 300),
        "sigma_w2s": (1.0, 1.2, 1.4, 1.6, 1.76, 2.0, 2.5, 3.0, 3.5, 4.0),
        "steps": 3000,
        "seeds": 3,
    }

    width: int = setting(64, "units in each tanh hidden layer (paper: several hundred)", low=2, high=5000)
    depths: tuple[int, ...] = setting((6, 12, 24, 48), "numbers of hidden layers L", low=1, high=1000)
    sigma_w2s: tuple[float, ...] = setting(
        (0.6, 0.8, 1.0, 1.2, 1.5, 1.76, 2.5, 4.0), "weight variances sigma_w2 (W ~ N(0, sigma_w2 / fan_in))",
        low=0.05, high=8.0,
    )  # fmt: skip
    sigma_b2: float = setting(0.05, "bias variance sigma_b2 (paper: 0.05)", low=0.0, high=2.0)
    steps: int = setting(400, "mini-batch SGD steps of every net", low=1, high=MAX_STEPS)
    batch_size: int = setting(32, "examples per mini-batch", low=1, high=1348)
    lr: float = setting(0.01, "learning rate", low=0.0, low_open=True, high=10.0)
    optimizer: str = setting("momentum", "the SGD update", choices=("momentum", "gd", "heavy_ball", "nesterov"))
    factor: float = setting(6.0, "the multiple of xi_c the trainable depth is compared with (paper: 6)",
                            low=0.0, low_open=True, high=100.0)  # fmt: skip
    seeds: int = setting(2, "seeds per (sigma_w2, depth)", low=1, high=1000)


def xi_c(sigma_w2: float, sigma_b2: float) -> float:
    """The correlation depth scale ``xi_c`` of tanh (``inf`` at the order-to-chaos line), by 100-node
    Gauss-Hermite quadrature, or 300 where the variance ``q*`` is too large for 100.

    >>> round(xi_c(1.0, 0.05), 2)
    3.63
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuadratureWarning)
        try:
            return float(depth_scales("tanh", sigma_w2, sigma_b2)[1])
        except QuadratureWarning:
            pass
    return float(depth_scales("tanh", sigma_w2, sigma_b2, nodes=NODES)[1])


def _accuracies(params: dict[str, np.ndarray], depth: int, X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per model, the share of the columns of ``X`` whose argmax logit is the label (non-finite: wrong)."""
    A = X[None]
    with np.errstate(over="ignore", invalid="ignore"), threadpool_limits(1, user_api="blas"):
        for l in range(1, depth + 1):
            A = np.tanh(params[f"W{l}"] @ A + params[f"b{l}"])
        Z = params[f"W{depth + 1}"] @ A + params[f"b{depth + 1}"]  # (M, 10, m)
    ok = np.all(np.isfinite(Z), axis=1)
    right = (np.argmax(np.where(np.isfinite(Z), Z, -np.inf), axis=1) == labels[None]) & ok
    return np.asarray(right.mean(axis=1), dtype=np.float64)


def _train_depth(cfg: Config, depth: int, data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train every (sigma_w2, seed) net of ``depth`` hidden layers; train and test accuracy and the final
    loss, each ``(len(sigma_w2s), seeds)``.  The models go in chunks of about 300 MB of caches."""
    X, Y, Xt, yt, y = data
    dims = [X.shape[0]] + [cfg.width] * depth + [Y.shape[0]]
    net = MLP.make(dims, "tanh", "softmax_ce")
    grid = [(s, k) for s in cfg.sigma_w2s for k in range(cfg.seeds)]
    chunk = max(1, int(3e8 // (4 * 4 * depth * cfg.width * min(cfg.batch_size, X.shape[1]))))
    acc, test, loss = [], [], []
    for start in range(0, len(grid), chunk):
        part = grid[start : start + chunk]
        # seed of model (sigma_w2 index i, seed k): distinct across the grid and the depths
        seeds = [[depth, cfg.sigma_w2s.index(s), k] for s, k in part]
        params = init_ensemble(
            net.layer_dims,
            seeds=[np.random.default_rng(sd) for sd in seeds],
            weights=[f"variance_scaling(scale={s!r}, distribution='normal')" for s, _ in part],
            biases=f"normal(std=sqrt({cfg.sigma_b2!r}))" if cfg.sigma_b2 > 0 else "zeros",
            dtype=np.float32,
        )
        # one BLAS thread: a mini-batch's matmuls are small (the engine decides by the whole training set's size)
        with np.errstate(over="ignore", invalid="ignore"), threadpool_limits(1, user_api="blas"):
            hist = train(net, params, X, Y, steps=cfg.steps, optimizer=cfg.optimizer, lr=cfg.lr, record_every=0,
                         batch_size=cfg.batch_size, shuffle_seed=0, backend="numpy")  # fmt: skip
        acc.append(_accuracies(params, depth, X, y))
        test.append(_accuracies(params, depth, Xt, yt))
        loss.append(np.asarray(hist.loss, dtype=np.float64)[-min(20, cfg.steps) :].mean(axis=0))
    shape = (len(cfg.sigma_w2s), cfg.seeds)
    return (np.concatenate(acc).reshape(shape), np.concatenate(test).reshape(shape),
            np.concatenate(loss).reshape(shape))  # fmt: skip


def _boundary(ok: np.ndarray, depths: tuple[int, ...]) -> int:
    """The deepest grid depth up to which every depth is ``ok`` (0 when the shallowest is not)."""
    deepest = 0
    for flag, d in zip(ok, depths, strict=True):
        if not flag:
            break
        deepest = d
    return deepest


def _grid_steps_apart(a: int, b: int, depths: tuple[int, ...]) -> int:
    where = (0, *depths)
    return abs(where.index(a) - where.index(b))


def run(config: Config | None = None) -> Result:
    """Train the (sigma_w2, depth) grid and compare its trainable region with ``L < 6 xi_c``.

    >>> r = run(Config(width=16, depths=(2, 4), sigma_w2s=(0.6, 1.76), steps=20, seeds=2))
    >>> r.arrays["train_acc"].shape
    (2, 2, 2)
    """
    cfg = config or Config()
    depths = tuple(sorted(cfg.depths))
    sws = cfg.sigma_w2s
    d = _data.load("digits")
    X = np.ascontiguousarray(d.X_train, dtype=np.float32)
    Y = np.ascontiguousarray(d.Y_train, dtype=np.float32)
    assert d.X_test is not None and d.Y_test is not None  # digits has a test split
    Xt = np.ascontiguousarray(d.X_test, dtype=np.float32)
    data = (X, Y, Xt, np.argmax(d.Y_test, axis=0), np.argmax(d.Y_train, axis=0))
    parts = [_train_depth(cfg, depth, data) for depth in depths]
    train_acc = np.stack([p[0] for p in parts], axis=1)  # (sigma_w2, depth, seed)
    test_acc = np.stack([p[1] for p in parts], axis=1)
    final_loss = np.stack([p[2] for p in parts], axis=1)

    xis = np.array([xi_c(s, cfg.sigma_b2) for s in sws])
    crit = critical_sigma_w2(cfg.sigma_b2, "tanh")
    predicted = np.array(depths)[None, :] < cfg.factor * xis[:, None]  # (sigma_w2, depth)
    mean_acc = train_acc.mean(axis=2)
    threshold = CHANCE + (float(mean_acc.max()) - CHANCE) / 2
    trainable = mean_acc >= threshold
    seed_trainable = train_acc >= threshold  # (sigma_w2, depth, seed)

    agree = float(np.mean(trainable == predicted))
    agree_seeds = np.mean(seed_trainable == predicted[:, :, None], axis=(0, 1))
    pred_bound = [_boundary(p, depths) for p in predicted]
    meas_bound = [_boundary(t, depths) for t in trainable]
    close = [_grid_steps_apart(a, b, depths) <= 1 for a, b in zip(meas_bound, pred_bound, strict=True)]
    close_seeds = [
        np.mean([_grid_steps_apart(_boundary(seed_trainable[i, :, k], depths), pred_bound[i], depths) <= 1
                 for i in range(len(sws))])
        for k in range(cfg.seeds)
    ]  # fmt: skip
    nearest = int(np.argmin(np.abs(np.log(np.array(sws) / crit))))
    near = {nearest - 1, nearest, nearest + 1}
    best = int(np.argmax(mean_acc[:, -1]))
    best_seeds = [sws[int(np.argmax(train_acc[:, -1, k]))] for k in range(cfg.seeds)]
    near_text = ", ".join(f"{sws[i]:g}" for i in sorted(near) if 0 <= i < len(sws))

    k = f"{cfg.factor:g}"
    findings = [
        Finding(
            f"share of (sigma_w2, depth) cells where trainable (mean train accuracy at least midway between chance "
            f"and the best cell) agrees with L < {k} xi_c (holds at >= {AGREE_MIN:.0%})",
            f"trainable exactly where L < {k} xi_c",
            spread(agree_seeds),
            agree >= AGREE_MIN,
        ),
        Finding(
            f"share of sigma_w2 values whose deepest trainable grid depth is within one grid step of the deepest "
            f"below {k} xi_c (holds at >= {BOUNDARY_MIN:.0%})",
            f"the trainable depth follows {k} xi_c",
            spread(close_seeds),
            float(np.mean(close)) >= BOUNDARY_MIN,
        ),
        Finding(
            "the sigma_w2 with the best mean train accuracy at the deepest grid depth is the grid value nearest the "
            "critical sigma_w2 or one of its two neighbours (holds when it is)",
            f"near criticality ({crit:.3g}: the grid's {near_text})",
            spread(best_seeds),
            best in near,
        ),
    ]

    rows: list[dict[str, Any]] = []
    model = 0
    for i, s in enumerate(sws):
        for j, depth in enumerate(depths):
            for seed in range(cfg.seeds):
                for metric, arr in (("train_acc", train_acc), ("test_acc", test_acc), ("final_loss", final_loss)):
                    rows.append({"model": model, "init": f"normal(sigma_w2={s:g})", "sigma_w2": s,
                                 "sigma_b2": cfg.sigma_b2, "depth": depth, "width": cfg.width, "seed": seed,
                                 "step": cfg.steps, "layer": depth + 1, "metric": metric,
                                 "value": float(arr[i, j, seed])})  # fmt: skip
                model += 1
    span = np.linspace(min(0.5, *sws), max(4.5, *sws), CURVE)
    curve_sw = np.unique(np.concatenate([span, crit * np.array([0.9, 0.95, 0.98, 1.0, 1.02, 1.05, 1.1])]))
    curve = np.array([xi_c(s, cfg.sigma_b2) for s in curve_sw])
    arrays = {
        "sigma_w2s": np.array(sws, dtype=np.float64),
        "depths": np.array(depths, dtype=np.float64),
        "train_acc": train_acc,
        "test_acc": test_acc,
        "final_loss": final_loss,
        "xi_c": xis,
        "curve/sigma_w2": curve_sw,
        "curve/xi_c": curve,
        "critical_sigma_w2": np.array([crit]),
        "threshold": np.array([threshold]),
        "factor": np.array([cfg.factor]),
    }
    boundary_rows = [
        {"sigma_w2": s, "xi_c": round(float(x), 2), f"{k} xi_c": round(float(cfg.factor * x), 1),
         f"deepest grid depth below {k} xi_c": pb, "deepest trainable grid depth": mb,
         "train accuracy by depth": " ".join(f"{a:.2f}" for a in mean_acc[i]), "agree": "yes" if c else "no"}
        for i, (s, x, pb, mb, c) in enumerate(zip(sws, xis, pred_bound, meas_bound, close, strict=True))
    ]  # fmt: skip
    answer = (
        f"Schoenholz et al. found that tanh nets train when their depth is below about 6 xi_c and fail beyond, "
        f"the trainable depth peaking at the critical sigma_w2 ({crit:.3g} for sigma_b2 = {cfg.sigma_b2:g}). "
        f"On digits with {cfg.width}-unit layers after {cfg.steps} SGD steps, the trainable cells (train accuracy "
        f">= {threshold:.2f}) agree with L < {k} xi_c in {agree:.0%} of the {trainable.size} cells, the measured "
        f"boundary is within one grid step of {k} xi_c for {sum(close)} of {len(sws)} values of sigma_w2, and at "
        f"depth {depths[-1]} the best sigma_w2 is {sws[best]:g} (accuracy {mean_acc[best, -1]:.2f}). "
        f"{sum(f.holds for f in findings)} of {len(findings)} findings hold."
    )
    return paper_result("schoenholz2017", cfg, PAPER, findings, rows, arrays, answer,
                        tables={"Trainable depth by sigma_w2": boundary_rows})  # fmt: skip
