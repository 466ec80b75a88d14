"""initlab against ``torch.nn.init``: same fans and gains, same distributions, same deterministic kernels.

Random schemes are compared by a two-sample Kolmogorov-Smirnov test between an
initlab draw (float64, a fixed numpy seed) and a torch draw (float64, a fixed
``torch.manual_seed``) of the same shape; with 131072 and 18432 entries per
sample the test sees a few percent of difference in any quantile.  Negative
controls check that it does: near-miss schemes must fail it.  Deterministic
schemes must agree bit for bit, and every analytic :class:`initlab.Plan` must give
the numbers torch's own formulas give from torch's own fans and gains.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats

import initlab
from initlab import initializers as lab_fans

torch = pytest.importorskip("torch")
nn_init = torch.nn.init

pytestmark = pytest.mark.torch

P_MIN = 1e-4  # the KS p-value a matching pair must exceed, and a mismatched pair must fall below
DENSE = (256, 512)  # non-square, so fan_in != fan_out
CONV = (64, 32, 3, 3)
KS_SHAPES = [pytest.param(DENSE, id="256x512"), pytest.param(CONV, id="64x32x3x3")]
LAB_SEED = 20240611
TORCH_SEED = 1234


# --- helpers ------------------------------------------------------------------------------------


def torch_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    fan_in, fan_out = nn_init._calculate_fan_in_and_fan_out(torch.empty(shape))
    return int(fan_in), int(fan_out)


class _TorchSeeded:
    """``torch.manual_seed(seed)`` inside a fork of the global RNG, so other tests see no change."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __enter__(self) -> None:
        self._fork = torch.random.fork_rng(devices=[])
        self._fork.__enter__()
        torch.manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        self._fork.__exit__(*exc)


def torch_draw(fill: Callable[..., Any], shape: tuple[int, ...], seed: int = TORCH_SEED, **kwargs: Any) -> np.ndarray:
    with _TorchSeeded(seed):
        t = torch.empty(shape, dtype=torch.float64)
        fill(t, **kwargs)
    return t.numpy()


def lab_draw(fn: Callable[..., np.ndarray], shape: tuple[int, ...], seed: int = LAB_SEED, **kwargs: Any) -> np.ndarray:
    w = fn(shape, np.random.default_rng(seed), dtype=np.float64, **kwargs)
    assert w.shape == shape and w.dtype == np.float64
    return w


def ks_p(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.ks_2samp(np.ravel(x), np.ravel(y)).pvalue)


def close(x: float | None, y: float) -> bool:
    return x is not None and math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-300)


# --- fans and gains -------------------------------------------------------------------------------

FAN_SHAPES = [
    (256, 512),
    (512, 256),
    (7, 3),
    (1, 1),
    (1, 9),
    (9, 1),
    (16, 8, 5),
    (3, 1, 1),
    (1, 4, 7),
    (64, 32, 3, 3),
    (64, 3, 7, 7),
    (32, 16, 1, 1),
    (1, 1, 1, 1),
    (8, 4, 3, 5),
    (2, 3, 1, 7),
    (16, 8, 3, 3, 3),
    (4, 2, 2, 3, 5),
    (7, 5, 1, 1, 1),
    (3, 2, 2, 2, 2, 2),
]


@pytest.mark.parametrize("shape", FAN_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_fans_equal_torch(shape: tuple[int, ...]) -> None:
    assert lab_fans.fans(shape) == torch_fans(shape)
    assert initlab.fans(list(shape)) == torch_fans(shape)


@pytest.mark.parametrize("shape", [(64, 32, 3, 3), (12, 5, 4), (6, 6)], ids=lambda s: "x".join(map(str, s)))
def test_fans_transposed_are_torch_swapped(shape: tuple[int, ...]) -> None:
    # torch applies the dense rule to a ConvTranspose kernel (in, out, *k), so its two fans come out swapped.
    fan_in, fan_out = torch_fans(shape)
    assert lab_fans.fans(shape, transposed=True) == (fan_out, fan_in)


def test_fans_grouped_divide_only_fan_out() -> None:
    # torch ignores groups; initlab divides fan_out by them and keeps fan_in.
    fan_in, fan_out = torch_fans((64, 8, 3, 3))
    assert lab_fans.fans((64, 8, 3, 3), groups=8) == (fan_in, fan_out // 8)


@pytest.mark.parametrize("shape", [(5,), ()], ids=["1-D", "0-D"])
def test_fans_reject_what_torch_rejects(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        nn_init._calculate_fan_in_and_fan_out(torch.empty(shape))
    with pytest.raises(ValueError):
        lab_fans.fans(shape)


@pytest.mark.parametrize("name", list(lab_fans.TORCH_GAINS))
def test_gain_table_equals_torch(name: str) -> None:
    assert lab_fans.gain(name) == nn_init.calculate_gain(name)
    assert lab_fans.TORCH_GAINS[name] == nn_init.calculate_gain(name)


def test_gain_table_has_every_torch_name() -> None:
    names = ["linear", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
    names += [f"conv{d}d" for d in (1, 2, 3)] + [f"conv_transpose{d}d" for d in (1, 2, 3)]
    assert sorted(lab_fans.TORCH_GAINS) == sorted(names)


@pytest.mark.parametrize("slope", [0, 0.0, 0.01, 0.1, 0.2, 0.5, 1.0, 3, math.sqrt(5.0), -0.3, 1e-8, 100.0])
def test_leaky_relu_gain_equals_torch(slope: float) -> None:
    assert lab_fans.gain("leaky_relu", slope) == nn_init.calculate_gain("leaky_relu", slope)


def test_gain_torch_rejects_what_initlab_rejects() -> None:
    for bad in (True, "0.2"):
        with pytest.raises(ValueError):
            nn_init.calculate_gain("leaky_relu", bad)
        with pytest.raises((ValueError, TypeError)):
            lab_fans.gain("leaky_relu", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        nn_init.calculate_gain("gelu")
    with pytest.raises(ValueError):
        lab_fans.gain("gelu")


# --- distributions: KS tests against torch's draws -----------------------------------------------

# id: (initlab function, its kwargs, torch function, its kwargs)
KS_CASES: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {
    "normal": ("normal", {"mean": 0.3, "std": 2.0}, "normal_", {"mean": 0.3, "std": 2.0}),
    "normal-std0.01": ("normal", {"std": 0.01}, "normal_", {"std": 0.01}),
    "uniform": ("uniform", {"low": -0.5, "high": 1.5}, "uniform_", {"a": -0.5, "b": 1.5}),
    "uniform-default": ("uniform", {}, "uniform_", {}),
    "xavier_uniform": ("xavier_uniform", {}, "xavier_uniform_", {}),
    "xavier_uniform-tanh": ("xavier_uniform", {"gain": 5 / 3}, "xavier_uniform_", {"gain": 5 / 3}),
    "xavier_normal": ("xavier_normal", {}, "xavier_normal_", {}),
    "xavier_normal-gain2.5": ("xavier_normal", {"gain": 2.5}, "xavier_normal_", {"gain": 2.5}),
    "kaiming_uniform": ("kaiming_uniform", {}, "kaiming_uniform_", {}),
    "kaiming_uniform-relu": ("kaiming_uniform", {"nonlinearity": "relu"}, "kaiming_uniform_", {"nonlinearity": "relu"}),
    "kaiming_uniform-fan_out": ("kaiming_uniform", {"mode": "fan_out"}, "kaiming_uniform_", {"mode": "fan_out"}),
    "kaiming_uniform-leaky0.2": ("kaiming_uniform", {"a": 0.2}, "kaiming_uniform_", {"a": 0.2}),
    "kaiming_uniform-tanh-fan_out": (
        "kaiming_uniform",
        {"nonlinearity": "tanh", "mode": "fan_out"},
        "kaiming_uniform_",
        {"nonlinearity": "tanh", "mode": "fan_out"},
    ),
    "kaiming_normal": ("kaiming_normal", {}, "kaiming_normal_", {}),
    "kaiming_normal-relu": ("kaiming_normal", {"nonlinearity": "relu"}, "kaiming_normal_", {"nonlinearity": "relu"}),
    "kaiming_normal-fan_out": ("kaiming_normal", {"mode": "fan_out"}, "kaiming_normal_", {"mode": "fan_out"}),
    "kaiming_normal-leaky0.2": ("kaiming_normal", {"a": 0.2}, "kaiming_normal_", {"a": 0.2}),
    "kaiming_normal-leaky0.2-fan_out": (
        "kaiming_normal",
        {"a": 0.2, "mode": "fan_out"},
        "kaiming_normal_",
        {"a": 0.2, "mode": "fan_out"},
    ),
    # trunc_normal_'s a, b are absolute: initlab's bounds=; both of torch's samplers are exercised
    # (rejection from the normal when the mass inside is > 0.3, from a uniform otherwise).
    "trunc-default": ("truncated_normal", {"bounds": (-2.0, 2.0)}, "trunc_normal_", {}),
    "trunc-std0.02": (
        "truncated_normal",
        {"std": 0.02, "bounds": (-0.04, 0.04)},
        "trunc_normal_",
        {"std": 0.02, "a": -0.04, "b": 0.04},
    ),
    "trunc-shifted": (
        "truncated_normal",
        {"mean": 1.0, "std": 0.5, "bounds": (0.0, 2.5)},
        "trunc_normal_",
        {"mean": 1.0, "std": 0.5, "a": 0.0, "b": 2.5},
    ),
    "trunc-narrow": (
        "truncated_normal",
        {"std": 1.0, "bounds": (-0.3, 0.2)},
        "trunc_normal_",
        {"a": -0.3, "b": 0.2},
    ),
    "trunc-one-side": ("truncated_normal", {"bounds": (1.0, 3.0)}, "trunc_normal_", {"a": 1.0, "b": 3.0}),
    "trunc-tail": ("truncated_normal", {"bounds": (2.5, 6.0)}, "trunc_normal_", {"a": 2.5, "b": 6.0}),
    "trunc-left-tail": (
        "truncated_normal",
        {"mean": 0.5, "std": 2.0, "bounds": (-8.0, -3.0)},
        "trunc_normal_",
        {"mean": 0.5, "std": 2.0, "a": -8.0, "b": -3.0},
    ),
    "trunc-half-infinite": (
        "truncated_normal",
        {"bounds": (-math.inf, 0.5)},
        "trunc_normal_",
        {"a": -math.inf, "b": 0.5},
    ),
}


# torch warns (rightly: its samplers lose accuracy there) when the bounds lie over 2 stds from the mean
_TAIL_WARNING = pytest.mark.filterwarnings(r"ignore:mean is more than 2 std from \[a, b\]:UserWarning")
_KS_PARAMS = [pytest.param(case, marks=[_TAIL_WARNING] if case == "trunc-tail" else []) for case in KS_CASES]


@pytest.mark.parametrize("shape", KS_SHAPES)
@pytest.mark.parametrize("case", _KS_PARAMS)
def test_distribution_matches_torch(case: str, shape: tuple[int, ...]) -> None:
    lab_name, lab_kwargs, torch_name, torch_kwargs = KS_CASES[case]
    fn = getattr(initlab, lab_name)
    w = lab_draw(fn, shape, **lab_kwargs)
    t = torch_draw(getattr(nn_init, torch_name), shape, **torch_kwargs)
    p = ks_p(w, t)
    assert p > P_MIN, f"{case}: KS p = {p:.3g} between initlab and torch"
    plan = initlab.plan(fn, shape, **lab_kwargs)
    assert plan is not None
    if plan.low is not None and plan.high is not None:  # torch's draw lies within initlab's planned bounds
        assert plan.low <= t.min() and t.max() <= plan.high
        assert plan.low <= w.min() and w.max() <= plan.high


# near misses the KS test must reject, so that the passes above mean something
NEGATIVE_CASES: dict[str, tuple[str, dict[str, Any], str, dict[str, Any]]] = {
    "xavier_uniform-vs-xavier_normal": ("xavier_uniform", {}, "xavier_normal_", {}),
    "xavier_normal-vs-xavier_uniform": ("xavier_normal", {}, "xavier_uniform_", {}),
    "kaiming_normal-fan_in-vs-fan_out": ("kaiming_normal", {"mode": "fan_in"}, "kaiming_normal_", {"mode": "fan_out"}),
    "kaiming_uniform-fan_in-vs-fan_out": (
        "kaiming_uniform",
        {"mode": "fan_in"},
        "kaiming_uniform_",
        {"mode": "fan_out"},
    ),
    "kaiming_normal-relu-vs-leaky0.2": ("kaiming_normal", {"nonlinearity": "relu"}, "kaiming_normal_", {"a": 0.2}),
    # trunc_normal_(std=0.02) keeps its default absolute a=-2, b=2, i.e. does not truncate at all
    "trunc-sigmas-vs-absolute": (
        "truncated_normal",
        {"std": 0.02, "sigmas": (-2.0, 2.0)},
        "trunc_normal_",
        {"std": 0.02},
    ),
    "torch_default-vs-kaiming_uniform": ("torch_default", {}, "kaiming_uniform_", {}),
}


@pytest.mark.parametrize("case", list(NEGATIVE_CASES))
def test_near_miss_fails_ks(case: str) -> None:
    lab_name, lab_kwargs, torch_name, torch_kwargs = NEGATIVE_CASES[case]
    w = lab_draw(getattr(initlab, lab_name), DENSE, **lab_kwargs)
    t = torch_draw(getattr(nn_init, torch_name), DENSE, **torch_kwargs)
    assert ks_p(w, t) < P_MIN


@pytest.mark.parametrize("gain", [1.0, 2.0])
@pytest.mark.parametrize(
    "shape", [(256, 512), (512, 256), (64, 32, 3, 3), (300, 300)], ids=lambda s: "x".join(map(str, s))
)
def test_orthogonal_matches_torch(shape: tuple[int, ...], gain: float) -> None:
    w = lab_draw(initlab.orthogonal, shape, gain=gain)
    t = torch_draw(nn_init.orthogonal_, shape, gain=gain)
    p = ks_p(w, t)
    assert p > P_MIN, f"KS p = {p:.3g} between the entries of initlab's and torch's orthogonal matrices"
    rows = shape[0]
    for m in (w.reshape(rows, -1), t.reshape(rows, -1)):
        small = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
        np.testing.assert_allclose(small, gain**2 * np.eye(small.shape[0]), atol=1e-10)
    # the root mean square of a semi-orthogonal matrix is fixed: torch's must be the plan's std
    plan = initlab.plan(initlab.orthogonal, shape, gain=gain)
    assert plan is not None
    assert math.isclose(float(np.sqrt(np.mean(t**2))), plan.std, rel_tol=1e-10)


@pytest.mark.parametrize("n", [2, 3])
def test_small_orthogonal_matches_torch(n: int) -> None:
    # for tiny matrices the entries are far from normal (2x2: cos and sin of a uniform angle, the arcsine law),
    # so this checks that both sample the Haar measure (QR with R's signs folded into Q), not just the rms
    draws = 4000
    gen = np.random.default_rng(LAB_SEED)
    w = np.stack([initlab.orthogonal((n, n), gen) for _ in range(draws)])
    with _TorchSeeded(TORCH_SEED):
        t = np.stack([nn_init.orthogonal_(torch.empty(n, n, dtype=torch.float64)).numpy() for _ in range(draws)])
    for i, j in [(0, 0), (0, n - 1), (n - 1, 0)]:
        p = ks_p(w[:, i, j], t[:, i, j])
        assert p > P_MIN, f"KS p = {p:.3g} for entry ({i}, {j}) of {n}x{n} orthogonal matrices"
    # negative control: a normal of the same rms
    normal = lab_draw(initlab.normal, (draws, n, n), std=1 / math.sqrt(n))
    assert ks_p(normal, t) < P_MIN


@pytest.mark.parametrize(
    ("shape", "sparsity", "std"),
    [((256, 512), 0.1, 0.01), ((255, 300), 0.1, 0.5), ((64, 400), 0.9, 1.0), ((100, 200), 0.0, 0.02)],
    ids=["256x512-0.1", "255x300-0.1-ceil", "64x400-0.9", "no-zeros"],
)
def test_sparse_matches_torch(shape: tuple[int, int], sparsity: float, std: float) -> None:
    w = lab_draw(initlab.sparse, shape, sparsity=sparsity, std=std)
    t = torch_draw(nn_init.sparse_, shape, sparsity=sparsity, std=std)
    zeros_w, zeros_t = (w == 0).sum(axis=0), (t == 0).sum(axis=0)
    np.testing.assert_array_equal(zeros_w, zeros_t)
    assert zeros_t.tolist() == [math.ceil(sparsity * shape[0])] * shape[1]
    plan = initlab.plan(initlab.sparse, shape, sparsity=sparsity, std=std)
    assert plan is not None and plan.params["zeros_per_column"] == zeros_t[0]
    p = ks_p(w[w != 0], t[t != 0])
    assert p > P_MIN, f"KS p = {p:.3g} between the nonzero values"
    # the zero rows of the columns are spread evenly over the rows, as torch's randperm spreads them
    if 0.0 < sparsity < 1.0:
        rows_w, rows_t = (w == 0).sum(axis=1), (t == 0).sum(axis=1)
        assert stats.chisquare(rows_w).pvalue > P_MIN
        assert stats.chisquare(rows_t).pvalue > P_MIN


def test_sparse_negative_control() -> None:
    t = torch_draw(nn_init.sparse_, DENSE, sparsity=0.1, std=0.01)
    w = lab_draw(initlab.sparse, DENSE, sparsity=0.1, std=0.02)
    assert ks_p(w[w != 0], t[t != 0]) < P_MIN


# --- torch's defaults: nn.Linear / nn.ConvNd on construction ----------------------------------------

LAYERS: dict[str, Callable[[], Any]] = {
    "Linear(512, 256)": lambda: torch.nn.Linear(512, 256, dtype=torch.float64),
    "Linear(64, 8192)": lambda: torch.nn.Linear(64, 8192, dtype=torch.float64),
    "Conv1d(16, 48, 5)": lambda: torch.nn.Conv1d(16, 48, 5, dtype=torch.float64),
    "Conv2d(32, 64, 3)": lambda: torch.nn.Conv2d(32, 64, 3, dtype=torch.float64),
    "Conv2d(16, 4096, 3)": lambda: torch.nn.Conv2d(16, 4096, 3, dtype=torch.float64),
    "Conv3d(8, 32, (2, 3, 3))": lambda: torch.nn.Conv3d(8, 32, (2, 3, 3), dtype=torch.float64),
    "Conv2d(32, 64, 3, groups=4)": lambda: torch.nn.Conv2d(32, 64, 3, groups=4, dtype=torch.float64),
    # a transposed kernel is stored (in, out, *k); torch's default init reads its fans off that stored shape
    "ConvTranspose2d(16, 96, 3)": lambda: torch.nn.ConvTranspose2d(16, 96, 3, dtype=torch.float64),
}


def _layer(name: str) -> tuple[np.ndarray, np.ndarray]:
    with _TorchSeeded(TORCH_SEED), torch.no_grad():
        layer = LAYERS[name]()
        return layer.weight.numpy().copy(), layer.bias.numpy().copy()


@pytest.mark.parametrize("name", list(LAYERS))
def test_torch_default_weight_matches_layer(name: str) -> None:
    weight, _ = _layer(name)
    shape = tuple(weight.shape)
    w = lab_draw(initlab.torch_default, shape)
    p = ks_p(w, weight)
    assert p > P_MIN, f"KS p = {p:.3g} between torch_default and {name}.weight"
    plan = initlab.plan(initlab.torch_default, shape)
    assert plan is not None and plan.low is not None and plan.high is not None
    assert plan.low <= weight.min() and weight.max() <= plan.high
    # and the same as torch's own recipe for it
    t = torch_draw(nn_init.kaiming_uniform_, shape, a=math.sqrt(5.0))
    assert ks_p(w, t) > P_MIN


@pytest.mark.parametrize("name", list(LAYERS))
def test_torch_default_bias_matches_layer(name: str) -> None:
    weight, bias = _layer(name)
    fan_in, _ = torch_fans(tuple(weight.shape))
    policy = initlab.get_bias("torch_default")
    b = policy(bias.shape, np.random.default_rng(LAB_SEED), fan_in=fan_in)
    assert b.shape == bias.shape
    # many draws of initlab's against torch's one bias (which is short for the small layers)
    many = policy((max(bias.size, 4096),), np.random.default_rng(LAB_SEED + 1), fan_in=fan_in)
    p = ks_p(many, bias)
    assert p > P_MIN, f"KS p = {p:.3g} between the torch_default bias and {name}.bias"
    bound = 1 / math.sqrt(fan_in)
    assert abs(bias).max() <= bound and abs(b).max() <= bound


@pytest.mark.parametrize("name", ["Linear(64, 8192)", "Conv2d(16, 4096, 3)"])
def test_torch_default_bias_negative_control(name: str) -> None:
    weight, bias = _layer(name)
    _, fan_out = torch_fans(tuple(weight.shape))
    wrong = initlab.get_bias("torch_default")((8192,), np.random.default_rng(LAB_SEED), fan_in=fan_out)
    assert ks_p(wrong, bias) < P_MIN


# --- deterministic schemes: bit for bit --------------------------------------------------------------

DTYPES = [
    pytest.param((np.float64, torch.float64), id="float64"),
    pytest.param((np.float32, torch.float32), id="float32"),
]


def _torch_fill(fill: Callable[..., Any], shape: tuple[int, ...], dtype: Any, **kwargs: Any) -> np.ndarray:
    t = torch.full(shape, float("nan"), dtype=dtype)  # every entry must be written
    fill(t, **kwargs)
    return t.numpy()


def _assert_same(lab: np.ndarray, ref: np.ndarray) -> None:
    assert lab.shape == ref.shape
    assert lab.dtype == ref.dtype
    np.testing.assert_array_equal(lab, ref)


@pytest.mark.parametrize("dtypes", DTYPES)
@pytest.mark.parametrize(
    "shape", [(3, 5), (5, 3), (4, 4), (1, 7), (7, 1), (1, 1), (300, 200)], ids=lambda s: "x".join(map(str, s))
)
def test_eye_equals_torch(shape: tuple[int, int], dtypes: tuple[Any, Any]) -> None:
    np_dtype, torch_dtype = dtypes
    _assert_same(initlab.eye(shape, dtype=np_dtype), _torch_fill(nn_init.eye_, shape, torch_dtype))
    _assert_same(initlab.identity(shape, None, dtype=np_dtype), _torch_fill(nn_init.eye_, shape, torch_dtype))


DIRAC_CASES = [
    ((6, 4, 3), 1),
    ((4, 6, 5), 1),
    ((4, 4, 4), 1),
    ((8, 4, 3, 3), 1),
    ((4, 8, 3, 3), 1),
    ((8, 4, 4, 4), 1),
    ((6, 3, 2, 3), 1),
    ((5, 5, 1, 1), 1),
    ((4, 4, 3, 3, 3), 1),
    ((6, 2, 2, 4, 3), 1),
    ((8, 4, 3, 3), 2),
    ((8, 2, 4, 4), 2),
    ((8, 6, 3), 2),
    ((4, 6, 3, 3, 3), 2),
    ((6, 2, 2, 2, 2), 2),
    ((12, 3, 4, 5), 3),
    ((6, 3, 3), 3),
    ((8, 1, 3, 3), 8),
]


@pytest.mark.parametrize("dtypes", DTYPES)
@pytest.mark.parametrize(
    ("shape", "groups"), DIRAC_CASES, ids=[f"{'x'.join(map(str, s))}-g{g}" for s, g in DIRAC_CASES]
)
def test_dirac_equals_torch(shape: tuple[int, ...], groups: int, dtypes: tuple[Any, Any]) -> None:
    np_dtype, torch_dtype = dtypes
    ref = _torch_fill(nn_init.dirac_, shape, torch_dtype, groups=groups)
    _assert_same(initlab.dirac(shape, groups=groups, dtype=np_dtype), ref)
    plan = initlab.plan(initlab.dirac, shape, groups=groups)
    assert plan is not None
    assert math.isclose(plan.mean, float(ref.astype(np.float64).mean()), rel_tol=1e-12)
    assert math.isclose(plan.std, float(np.sqrt((ref.astype(np.float64) ** 2).mean())), rel_tol=1e-12)


def test_dirac_rejects_what_torch_rejects() -> None:
    for shape, groups in [((6, 4, 3), 4), ((4, 4), 1), ((2, 2, 2, 2, 2, 2), 1)]:
        with pytest.raises(ValueError):
            nn_init.dirac_(torch.empty(shape), groups=groups)
        with pytest.raises(ValueError):
            initlab.dirac(shape, groups=groups)


@pytest.mark.parametrize("dtypes", DTYPES)
@pytest.mark.parametrize("shape", [(3, 4), (64, 32, 3, 3), (7,), (2, 3, 4, 5, 6)], ids=lambda s: "x".join(map(str, s)))
def test_constants_equal_torch(shape: tuple[int, ...], dtypes: tuple[Any, Any]) -> None:
    np_dtype, torch_dtype = dtypes
    _assert_same(initlab.zeros(shape, dtype=np_dtype), _torch_fill(nn_init.zeros_, shape, torch_dtype))
    _assert_same(initlab.ones(shape, dtype=np_dtype), _torch_fill(nn_init.ones_, shape, torch_dtype))
    for value in (0.37, -2.5, 0.0, 1e-3):
        ref = _torch_fill(nn_init.constant_, shape, torch_dtype, val=value)
        _assert_same(initlab.constant(shape, value=value, dtype=np_dtype), ref)


def test_eye_plan_equals_torch_eye_moments() -> None:
    for shape in [(3, 5), (5, 3), (4, 4), (1, 7)]:
        ref = _torch_fill(nn_init.eye_, shape, torch.float64)
        plan = initlab.plan(initlab.eye, shape)
        assert plan is not None
        assert math.isclose(plan.mean, float(ref.mean()), rel_tol=1e-12)
        assert math.isclose(plan.std, float(np.sqrt((ref**2).mean())), rel_tol=1e-12)
        assert (plan.fan_in, plan.fan_out) == torch_fans(shape)


# --- analytic plans against torch's formulas -----------------------------------------------------------

PLAN_SHAPES = [(256, 512), (512, 256), (10, 25), (64, 32, 3, 3), (16, 8, 5), (8, 4, 2, 3, 3), (1, 1)]
SHAPE_IDS = ["x".join(map(str, s)) for s in PLAN_SHAPES]


def _torch_mode_fan(shape: tuple[int, ...], mode: str) -> int:
    return int(nn_init._calculate_correct_fan(torch.empty(shape), mode))


def _check_plan_fans(plan: initlab.Plan | None, shape: tuple[int, ...]) -> initlab.Plan:
    assert plan is not None
    assert (plan.fan_in, plan.fan_out) == torch_fans(shape)
    assert plan.shape == shape
    return plan


@pytest.mark.parametrize("gain", [1.0, 5 / 3, math.sqrt(2.0), 0.5])
@pytest.mark.parametrize("shape", PLAN_SHAPES, ids=SHAPE_IDS)
def test_xavier_plans_equal_torch_formula(shape: tuple[int, ...], gain: float) -> None:
    fan_in, fan_out = torch_fans(shape)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))  # xavier_normal_ / xavier_uniform_
    bound = math.sqrt(3.0) * std
    p = _check_plan_fans(initlab.plan(initlab.xavier_normal, shape, gain=gain), shape)
    assert p.kind == "normal" and p.mean == 0.0 and close(p.std, std) and close(p.gain, gain)
    p = _check_plan_fans(initlab.plan(initlab.xavier_uniform, shape, gain=gain), shape)
    assert p.kind == "uniform" and close(p.std, std) and close(p.high, bound) and close(p.low, -bound)
    assert close(p.gain, gain)


KAIMING_ARGS: list[dict[str, Any]] = [
    {},
    {"mode": "fan_out"},
    {"nonlinearity": "relu"},
    {"a": 0.2},
    {"a": 0.2, "mode": "fan_out"},
    {"a": math.sqrt(5.0)},
    {"a": 0.01},
    *({"nonlinearity": name} for name in lab_fans.TORCH_GAINS if name != "leaky_relu"),
    {"nonlinearity": "tanh", "mode": "fan_out"},
]


@pytest.mark.parametrize("kwargs", KAIMING_ARGS, ids=lambda k: ",".join(f"{a}={v}" for a, v in k.items()) or "default")
@pytest.mark.parametrize("shape", PLAN_SHAPES, ids=SHAPE_IDS)
def test_kaiming_plans_equal_torch_formula(shape: tuple[int, ...], kwargs: dict[str, Any]) -> None:
    fan = _torch_mode_fan(shape, kwargs.get("mode", "fan_in"))
    gain = nn_init.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0))
    std = gain / math.sqrt(fan)  # kaiming_normal_
    bound = math.sqrt(3.0) * std  # kaiming_uniform_
    p = _check_plan_fans(initlab.plan(initlab.kaiming_normal, shape, **kwargs), shape)
    assert p.kind == "normal" and p.mean == 0.0 and close(p.std, std) and close(p.gain, gain)
    p = _check_plan_fans(initlab.plan(initlab.kaiming_uniform, shape, **kwargs), shape)
    assert p.kind == "uniform" and close(p.std, std) and close(p.high, bound) and close(p.low, -bound)
    assert close(p.gain, gain)


@pytest.mark.parametrize("shape", PLAN_SHAPES, ids=SHAPE_IDS)
def test_torch_default_plan_equals_torch_formula(shape: tuple[int, ...]) -> None:
    # nn.Linear.reset_parameters: kaiming_uniform_(weight, a=sqrt(5)); bias bound 1 / sqrt(fan_in)
    fan_in, _ = torch_fans(shape)
    gain = nn_init.calculate_gain("leaky_relu", math.sqrt(5.0))
    bound = math.sqrt(3.0) * gain / math.sqrt(fan_in)
    p = _check_plan_fans(initlab.plan(initlab.torch_default, shape), shape)
    assert p.kind == "uniform" and close(p.high, bound) and close(p.low, -bound) and close(p.gain, gain)
    assert close(p.std, bound / math.sqrt(3.0))
    assert close(p.high, 1 / math.sqrt(fan_in))


def test_plain_plans_equal_torch_arguments() -> None:
    p = initlab.plan(initlab.normal, (3, 4), mean=0.3, std=2.0)
    assert p is not None and (p.mean, p.std) == (0.3, 2.0)
    p = initlab.plan(initlab.uniform, (3, 4), low=-0.5, high=1.5)
    assert p is not None and (p.low, p.high, p.mean) == (-0.5, 1.5, 0.5) and close(p.std, 2.0 / math.sqrt(12.0))


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"),
    [
        (0.0, 1.0, -2.0, 2.0),
        (0.0, 0.02, -0.04, 0.04),
        (1.0, 0.5, 0.0, 2.5),
        (0.0, 1.0, 2.5, 6.0),
        (0.0, 1.0, -2.0, 5.0),
    ],
)
def test_truncated_plan_equals_torch_arguments(mean: float, std: float, a: float, b: float) -> None:
    p = initlab.plan(initlab.truncated_normal, (8, 8), mean=mean, std=std, bounds=(a, b))
    assert p is not None and p.kind == "truncated_normal"
    assert close(p.low, a) and close(p.high, b)  # torch's a, b: absolute bounds
    assert p.params["loc"] == mean and p.params["scale"] == std  # torch's mean, std: the parent normal's
    ref = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert math.isclose(p.mean, float(ref.mean()), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(p.std, float(ref.std()), rel_tol=1e-9)


@pytest.mark.parametrize(
    ("shape", "sparsity"),
    [((10, 4), 0.3), ((255, 3), 0.1), ((7, 7), 1.0), ((6, 2), 0.0), ((100, 3), 0.07), ((25, 2), 0.28)],
)
def test_sparse_plan_zero_count_equals_torch(shape: tuple[int, int], sparsity: float) -> None:
    # 0.07 * 100 and 0.28 * 25 are 7.000000000000001 in float64: both libraries then zero 8 rows, not 7
    with _TorchSeeded(TORCH_SEED):
        t = nn_init.sparse_(torch.empty(shape, dtype=torch.float64), sparsity=sparsity).numpy()
    p = initlab.plan(initlab.sparse, shape, sparsity=sparsity)
    assert p is not None
    assert [p.params["zeros_per_column"]] * shape[1] == (t == 0).sum(axis=0).tolist()
