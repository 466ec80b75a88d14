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
from ..engine import MLP, StepInfo, SymmetryWarning, accuracy, course_cost, forward, init_ensemble, train
from ..results import Result
from ._common import ROW_BYTES, diverged_sentence, divergence, mean_sd
from ._settings import MAX_STEPS, Settings, command, setting

__all__ = ["PUBLISHED", "QUESTION", "Config", "peak_bytes", "run"]

QUESTION = (
    "Does the deeplearning.ai C2W1 initialization assignment come out the same here (zeros, randn * 10, He on its "
    "circles), and how much do its conclusions depend on the seed?"
)
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
class Config(Settings):
    """The course experiment's settings (the assignment's, by default)."""

    EXPERIMENT = "course"

    inits: tuple[str, ...] = setting(("zeros", "large", "he"), "the assignment's initializations",
                                     choices=tuple(PUBLISHED))  # fmt: skip
    seeds: tuple[int, ...] = setting((3, 4, 5, 6), "each model draws from RandomState(seed); 3 is the course's",
                                     low=0, high=2**32 - 1)  # fmt: skip
    steps: int = setting(15000, "gradient-descent steps (the assignment's 15,000)", low=1, high=MAX_STEPS)
    lr: float = setting(0.01, "the learning rate (the assignment's 0.01)", low=0.0, low_open=True)
    grid: int = setting(80, "decision-boundary grid points per axis", low=2, high=1000)


def peak_bytes(cfg: Config) -> int:
    """An estimate of the run's peak memory: the ensemble in training, the decision grid, and the results."""
    M, m = len(cfg.inits) * len(cfg.seeds), 300
    training = M * 8 * m * (2 * (10 + 5 + 1) * 3)
    grid = M * 8 * cfg.grid**2 * (2 * (10 + 5 + 1) + 2)
    rows = M * (2 * (cfg.steps // 1000 + 2) + 4) * ROW_BYTES
    return int(training + grid + rows + 8 * M * cfg.steps)


def run(config: Config | None = None) -> Result:
    """Train every (init, seed) as one ensemble; compare seed 3 with the published numbers."""
    cfg = config or Config()
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
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            costs[info.step] = np.atleast_1d(course_cost(net.loss.output(np, info.caches[-1][1]), d.Y_train))

    with np.errstate(over="ignore", invalid="ignore"):
        h = train(net, params, d.X_train, d.Y_train, steps=cfg.steps, lr=cfg.lr, record_every=1000,
                  callback=course_costs)  # fmt: skip
        train_acc = np.asarray(accuracy(net, params, d.X_train, d.Y_train), dtype=np.float64)
        test_acc = np.asarray(accuracy(net, params, d.X_test, d.Y_test), dtype=np.float64)
        lo, hi = d.X_train.min(axis=1) - 0.2, d.X_train.max(axis=1) + 0.2
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], cfg.grid), np.linspace(lo[1], hi[1], cfg.grid))
        logits, _ = forward(net, params, np.stack([gx.ravel(), gy.ravel()]))
    div = divergence(h)
    train_acc[div.diverged] = test_acc[div.diverged] = np.nan  # a diverged model's predictions mean nothing
    rows: list[dict[str, Any]] = []
    for k, (init, seed) in enumerate(models):
        base = {"model": k, "init": init, "seed": seed, "layer": 0}
        for step, values in sorted(costs.items()):
            rows.append({**base, "step": step, "metric": "course_cost", "value": float(values[k])})
            rows.append({**base, "step": step, "metric": "loss", "value": float(h.loss[step, k])})
        rows.append({**base, "step": cfg.steps, "metric": "train_accuracy", "value": float(train_acc[k])})
        rows.append({**base, "step": cfg.steps, "metric": "test_accuracy", "value": float(test_acc[k])})
        rows += div.rows(k, base, cfg.steps)
    claims: dict[str, bool] = {}
    published: list[dict[str, Any]] = []
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
            published.append({"init": init, "course's cost at step 0": f"{costs[0][k]:.4g}",
                              "published": f"{pub['costs'][0]:.4g}", "train accuracy": f"{train_acc[k]:.4f}",
                              "published train": f"{pub['train']:.4f}", "test accuracy": f"{test_acc[k]:.4f}",
                              "published test": f"{pub['test']:.4f}"})  # fmt: skip
    accs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for init in cfg.inits:
        ks = np.array([i == init for i, _ in models]) & ~div.diverged
        accs[init] = (train_acc[ks], test_acc[ks])
    if {"zeros", "he"} <= set(cfg.inits):
        he, zeros = accs["he"][1], accs["zeros"][1]
        claims["he beats zeros on every seed"] = bool(he.size and zeros.size and he.min() > zeros.max())
    by_init = [
        {"init": init, "models": len(cfg.seeds), "diverged": int(sum(div.diverged[k] for k, (i, _) in
         enumerate(models) if i == init)), "train accuracy": mean_sd(accs[init][0], 3),
         "test accuracy": mean_sd(accs[init][1], 3)}
        for init in cfg.inits
    ]  # fmt: skip
    sentences = []
    reproduced = [c for c in claims if "reproduces" in c]
    if reproduced:
        held = all(claims[c] for c in reproduced)
        sentences.append(
            f"Seed 3 {'reproduces' if held else 'does NOT reproduce'} the notebook's published costs and accuracies "
            f"for {', '.join(cfg.inits)}."
        )
    parts = []
    for init in cfg.inits:
        if accs[init][1].size:
            name = {"zeros": "zeros", "large": "randn * 10", "he": "He"}[init]
            parts.append(f"{name} tests at {mean_sd(accs[init][1])}")
    if parts:
        sentences.append(f"Over seeds {', '.join(str(s) for s in cfg.seeds)}, " + ", ".join(parts) + ".")
    if "zeros" in cfg.inits and accs["zeros"][1].size:
        k = models.index(("zeros", cfg.seeds[0]))
        if not div.diverged[k] and abs(float(h.loss[-1, k]) - math.log(2)) < 1e-6:
            sentences.append("Zeros never leave the cost log 2 = 0.6931: every unit of a layer stays the same.")
    sentences.append(diverged_sentence([div]))
    answer = " ".join(x for x in sentences if x)
    arrays = {
        "loss": h.loss,
        "grid_x": gx,
        "grid_y": gy,
        "grid_logits": logits[:, 0, :].reshape(len(models), *gx.shape),
    }
    arrays |= {"course_cost": np.stack([costs[s] for s in sorted(costs)]), "cost_steps": np.asarray(sorted(costs))}
    arrays |= {"X_train": d.X_train, "Y_train": d.Y_train}
    tables = {"Accuracy by initialization, over seeds": by_init}
    if published:
        tables["Seed 3 against the notebook"] = published
    return Result("course", asdict(cfg), rows, arrays, claims, answer, question=QUESTION, tables=tables,
                  command=command(cfg))  # fmt: skip
