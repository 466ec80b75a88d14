"""Scale: what the constant in ``W = c * randn`` does to tanh and sigmoid units.

The lecture: small random weights keep tanh/sigmoid units near 0, where their slope
is largest; large weights push ``z`` into the flat ends, where ``g'(z)`` is tiny and
gradient descent crawls.  For each ``c`` (0 included), each hidden activation, and
many seeds, the experiment measures at the start the share of saturated units x
examples (``g'(z) < 0.02 g'(0)``), the mean ``g'(z)`` and the gradient norms, then
trains and records the loss curves and the final accuracy.  From those numbers it
rebuilds the discussion seed's table (zeros / random large / random small: symmetry
broken?  risk of vanishing gradient?  learning outcome), each cell with its number.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import data as _data
from .._validation import InitlabValueError, check_float, check_int
from ..diagnostics import distinct_units
from ..engine import MLP, StepInfo, SymmetryWarning, accuracy, init_ensemble, train
from ..results import Result

__all__ = ["Config", "run", "seed_table"]


@dataclass(frozen=True)
class Config:
    """The scale experiment's settings (the lecture's flower net, one hidden layer)."""

    dataset: str = "flower"
    width: int = 8  # hidden units
    scales: tuple[float, ...] = (0.0, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # c in W = c * randn
    activations: tuple[str, ...] = ("tanh", "sigmoid")
    seeds: int = 5
    steps: int = 2000
    lr: float = 1.2  # C1W3's learning rate
    record_every: int = 100
    small: float = 0.01  # the seed table's "random small" (the lecture's 0.01)
    large: float = 100.0  # the seed table's "random large" (c = 10 still recovers fast on this shallow net)

    def validated(self) -> Config:
        """Check every field; return self."""
        for c in self.scales:
            check_float(c, "scales", "scale", low=0.0)
        for c in (self.small, self.large):
            if c not in self.scales:
                raise InitlabValueError(
                    f"The 'small' and 'large' arguments of scale must be among 'scales' {self.scales!r}. Got {c!r}."
                )
        if 0.0 not in self.scales:
            raise InitlabValueError(f"The 'scales' argument of scale must include 0 (zeros). Got {self.scales!r}.")
        for a in self.activations:
            if a not in ("tanh", "sigmoid"):
                raise InitlabValueError(
                    f"The 'activations' argument of scale must list 'tanh' and/or 'sigmoid'. Got {a!r} instead."
                )
        check_int(self.width, "width", "scale", low=2)
        check_int(self.seeds, "seeds", "scale", low=1)
        check_int(self.steps, "steps", "scale", low=1)
        check_int(self.record_every, "record_every", "scale", low=1)
        check_float(self.lr, "lr", "scale", low=0.0, low_open=True)
        if self.dataset not in _data.DATASETS or self.dataset in ("digits",):
            raise InitlabValueError(f"The 'dataset' argument of scale must be a binary dataset. Got {self.dataset!r}.")
        return self


def _train_activation(cfg: Config, d: _data.Dataset, act: str) -> dict[str, Any]:
    net = MLP.make([d.n_x, cfg.width, 1], act, "bce")
    scales = [c for c in cfg.scales for _ in range(1 if c == 0 else cfg.seeds)]
    seeds = [s for c in cfg.scales for s in range(1 if c == 0 else cfg.seeds)]
    with warnings.catch_warnings():  # c = 0 is the symmetric start, on purpose
        warnings.simplefilter("ignore", SymmetryWarning)
        params = init_ensemble(net.layer_dims, seeds=seeds, weights=[f"randn(scale={c!r})" for c in scales])
    distinct: list[np.ndarray] = []

    def count(info: StepInfo) -> None:
        distinct.append(distinct_units(info.params["W1"], info.params["b1"], info.caches[0][2]))

    h = train(net, params, d.X_train, d.Y_train, steps=cfg.steps, lr=cfg.lr, record_every=cfg.record_every,
              callback=count)  # fmt: skip
    return {
        "activation": act,
        "scales": np.asarray(scales),
        "seeds": seeds,
        "loss": h.loss,
        "record_steps": h.record_steps,
        "stats": h.stats,  # metric -> (records, M, L)
        "distinct": np.stack(distinct),
        "accuracy": np.asarray(accuracy(net, params, d.X_train, d.Y_train)),
    }


def seed_table(per_act: list[dict[str, Any]], cfg: Config) -> list[dict[str, str]]:
    """The discussion seed's table, rebuilt from the measurements (first activation's numbers, others appended)."""
    table = []
    for label, c in (("Zeros", 0.0), ("Random large", cfg.large), ("Random small", cfg.small)):
        cells: dict[str, list[str]] = {"symmetry": [], "vanishing": [], "outcome": []}
        for r in per_act:
            k = r["scales"] == c
            distinct = r["distinct"][-1, k].mean()
            sat = r["stats"]["saturated"][0, k, 0].mean()
            dgz = r["stats"]["dgz_mean"][0, k, 0].mean()
            acc = r["accuracy"][k].mean()
            act = r["activation"]
            broken = "Yes" if distinct > 1 else "No"
            cells["symmetry"].append(f"{broken} ({act}: {distinct:.0f} of {cfg.width} units distinct)")
            risk = "Yes" if sat > 0.25 else "No"
            cells["vanishing"].append(f"{risk} ({act}: {sat:.0%} saturated at the start, mean g'(z) {dgz:.2f})")
            early = float(r["loss"][len(r["loss"]) // 10, k].mean())
            outcome = ("all units the same" if distinct <= 1 else "slow, saturated training" if sat > 0.25
                       else "stable training")  # fmt: skip
            cells["outcome"].append(
                f"{outcome} ({act}: loss {early:.3g} after {len(r['loss']) // 10} steps, train accuracy {acc:.2f})"
            )
        table.append({"initialization": label, **{k: "; ".join(v) for k, v in cells.items()}})
    return table


def run(config: Config | None = None) -> Result:
    """Train every (activation, scale, seed) and rebuild the seed's table from the numbers."""
    cfg = (config or Config()).validated()
    d = _data.load(cfg.dataset)
    per_act = [_train_activation(cfg, d, a) for a in cfg.activations]
    rows: list[dict[str, Any]] = []
    for r in per_act:
        for k, c in enumerate(r["scales"]):
            base = {"model": k, "activation": r["activation"], "init": f"{c:g} * randn", "scale": float(c),
                    "seed": r["seeds"][k]}  # fmt: skip
            for i, step in enumerate(r["record_steps"]):
                rows.append({**base, "step": int(step), "layer": 0, "metric": "loss",
                             "value": float(r["loss"][step, k])})  # fmt: skip
                for metric in ("saturated", "dgz_mean", "grad_norm", "act_std"):
                    rows.append({**base, "step": int(step), "layer": 1, "metric": metric,
                                 "value": float(r["stats"][metric][i, k, 0])})  # fmt: skip
                rows.append({**base, "step": int(step), "layer": 1, "metric": "distinct_units",
                             "value": float(r["distinct"][i, k])})  # fmt: skip
            rows.append({**base, "step": cfg.steps, "layer": 0, "metric": "train_accuracy",
                         "value": float(r["accuracy"][k])})  # fmt: skip
    table = seed_table(per_act, cfg)

    def mean_at(r: dict[str, Any], c: float, what: str) -> float:
        k = r["scales"] == c
        if what == "accuracy":
            return float(r["accuracy"][k].mean())
        if what == "early_loss":  # the loss after a tenth of the budget: how fast it learns
            return float(r["loss"][cfg.steps // 10, k].mean())
        return float(r["stats"][what][0, k, 0].mean())

    claims = {
        "large weights saturate tanh/sigmoid at the start": all(
            mean_at(r, cfg.large, "saturated") > 0.5 and mean_at(r, cfg.small, "saturated") == 0 for r in per_act),
        "large weights shrink the mean slope g'(z) at the start": all(
            mean_at(r, cfg.large, "dgz_mean") < 0.5 * mean_at(r, cfg.small, "dgz_mean") for r in per_act),
        "large weights learn slowly: after a tenth of the steps their loss is far above the small weights'": all(
            mean_at(r, cfg.large, "early_loss") > 2 * mean_at(r, cfg.small, "early_loss") for r in per_act),
        "small random weights end with a better accuracy than large ones": all(
            mean_at(r, cfg.small, "accuracy") > mean_at(r, cfg.large, "accuracy") for r in per_act),
        "zero weights keep one distinct unit": all(r["distinct"][-1, r["scales"] == 0].max() == 1 for r in per_act),
    }  # fmt: skip
    lines = [
        f"{row['initialization']}: symmetry broken? {row['symmetry']}. Risk of vanishing gradient? {row['vanishing']}. "
        f"Learning outcome: {row['outcome']}."
        for row in table
    ]
    curve = "; ".join(
        f"{r['activation']}: " + ", ".join(f"c={c:g} {mean_at(r, c, 'accuracy'):.2f}" for c in cfg.scales)
        for r in per_act
    )
    answer = " ".join(lines) + f" Train accuracy by scale ({curve})."
    arrays: dict[str, np.ndarray] = {}
    for r in per_act:
        arrays[f"{r['activation']}_loss"] = r["loss"]
        arrays[f"{r['activation']}_scales"] = r["scales"]
        for metric in ("saturated", "dgz_mean", "grad_norm"):
            arrays[f"{r['activation']}_{metric}"] = r["stats"][metric][:, :, 0]
    result = Result("scale", asdict(cfg), rows, arrays, claims, answer)
    result.config["seed_table"] = table
    return result
