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
from ..engine import (
    ACTIVATIONS,
    MLP,
    StepInfo,
    SymmetryWarning,
    accuracy,
    dead_share,
    init_ensemble,
    numerical_rank,
    train,
)
from ..results import Result
from ._common import ROW_BYTES, distinct, diverged_sentence, divergence
from ._settings import MAX_STEPS, Settings, command, setting

__all__ = ["QUESTION", "STARTS", "Config", "peak_bytes", "run"]

QUESTION = (
    "With zero weights but random biases, the hidden units of a layer output different values: does that break "
    "the symmetry as well as random weights do?"
)
#: start -> (weights spec, biases spec); {std} and {c} are filled from the config
STARTS = {
    "zero W, rand b": ("zeros", "normal(std={std})"),
    "const W, rand b": ("constant(value={c})", "normal(std={std})"),
    "rand W, zero b": ("normal(std={std})", "zeros"),
    "rand W, rand b": ("normal(std={std})", "normal(std={std})"),
    "zero W, zero b": ("zeros", "zeros"),
}
_DETERMINISTIC = ("zero W, zero b",)  # one model is enough: every seed gives the same start
#: binary datasets of initlab.data with a test split
WITH_TEST = ("circles", "moons", "xor", "spirals", "blobs", "breast_cancer")


@dataclass(frozen=True)
class Config(Settings):
    """The bias-vs-weights experiment's settings."""

    EXPERIMENT = "bias-vs-weights"

    dataset: str = setting("circles", "a binary dataset with a test split (C2W1's circles)", choices=WITH_TEST)
    width: int = setting(8, "hidden units", low=2, high=4096)
    activations: tuple[str, ...] = setting(("tanh", "sigmoid", "relu"), "hidden activations",
                                           choices=tuple(ACTIVATIONS))  # fmt: skip
    std: float = setting(1.0, "the spread of whatever is random, W or b (the same for both, to compare fairly)",
                         low=0.0, low_open=True)  # fmt: skip
    constant: float = setting(0.5, "the value of W in 'const W, rand b'")
    seeds: int = setting(8, "models per random start", low=1, high=4096)
    steps: int = setting(3000, "gradient-descent steps", low=1, high=MAX_STEPS)
    lr: float = setting(0.5, "the learning rate", low=0.0, low_open=True)
    target_loss: float = setting(0.4, "'steps to learn': the first step at or below this loss", low=0.0,
                                 low_open=True)  # fmt: skip
    record_every: int = setting(100, "the measurements are made every this many steps", low=1, high=MAX_STEPS)


def peak_bytes(cfg: Config) -> int:
    """An estimate of the run's peak memory: one activation's ensemble in training, plus the results."""
    m = _data.load(cfg.dataset).X_train.shape[1]
    M, n = (len(STARTS) - 1) * cfg.seeds + 1, cfg.width
    records = len(range(0, cfg.steps, cfg.record_every)) + 1
    training = M * 8 * (6 * n * m + 4 * m + 8 * n)
    kept = len(cfg.activations) * M * 8 * (cfg.steps + 4 * records)
    rows = len(cfg.activations) * M * (5 * records + 5) * ROW_BYTES
    return int(training + kept + rows)


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
    g = net.hidden[0]

    def measure(info: StepInfo) -> None:
        W1, b1, A1 = info.params["W1"], info.params["b1"], info.caches[0][2]
        records["distinct_units"].append(distinct(W1, b1, A1))
        rank, ratio = _rank(W1)
        records["rank_W1"].append(rank)
        records["sv_ratio_W1"].append(ratio)
        dead = np.asarray(dead_share(np, g, A1), dtype=np.float64)  # NaN unless the activation can die
        records["dead"].append(np.where(np.isfinite(A1).all(axis=(-2, -1)), dead, np.nan))

    with np.errstate(over="ignore", invalid="ignore"):
        history = train(net, params, d.X_train, d.Y_train, steps=cfg.steps, lr=cfg.lr,
                        record_every=cfg.record_every, callback=measure)  # fmt: skip
        assert d.X_test is not None and d.Y_test is not None
        train_acc = np.asarray(accuracy(net, params, d.X_train, d.Y_train), dtype=np.float64)
        test_acc = np.asarray(accuracy(net, params, d.X_test, d.Y_test), dtype=np.float64)
    div = divergence(history)
    train_acc[div.diverged] = test_acc[div.diverged] = np.nan  # a diverged model's predictions mean nothing
    reached = history.loss <= cfg.target_loss
    steps_to_target = np.where(reached.any(axis=0), np.argmax(reached, axis=0), -1)
    return {
        "activation": act,
        "starts": starts,
        "seeds": seeds,
        "record_steps": history.record_steps,
        "loss": history.loss,
        "divergence": div,
        **{k: np.stack(v) for k, v in records.items()},  # (records, M)
        "steps_to_target": steps_to_target,
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
    }


def _rank(W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per model: the engine's numerical rank of ``W`` and its smallest/largest singular value; NaN where ``W``
    is not finite (it has no rank)."""
    rank = np.array([r if r >= 0 else np.nan for r, _ in map(numerical_rank, W)], dtype=np.float64)
    ratio = np.full(len(W), np.nan)
    ok = np.isfinite(rank)
    if ok.any():
        s = np.linalg.svd(W[ok], compute_uv=False)  # (M, min(n_1, n_0)), largest first
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio[ok] = np.where(s[:, 0] > 0, s[:, -1] / s[:, 0], np.nan)
    return rank, ratio


def _mean(values: np.ndarray) -> float:
    """The mean of the finite values; NaN when there are none (nothing measured is not 0)."""
    v = values[np.isfinite(values)]
    return float(v.mean()) if v.size else math.nan


def _summary(r: dict[str, Any], start: str) -> dict[str, float]:
    """One start's numbers, over the models that did not diverge."""
    of_start = np.array([s == start for s in r["starts"]])
    k = of_start & ~r["divergence"].diverged
    reached = r["steps_to_target"][k]
    return {
        "models": float(of_start.sum()),
        "diverged": float((of_start & r["divergence"].diverged).sum()),
        "distinct_end": _mean(r["distinct_units"][-1, k]),
        "rank_start": _mean(r["rank_W1"][0, k]),
        "rank_end": _mean(r["rank_W1"][-1, k]),
        "sv_ratio_end": _mean(r["sv_ratio_W1"][-1, k]),
        "reached": float(np.mean(reached >= 0)) if k.any() else math.nan,
        "steps_median": float(np.median(reached[reached >= 0])) if (reached >= 0).any() else math.nan,
        "train": _mean(r["train_accuracy"][k]),
        "test": _mean(r["test_accuracy"][k]),
        "test_std": float(np.std(r["test_accuracy"][k])) if k.any() else math.nan,
        "dead_start": _mean(r["dead"][0, k]),
        "dead_end": _mean(r["dead"][-1, k]),
    }


def run(config: Config | None = None) -> Result:
    """Train every activation's ensemble of starts and answer the question from the numbers."""
    cfg = config or Config()
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
            rows += r["divergence"].rows(k, {**base, "layer": 0}, cfg.steps)
    summary = {r["activation"]: {s: _summary(r, s) for s in STARTS} for r in per_act}
    w = cfg.width

    def every(test: Any, acts: Any = None) -> bool:
        """``test`` holds for every activation (NaN, nothing measured, compares False)."""
        return all(bool(test(summary[a])) for a in (acts or summary))

    claims = {
        "zero W, rand b: the units are no longer clones": every(lambda s: s["zero W, rand b"]["distinct_end"] > 1),
        "zero W, rand b: W[1] starts at rank 0 and every unit sees the same input direction early on": every(
            lambda s: s["zero W, rand b"]["rank_start"] == 0),
        "zero W, zero b: one distinct unit": every(lambda s: s["zero W, zero b"]["distinct_end"] == 1),
        "rand W: every unit distinct": every(
            lambda s: s["rand W, zero b"]["distinct_end"] == w and s["rand W, rand b"]["distinct_end"] == w),
        "rand W, zero b tests at least as well as zero W, rand b": every(
            lambda s: s["rand W, zero b"]["test"] >= s["zero W, rand b"]["test"] - 0.02),
    }  # fmt: skip
    if "relu" in summary:
        zb = summary["relu"]["zero W, rand b"]
        claims["relu, zero W, rand b: units with a negative bias are dead from the start and stay dead"] = bool(
            zb["dead_start"] > 0.2 and zb["dead_end"] >= zb["dead_start"]
        )
    table = [
        {"activation": act, "start": start, "models": int(x["models"]), "diverged": int(x["diverged"]),
         "distinct units": _fmt(x["distinct_end"], ".1f"), "rank of W[1] (start, end)":
         f"{_fmt(x['rank_start'], '.1f')}, {_fmt(x['rank_end'], '.1f')}",
         "smallest/largest singular value": _fmt(x["sv_ratio_end"], ".2g"),
         f"reached loss {cfg.target_loss:g}": _fmt(x["reached"], ".0%"),
         "median step": _fmt(x["steps_median"], ".0f"), "test accuracy":
         "n/a" if math.isnan(x["test"]) else f"{x['test']:.2f} ± {x['test_std']:.2f}",
         "dead units (start, end)": f"{_fmt(x['dead_start'], '.0%')}, {_fmt(x['dead_end'], '.0%')}"}
        for act, per_start in summary.items() for start, x in per_start.items()
    ]  # fmt: skip
    zb_units = _nanmean([s["zero W, rand b"]["distinct_end"] for s in summary.values()])
    ratio = _nanmean([s["zero W, rand b"]["sv_ratio_end"] for s in summary.values()])
    rw_ratio = _nanmean([s["rand W, zero b"]["sv_ratio_end"] for s in summary.values()])
    zb_test = _nanmean([s["zero W, rand b"]["test"] for s in summary.values()])
    rw_test = _nanmean([s["rand W, zero b"]["test"] for s in summary.values()])
    sentences = []
    if not math.isnan(zb_units):
        if claims["zero W, rand b: the units are no longer clones"]:
            sentences.append(f"Yes, random biases break the exact symmetry: with zero weights the {w} units end "
                             f"{zb_units:.1f} distinct on average, not 1.")  # fmt: skip
        else:
            sentences.append(f"No: with zero weights and random biases the {w} units end {zb_units:.1f} distinct on "
                             "average.")  # fmt: skip
    rank0 = claims["zero W, rand b: W[1] starts at rank 0 and every unit sees the same input direction early on"]
    if sentences and rank0 and not math.isnan(zb_test) and not math.isnan(rw_test):
        worse = "worse than" if rw_test > zb_test + 0.02 else "about as well as"
        sentences.append(
            f"But every unit starts from the same zero weights, so W[1] starts at rank 0 and grows along one input "
            f"direction at first (smallest/largest singular value {ratio:.2g} at the end, {rw_ratio:.2g} with random "
            f"W), and the nets test {worse} random weights with zero biases ({zb_test:.2f} against {rw_test:.2f})."
        )
    if "relu" in summary and not math.isnan(summary["relu"]["zero W, rand b"]["dead_start"]):
        zb = summary["relu"]["zero W, rand b"]
        sentences.append(f"With relu, {zb['dead_start']:.0%} of those units are dead from the start (a negative bias "
                         f"and no weights: no gradient ever) and {zb['dead_end']:.0%} at the end.")  # fmt: skip
    sentences.append(diverged_sentence([r["divergence"] for r in per_act]))
    answer = " ".join(x for x in sentences if x)
    arrays = {f"{r['activation']}_{k}": r[k] for r in per_act for k in ("loss", "distinct_units", "rank_W1",
                                                                        "sv_ratio_W1", "dead")}  # fmt: skip
    arrays |= {"summary_" + a: np.array([list(v.values()) for v in s.values()]) for a, s in summary.items()}
    return Result("bias-vs-weights", asdict(cfg), rows, arrays, claims, answer, question=QUESTION,
                  tables={"Each start, by activation": table}, command=command(cfg))  # fmt: skip


def _nanmean(values: list[float]) -> float:
    v = [x for x in values if not math.isnan(x)]
    return float(np.mean(v)) if v else math.nan


def _fmt(x: float, spec: str) -> str:
    return "n/a" if math.isnan(x) else format(x, spec)
