"""Bias versus weights: would random biases with zero weights break the symmetry too?

The question of the discussion seed: with ``W = 0`` but random ``b``, the hidden
units of a layer output different values, so are they still clones?  Five starts
are compared on the same net, for tanh, sigmoid and relu, over many seeds:

==================  =========================  ===================
start               weights W                  biases b
==================  =========================  ===================
``zero W, rand b``  0                          ``N(0, std^2)``
``const W, rand b`` ``constant``               ``N(0, std^2)``
``rand W, zero b``  ``N(0, std^2)``            0
``rand W, rand b``  ``N(0, std^2)``            ``N(0, std^2)``
``zero W, zero b``  0                          0
==================  =========================  ===================

Measured over training: distinct hidden units; the rank of ``W[1]`` and the ratio of
its smallest to its largest singular value (how many directions of the input the
units see); the step at which the loss first reaches ``target_loss``; final train
and test accuracy; and for relu, the share of units dead (0 on every example)
at the start and at the end.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import data as _data
from .._validation import InitlabValueError, check_float, check_int
from ..diagnostics import distinct_units
from ..engine import ACTIVATIONS, MLP, StepInfo, SymmetryWarning, accuracy, init_ensemble, train
from ..results import Result

__all__ = ["STARTS", "Config", "run"]

#: start -> (weights spec, biases spec); {std} and {c} are filled from the config
STARTS = {
    "zero W, rand b": ("zeros", "normal(std={std})"),
    "const W, rand b": ("constant(value={c})", "normal(std={std})"),
    "rand W, zero b": ("normal(std={std})", "zeros"),
    "rand W, rand b": ("normal(std={std})", "normal(std={std})"),
    "zero W, zero b": ("zeros", "zeros"),
}
_DETERMINISTIC = ("zero W, zero b",)  # one model is enough: every seed gives the same start


@dataclass(frozen=True)
class Config:
    """The bias-vs-weights experiment's settings."""

    dataset: str = "circles"  # a 2-D dataset with a test split (C2W1's circles)
    width: int = 8  # hidden units
    activations: tuple[str, ...] = ("tanh", "sigmoid", "relu")
    std: float = 1.0  # the spread of whatever is random, W or b (the same for both, to compare them fairly)
    constant: float = 0.5  # the value of W in "const W, rand b"
    seeds: int = 8  # models per random start
    steps: int = 3000
    lr: float = 0.5
    target_loss: float = 0.4  # "steps to learn": first step at or below this loss
    record_every: int = 100

    def validated(self) -> Config:
        """Check every field; return self."""
        check_int(self.width, "width", "bias-vs-weights", low=2)
        for name in self.activations:
            if name not in ACTIVATIONS:
                raise InitlabValueError(
                    f"The 'activations' argument of bias-vs-weights must list names from {', '.join(ACTIVATIONS)}. "
                    f"Got {name!r} instead."
                )
        if not self.activations:
            raise InitlabValueError("The 'activations' argument of bias-vs-weights must not be empty. Got ().")
        check_float(self.std, "std", "bias-vs-weights", low=0.0, low_open=True)
        check_float(self.constant, "constant", "bias-vs-weights")
        check_int(self.seeds, "seeds", "bias-vs-weights", low=1)
        check_int(self.steps, "steps", "bias-vs-weights", low=1)
        check_int(self.record_every, "record_every", "bias-vs-weights", low=1)
        check_float(self.lr, "lr", "bias-vs-weights", low=0.0, low_open=True)
        check_float(self.target_loss, "target_loss", "bias-vs-weights", low=0.0, low_open=True)
        d = _data.load(self.dataset) if self.dataset in _data.DATASETS else None
        if d is None or d.X_test is None or d.n_y != 1:
            raise InitlabValueError(
                "The 'dataset' argument of bias-vs-weights must be a binary dataset with a test split: circles, "
                f"moons, xor, spirals, blobs or breast_cancer. Got {self.dataset!r} instead."
            )
        return self


def _train_activation(cfg: Config, d: _data.Dataset, act: str) -> dict[str, Any]:
    net = MLP.make([d.n_x, cfg.width, 1], act, "bce")
    starts, weights, biases, seeds = [], [], [], []
    for start, (w, b) in STARTS.items():
        for s in range(1 if start in _DETERMINISTIC else cfg.seeds):
            starts.append(start)
            weights.append(w.format(std=cfg.std, c=cfg.constant))
            biases.append(b.format(std=cfg.std, c=cfg.constant))
            seeds.append(s)
    with warnings.catch_warnings():  # the symmetric starts are on purpose
        warnings.simplefilter("ignore", SymmetryWarning)
        params = init_ensemble(net.layer_dims, seeds=seeds, weights=weights, biases=biases)
    records: dict[str, list[Any]] = {"distinct_units": [], "rank_W1": [], "sv_ratio_W1": [], "dead": []}

    def measure(info: StepInfo) -> None:
        W1, b1, A1 = info.params["W1"], info.params["b1"], info.caches[0][2]
        records["distinct_units"].append(distinct_units(W1, b1, A1))
        s = np.linalg.svd(W1, compute_uv=False)  # (M, min(n_1, n_0)), largest first
        tol = max(W1.shape[-2:]) * np.finfo(np.float64).eps * s[:, :1]
        records["rank_W1"].append(np.sum(s > tol, axis=1))
        with np.errstate(invalid="ignore", divide="ignore"):
            records["sv_ratio_W1"].append(np.where(s[:, 0] > 0, s[:, -1] / s[:, 0], np.nan))
        records["dead"].append(np.mean(~np.any(A1 != 0, axis=-1), axis=-1))

    history = train(net, params, d.X_train, d.Y_train, steps=cfg.steps, lr=cfg.lr, record_every=cfg.record_every,
                    callback=measure)  # fmt: skip
    reached = history.loss <= cfg.target_loss
    steps_to_target = np.where(reached.any(axis=0), np.argmax(reached, axis=0), -1)
    assert d.X_test is not None and d.Y_test is not None
    return {
        "activation": act,
        "starts": starts,
        "seeds": seeds,
        "record_steps": history.record_steps,
        "loss": history.loss,
        **{k: np.stack(v) for k, v in records.items()},  # (records, M)
        "steps_to_target": steps_to_target,
        "train_accuracy": np.asarray(accuracy(net, params, d.X_train, d.Y_train)),
        "test_accuracy": np.asarray(accuracy(net, params, d.X_test, d.Y_test)),
    }


def _summary(r: dict[str, Any], start: str) -> dict[str, float]:
    k = np.array([s == start for s in r["starts"]])
    reached = r["steps_to_target"][k]
    return {
        "distinct_end": float(np.mean(r["distinct_units"][-1, k])),
        "rank_start": float(np.mean(r["rank_W1"][0, k])),
        "rank_end": float(np.mean(r["rank_W1"][-1, k])),
        "sv_ratio_end": float(np.nanmean(r["sv_ratio_W1"][-1, k])) if np.isfinite(r["sv_ratio_W1"][-1, k]).any()
        else math.nan,
        "reached": float(np.mean(reached >= 0)),
        "steps_median": float(np.median(reached[reached >= 0])) if (reached >= 0).any() else math.nan,
        "train": float(np.mean(r["train_accuracy"][k])),
        "test": float(np.mean(r["test_accuracy"][k])),
        "test_std": float(np.std(r["test_accuracy"][k])),
        "dead_start": float(np.mean(r["dead"][0, k])),
        "dead_end": float(np.mean(r["dead"][-1, k])),
    }  # fmt: skip


def run(config: Config | None = None) -> Result:
    """Train every activation's ensemble of starts and answer the question from the numbers."""
    cfg = (config or Config()).validated()
    d = _data.load(cfg.dataset)
    per_act = [_train_activation(cfg, d, a) for a in cfg.activations]
    rows: list[dict[str, Any]] = []
    for r in per_act:
        for k, start in enumerate(r["starts"]):
            base = {"model": k, "activation": r["activation"], "init": start, "seed": r["seeds"][k], "layer": 1}
            for i, step in enumerate(r["record_steps"]):
                for metric in ("distinct_units", "rank_W1", "sv_ratio_W1", "dead"):
                    rows.append({**base, "step": int(step), "metric": metric, "value": float(r[metric][i, k])})
                rows.append({**base, "step": int(step), "metric": "loss", "value": float(r["loss"][step, k])})
            for metric in ("steps_to_target", "train_accuracy", "test_accuracy"):
                rows.append({**base, "step": cfg.steps, "metric": metric, "value": float(r[metric][k])})
    summary = {r["activation"]: {s: _summary(r, s) for s in STARTS} for r in per_act}
    w = cfg.width
    claims = {
        "zero W, rand b: the units are no longer clones": all(
            s["zero W, rand b"]["distinct_end"] > 1 for s in summary.values()),
        "zero W, rand b: W[1] starts at rank 0 and every unit sees the same input direction early on": all(
            s["zero W, rand b"]["rank_start"] == 0 for s in summary.values()),
        "zero W, zero b: one distinct unit": all(s["zero W, zero b"]["distinct_end"] == 1 for s in summary.values()),
        "rand W: every unit distinct": all(
            s["rand W, zero b"]["distinct_end"] == w and s["rand W, rand b"]["distinct_end"] == w
            for s in summary.values()),
        "rand W, zero b tests at least as well as zero W, rand b": all(
            s["rand W, zero b"]["test"] >= s["zero W, rand b"]["test"] - 0.02 for s in summary.values()),
    }  # fmt: skip
    if "relu" in summary:
        claims["relu, zero W, rand b: units with a negative bias are dead from the start and stay dead"] = (
            summary["relu"]["zero W, rand b"]["dead_start"] > 0.2
            and summary["relu"]["zero W, rand b"]["dead_end"] >= summary["relu"]["zero W, rand b"]["dead_start"]
        )

    def learned(x: dict[str, float]) -> str:
        if x["reached"] == 0:
            return f"loss <= {cfg.target_loss:g} never reached in {cfg.steps} steps"
        return (
            f"loss <= {cfg.target_loss:g} reached by {x['reached']:.0%} of seeds (median step {x['steps_median']:.0f})"
        )

    lines = []
    for act, s in summary.items():
        zb, rw = s["zero W, rand b"], s["rand W, zero b"]
        line = (
            f"{act}: zero W + random b gives {zb['distinct_end']:.1f} of {w} distinct units (zero W + zero b: "
            f"{s['zero W, zero b']['distinct_end']:.0f}), W[1]'s smallest/largest singular value "
            f"{zb['sv_ratio_end']:.2g}, "
            f"{learned(zb)}, test accuracy {zb['test']:.2f} ± {zb['test_std']:.2f}; random W + zero b gives "
            f"{rw['distinct_end']:.0f} distinct units, singular-value ratio {rw['sv_ratio_end']:.2g}, {learned(rw)}, "
            f"test accuracy {rw['test']:.2f} ± {rw['test_std']:.2f}"
        )
        if act == "relu":
            line += f"; with relu, {zb['dead_start']:.0%} of the zero-W units are dead from the start (a negative bias "
            line += f"and no weights: 0 for every input, so no gradient ever) and {zb['dead_end']:.0%} at the end"
        lines.append(line + ".")
    verdict = (
        "Yes, random biases break the exact symmetry: the units are no longer clones. But they all start from the "
        "same (zero) weights, so at first every row of dW[1] is a multiple of one vector and W[1] grows as a rank-1 "
        "matrix: the units see the input along one direction (a singular-value ratio near 0), learn slowly if at "
        "all, and test worse than with random weights and zero biases. Random W breaks the symmetry where it "
        "matters, in the directions the units look at. "
    )
    answer = verdict + " ".join(lines)
    arrays = {f"{r['activation']}_{k}": r[k] for r in per_act for k in ("loss", "distinct_units", "rank_W1",
                                                                        "sv_ratio_W1", "dead")}  # fmt: skip
    result = Result("bias-vs-weights", asdict(cfg), rows, arrays, claims, answer)
    result.arrays |= {"summary_" + a: np.array([list(v.values()) for v in s.values()]) for a, s in summary.items()}
    return result
