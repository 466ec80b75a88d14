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
from .._validation import InitlabValueError
from ..engine import MLP, StepInfo, SymmetryWarning, accuracy, init_ensemble, train
from ..results import Result
from ._common import ROW_BYTES, distinct, diverged_sentence, divergence, mean_sd
from ._settings import MAX_STEPS, Settings, command, setting

__all__ = ["QUESTION", "Config", "peak_bytes", "run", "seed_table"]

QUESTION = (
    "What does the constant c in W = c * randn do to tanh and sigmoid units: does a large c saturate them and slow "
    "learning, and does c = 0 break the symmetry?"
)
BINARY = ("flower", "circles", "moons", "xor", "spirals", "blobs", "breast_cancer")


@dataclass(frozen=True)
class Config(Settings):
    """The scale experiment's settings (the lecture's flower net, one hidden layer)."""

    EXPERIMENT = "scale"

    dataset: str = setting("flower", "a binary dataset of initlab.data", choices=BINARY)
    width: int = setting(8, "hidden units", low=2, high=4096)
    scales: tuple[float, ...] = setting((0.0, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0), "c in W = c * randn; must include 0",
                                        low=0.0)  # fmt: skip
    activations: tuple[str, ...] = setting(("tanh", "sigmoid"), "hidden activations", choices=("tanh", "sigmoid"))
    seeds: int = setting(5, "random starts per scale (c = 0 needs one)", low=1, high=4096)
    steps: int = setting(2000, "gradient-descent steps", low=1, high=MAX_STEPS)
    lr: float = setting(1.2, "the learning rate (C1W3's 1.2)", low=0.0, low_open=True)
    record_every: int = setting(100, "the statistics are recorded every this many steps", low=1, high=MAX_STEPS)
    small: float = setting(0.01, "the seed table's 'random small', one of scales (the lecture's 0.01)", low=0.0,
                           low_open=True)  # fmt: skip
    large: float = setting(100.0, "the seed table's 'random large', one of scales (c = 10 still recovers fast here)",
                           low=0.0, low_open=True)  # fmt: skip

    def check_together(self) -> None:
        for c in (self.small, self.large):
            if c not in self.scales:
                raise InitlabValueError(
                    f"The 'small' and 'large' settings of scale must be among 'scales' {self.scales!r}. Got {c!r}."
                )
        if 0.0 not in self.scales:
            raise InitlabValueError(f"The 'scales' setting of scale must include 0 (zeros). Got {self.scales!r}.")


def _n_models(cfg: Config) -> int:
    return sum(1 if c == 0 else cfg.seeds for c in cfg.scales)


def peak_bytes(cfg: Config) -> int:
    """An estimate of the run's peak memory: one activation's ensemble in training, plus the results."""
    m = _data.load(cfg.dataset).X_train.shape[1]
    M, n = _n_models(cfg), cfg.width
    records = len(range(0, cfg.steps, cfg.record_every)) + 1
    training = M * 8 * (6 * n * m + 4 * m + 8 * n)
    kept = len(cfg.activations) * M * 8 * (cfg.steps + records * (7 * 2 + 1))
    rows = len(cfg.activations) * M * (6 * records + 3) * ROW_BYTES
    return int(training + kept + rows)


def _train_activation(cfg: Config, d: _data.Dataset, act: str) -> dict[str, Any]:
    net = MLP.make([d.n_x, cfg.width, 1], act, "bce")
    scales = [c for c in cfg.scales for _ in range(1 if c == 0 else cfg.seeds)]
    seeds = [s for c in cfg.scales for s in range(1 if c == 0 else cfg.seeds)]
    with warnings.catch_warnings():  # c = 0 is the symmetric start, on purpose
        warnings.simplefilter("ignore", SymmetryWarning)
        params = init_ensemble(net.layer_dims, seeds=seeds, weights=[f"randn(scale={c!r})" for c in scales])
    counts: list[np.ndarray] = []

    def count(info: StepInfo) -> None:
        counts.append(distinct(info.params["W1"], info.params["b1"], info.caches[0][2]))

    with np.errstate(over="ignore", invalid="ignore"):
        h = train(net, params, d.X_train, d.Y_train, steps=cfg.steps, lr=cfg.lr, record_every=cfg.record_every,
                  callback=count)  # fmt: skip
        acc = np.asarray(accuracy(net, params, d.X_train, d.Y_train), dtype=np.float64)
    div = divergence(h)
    acc[div.diverged] = np.nan  # a diverged model's predictions mean nothing
    return {
        "activation": act,
        "scales": np.asarray(scales),
        "seeds": seeds,
        "loss": h.loss,
        "divergence": div,
        "record_steps": h.record_steps,
        "stats": h.stats,  # metric -> (records, M, L)
        "distinct": np.stack(counts),  # (records, M), NaN where not finite
        "accuracy": acc,
    }


def _ok(r: dict[str, Any], c: float) -> np.ndarray:
    """The models of scale ``c`` that did not diverge."""
    return np.asarray((r["scales"] == c) & ~r["divergence"].diverged)


def seed_table(per_act: list[dict[str, Any]], cfg: Config) -> list[dict[str, str]]:
    """The discussion seed's table, rebuilt from the measurements of the models that did not diverge."""
    table = []
    early = cfg.steps // 10
    for label, c in (("Zeros", 0.0), ("Random large", cfg.large), ("Random small", cfg.small)):
        cells: dict[str, list[str]] = {"symmetry": [], "vanishing": [], "outcome": []}
        for r in per_act:
            act, k, ok = r["activation"], r["scales"] == c, _ok(r, c)
            n_div = int((k & r["divergence"].diverged).sum())
            sat = float(r["stats"]["saturated"][0, k, 0].mean())  # at the start, before any step could diverge
            dgz = float(r["stats"]["dgz_mean"][0, k, 0].mean())
            risk = "Yes" if sat > 0.25 else "No"
            cells["vanishing"].append(f"{risk} ({act}: {sat:.0%} saturated at the start, mean g'(z) {dgz:.2f})")
            if not ok.any():
                cells["symmetry"].append(f"not measured ({act}: all {int(k.sum())} models diverged)")
                cells["outcome"].append(f"diverged ({act}: all {int(k.sum())} models, the loss was not finite)")
                continue
            units = float(r["distinct"][-1, ok].mean())
            broken = "Yes" if units > 1 else "No"
            cells["symmetry"].append(f"{broken} ({act}: {units:.0f} of {cfg.width} units distinct)")
            loss = float(r["loss"][early, ok].mean())
            start = float(r["loss"][0, ok].mean())
            acc = float(r["accuracy"][ok].mean())
            outcome = ("all units the same" if units <= 1 else "the loss grew instead of falling" if loss > start
                       else "slow, saturated training" if sat > 0.25 else "stable training")  # fmt: skip
            also = f", {n_div} of {int(k.sum())} diverged" if n_div else ""
            cells["outcome"].append(
                f"{outcome} ({act}: loss {loss:.3g} after {early} steps, train accuracy {acc:.2f}{also})"
            )
        table.append({"initialization": label, **{k: "; ".join(v) for k, v in cells.items()}})
    return table


def run(config: Config | None = None) -> Result:
    """Train every (activation, scale, seed) and rebuild the seed's table from the numbers."""
    cfg = config or Config()
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
            rows += r["divergence"].rows(k, base, cfg.steps)
    table = seed_table(per_act, cfg)
    early = cfg.steps // 10

    def mean_at(r: dict[str, Any], c: float, what: str) -> float:
        """The mean over the models of scale ``c`` that did not diverge (NaN when none is left)."""
        k = _ok(r, c)
        if not k.any():
            return float("nan")
        if what == "accuracy":
            return float(r["accuracy"][k].mean())
        if what == "early_loss":  # the loss after a tenth of the budget: how fast it learns
            return float(r["loss"][early, k].mean())
        return float(r["stats"][what][0, k, 0].mean())

    def holds(test: Any) -> bool:
        with np.errstate(invalid="ignore"):
            return all(bool(test(r)) for r in per_act)  # NaN (nothing left to compare) compares False

    zero_units = [r["distinct"][-1, _ok(r, 0.0)] for r in per_act]
    zero_kept_one = all(u.size > 0 and (u == 1).all() for u in zero_units)  # every activation measured, all clones
    claims = {
        "large weights saturate tanh/sigmoid at the start": holds(
            lambda r: mean_at(r, cfg.large, "saturated") > 0.5 and mean_at(r, cfg.small, "saturated") == 0),
        "large weights shrink the mean slope g'(z) at the start": holds(
            lambda r: mean_at(r, cfg.large, "dgz_mean") < 0.5 * mean_at(r, cfg.small, "dgz_mean")),
        "large weights learn slowly: after a tenth of the steps their loss is far above the small weights'": holds(
            lambda r: mean_at(r, cfg.large, "early_loss") > 2 * mean_at(r, cfg.small, "early_loss")),
        "small random weights end with a better accuracy than large ones": holds(
            lambda r: mean_at(r, cfg.small, "accuracy") > mean_at(r, cfg.large, "accuracy")),
        "zero weights keep one distinct unit": zero_kept_one,
    }  # fmt: skip
    by_scale = []
    for r in per_act:
        for c in cfg.scales:
            k = r["scales"] == c
            ok = _ok(r, c)
            by_scale.append({
                "activation": r["activation"], "c": float(c), "models": int(k.sum()),
                "diverged": int((k & ~ok).sum()),
                "saturated at the start": f"{r['stats']['saturated'][0, k, 0].mean():.0%}",
                "mean g'(z) at the start": f"{r['stats']['dgz_mean'][0, k, 0].mean():.2f}",
                f"loss after {early} steps": mean_sd(r["loss"][early, ok], 3),
                "train accuracy": mean_sd(r["accuracy"][ok]),
            })  # fmt: skip
    acts = " and ".join(cfg.activations)
    sentences = []
    measured = np.concatenate(zero_units)
    if zero_kept_one:
        sentences.append(f"Zero weights keep the {cfg.width} hidden units as one: the symmetry is never broken.")
    elif measured.size and (measured != 1).any():
        sentences.append(f"Zero weights did not keep the units as one here ({np.nanmax(measured):.0f} distinct units).")
    else:
        sentences.append("The zero-weight nets diverged, so nothing can be said here of their units.")
    sat_s = np.nanmean([mean_at(r, cfg.small, "saturated") for r in per_act])
    sat_l = np.nanmean([mean_at(r, cfg.large, "saturated") for r in per_act])
    acc_s = np.nanmean([mean_at(r, cfg.small, "accuracy") for r in per_act])
    acc_l = np.nanmean([mean_at(r, cfg.large, "accuracy") for r in per_act])
    learned = [r["scales"][_ok(r, c) & ~r["divergence"].grew].size > 0 for r in per_act for c in (cfg.small, cfg.large)]
    if np.isfinite([sat_s, sat_l, acc_s, acc_l]).all() and all(
        learned
    ):  # no accuracy quoted for nets that never learned
        slow = ("and learn slowly" if claims[next(c for c in claims if c.startswith("large weights learn"))]
                else "yet do not learn much slower")  # fmt: skip
        sentences.append(
            f"Small random weights (c = {cfg.small:g}) leave {acts} units {sat_s:.0%} saturated at the start and "
            f"reach a train accuracy of {acc_s:.2f}; large ones (c = {cfg.large:g}) saturate {sat_l:.0%} of them "
            f"{slow}, ending at {acc_l:.2f}."
        )
    sentences.append(diverged_sentence([r["divergence"] for r in per_act]))
    answer = " ".join(x for x in sentences if x)
    arrays: dict[str, np.ndarray] = {}
    for r in per_act:
        arrays[f"{r['activation']}_loss"] = r["loss"]
        arrays[f"{r['activation']}_scales"] = r["scales"]
        for metric in ("saturated", "dgz_mean", "grad_norm"):
            arrays[f"{r['activation']}_{metric}"] = r["stats"][metric][:, :, 0]
    tables = {"The seed's table, from the numbers": table, "By scale": by_scale}
    return Result("scale", asdict(cfg), rows, arrays, claims, answer, question=QUESTION, tables=tables,
                  command=command(cfg))  # fmt: skip
