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
from .._validation import InitlabValueError, check_float, check_int
from ..diagnostics import distinct_units
from ..engine import MLP, StepInfo, SymmetryWarning, accuracy, init_ensemble, train
from ..results import Result

__all__ = ["Config", "run"]


@dataclass(frozen=True)
class Config:
    """The symmetry experiment's settings (the defaults follow the course's C1W3 assignment)."""

    dataset: str = "flower"  # a 2-D dataset of initlab.data; the course's planar flower
    widths: tuple[int, ...] = (2, 4, 16)  # hidden units; 2 is the lecture's n_1 = 2
    constants: tuple[float, ...] = (0.0, 0.5)  # symmetric starts: every weight equal to c, biases 0
    scale: float = 0.01  # the lecture's randn * 0.01
    seeds: int = 8  # random starts per width (and as many with random biases)
    hidden: str = "tanh"  # C1W3's hidden activation
    steps: int = 2000  # gradient-descent steps
    lr: float = 1.2  # C1W3's learning rate
    record_every: int = 100  # distinct units and the table's rows every this many steps

    def validated(self) -> Config:
        """Check every field; return self."""
        if not self.widths:
            raise InitlabValueError(f"The 'widths' argument of symmetry must list ints >= 2. Got {self.widths!r}.")
        for w in self.widths:
            check_int(w, "widths", "symmetry", low=2)
        for c in self.constants:
            check_float(c, "constants", "symmetry")
        check_float(self.scale, "scale", "symmetry", low=0.0, low_open=True)
        check_int(self.seeds, "seeds", "symmetry", low=1)
        check_int(self.steps, "steps", "symmetry", low=1)
        check_int(self.record_every, "record_every", "symmetry", low=1)
        check_float(self.lr, "lr", "symmetry", low=0.0, low_open=True)
        if self.dataset not in _data.DATASETS or self.dataset in ("digits", "breast_cancer"):
            raise InitlabValueError(
                "The 'dataset' argument of symmetry must be a 2-D dataset: flower, circles, moons, xor, spirals or "
                f"blobs. Got {self.dataset!r} instead."
            )
        return self


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
    distinct: list[list[int]] = []

    def check_step(info: StepInfo) -> None:
        _, Z1, A1 = info.caches[0]
        _, Z2, _ = info.caches[1]
        dZ2 = net.loss.grad(np, Z2, d.Y_train)
        dZ1 = (info.params["W2"].mT @ dZ2) * net.hidden[0].derivative(np, Z1, A1)  # the course's dz[1]
        spreads["a1"].append(_spread(A1))
        spreads["dz1"].append(_spread(dZ1))
        spreads["dW1_rows"].append(_spread(info.grads["dW1"]))
        if info.step % cfg.record_every == 0 or info.step == cfg.steps - 1:
            distinct.append(distinct_units(info.params["W1"], info.params["b1"], A1).tolist())

    history = train(net, params, d.X_train, d.Y_train, steps=cfg.steps, lr=cfg.lr, record_every=1, callback=check_step)
    kinds = [f"constant {c:g}" for c in cfg.constants] + ["randn, zero b"] * cfg.seeds + ["randn, random b"] * cfg.seeds
    return {
        "width": width,
        "kinds": kinds,
        "seeds": seeds,
        "loss": history.loss,
        "spreads": {k: np.stack(v) for k, v in spreads.items()},  # (steps, M)
        "distinct": np.asarray(distinct),  # (records, M)
        "record_steps": np.asarray([t for t in range(cfg.steps) if t % cfg.record_every == 0 or t == cfg.steps - 1]),
        "accuracy": np.asarray(accuracy(net, params, d.X_train, d.Y_train)),
    }


def run(config: Config | None = None) -> Result:
    """Train every width's ensemble and check the lecture's symmetry claims on the numbers."""
    cfg = (config or Config()).validated()
    d = _data.load(cfg.dataset)
    per_width = [_train_width(cfg, d, w) for w in cfg.widths]
    rows: list[dict[str, Any]] = []
    for w in per_width:
        for k, kind in enumerate(w["kinds"]):
            base = {"model": k, "width": w["width"], "init": kind, "seed": w["seeds"][k], "layer": 1}
            for r, step in enumerate(w["record_steps"]):
                upto = slice(0, step + 1)  # the spreads' maximum over every step so far
                rows.append({**base, "step": int(step), "metric": "distinct_units", "value": int(w["distinct"][r, k])})
                rows.append({**base, "step": int(step), "metric": "loss", "value": float(w["loss"][step, k])})
                for name, values in w["spreads"].items():
                    rows.append({**base, "step": int(step), "metric": f"max_spread_{name}",
                                 "value": float(values[upto, k].max())})  # fmt: skip
            rows.append({**base, "step": cfg.steps, "metric": "train_accuracy", "value": float(w["accuracy"][k])})

    def select(w: dict[str, Any], prefix: str) -> np.ndarray:
        return np.array([kind.startswith(prefix) for kind in w["kinds"]])

    n_const = len(cfg.constants)
    stayed = all(all(float(w["spreads"][name][:, :n_const].max()) == 0.0 for name in w["spreads"]) for w in per_width)
    collapsed = all((w["distinct"][-1, :n_const] == 1).all() for w in per_width)
    distinct_random = all((w["distinct"][-1, n_const:] == w["width"]).all() for w in per_width)
    acc_const = np.concatenate([w["accuracy"][select(w, "constant")] for w in per_width])
    acc_zero_b = np.concatenate([w["accuracy"][select(w, "randn, zero")] for w in per_width])
    acc_rand_b = np.concatenate([w["accuracy"][select(w, "randn, random")] for w in per_width])
    wide = [w for w in per_width if w["width"] >= 3]  # on the flower, 2 units do no better than 1 (C1W3)
    beats = all(w["accuracy"][select(w, "randn")].min() > w["accuracy"][select(w, "constant")].max() for w in wide)
    claims = {
        "equal weights: a[1], dz[1] and the rows of dW[1] are equal at every step": stayed,
        "equal weights: one distinct hidden unit after training, at every width": collapsed,
        "randn * scale: every hidden unit distinct after training": distinct_random,
        "randn * scale learns better than every equal start (widths >= 3)": bool(wide) and beats,
        "zero biases are fine once W is random": bool(abs(acc_zero_b.mean() - acc_rand_b.mean()) < 0.05),
    }
    per_width_text = "; ".join(
        f"width {w['width']}: random {w['accuracy'][select(w, 'randn')].mean():.2f}, "
        f"equal {w['accuracy'][select(w, 'constant')].max():.2f}"
        for w in per_width
    )
    widths = ", ".join(str(w) for w in cfg.widths)
    answer = (
        f"Equal weights ({', '.join(f'{c:g}' for c in cfg.constants)}): at every one of {cfg.steps} steps the hidden "
        f"units' activations, their dz[1] and the rows of dW[1] were {'exactly equal' if stayed else 'NOT all equal'}; "
        f"after training, {'every' if collapsed else 'not every'} layer of widths {widths} had one distinct unit, "
        f"and train accuracy was {acc_const.mean():.2f} (at most {acc_const.max():.2f}). "
        f"randn * {cfg.scale:g} ({cfg.seeds} seeds per width): "
        f"{'all' if distinct_random else 'not all'} units distinct, train accuracy {acc_zero_b.mean():.2f} "
        f"± {acc_zero_b.std():.2f} with zero biases and {acc_rand_b.mean():.2f} ± {acc_rand_b.std():.2f} with random "
        "biases: once W is random, starting b at 0 costs nothing. "
        f"Train accuracy by width ({per_width_text}): the equal starts learn what one unit can, whatever the width."
    )
    arrays = {f"width{w['width']}_{k}": v for w in per_width for k, v in w["spreads"].items()}
    arrays |= {f"width{w['width']}_loss": w["loss"] for w in per_width}
    arrays |= {f"width{w['width']}_distinct": w["distinct"] for w in per_width}
    return Result("symmetry", asdict(cfg), rows, arrays, claims, answer)
