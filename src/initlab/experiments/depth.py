"""Depth: why deep nets need Xavier (tanh) or He (relu) instead of ``0.01 * randn``.

Each layer multiplies the spread of the signal by about ``std(W) * sqrt(fan_in) * k``,
``k`` the activation's own factor (1 for tanh near 0 and linear, ``1/sqrt 2`` for
relu).  With ``0.01 * randn`` on 500-unit layers that is ``0.01 * sqrt(500) = 0.22``:
the signal shrinks about 4.5x per layer and is gone after ten.  With ``randn`` it
grows until tanh saturates.  Xavier (``1/sqrt(fan_avg)``) keeps the factor near 1 for
tanh; relu halves the variance at each layer, which He's ``sqrt(2/fan_in)`` makes up.

Three measurements, on real data (scikit-learn's breast cancer set, standardized):

1. at initialization, ``layers`` hidden layers of ``width`` units: per layer the
   activation std, the share of units x examples with ``|a| > 0.99`` (tanh) and the
   gradient norm ``||dW[l]||``, plus histograms of the activations;
2. a depth sweep to ``max_depth`` layers: the activation std at every depth (one
   forward pass per model, each layer drawn and discarded);
3. training a ``train_width``-wide net of the same depth for ``steps`` steps: does it
   learn (loss and accuracy), or does it stall or diverge?
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .. import data as _data
from .._validation import InitlabValueError
from ..engine import (
    MLP,
    accuracy,
    activation_std,
    backward,
    forward,
    get_activation,
    gradient_norm,
    init_ensemble,
    saturated_share,
    train,
)
from ..initializers import get
from ..results import Result
from ..seeding import as_rng
from ..theory import QuadratureWarning, predict_layers
from ._common import ROW_BYTES, chunks, concat, diverged_sentence, divergence, mean_sd
from ._settings import MAX_STEPS, Settings, command, setting

__all__ = ["QUESTION", "SCHEMES", "THEORY_FACTOR", "Config", "peak_bytes", "run", "sigma_w2"]

QUESTION = (
    "Why do deep nets need Xavier (tanh) or He (relu) instead of 0.01 * randn: what happens to the signal, layer "
    "after layer, and does the net still learn?"
)
#: label -> initializer spec
SCHEMES = {
    "0.01 * randn": "randn(scale=0.01)",
    "randn": "randn(scale=1)",
    "xavier": "xavier_normal",
    "he": "he_normal",
    "orthogonal": "orthogonal",
    "torch default": "torch_default",
}
BINS = np.linspace(-3.0, 3.0, 61)  # activation histograms; values beyond land in the end bins
GRAD_BINS = np.linspace(-16.0, 4.0, 41)  # histograms of log10 |dW| entries
BINARY = ("breast_cancer", "flower", "circles", "moons", "xor", "spirals", "blobs")


@dataclass(frozen=True)
class Config(Settings):
    """The depth experiment's settings."""

    EXPERIMENT = "depth"

    dataset: str = setting("breast_cancer", "real data: 30 standardized features, binary labels", choices=BINARY)
    layers: int = setting(10, "hidden layers at initialization", low=1, high=1000)
    width: int = setting(500, "units per hidden layer at initialization", low=1, high=100_000)
    max_depth: int = setting(50, "the depth sweep goes to this many layers (>= layers)", low=1, high=10_000)
    schemes: tuple[str, ...] = setting(tuple(SCHEMES), "initializations compared", choices=tuple(SCHEMES))
    activations: tuple[str, ...] = setting(("tanh", "relu", "linear"), "hidden activations",
                                           choices=("tanh", "relu", "linear"))  # fmt: skip
    seeds: int = setting(2, "models per (scheme, activation)", low=1, high=100_000)
    sweep_examples: int = setting(128, "examples pushed through the depth sweep (a std needs no more)", low=2,
                                  high=100_000)  # fmt: skip
    train_width: int = setting(64, "the width of the nets trained for `steps` (the fixed budget), in float32", low=1,
                               high=100_000)  # fmt: skip
    steps: int = setting(200, "gradient-descent steps of the trained nets", low=1, high=MAX_STEPS)
    lr: float = setting(0.1, "the learning rate of the trained nets", low=0.0, low_open=True)

    def check_together(self) -> None:
        if self.max_depth < self.layers:
            raise InitlabValueError(
                f"The 'max_depth' setting of depth must be an int >= 'layers' ({self.layers}). Got {self.max_depth}."
            )


def _init_bytes(cfg: Config, m: int, n_x: int) -> int:
    """One model's bytes at initialization (float32): parameters and gradients, the caches Z and A of every
    layer, and a few layers' worth of temporaries (the backward pass's dZ and dA, the statistics')."""
    n, L = cfg.width, cfg.layers
    weights = n * n_x + (L - 1) * n * n + n
    return 4 * (2 * weights + (2 * L + 6) * n * m + 4 * m)


def _train_bytes(cfg: Config, m: int, n_x: int) -> int:
    """One trained model's bytes (float32, the reference engine; the fused kernel needs less)."""
    n, L = cfg.train_width, cfg.layers
    weights = n * n_x + (L - 1) * n * n + n
    return 4 * (4 * weights + L * (6 * n * m) + 4 * m) + 8 * cfg.steps


def peak_bytes(cfg: Config) -> int:
    """An estimate of the run's peak memory: the largest chunk of an ensemble at work, plus the results kept.

    Ensembles are trained in chunks of at most :data:`~initlab.experiments._common.CHUNK_BYTES`, so
    the peak grows with the seeds only through what is kept (rows and arrays), not through the ensembles."""
    d = _data.load(cfg.dataset)
    m, n_x = d.X_train.shape[1], d.n_x
    n_models = len(cfg.schemes) * cfg.seeds
    per_init = _init_bytes(cfg, m, n_x)
    per_train = _train_bytes(cfg, m, n_x)
    at_work = max(len(range(cfg.seeds)[chunks(cfg.seeds, per_init)[0]]) * per_init,
                  len(range(n_models)[chunks(n_models, per_train)[0]]) * per_train)  # fmt: skip
    rows = len(cfg.activations) * n_models * (3 * cfg.layers + cfg.max_depth + 5) * ROW_BYTES
    kept = len(cfg.activations) * (n_models * (8 * cfg.max_depth + 8 * cfg.steps + 24 * cfg.layers)
                                   + len(cfg.schemes) * 8 * cfg.layers * (len(BINS) + len(GRAD_BINS)))  # fmt: skip
    sweep = 8 * 3 * cfg.width * max(cfg.width, n_x) + 8 * 4 * cfg.width * cfg.sweep_examples
    return int(at_work + rows + kept + sweep)


def _sweep(cfg: Config, X: np.ndarray, scheme: str, act: str, seed: int) -> np.ndarray:
    """Activation std at depths 1..max_depth, drawing each layer and dropping it."""
    init, g, rng = get(SCHEMES[scheme]), get_activation(act), as_rng(seed)
    stds = np.empty(cfg.max_depth)
    A = X
    with np.errstate(over="ignore", invalid="ignore"):
        for l in range(cfg.max_depth):
            A = g.forward(np, init((cfg.width, A.shape[0]), rng) @ A)  # biases start at 0
            stds[l] = activation_std(np, A)
    return stds


def sigma_w2(spec: str, shape: tuple[int, int]) -> float:
    """``n_{l-1} E[W_ij^2]``, the mean-field theory's ``sigma_w2`` of a weight of ``shape`` drawn by ``spec``."""
    p = get(spec).plan(shape)
    if p is None:  # every scheme of SCHEMES has a plan; a spec without one cannot be predicted
        raise InitlabValueError(f"The scheme {spec!r} has no plan: its sigma_w2 is not known before drawing.")
    return (p.std**2 + p.mean**2) * shape[1]


def _predicted(cfg: Config, X: np.ndarray, scheme: str, act: str) -> np.ndarray:
    """The mean-field prediction of :func:`_sweep`'s activation std at depths 1..max_depth (biases 0).

    Quadrature's accuracy warning (tanh far in saturation, where ``E[tanh^2]`` is ~1 anyway) is not raised: the
    prediction is drawn beside the measurement, and the claims check it where it is accurate."""
    spec = SCHEMES[scheme]
    sws = [sigma_w2(spec, (cfg.width, X.shape[0]))] + [sigma_w2(spec, (cfg.width, cfg.width))] * (cfg.max_depth - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureWarning)
        return predict_layers(act, sws, 0.0, cfg.max_depth, float(np.mean(X**2))).act_std


def _at_init_chunk(cfg: Config, d: _data.Dataset, scheme: str, act: str, seeds: list[int]) -> dict[str, np.ndarray]:
    net = MLP.make([d.n_x] + [cfg.width] * cfg.layers + [1], act, "bce")
    p = init_ensemble(net.layer_dims, seeds=seeds, weights=SCHEMES[scheme], dtype=np.float32)
    X, Y = d.X_train.astype(np.float32), d.Y_train.astype(np.float32)
    g = net.hidden[0]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        _, caches = forward(net, p, X)
        grads = backward(net, p, caches, net.loss.grad(np, caches[-1][1], Y))
        dW = [grads[f"dW{l}"] for l in range(1, cfg.layers + 1)]
        acts = [caches[l][2] for l in range(cfg.layers)]  # A[1..layers], (M, width, m)
        sat = [saturated_share(np, g, caches[l][1], caches[l][2]) for l in range(cfg.layers)]
        logs = [np.clip(np.log10(np.abs(w[0]) + 1e-30), GRAD_BINS[0], GRAD_BINS[-1]) for w in dW]
        out = {
            "act_std": np.stack([activation_std(np, a) for a in acts], axis=-1),  # (M, L)
            "saturated": np.stack(sat, axis=-1),
            "grad_norm": np.stack([gradient_norm(np, w) for w in dW], axis=-1),
            "histogram": np.stack([np.histogram(np.clip(a[0], BINS[0], BINS[-1]), BINS)[0] for a in acts]),
            "grad_histogram": np.stack([np.histogram(x, GRAD_BINS)[0] for x in logs]),
        }
    return {k: np.asarray(v, dtype=np.float64) if k not in ("histogram", "grad_histogram") else v
            for k, v in out.items()}  # fmt: skip


def _at_init(cfg: Config, d: _data.Dataset, scheme: str, act: str) -> dict[str, np.ndarray]:
    """The statistics at initialization of ``seeds`` models, computed chunk by chunk (bounded memory)."""
    per_model = _init_bytes(cfg, d.X_train.shape[1], d.n_x)
    parts = [_at_init_chunk(cfg, d, scheme, act, list(range(cfg.seeds))[c]) for c in chunks(cfg.seeds, per_model)]
    return concat(parts, lambda key: None if "histogram" in key else 0)  # histograms: model 0's


def _train(cfg: Config, d: _data.Dataset, act: str) -> dict[str, Any]:
    """Train every (scheme, seed) for ``steps``, chunk by chunk (bounded memory)."""
    net = MLP.make([d.n_x] + [cfg.train_width] * cfg.layers + [1], act, "bce")
    labels = [s for s in cfg.schemes for _ in range(cfg.seeds)]
    seeds = [k for _ in cfg.schemes for k in range(cfg.seeds)]
    X, Y = d.X_train.astype(np.float32), d.Y_train.astype(np.float32)
    parts = []
    for c in chunks(len(labels), _train_bytes(cfg, X.shape[1], d.n_x)):
        p = init_ensemble(net.layer_dims, seeds=seeds[c], weights=[SCHEMES[s] for s in labels[c]],
                          dtype=np.float32)  # fmt: skip
        with np.errstate(over="ignore", invalid="ignore"):  # a learning rate of 1e300 overflows float32
            try:  # the fused CPU kernel when it is installed; the reference engine otherwise
                h = train(net, p, X, Y, steps=cfg.steps, lr=cfg.lr, record_every=0, backend="numba")
            except InitlabValueError:
                h = train(net, p, X, Y, steps=cfg.steps, lr=cfg.lr, record_every=0)
            div = divergence(h)
            acc = np.asarray(accuracy(net, p, X, Y), dtype=np.float64)
        parts.append({"loss": h.loss, "accuracy": acc, "diverged_at": div.at, "last_finite": div.last_finite,
                      "grew": div.grew})  # fmt: skip
    out = concat(parts, lambda key: 1 if key == "loss" else 0)
    out["accuracy"][out["diverged_at"] >= 0] = np.nan  # a diverged model's predictions mean nothing
    return {"schemes": labels, **out}


#: How far (a factor) the measured activation std may lie from the mean-field prediction at any depth: the
#: sweep's layers have ``width`` units and ``sweep_examples`` inputs, so each layer's std carries a sampling error
#: of a few percent that compounds over depth (relu on 2 seeds of width 500: 1.43 at worst, 1.26 on 4 seeds).
THEORY_FACTOR = 1.5


def _theory_gap(cfg: Config, arrays: dict[str, np.ndarray]) -> float | None:
    """The largest factor between the measured std (geometric mean over seeds) and the prediction, over every
    depth, scheme and activation where both are finite and nonzero; None when nothing is comparable."""
    gaps = []
    for act in cfg.activations:
        for scheme in cfg.schemes:
            measured, theory = arrays[f"{act}/{scheme}/std_by_depth"], arrays[f"{act}/{scheme}/predicted_std_by_depth"]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                log_gap = np.abs(np.log(measured).mean(axis=0) - np.log(theory))
            gaps.append(log_gap[np.isfinite(log_gap)])
    every = np.concatenate(gaps) if gaps else np.empty(0)
    return float(np.exp(every.max())) if every.size else None


def run(config: Config | None = None) -> Result:
    """Initialize, sweep depth and train every (scheme, activation); check the lecture's deep-net claims."""
    from ._common import Divergence

    cfg = config or Config()
    d = _data.load(cfg.dataset)
    rows: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    divs: list[Divergence] = []
    for act in cfg.activations:
        for scheme in cfg.schemes:
            st = _at_init(cfg, d, scheme, act)
            arrays[f"{act}/{scheme}/histogram"] = st["histogram"]
            arrays[f"{act}/{scheme}/grad_histogram"] = st["grad_histogram"]
            sweeps = [_sweep(cfg, d.X_train[:, : cfg.sweep_examples], scheme, act, seed) for seed in range(cfg.seeds)]
            arrays[f"{act}/{scheme}/std_by_depth"] = np.stack(sweeps)
            arrays[f"{act}/{scheme}/predicted_std_by_depth"] = _predicted(cfg, d.X_train[:, : cfg.sweep_examples],
                                                                          scheme, act)  # fmt: skip
            for k in range(cfg.seeds):
                base = {"model": k, "activation": act, "init": scheme, "seed": k, "step": 0}
                for l in range(cfg.layers):
                    for metric in ("act_std", "saturated", "grad_norm"):
                        rows.append({**base, "layer": l + 1, "metric": metric, "value": float(st[metric][k, l])})
                for l in range(cfg.max_depth):
                    rows.append({**base, "layer": l + 1, "metric": "act_std_by_depth", "value": float(sweeps[k][l])})
        tr = _train(cfg, d, act)
        arrays[f"{act}/train_loss"] = tr["loss"]
        div = Divergence(tr["diverged_at"], tr["last_finite"], tr["grew"])
        divs.append(div)
        for k, scheme in enumerate(tr["schemes"]):
            base = {"model": k, "activation": act, "init": scheme, "seed": k % cfg.seeds, "layer": 0}
            rows.append({**base, "step": cfg.steps, "metric": "final_loss", "value": float(tr["loss"][-1, k])})
            rows.append({**base, "step": cfg.steps, "metric": "train_accuracy", "value": float(tr["accuracy"][k])})
            rows += div.rows(k, base, cfg.steps)
    majority = float(max(d.Y_train.mean(), 1 - d.Y_train.mean()))
    index: dict[tuple[str, str, str, int], list[float]] = {}
    for r in rows:
        index.setdefault((r["metric"], r["init"], r["activation"], r["layer"]), []).append(r["value"])
        index.setdefault((r["metric"], r["init"], r["activation"], -1), []).append(r["value"])

    def mean(metric: str, scheme: str, act: str, layer: int | None = None) -> float:
        """The mean of the finite values (diverged models' accuracies are NaN: left out); NaN for none."""
        values = np.asarray(index.get((metric, scheme, act, -1 if layer is None else layer), []))
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else math.nan

    claims: dict[str, bool] = {}
    L = cfg.layers
    if {"tanh"} <= set(cfg.activations) and {"randn", "0.01 * randn"} <= set(cfg.schemes):
        deep_sat = np.mean([mean("saturated", "randn", "tanh", l) for l in range(2, L + 1)])
        claims[f"randn on {L} tanh layers of {cfg.width}: most units saturated (|a| > 0.99)"] = bool(deep_sat > 0.8)
        with np.errstate(divide="ignore", invalid="ignore"):
            shrink = [mean("act_std", "0.01 * randn", "tanh", l) / mean("act_std", "0.01 * randn", "tanh", l + 1)
                      for l in range(2, L)]  # fmt: skip
        factor = 1 / (0.01 * math.sqrt(cfg.width))  # 1 / (std(W) sqrt(fan_in)): 4.5 for 500 units
        claims[f"0.01 * randn on {L} tanh layers: the signal shrinks about {factor:.1f}x per layer"] = bool(
            len(shrink) > 0 and abs(np.median(shrink) / factor - 1) < 0.1
        )
    if "relu" in cfg.activations and {"he", "xavier"} <= set(cfg.schemes):
        he = arrays["relu/he/std_by_depth"].mean(axis=0)
        xav = arrays["relu/xavier/std_by_depth"].mean(axis=0)
        claims["he keeps a deep relu net's activation std within a factor 2 across depth"] = bool(
            he.max() / he.min() < 2
        )
        ratio = (xav[1:] / xav[:-1]) ** 2
        claims["xavier halves a relu net's activation variance at each layer"] = bool(abs(np.median(ratio) - 0.5) < 0.1)
    worst = _theory_gap(cfg, arrays)
    if worst is not None:
        theory_claim = (f"mean-field theory predicts the activation std at every depth to within a factor "
                        f"{THEORY_FACTOR:g} (geometric mean over seeds), for every scheme and activation")  # fmt: skip
        claims[theory_claim] = bool(worst <= THEORY_FACTOR)
    good = [("he", "relu"), ("xavier", "tanh")]
    trained = {(s, a) for s in cfg.schemes for a in cfg.activations}
    if {*good, ("0.01 * randn", "tanh")} <= trained:
        learned = min(mean("train_accuracy", s, a) for s, a in good)
        small = mean("train_accuracy", "0.01 * randn", "tanh")
        claims[f"in {cfg.steps} steps, he (relu) and xavier (tanh) learn; 0.01 * randn (tanh) does not"] = bool(
            learned > majority + 0.1 and small < majority + 0.05)  # fmt: skip
    at_init = [
        {"activation": act, "init": scheme, f"act std, layer {L}": f"{mean('act_std', scheme, act, L):.2g}",
         f"saturated, layer {L}": "n/a" if act != "tanh" else f"{mean('saturated', scheme, act, L):.0%}",
         f"std at depth {cfg.max_depth}": f"{arrays[f'{act}/{scheme}/std_by_depth'][:, -1].mean():.2g}",
         "||dW[1]||": f"{mean('grad_norm', scheme, act, 1):.2g}"}
        for act in cfg.activations for scheme in cfg.schemes
    ]  # fmt: skip
    after = []
    for act, div in zip(cfg.activations, divs, strict=True):
        for scheme in cfg.schemes:
            sel = np.array([s == scheme for s in [x for x in cfg.schemes for _ in range(cfg.seeds)]])
            acc = [r["value"] for r in rows if r["metric"] == "train_accuracy" and r["activation"] == act
                   and r["init"] == scheme]  # fmt: skip
            after.append({"activation": act, "init": scheme, "models": int(sel.sum()),
                          "diverged": int((div.diverged & sel).sum()), "train accuracy": mean_sd(acc)})  # fmt: skip
    sentences = []
    key_small = f"0.01 * randn on {L} tanh layers: the signal shrinks about {1 / (0.01 * math.sqrt(cfg.width)):.1f}x"
    if any(c.startswith(key_small) for c in claims):
        held = claims[next(c for c in claims if c.startswith(key_small))]
        sat = mean("saturated", "randn", "tanh", L)
        std_l = mean("act_std", "0.01 * randn", "tanh", L)
        sentences.append(
            f"On {L} tanh layers of {cfg.width}, 0.01 * randn {'shrinks' if held else 'does not shrink'} the signal "
            f"about {1 / (0.01 * math.sqrt(cfg.width)):.1f}x per layer (std {std_l:.2g} at layer {L}) and randn "
            f"saturates {sat:.0%} of the units at layer {L}."
        )
    if "he keeps a deep relu net's activation std within a factor 2 across depth" in claims:
        both = (
            claims["he keeps a deep relu net's activation std within a factor 2 across depth"]
            and claims["xavier halves a relu net's activation variance at each layer"]
        )
        relu = (
            "on relu, He keeps the signal steady across depth while Xavier halves its variance at every layer"
            if both
            else "on relu, He and Xavier did not behave as the lecture says here (see the table)"
        )
        if sentences:  # one sentence for what happens at the start, one for training
            sentences[-1] = sentences[-1][:-1] + f"; {relu}."
        else:
            sentences.append(relu[0].upper() + relu[1:] + ".")
    learn_claim = next((c for c in claims if c.startswith(f"in {cfg.steps} steps")), None)
    if learn_claim is not None:
        he_acc, xav_acc = mean("train_accuracy", "he", "relu"), mean("train_accuracy", "xavier", "tanh")
        small_acc = mean("train_accuracy", "0.01 * randn", "tanh")
        if claims[learn_claim]:
            sentences.append(
                f"In {cfg.steps} steps He (relu) and Xavier (tanh) learn ({he_acc:.2f} and {xav_acc:.2f} train "
                f"accuracy) while 0.01 * randn (tanh) stays near the majority class ({small_acc:.2f} against "
                f"{majority:.2f})."
            )
        elif np.isfinite([he_acc, xav_acc, small_acc]).all():
            sentences.append(
                f"In {cfg.steps} steps He (relu) reached {he_acc:.2f}, Xavier (tanh) {xav_acc:.2f} and 0.01 * randn "
                f"(tanh) {small_acc:.2f} train accuracy (majority class {majority:.2f})."
            )
    if worst is not None:
        sentences.append(
            f"Mean-field theory (initlab.theory.predict_layers, from each scheme's n Var(W) per layer) predicts every "
            f"one of these std profiles: at every depth the measured std lies within a factor {worst:.2f} of it."
        )
    sentences.append(diverged_sentence(divs))
    answer = " ".join(x for x in sentences if x)
    tables: dict[str, list[dict[str, Any]]] = {f"At initialization ({cfg.layers} layers of {cfg.width})": at_init,
              f"After {cfg.steps} steps ({cfg.layers} layers of {cfg.train_width})": after}  # fmt: skip
    return Result("depth", asdict(cfg), rows, arrays, claims, answer, question=QUESTION, tables=tables,
                  command=command(cfg))  # fmt: skip
