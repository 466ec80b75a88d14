"""The CS231n notes' weight-initialization demo (Karpathy, 2016): activation statistics through 10 layers.

The lecture's script draws ``X = randn(1000, 500)`` (1000 examples of 500 features; here
as columns, ``(500, 1000)``), pushes it through 10 hidden layers of 500 units with zero
biases, and prints each layer's activation mean and std for five starts:

=====================  ========  ==========================  ==================================
case                   layers    W                           what the lecture shows
=====================  ========  ==========================  ==================================
``tanh 0.01*randn``    tanh      ``0.01 * randn``            std x0.22 per layer: all activations -> 0
``tanh 1.0*randn``     tanh      ``randn``                   std ~0.98: saturated at -1 / +1
``tanh xavier``        tanh      ``randn / sqrt(fan_in)``    slow decay, 0.63 at layer 1 to 0.23
``relu xavier``        relu      ``randn / sqrt(fan_in)``    variance halves per layer
``relu he``            relu      ``randn / sqrt(fan_in/2)``  flat, std ~0.83 at every layer
=====================  ========  ==========================  ==================================

The digits the lecture printed are quoted from memory (they agree with the theory to
the digits given); each is also computed as the mean-field theory predicts: ``q^1 =
sigma_w2 * q0`` (``q0 = 1`` for randn inputs), ``q^{l+1} = sigma_w2 E[phi(sqrt(q^l) z)^2]``
(:func:`initlab.theory.predict_layers`), and the std of the activations ``sqrt(E[phi^2] -
E[phi]^2)`` (for relu, ``sqrt(q) sqrt(1/2 - 1/(2 pi))``).  For the saturated case
(``q ~ 500``), Gauss-Hermite quadrature cannot resolve tanh, so that case's moments are
taken on a dense grid instead (here, :func:`_dense_tanh`).

Findings (each with its tolerance, on the mean over seeds; ``ours`` shows the spread):
layer 1's std within 5% of the lecture's number, the per-layer factor (geometric mean of
``std[l+1] / std[l]``) within 5% of the lecture's, the saturated profile within 5% on
average over the layers.  He's flat profile is checked as layer 1's std and a per-layer
factor of 1, not as every layer's std: relu's std drifts from layer to layer by a few
percent at width 500 (a random walk in the log of the std, whose variance grows about like
``5 L / n``, Hanin & Rolnick 2018), so single seeds spread by about 10% at layer 10.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..engine import MLP, activation_mean, activation_std, forward, init_ensemble
from ..experiments import Settings, setting
from ..results import Result
from ..theory import predict_layers
from ._common import Finding, Paper, paper_result, spread

__all__ = ["CASES", "LECTURE", "PAPER", "Config", "run"]

PAPER = Paper(
    authors="Karpathy (CS231n, Stanford)",
    year=2016,
    title="Convolutional Neural Networks for Visual Recognition, lecture 5 and notes: weight initialization",
    venue="course notes",
    setup=(
        "X = randn(1000, 500) through 10 hidden layers of 500 units, zero biases; each layer's activation mean and "
        "std printed for tanh with W = 0.01 randn, randn and randn / sqrt(fan_in), and relu with randn / "
        "sqrt(fan_in) and randn / sqrt(fan_in / 2)."
    ),
    claim=(
        "Small weights make every activation vanish (std x0.22 per layer), unit-variance weights saturate tanh, "
        "randn / sqrt(fan_in) keeps tanh alive but lets relu's variance halve per layer, and He's "
        "randn / sqrt(fan_in / 2) keeps relu's std flat at about 0.83."
    ),
    scaled=(
        "Nothing is scaled down: the default is the lecture's own size (500 x 1000 inputs, 10 layers of 500) with "
        "5 seeds where the lecture ran one; `initlab reproduce cs231n --full` runs 20 seeds."
    ),
)

#: case -> (activation, weight spec, n Var[W] = sigma_w2)
CASES: dict[str, tuple[str, str, float]] = {
    "tanh 0.01*randn": ("tanh", "randn(scale=0.01)", 0.0001),
    "tanh 1.0*randn": ("tanh", "randn(scale=1)", 1.0),
    "tanh xavier": ("tanh", "lecun_normal", math.nan),
    "relu xavier": ("relu", "lecun_normal", math.nan),
    "relu he": ("relu", "he_normal", math.nan),
}

#: the std per layer the lecture printed (from memory; None where it gave no digits for the layer)
LECTURE: dict[str, list[float | None]] = {
    "tanh 0.01*randn": [0.213, 0.0476, 0.0106, 0.00238, 0.000532, 0.000119, 2.66e-05, 5.9e-06, 1.3e-06, 3e-07],
    "tanh 1.0*randn": [0.98] * 10,
    "tanh xavier": [0.628, 0.486, 0.408, 0.357, 0.321, 0.292, 0.273, 0.257, 0.245, 0.233],
    "relu xavier": [None] * 10,
    "relu he": [0.825] * 10,
}
TOL = 0.05  # relative tolerance of every finding
BINS = {"tanh": np.linspace(-1.0, 1.0, 41), "relu": np.linspace(0.0, 4.0, 41)}


@dataclass(frozen=True)
class Config(Settings):
    """The CS231n demo's settings (the default is the lecture's own size)."""

    EXPERIMENT = "cs231n"
    COMMAND = "reproduce"
    FULL: ClassVar[dict[str, Any]] = {"seeds": 20}

    features: int = setting(500, "input features D, also the width of every hidden layer", low=2, high=20_000)
    examples: int = setting(1000, "examples in X", low=2, high=100_000)
    layers: int = setting(10, "hidden layers", low=2, high=200)
    seeds: int = setting(5, "seeds per case (weights; X is drawn once from data_seed)", low=1, high=1000)
    data_seed: int = setting(0, "the seed of X = randn", low=0, high=2**31 - 1)


def _sigma_w2(case: str, n: int) -> float:
    _, spec, value = CASES[case]
    if spec.startswith("randn"):
        return value * n  # n * scale^2
    return 2.0 if spec == "he_normal" else 1.0


def _dense_tanh(sigma_w2: float, depth: int, q0: float) -> np.ndarray:
    """The std of tanh's output per layer by the mean-field recursion, the Gaussian integrals on a dense grid."""
    z = np.linspace(-12.0, 12.0, 240_001)
    w = np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi) * (z[1] - z[0])
    q, stds = sigma_w2 * q0, []
    for _ in range(depth):
        sq = float(np.sum(w * np.tanh(math.sqrt(q) * z) ** 2))
        stds.append(math.sqrt(sq))  # tanh is odd: the mean is 0
        q = sigma_w2 * sq
    return np.array(stds)


def _theory(case: str, n: int, depth: int, q0: float) -> np.ndarray:
    act, _, _ = CASES[case]
    sw2 = _sigma_w2(case, n)
    if act == "tanh" and sw2 * q0 > 20:  # beyond what Gauss-Hermite quadrature resolves for tanh
        return _dense_tanh(sw2, depth, q0)
    return np.asarray(predict_layers(act, sw2, 0.0, depth, q0).act_std)


def _factor(stds: np.ndarray) -> np.ndarray:
    """Geometric mean over layers of ``std[l+1] / std[l]``, per model: ``(std[L] / std[1])^(1/(L-1))``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((stds[..., -1] / stds[..., 0]) ** (1.0 / (stds.shape[-1] - 1)))


def _close(values: np.ndarray, target: float) -> bool:
    """Whether the mean over seeds (and layers, for a profile) is within :data:`TOL` of ``target``."""
    return bool(abs(float(np.mean(values)) - target) <= TOL * abs(target))


def run(config: Config | None = None) -> Result:
    """The five starts of the lecture's demo: activation mean and std per layer, against the lecture and theory.

    >>> r = run(Config(features=50, examples=100, layers=3, seeds=2))
    >>> r.arrays["relu he/std"].shape
    (2, 3)
    """
    cfg = config or Config()
    n, L = cfg.features, cfg.layers
    # X's own stream, apart from the models' (seeds 0, 1, ...): drawn from the same seed, model 0's W1 would be
    # the first rows of X, which biased its layer-1 std by about 0.4%
    X = np.random.default_rng(np.random.SeedSequence(cfg.data_seed, spawn_key=(1,))).standard_normal((n, cfg.examples))
    q0 = float(np.mean(X**2))
    rows: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {f"{a}/bins": b for a, b in BINS.items()}
    layer_table: list[dict[str, Any]] = []
    stds: dict[str, np.ndarray] = {}
    model = 0
    for case, (act, spec, _) in CASES.items():
        net = MLP.make([n] * (L + 1) + [1], act, "mse")
        params = init_ensemble(net.layer_dims, seeds=list(range(cfg.seeds)), weights=spec, biases="zeros")
        with np.errstate(over="ignore", under="ignore"):
            _, caches = forward(net, params, X)
        acts = [caches[l][2] for l in range(L)]  # (M, n, m) each
        std = np.stack([activation_std(np, a) for a in acts], axis=-1)  # (M, L)
        mean = np.stack([activation_mean(np, a) for a in acts], axis=-1)
        saturated = np.stack([np.mean(np.abs(a) > 0.99, axis=(-2, -1)) for a in acts], axis=-1)
        hist = np.stack([np.histogram(np.clip(a, BINS[act][0], BINS[act][-1]), BINS[act])[0] / a.size for a in acts])
        theory = _theory(case, n, L, q0)
        stds[case] = std
        arrays |= {f"{case}/std": std, f"{case}/mean": mean, f"{case}/theory_std": theory, f"{case}/hist": hist,
                   f"{case}/saturated": saturated}  # fmt: skip
        lecture = LECTURE[case] if n == 500 else [None] * L
        lecture = (lecture + [None] * L)[:L]
        arrays[f"{case}/lecture_std"] = np.array([math.nan if v is None else v for v in lecture])
        for k in range(cfg.seeds):
            for l in range(L):
                for metric, values in (("act_std", std), ("act_mean", mean), ("saturated", saturated)):
                    value = float(values[k, l])
                    rows.append({"model": model, "case": case, "activation": act, "init": spec, "seed": k,
                                 "step": 0, "layer": l + 1, "metric": metric, "value": value})  # fmt: skip
            model += 1
        for l in range(L):
            layer_table.append({"case": case, "layer": l + 1, "lecture std": lecture[l],
                                "theory std": float(f"{theory[l]:.4g}"), "ours std": spread(std[:, l]),
                                "ours mean": spread(mean[:, l])})  # fmt: skip
    findings = _findings(stds, arrays, n, L, q0)
    small, sat, xav, rx, he = (stds[c] for c in CASES)
    answer = (
        f"The lecture shows 0.01 * randn shrinking tanh's std by 0.22 per layer to nothing, randn saturating it "
        f"(std ~0.98), randn / sqrt(fan_in) decaying slowly from 0.63 to 0.23, and for relu the variance halving per "
        f"layer unless He's sqrt(2 / fan_in) keeps the std near 0.83. We measure a per-layer factor of "
        f"{np.mean(_factor(small)):.3f} for 0.01 * randn (last layer {np.mean(small[:, -1]):.2g}), std "
        f"{np.mean(sat):.3f} for randn, {np.mean(xav[:, 0]):.3f} to {np.mean(xav[:, -1]):.3f} for Xavier tanh, a "
        f"factor {np.mean(_factor(rx)):.3f} for relu with 1/sqrt(fan_in), and for He {np.mean(he[:, 0]):.3f} at "
        f"layer 1 with a per-layer factor {np.mean(_factor(he)):.3f}. "
        f"{sum(f.holds for f in findings)} of {len(findings)} findings hold within {TOL:.0%}."
    )
    return paper_result("cs231n", cfg, PAPER, findings, rows, arrays, answer,
                        tables={"Layer by layer": layer_table})  # fmt: skip


def _findings(stds: dict[str, np.ndarray], arrays: dict[str, np.ndarray], n: int, L: int, q0: float) -> list[Finding]:
    """The lecture's statements against our numbers; numbers the lecture gave only for D = 500 fall back to
    the theory at other sizes (said in the paper column)."""
    lec = {c: arrays[f"{c}/lecture_std"] for c in CASES}
    th = {c: arrays[f"{c}/theory_std"] for c in CASES}

    def ref(case: str, l: int) -> tuple[float, str]:
        v = float(lec[case][l])
        if math.isfinite(v):
            return v, f"{v:.3g} (lecture, from memory)"
        return float(th[case][l]), f"{float(th[case][l]):.3g} (theory)"

    out = []
    small, sat, xav, rx, he = (stds[c] for c in CASES)
    v, text = ref("tanh 0.01*randn", 0)
    out.append(Finding(f"tanh, 0.01 * randn: layer-1 activation std (within {TOL:.0%})", text, spread(small[:, 0]),
                       _close(small[:, 0], v)))  # fmt: skip
    f = math.sqrt(_sigma_w2("tanh 0.01*randn", n))
    out.append(Finding(f"tanh, 0.01 * randn: std shrinks by a factor 0.01 * sqrt(D) per layer (within {TOL:.0%})",
                       f"{f:.4g} (0.01 * sqrt({n}))", spread(_factor(small)), _close(_factor(small), f)))  # fmt: skip
    v, text = ref("tanh 1.0*randn", 0)
    out.append(Finding(f"tanh, 1.0 * randn: activation std at every layer, saturated near -1 / +1 (within "
                       f"{TOL:.0%})", text, spread(sat.mean(axis=1)), _close(sat, v)))  # fmt: skip
    share = arrays["tanh 1.0*randn/saturated"]
    out.append(Finding("tanh, 1.0 * randn: share of units x examples with |a| > 0.99, mean over layers (almost all "
                       "saturated: holds above 0.8)", "almost all (lecture)", spread(share.mean(axis=1)),
                       bool(np.mean(share) > 0.8)))  # fmt: skip
    for l in (0, L - 1):
        v, text = ref("tanh xavier", l)
        out.append(Finding(f"tanh, randn / sqrt(fan_in): layer-{'1' if l == 0 else 'L'} activation std (within "
                           f"{TOL:.0%})", text, spread(xav[:, l]), _close(xav[:, l], v)))  # fmt: skip
    f = 1 / math.sqrt(2)
    out.append(Finding(f"relu, randn / sqrt(fan_in): std shrinks by 1/sqrt(2) per layer (variance halves; within "
                       f"{TOL:.0%})", f"{f:.4g}", spread(_factor(rx)), _close(_factor(rx), f)))  # fmt: skip
    v, text = ref("relu he", 0)
    out.append(Finding(f"relu, randn / sqrt(fan_in / 2): layer-1 activation std (within {TOL:.0%})", text,
                       spread(he[:, 0]), _close(he[:, 0], v)))  # fmt: skip
    out.append(Finding(f"relu, randn / sqrt(fan_in / 2): the std stays flat, per-layer factor 1 (within {TOL:.0%})",
                       "1 (std ~0.825 at every layer, lecture)", spread(_factor(he)),
                       _close(_factor(he), 1.0)))  # fmt: skip
    return out
