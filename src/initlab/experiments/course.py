"""Course: the deeplearning.ai C2W1 initialization assignment, reproduced, and run on more seeds.

The assignment: circles data (``make_circles`` after ``np.random.seed(1)``, 300 train
and 100 test points), layers ``[2, 10, 5, 1]`` relu/relu/sigmoid, learning rate
0.01, 15,000 steps of gradient descent, biases 0, weights drawn after
``np.random.seed(3)`` as ``randn(n_l, n_{l-1}) * f`` with ``f = 0`` (zeros), ``10``
(large) or ``sqrt(2 / n_{l-1})`` (He).  Seed 3 is the course's own run, matched to its
published costs and accuracies; the other seeds show the spread.

The course prints its own cost, ``1/m * nansum(-y log a - (1 - y) log(1 - a))``, every
1,000 steps; it is ``inf`` at step 0 for large weights, where a confidently wrong
sigmoid rounds to exactly 0 or 1.  initlab's own loss, computed from the logits,
stays finite there; both are recorded.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import data as _data
from .._validation import InitlabValueError, check_int
from ..engine import MLP, StepInfo, SymmetryWarning, accuracy, course_cost, forward, init_ensemble, train
from ..results import Result

__all__ = ["PUBLISHED", "Config", "run"]

DIMS = (2, 10, 5, 1)
#: The notebook's published numbers for seed 3: costs every 1,000 steps (a few) and accuracies.
PUBLISHED: dict[str, dict[str, Any]] = {
    "he": {"costs": {0: 0.8830537463419761, 1000: 0.6879825919728063, 2000: 0.6751286264523371,
                     14000: 0.07357895962677369}, "train": 0.9933333333333333, "test": 0.96},
    "zeros": {"costs": {0: 0.6931471805599453, 14000: 0.6931471805599453}, "train": 0.5, "test": 0.5},
    "large": {"costs": {0: math.inf}, "train": 0.83, "test": 0.86},
}  # fmt: skip


def _weights(init: str) -> list[str]:
    if init == "zeros":
        return ["zeros"] * 3
    if init == "large":
        return ["normal(std=10)"] * 3
    return [f"normal(std={math.sqrt(2.0 / n)!r})" for n in DIMS[:-1]]  # the course's np.sqrt(2. / n_{l-1})


@dataclass(frozen=True)
class Config:
    """The course experiment's settings (the assignment's, by default)."""

    inits: tuple[str, ...] = ("zeros", "large", "he")
    seeds: tuple[int, ...] = (3, 4, 5, 6)  # 3 is the course's; each model draws from RandomState(seed)
    steps: int = 15000
    lr: float = 0.01
    grid: int = 80  # decision-boundary grid points per axis

    def validated(self) -> Config:
        """Check every field; return self."""
        for init in self.inits:
            if init not in PUBLISHED:
                raise InitlabValueError(
                    f"The 'inits' argument of course must list 'zeros', 'large' or 'he'. Got {init!r} instead."
                )
        if not self.seeds:
            raise InitlabValueError("The 'seeds' argument of course must list at least one seed. Got ().")
        for s in self.seeds:
            check_int(s, "seeds", "course", low=0)
        check_int(self.steps, "steps", "course", low=1)
        check_int(self.grid, "grid", "course", low=2)
        if not self.lr > 0:
            raise InitlabValueError(f"The 'lr' argument of course must be a float > 0. Got {self.lr!r} instead.")
        return self


def run(config: Config | None = None) -> Result:
    """Train every (init, seed) as one ensemble; compare seed 3 with the published numbers."""
    cfg = (config or Config()).validated()
    d = _data.circles()
    assert d.X_test is not None and d.Y_test is not None
    net = MLP.make(list(DIMS), "relu", "bce")
    models = [(init, seed) for init in cfg.inits for seed in cfg.seeds]
    with warnings.catch_warnings():  # zeros are the assignment's on purpose
        warnings.simplefilter("ignore", SymmetryWarning)
        params = init_ensemble(list(DIMS), seeds=[np.random.RandomState(s) for _, s in models],
                               weights=[_weights(init) for init, _ in models])  # fmt: skip
    costs: dict[int, np.ndarray] = {}

    def course_costs(info: StepInfo) -> None:  # the notebook prints its cost every 1,000 steps
        with np.errstate(divide="ignore", invalid="ignore"):
            costs[info.step] = np.atleast_1d(course_cost(net.loss.output(np, info.caches[-1][1]), d.Y_train))

    h = train(net, params, d.X_train, d.Y_train, steps=cfg.steps, lr=cfg.lr, record_every=1000,
              callback=course_costs)  # fmt: skip
    train_acc = np.asarray(accuracy(net, params, d.X_train, d.Y_train))
    test_acc = np.asarray(accuracy(net, params, d.X_test, d.Y_test))
    lo, hi = d.X_train.min(axis=1) - 0.2, d.X_train.max(axis=1) + 0.2
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], cfg.grid), np.linspace(lo[1], hi[1], cfg.grid))
    logits, _ = forward(net, params, np.stack([gx.ravel(), gy.ravel()]))
    rows: list[dict[str, Any]] = []
    for k, (init, seed) in enumerate(models):
        base = {"model": k, "init": init, "seed": seed, "layer": 0}
        for step, values in sorted(costs.items()):
            rows.append({**base, "step": step, "metric": "course_cost", "value": float(values[k])})
            rows.append({**base, "step": step, "metric": "loss", "value": float(h.loss[step, k])})
        rows.append({**base, "step": cfg.steps, "metric": "train_accuracy", "value": float(train_acc[k])})
        rows.append({**base, "step": cfg.steps, "metric": "test_accuracy", "value": float(test_acc[k])})
    claims: dict[str, bool] = {}
    if 3 in cfg.seeds and cfg.steps == 15000 and cfg.lr == 0.01:
        for init in cfg.inits:
            k = models.index((init, 3))
            pub = PUBLISHED[init]
            same_costs = all(
                (math.isinf(v) and math.isinf(costs[s][k])) or abs(costs[s][k] - v) <= 1e-9 * abs(v)
                for s, v in pub["costs"].items()
            )
            same_acc = abs(train_acc[k] - pub["train"]) < 1e-9 and abs(test_acc[k] - pub["test"]) < 1e-9
            claims[f"{init}: seed 3 reproduces the course's costs and accuracies"] = bool(same_costs and same_acc)
    if {"zeros", "he"} <= set(cfg.inits):
        he = [test_acc[k] for k, (i, _) in enumerate(models) if i == "he"]
        zeros = [test_acc[k] for k, (i, _) in enumerate(models) if i == "zeros"]
        claims["he beats zeros on every seed"] = bool(min(he) > max(zeros))
    parts = []
    for init in cfg.inits:
        ks = [k for k, (i, _) in enumerate(models) if i == init]
        parts.append(
            f"{init}: train accuracy {train_acc[ks].mean():.3f} ± {train_acc[ks].std():.3f}, test "
            f"{test_acc[ks].mean():.3f} ± {test_acc[ks].std():.3f} over seeds {list(cfg.seeds)}"
        )
    answer = "C2W1: " + "; ".join(parts) + "."
    if "zeros" in cfg.inits:
        answer += " Zeros never leave the cost log 2 = 0.6931: every unit stays the same."
    if "large" in cfg.inits:
        k = models.index(("large", cfg.seeds[0]))
        answer += (
            f" randn * 10 starts confidently wrong: the course's cost is {costs[0][k]:.4g} at step 0 (a sigmoid "
            f"rounded to exactly 0 or 1), initlab's loss from the logits {h.loss[0, k]:.4g}; it ends below He."
        )
    arrays = {
        "loss": h.loss,
        "grid_x": gx,
        "grid_y": gy,
        "grid_logits": logits[:, 0, :].reshape(len(models), *gx.shape),
    }
    arrays |= {"course_cost": np.stack([costs[s] for s in sorted(costs)]), "cost_steps": np.asarray(sorted(costs))}
    arrays |= {"X_train": d.X_train, "Y_train": d.Y_train}
    return Result("course", asdict(cfg), rows, arrays, claims, answer)
