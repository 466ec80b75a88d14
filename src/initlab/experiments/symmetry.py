"""Symmetry: why zero (or any constant) weights give a layer of clones, and random weights do not.

The lecture's network: ``n_0 = 2`` inputs, one hidden layer, one sigmoid output,
trained by gradient descent on a real 2-D dataset (the course's planar flower).
With every weight equal, the hidden units compute the same ``a[1]``, receive the
same ``dz[1]`` and the same row of ``dW[1]``, so after the update they are equal
again: by induction they stay clones at every step, however wide the layer.  The
experiment checks that at every step, exactly (not within a tolerance), and counts
the distinct units at the end.  With ``randn * 0.01`` every unit is distinct and the
net learns; whether the biases start at 0 or random then makes no difference.

All models of one width train as one ensemble: the constant starts, and
``seeds`` random starts with zero biases and ``seeds`` with random biases.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import data as _data
from ..engine import ACTIVATIONS, MLP, StepInfo, SymmetryWarning, accuracy, init_ensemble, train
from ..results import Result
from ._common import ROW_BYTES, distinct, diverged_sentence, divergence, mean_sd
from ._settings import MAX_STEPS, Settings, command, setting

__all__ = ["QUESTION", "Config", "peak_bytes", "run"]

QUESTION = (
    "Why do zero (or any equal) weights leave a hidden layer of clones that never learn more than one unit, "
    "while small random weights give distinct units that learn?"
)
#: the 2-D datasets of initlab.data
DATASETS_2D = ("flower", "circles", "moons", "xor", "spirals", "blobs")


@dataclass(frozen=True)
class Config(Settings):
    """The symmetry experiment's settings (the defaults follow the course's C1W3 assignment)."""

    EXPERIMENT = "symmetry"

    dataset: str = setting("flower", "a 2-D dataset of initlab.data; the course's planar flower", choices=DATASETS_2D)
    widths: tuple[int, ...] = setting((2, 4, 16), "hidden units; 2 is the lecture's n_1 = 2", low=2, high=4096)
    constants: tuple[float, ...] = setting((0.0, 0.5), "symmetric starts: every weight equal to c, biases 0")
    scale: float = setting(0.01, "the random starts' c in randn * c (the lecture's 0.01)", low=0.0, low_open=True)
    seeds: int = setting(8, "random starts per width (and as many with random biases)", low=1, high=4096)
    hidden: str = setting("tanh", "the hidden activation (C1W3's tanh)", choices=tuple(ACTIVATIONS))
    steps: int = setting(2000, "gradient-descent steps", low=1, high=MAX_STEPS)
    lr: float = setting(1.2, "the learning rate (C1W3's 1.2)", low=0.0, low_open=True)
    record_every: int = setting(100, "distinct units and the table's rows every this many steps", low=1,
                                high=MAX_STEPS)  # fmt: skip


def _records(cfg: Config) -> int:
    return len([t for t in range(cfg.steps) if t % cfg.record_every == 0 or t == cfg.steps - 1])


def peak_bytes(cfg: Config) -> int:
    """An estimate of the run's peak memory: the largest width's ensemble in training, plus the results."""
    m = _data.load(cfg.dataset).X_train.shape[1]
    M = len(cfg.constants) + 2 * cfg.seeds
    n = max(cfg.widths)
    training = M * 8 * (6 * n * m + 4 * m + 8 * n)  # Z, A, dZ, dA and temporaries of the hidden layer; the output
    per_step = M * 8 * 3 * len(cfg.widths) * cfg.steps  # the three spreads at every step, every width
    rows = len(cfg.widths) * M * (5 * _records(cfg) + 3) * ROW_BYTES
    return int(training + per_step + rows + 8 * (3 * m))


def _spread(x: Any) -> np.ndarray:
    """Per model: the largest difference between two units (rows) over every column; 0 means all rows equal."""
    return np.asarray(np.max(np.max(x, axis=-2) - np.min(x, axis=-2), axis=-1))


def _train_width(cfg: Config, d: _data.Dataset, width: int) -> dict[str, Any]:
    net = MLP.make([d.n_x, width, 1], cfg.hidden, "bce")
    inits = [f"constant(value={c!r})" for c in cfg.constants] + [f"randn(scale={cfg.scale!r})"] * (2 * cfg.seeds)
    biases = ["zeros"] * (len(cfg.constants) + cfg.seeds) + [f"normal(std={cfg.scale!r})"] * cfg.seeds
    seeds = [0] * len(cfg.constants) + list(range(cfg.seeds)) + list(range(cfg.seeds))
    with warnings.catch_warnings():  # the symmetric starts are on purpose
        warnings.simplefilter("ignore", SymmetryWarning)
        params = init_ensemble(net.layer_dims, seeds=seeds, weights=inits, biases=biases)
    spreads: dict[str, list[np.ndarray]] = {"a1": [], "dz1": [], "dW1_rows": []}
    counts: list[np.ndarray] = []

    def check_step(info: StepInfo) -> None:
        _, Z1, A1 = info.caches[0]
        _, Z2, _ = info.caches[1]
        dZ2 = net.loss.grad(np, Z2, d.Y_train)
        dZ1 = (info.params["W2"].mT @ dZ2) * net.hidden[0].derivative(np, Z1, A1)  # the course's dz[1]
        spreads["a1"].append(_spread(A1))
        spreads["dz1"].append(_spread(dZ1))
        spreads["dW1_rows"].append(_spread(info.grads["dW1"]))
        if info.step % cfg.record_every == 0 or info.step == cfg.steps - 1:
            counts.append(distinct(info.params["W1"], info.params["b1"], A1))

    with np.errstate(over="ignore", invalid="ignore"):
        history = train(net, params, d.X_train, d.Y_train, steps=cfg.steps, lr=cfg.lr, record_every=1,
                        callback=check_step)  # fmt: skip
        acc = np.asarray(accuracy(net, params, d.X_train, d.Y_train), dtype=np.float64)
    div = divergence(history)
    acc[div.diverged] = np.nan  # a diverged model's predictions mean nothing
    kinds = [f"constant {c:g}" for c in cfg.constants] + ["randn, zero b"] * cfg.seeds + ["randn, random b"] * cfg.seeds
    return {
        "width": width,
        "kinds": kinds,
        "seeds": seeds,
        "loss": history.loss,
        "divergence": div,
        "spreads": {k: np.stack(v) for k, v in spreads.items()},  # (steps, M)
        "distinct": np.stack(counts),  # (records, M), NaN where not finite
        "record_steps": np.asarray([t for t in range(cfg.steps) if t % cfg.record_every == 0 or t == cfg.steps - 1]),
        "accuracy": acc,
    }


def run(config: Config | None = None) -> Result:
    """Train every width's ensemble and check the lecture's symmetry claims on the numbers."""
    cfg = config or Config()
    d = _data.load(cfg.dataset)
    per_width = [_train_width(cfg, d, w) for w in cfg.widths]
    rows: list[dict[str, Any]] = []
    for w in per_width:
        for k, kind in enumerate(w["kinds"]):
            base = {"model": k, "width": w["width"], "init": kind, "seed": w["seeds"][k], "layer": 1}
            for r, step in enumerate(w["record_steps"]):
                upto = slice(0, step + 1)  # the spreads' maximum over every step so far
                rows.append(
                    {**base, "step": int(step), "metric": "distinct_units", "value": float(w["distinct"][r, k])}
                )
                rows.append({**base, "step": int(step), "metric": "loss", "value": float(w["loss"][step, k])})
                for name, values in w["spreads"].items():
                    rows.append({**base, "step": int(step), "metric": f"max_spread_{name}",
                                 "value": float(values[upto, k].max())})  # fmt: skip
            rows.append({**base, "step": cfg.steps, "metric": "train_accuracy", "value": float(w["accuracy"][k])})
            rows += w["divergence"].rows(k, base, cfg.steps)

    def trained(w: dict[str, Any], prefix: str) -> np.ndarray:
        """The models of a kind that did not diverge."""
        return np.asarray(np.array([kind.startswith(prefix) for kind in w["kinds"]]) & ~w["divergence"].diverged)

    def every(values: list[np.ndarray], test: Any) -> bool:
        """``test`` holds for every value, and there is at least one (no claim on no evidence)."""
        values = [v for v in values if v.size]
        return bool(values) and all(bool(test(v)) for v in values)

    const_ok = [trained(w, "constant") for w in per_width]
    pairs = list(zip(per_width, const_ok, strict=True))
    stayed = every([np.stack([w["spreads"][n][:, m] for n in w["spreads"]]) for w, m in pairs],
                   lambda v: (v == 0.0).all())  # fmt: skip
    collapsed = every([w["distinct"][-1, m] for w, m in pairs], lambda v: (v == 1).all())
    distinct_random = every([w["distinct"][-1, trained(w, "randn")] - w["width"] for w in per_width],
                            lambda v: (v == 0).all())  # fmt: skip
    acc_const = np.concatenate([w["accuracy"][trained(w, "constant")] for w in per_width])
    acc_zero_b = np.concatenate([w["accuracy"][trained(w, "randn, zero")] for w in per_width])
    acc_rand_b = np.concatenate([w["accuracy"][trained(w, "randn, random")] for w in per_width])
    wide = [w for w in per_width if w["width"] >= 3]  # on the flower, 2 units do no better than 1 (C1W3)
    beats = every([np.array([w["accuracy"][trained(w, "randn")].min(initial=np.inf)
                             - w["accuracy"][trained(w, "constant")].max(initial=-np.inf)]) for w in wide],
                  lambda v: np.isfinite(v).all() and (v > 0).all())  # fmt: skip
    claims = {
        "equal weights: a[1], dz[1] and the rows of dW[1] are equal at every step": stayed,
        "equal weights: one distinct hidden unit after training, at every width": collapsed,
        "randn * scale: every hidden unit distinct after training": distinct_random,
        "randn * scale learns better than every equal start (widths >= 3)": beats,
        "zero biases are fine once W is random": bool(
            acc_zero_b.size and acc_rand_b.size and abs(acc_zero_b.mean() - acc_rand_b.mean()) < 0.05),
    }  # fmt: skip
    table = []
    for w in per_width:
        for kind in dict.fromkeys(w["kinds"]):
            sel = np.array([x == kind for x in w["kinds"]])
            ok = sel & ~w["divergence"].diverged
            table.append({
                "width": w["width"], "start": kind, "models": int(sel.sum()),
                "diverged": int((sel & w["divergence"].diverged).sum()),
                "distinct units at the end": mean_sd(w["distinct"][-1, ok], 1),
                "train accuracy": mean_sd(w["accuracy"][ok]),
            })  # fmt: skip
    consts = ", ".join(f"{c:g}" for c in cfg.constants)
    sentences = []
    if acc_const.size:
        clones = "kept the hidden units exact clones" if stayed else "did not keep the hidden units exact clones"
        during = "were equal at every one of" if stayed else "differed within"
        ended = "every layer ended with one distinct unit" if collapsed else "not every layer ended with one unit"
        sentences.append(
            f"Equal weights ({consts}) {clones}: their activations, dz[1] and rows of dW[1] {during} {cfg.steps} "
            f"steps, so {ended} and the nets reached a train accuracy of at most {acc_const.max():.2f}."
        )
    if acc_zero_b.size or acc_rand_b.size:
        both = np.concatenate([acc_zero_b, acc_rand_b])
        units = "every unit was distinct" if distinct_random else "not every unit was distinct"
        biases = (
            "once W is random, starting b at 0 costs nothing" if claims["zero biases are fine once W is random"]
            else "here the biases' start made a difference"
        )  # fmt: skip
        learned = "" if beats or not wide else ", no better than the equal starts,"
        sentences.append(
            f"With randn * {cfg.scale:g} {units} and the nets reached {both.mean():.2f} on average{learned} "
            f"({mean_sd(acc_zero_b)} with zero biases, {mean_sd(acc_rand_b)} with random ones): {biases}."
        )
    note = diverged_sentence([w["divergence"] for w in per_width])
    answer = " ".join([*sentences, note]).strip()
    arrays = {f"width{w['width']}_{k}": v for w in per_width for k, v in w["spreads"].items()}
    arrays |= {f"width{w['width']}_loss": w["loss"] for w in per_width}
    arrays |= {f"width{w['width']}_distinct": w["distinct"] for w in per_width}
    return Result("symmetry", asdict(cfg), rows, arrays, claims, answer, question=QUESTION,
                  tables={"Distinct units and train accuracy by width and start": table},
                  command=command(cfg))  # fmt: skip
