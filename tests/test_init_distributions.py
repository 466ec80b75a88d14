"""Statistical and exact checks of what each initializer draws, and of its error messages.

Every expected std, bound and parent scale is recomputed here from first principles
(fans by hand from the shape, the papers' formulas, scipy's truncated normal), never
read from initlab's plans.  Distributions are checked with one-sample KS tests at a
fixed seed (p > 1e-4), with negative controls showing that the test can tell the
alternatives apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import optimize, stats

import initlab
from initlab.initializers import truncated_normal_moments

P_MIN = 1e-4
KERAS_TRUNC_STD = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2], as Keras and JAX hard-code it
INF = math.inf


def fans_by_hand(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a (fan_out, fan_in, *receptive) weight."""
    receptive = 1
    for k in shape[2:]:
        receptive *= k
    return shape[1] * receptive, shape[0] * receptive


def ks_p(sample: np.ndarray, dist: Any) -> float:
    return float(stats.kstest(np.asarray(sample, dtype=np.float64).ravel(), dist.cdf).pvalue)


def assert_fits(sample: np.ndarray, dist: Any) -> None:
    p = ks_p(sample, dist)
    assert p > P_MIN, f"KS p = {p:.3g}"


def normal_dist(std: float, mean: float = 0.0) -> Any:
    return stats.norm(mean, std)


def uniform_dist(bound: float) -> Any:
    return stats.uniform(-bound, 2 * bound)


def truncnorm_dist(loc: float, scale: float, low: float, high: float) -> Any:
    """N(loc, scale^2) restricted to the absolute interval [low, high]."""
    return stats.truncnorm((low - loc) / scale, (high - loc) / scale, loc=loc, scale=scale)


SHAPE_2D = (300, 200)  # fan_in 200, fan_out 300
SHAPE_CONV = (40, 24, 3, 3)  # fan_in 216, fan_out 360
SHAPES = [pytest.param(SHAPE_2D, id="dense"), pytest.param(SHAPE_CONV, id="conv")]


# --- plain distributions --------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "mean", "std"), [
    ({}, 0.0, 1.0),
    ({"std": 0.05}, 0.0, 0.05),
    ({"mean": 0.3, "std": 2.0}, 0.3, 2.0),
])  # fmt: skip
def test_normal(kwargs, mean, std):
    w = initlab.normal(SHAPE_2D, 0, **kwargs)
    assert_fits(w, normal_dist(std, mean))


@pytest.mark.parametrize(("kwargs", "std"), [({}, 0.01), ({"scale": 0.5}, 0.5)])
def test_randn(kwargs, std):
    w = initlab.randn(SHAPE_2D, 1, **kwargs)
    assert_fits(w, normal_dist(std))


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-0.3, 0.7), (-5.0, -2.0)])
def test_uniform(low, high):
    kwargs = {} if (low, high) == (0.0, 1.0) else {"low": low, "high": high}
    w = initlab.uniform(SHAPE_2D, 2, **kwargs)
    assert_fits(w, stats.uniform(low, high - low))


# --- xavier, kaiming, lecun, torch_default ------------------------------------------------------


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_xavier_uniform(shape, gain):
    fan_in, fan_out = fans_by_hand(shape)
    bound = gain * math.sqrt(6 / (fan_in + fan_out))
    w = initlab.xavier_uniform(shape, 3, gain=gain)
    assert_fits(w, uniform_dist(bound))


@pytest.mark.parametrize("gain", [1.0, 5 / 3])
@pytest.mark.parametrize("shape", SHAPES)
def test_xavier_normal(shape, gain):
    fan_in, fan_out = fans_by_hand(shape)
    std = gain * math.sqrt(2 / (fan_in + fan_out))
    w = initlab.xavier_normal(shape, 4, gain=gain)
    assert_fits(w, normal_dist(std))


# (kwargs, the gain by hand, which fan)
KAIMING_CASES = [
    pytest.param({}, math.sqrt(2.0), "fan_in", id="default"),
    pytest.param({"nonlinearity": "relu"}, math.sqrt(2.0), "fan_in", id="relu"),
    pytest.param({"a": 0.2}, math.sqrt(2.0 / (1.0 + 0.2**2)), "fan_in", id="leaky_relu-0.2"),
    pytest.param({"nonlinearity": "leaky_relu", "a": 0.2}, math.sqrt(2.0 / 1.04), "fan_in", id="leaky_relu-0.2-named"),
    pytest.param({"mode": "fan_out"}, math.sqrt(2.0), "fan_out", id="fan_out"),
    pytest.param({"nonlinearity": "tanh"}, 5 / 3, "fan_in", id="tanh"),
    pytest.param({"nonlinearity": "linear"}, 1.0, "fan_in", id="linear"),
    pytest.param({"gain": 0.7}, 0.7, "fan_in", id="gain"),
    pytest.param({"gain": 3.0, "mode": "fan_out"}, 3.0, "fan_out", id="gain-fan_out"),
]


@pytest.mark.parametrize(("kwargs", "gain", "mode"), KAIMING_CASES)
@pytest.mark.parametrize("shape", SHAPES)
def test_kaiming_normal(shape, kwargs, gain, mode):
    fan_in, fan_out = fans_by_hand(shape)
    std = gain / math.sqrt(fan_in if mode == "fan_in" else fan_out)
    assert_fits(initlab.kaiming_normal(shape, 5, **kwargs), normal_dist(std))
    assert_fits(initlab.he_normal(shape, 6, **kwargs), normal_dist(std))


@pytest.mark.parametrize(("kwargs", "gain", "mode"), KAIMING_CASES)
@pytest.mark.parametrize("shape", SHAPES)
def test_kaiming_uniform(shape, kwargs, gain, mode):
    fan_in, fan_out = fans_by_hand(shape)
    bound = gain * math.sqrt(3 / (fan_in if mode == "fan_in" else fan_out))
    assert_fits(initlab.kaiming_uniform(shape, 7, **kwargs), uniform_dist(bound))
    assert_fits(initlab.he_uniform(shape, 8, **kwargs), uniform_dist(bound))


@pytest.mark.parametrize("shape", SHAPES)
def test_lecun(shape):
    fan_in, _ = fans_by_hand(shape)
    assert_fits(initlab.lecun_normal(shape, 9), normal_dist(math.sqrt(1 / fan_in)))
    assert_fits(initlab.lecun_uniform(shape, 10), uniform_dist(math.sqrt(3 / fan_in)))


@pytest.mark.parametrize("shape", SHAPES)
def test_torch_default(shape):
    fan_in, _ = fans_by_hand(shape)
    assert_fits(initlab.torch_default(shape, 11), uniform_dist(1 / math.sqrt(fan_in)))


# --- variance scaling ----------------------------------------------------------------------------

VS_SHAPE = (120, 80, 3)  # fan_in 240, fan_out 360: every mode gives a different n


def mode_n(mode: str, fan_in: int, fan_out: int) -> float:
    return {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2,
        "fan_geo_avg": math.sqrt(fan_in * fan_out),
    }[mode]


@pytest.mark.parametrize("distribution", ["normal", "uniform", "truncated_normal"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"])
def test_variance_scaling(mode, distribution):
    scale = 2.0
    fan_in, fan_out = fans_by_hand(VS_SHAPE)
    std = math.sqrt(scale / mode_n(mode, fan_in, fan_out))
    w = initlab.variance_scaling(VS_SHAPE, 12, scale=scale, mode=mode, distribution=distribution)
    if distribution == "normal":
        dist = normal_dist(std)
    elif distribution == "uniform":
        dist = uniform_dist(math.sqrt(3) * std)
    else:  # Keras: a normal truncated at two of its own stds, widened to keep the variance
        parent = std / KERAS_TRUNC_STD
        dist = truncnorm_dist(0.0, parent, -2 * parent, 2 * parent)
        assert np.abs(w).max() <= 2 * parent
    assert_fits(w, dist)
    assert float(w.std()) == pytest.approx(std, rel=0.02)


def test_variance_scaling_default_is_truncated_fan_in():
    fan_in, _ = fans_by_hand(SHAPE_2D)
    parent = math.sqrt(1 / fan_in) / KERAS_TRUNC_STD
    assert_fits(initlab.variance_scaling(SHAPE_2D, 13), truncnorm_dist(0.0, parent, -2 * parent, 2 * parent))


# --- truncated normal ----------------------------------------------------------------------------

# (kwargs without match_std, the interval in parent stds): mean and std are the parent's
TRUNC_CASES = [
    pytest.param({"std": 0.5, "mean": 0.1}, (-2.0, 2.0), id="default-sigmas"),
    pytest.param({"std": 0.5, "sigmas": (-2, 2)}, (-2.0, 2.0), id="sigmas-2-2"),
    pytest.param({"std": 1.5, "mean": -1.0, "sigmas": (-1, 3)}, (-1.0, 3.0), id="sigmas-1-3"),
    pytest.param(
        {"std": 0.8, "mean": 0.2, "bounds": (-0.5, 1.5)}, ((-0.5 - 0.2) / 0.8, (1.5 - 0.2) / 0.8), id="bounds"
    ),
    pytest.param({"std": 1.0, "sigmas": (3, 4)}, (3.0, 4.0), id="tail-3-4"),
    pytest.param({"std": 2.0, "sigmas": (5, 8)}, (5.0, 8.0), id="tail-5-8"),
    pytest.param({"std": 0.1, "sigmas": (-INF, -3)}, (-INF, -3.0), id="tail-inf-3"),
    pytest.param({"std": 1.0, "sigmas": (0.5, 0.6)}, (0.5, 0.6), id="narrow"),
    pytest.param({"std": 1.0, "sigmas": (-INF, INF)}, (-INF, INF), id="untruncated"),
    pytest.param({"std": 0.3, "bounds": (0.0, INF)}, (0.0, INF), id="half"),
]


@pytest.mark.parametrize(("kwargs", "ab"), TRUNC_CASES)
def test_truncated_normal(kwargs, ab):
    mean, std = kwargs.get("mean", 0.0), kwargs["std"]
    a, b = ab
    dist = stats.truncnorm(a, b, loc=mean, scale=std)
    w = initlab.truncated_normal((250, 200), 14, **kwargs)
    assert_fits(w, dist)
    assert float(w.mean()) == pytest.approx(dist.mean(), abs=0.02 * dist.std())


def solve_parent_for_sigmas(target: float, a: float, b: float) -> float:
    return target / float(stats.truncnorm(a, b).std())


def solve_parent_for_bounds(target: float, mean: float, low: float, high: float) -> float:
    def gap(scale: float) -> float:
        return float(truncnorm_dist(mean, scale, low, high).std()) - target

    return float(optimize.brentq(gap, target, 1e3 * target, xtol=1e-14, rtol=1e-13))


@pytest.mark.parametrize(("std", "sigmas"), [(0.3, (-2, 2)), (0.3, (-1, 3)), (2.0, (5, 8)), (0.05, (-INF, -3))])
def test_truncated_normal_match_std_sigmas(std, sigmas):
    parent = solve_parent_for_sigmas(std, *sigmas)
    w = initlab.truncated_normal((250, 200), 15, std=std, sigmas=sigmas, match_std=True)
    assert float(w.std()) == pytest.approx(std, rel=0.015)
    assert_fits(w, stats.truncnorm(sigmas[0], sigmas[1], scale=parent))


@pytest.mark.parametrize(("std", "mean", "bounds"), [
    (0.4, 0.1, (-0.5, 1.0)),
    (0.02, 0.0, (-0.04, 0.04)),
    (0.05, 0.0, (0.5, 1.5)),
    (1.0, 0.0, (-INF, 0.5)),
])  # fmt: skip
def test_truncated_normal_match_std_bounds(std, mean, bounds):
    parent = solve_parent_for_bounds(std, mean, *bounds)
    w = initlab.truncated_normal((250, 200), 16, std=std, mean=mean, bounds=bounds, match_std=True)
    assert float(w.std()) == pytest.approx(std, rel=0.015)
    assert_fits(w, truncnorm_dist(mean, parent, *bounds))
    p = initlab.plan(initlab.truncated_normal, (2, 2), std=std, mean=mean, bounds=bounds, match_std=True)
    assert p.params["scale"] == pytest.approx(parent, rel=1e-8)


def test_truncated_normal_match_std_small_std_far_bounds():
    std, bounds = 0.01, (0.5, 1.5)
    parent = solve_parent_for_bounds(std, 0.0, *bounds)
    w = initlab.truncated_normal((250, 200), 17, std=std, bounds=bounds, match_std=True)
    assert float(w.std()) == pytest.approx(std, rel=0.015)
    assert_fits(w, truncnorm_dist(0.0, parent, *bounds))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("kwargs", "low", "high"), [
    ({"std": 0.5}, -1.0, 1.0),
    ({"std": 0.5, "mean": 3.0, "sigmas": (-1, 3)}, 2.5, 4.5),
    ({"std": 0.8, "mean": 0.2, "bounds": (-0.5, 1.5)}, -0.5, 1.5),
    ({"std": 0.1, "sigmas": (3, 4)}, 0.3, 0.4),
    ({"std": 1.0, "sigmas": (5, 8)}, 5.0, 8.0),
    ({"std": 0.01, "sigmas": (-INF, -3)}, -INF, -0.03),
    ({"std": 0.3, "sigmas": (-1, 1), "match_std": True}, None, None),
])  # fmt: skip
def test_truncated_normal_never_leaves_bounds(kwargs, low, high, dtype):
    if low is None:  # match_std: the parent is wider than std; the bounds are +-1 parent std
        parent = solve_parent_for_sigmas(kwargs["std"], -1, 1)
        low, high = -parent, parent
    w = initlab.truncated_normal((400, 250), 18, dtype=dtype, **kwargs)
    assert w.dtype == np.dtype(dtype)
    assert w.min() >= dtype(low)
    assert w.max() <= dtype(high)


# --- exact bounds of the uniform family ------------------------------------------------------------

UNIFORM_FAMILY: list[tuple[str, Callable[..., np.ndarray], Callable[[tuple[int, ...]], tuple[float, float]]]] = [
    ("uniform", lambda s, r, d: initlab.uniform(s, r, low=-0.3, high=0.7, dtype=d), lambda s: (-0.3, 0.7)),
    ("uniform-default", lambda s, r, d: initlab.uniform(s, r, dtype=d), lambda s: (0.0, 1.0)),
    (
        "xavier_uniform",
        lambda s, r, d: initlab.xavier_uniform(s, r, gain=5 / 3, dtype=d),
        lambda s: (-(5 / 3) * math.sqrt(6 / sum(fans_by_hand(s))), (5 / 3) * math.sqrt(6 / sum(fans_by_hand(s)))),
    ),
    (
        "kaiming_uniform",
        lambda s, r, d: initlab.kaiming_uniform(s, r, dtype=d),
        lambda s: (-math.sqrt(6 / fans_by_hand(s)[0]), math.sqrt(6 / fans_by_hand(s)[0])),
    ),
    (
        "lecun_uniform",
        lambda s, r, d: initlab.lecun_uniform(s, r, dtype=d),
        lambda s: (-math.sqrt(3 / fans_by_hand(s)[0]), math.sqrt(3 / fans_by_hand(s)[0])),
    ),
    (
        "torch_default",
        lambda s, r, d: initlab.torch_default(s, r, dtype=d),
        lambda s: (-1 / math.sqrt(fans_by_hand(s)[0]), 1 / math.sqrt(fans_by_hand(s)[0])),
    ),
    (
        "variance_scaling",
        lambda s, r, d: initlab.variance_scaling(s, r, scale=3.0, mode="fan_out", distribution="uniform", dtype=d),
        lambda s: (-math.sqrt(9 / fans_by_hand(s)[1]), math.sqrt(9 / fans_by_hand(s)[1])),
    ),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(500, 400), (7, 3), (64, 32, 3, 3)])
@pytest.mark.parametrize(("label", "init", "bounds"), UNIFORM_FAMILY, ids=[u[0] for u in UNIFORM_FAMILY])
def test_uniform_family_never_exceeds_bound(label, init, bounds, shape, dtype):
    low, high = bounds(shape)
    for seed in range(3):
        w = init(shape, seed, dtype)
        assert w.dtype == np.dtype(dtype)
        assert w.min() >= dtype(low)
        assert w.max() <= dtype(high)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("label", "init", "bounds"), UNIFORM_FAMILY, ids=[u[0] for u in UNIFORM_FAMILY])
def test_uniform_family_reaches_its_bounds(label, init, bounds, dtype):
    shape = (500, 400)
    low, high = bounds(shape)
    w = init(shape, 0, dtype)
    width = high - low
    assert w.min() < low + 1e-4 * width
    assert w.max() > high - 1e-4 * width


# --- sparse ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "sparsity", "std"), [
    ((400, 150), 0.3, 0.02),
    ((401, 120), 0.1, 1.0),
    ((7, 500), 0.5, 0.01),
    ((50, 30), 0.0, 0.01),
    ((50, 30), 1.0, 0.01),
])  # fmt: skip
def test_sparse(shape, sparsity, std):
    w = initlab.sparse(shape, 19, sparsity=sparsity, std=std)
    zeros_per_column = math.ceil(sparsity * shape[0])
    assert ((w == 0).sum(axis=0) == zeros_per_column).all()
    nonzero = w[w != 0]
    assert nonzero.size == (shape[0] - zeros_per_column) * shape[1]
    if nonzero.size:
        assert_fits(nonzero, normal_dist(std))
    if 0 < zeros_per_column < shape[0]:  # the zero rows are chosen per column, not shared
        masks = {tuple(np.flatnonzero(w[:, j] == 0)) for j in range(shape[1])}
        assert len(masks) > 1


def test_sparse_default_std():
    w = initlab.sparse((300, 200), 20, sparsity=0.5)
    assert_fits(w[w != 0], normal_dist(0.01))


# --- negative controls: the KS test does tell the alternatives apart ---------------------------------------


def test_control_uniform_with_same_std_fails_normal_test():
    std = 0.05
    w = initlab.uniform(SHAPE_2D, 21, low=-math.sqrt(3) * std, high=math.sqrt(3) * std)
    assert float(w.std()) == pytest.approx(std, rel=0.01)
    assert ks_p(w, normal_dist(std)) < P_MIN


def test_control_fan_out_std_fails_fan_in_test():
    shape = (100, 400)  # fan_in 400, fan_out 100
    fan_in, fan_out = fans_by_hand(shape)
    w = initlab.kaiming_normal(shape, 22, mode="fan_out")
    assert_fits(w, normal_dist(math.sqrt(2 / fan_out)))
    assert ks_p(w, normal_dist(math.sqrt(2 / fan_in))) < P_MIN


def test_control_truncation_is_detected():
    std = 0.3
    w = initlab.truncated_normal(SHAPE_2D, 23, std=std, match_std=True)
    assert float(w.std()) == pytest.approx(std, rel=0.01)
    assert ks_p(w, normal_dist(std)) < P_MIN


def test_control_keras_correction_is_detected():
    # without the 0.8796 widening, a truncated draw is too narrow for the requested variance
    fan_in, _ = fans_by_hand(SHAPE_2D)
    std = math.sqrt(1 / fan_in)
    w = initlab.variance_scaling(SHAPE_2D, 24)
    assert ks_p(w, truncnorm_dist(0.0, std, -2 * std, 2 * std)) < P_MIN


# --- structured initializers: exact checks -----------------------------------------------------------------

ORTHO_SHAPES = [(64, 16), (16, 64), (32, 32), (8, 4, 3), (8, 4, 3, 3), (4, 2, 3, 3, 3), (64, 2, 3), (6, 2, 3)]


@pytest.mark.parametrize("gain", [1.0, 2.0])
@pytest.mark.parametrize("shape", ORTHO_SHAPES, ids=str)
def test_orthogonal(shape, gain):
    w = initlab.orthogonal(shape, 25, gain=gain)
    flat = w.reshape(shape[0], -1)
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (8, 4, 3, 3)], ids=str)
def test_orthogonal_float32(shape):
    w = initlab.orthogonal(shape, 26, gain=2.0, dtype=np.float32)
    flat = w.reshape(shape[0], -1).astype(np.float64)
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, 4 * np.eye(min(rows, cols)), rtol=0, atol=1e-5)


def test_orthogonal_is_not_a_fixed_matrix():
    a = initlab.orthogonal((16, 16), 1)
    b = initlab.orthogonal((16, 16), 2)
    assert not np.allclose(a, b)
    assert not np.allclose(np.abs(a), np.eye(16))


DELTA_SHAPES = [(8, 4, 3), (8, 4, 4), (8, 8, 3, 3), (6, 4, 2, 4), (4, 2, 3, 3, 3), (4, 4, 2, 2, 2), (5, 3, 1)]


@pytest.mark.parametrize("gain", [1.0, 2.5])
@pytest.mark.parametrize("shape", DELTA_SHAPES, ids=str)
def test_delta_orthogonal(shape, gain):
    w = initlab.delta_orthogonal(shape, 27, gain=gain)
    centre = (slice(None), slice(None), *(k // 2 for k in shape[2:]))
    tap = w[centre]
    assert tap.shape == shape[:2]
    np.testing.assert_allclose(tap.T @ tap, gain**2 * np.eye(shape[1]), rtol=0, atol=1e-10)
    rest = w.copy()
    rest[centre] = 0.0
    assert not rest.any()  # every other tap is exactly 0
    assert np.count_nonzero(tap) > shape[1]  # the centre is a dense orthogonal matrix, not a permutation


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("gain", [1.0, 2.5, 0.0])
@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 3), (1, 4)], ids=str)
@pytest.mark.parametrize("name", ["eye", "identity"])
def test_eye(name, shape, gain, dtype):
    w = getattr(initlab, name)(shape, gain=gain, dtype=dtype)
    expected = np.zeros(shape)
    for i in range(shape[0]):
        for j in range(shape[1]):
            if i == j:
                expected[i, j] = gain
    assert w.dtype == np.dtype(dtype)
    assert np.array_equal(w, expected.astype(dtype))


# dirac: every non-zero tap written out by hand, (out, in, *centre)
DIRAC_LITERAL = [
    pytest.param((2, 2, 3), 1, [(0, 0, 1), (1, 1, 1)], id="3d"),
    pytest.param((3, 2, 4), 1, [(0, 0, 2), (1, 1, 2)], id="3d-even-out>in"),
    pytest.param((2, 3, 5, 2), 1, [(0, 0, 2, 1), (1, 1, 2, 1)], id="4d-mixed-out<in"),
    pytest.param((4, 2, 2), 2, [(0, 0, 1), (1, 1, 1), (2, 0, 1), (3, 1, 1)], id="groups2"),
    pytest.param((6, 2, 3, 3), 2, [(0, 0, 1, 1), (1, 1, 1, 1), (3, 0, 1, 1), (4, 1, 1, 1)], id="groups2-out>in"),
    pytest.param((4, 3, 2, 2), 2, [(0, 0, 1, 1), (1, 1, 1, 1), (2, 0, 1, 1), (3, 1, 1, 1)], id="groups2-even"),
    pytest.param((2, 1, 3, 4, 2), 1, [(0, 0, 1, 2, 1)], id="5d-even"),
]


@pytest.mark.parametrize("gain", [1.0, 0.5])
@pytest.mark.parametrize(("shape", "groups", "taps"), DIRAC_LITERAL)
def test_dirac_literal(shape, groups, taps, gain):
    expected = np.zeros(shape)
    for t in taps:
        expected[t] = gain
    assert np.array_equal(initlab.dirac(shape, groups=groups, gain=gain), expected)


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("shape", [(8, 4, 3), (8, 2, 4, 4), (8, 8, 3, 2), (4, 4, 3, 3, 3)], ids=str)
def test_dirac_passes_channels_through(shape, groups):
    # a grouped conv with this kernel copies input channel (group g, slot d) to output g * out_per_group + d
    w = initlab.dirac(shape, groups=groups)
    out_per_group, in_per_group = shape[0] // groups, shape[1]
    centre = tuple(k // 2 for k in shape[2:])
    for o in range(shape[0]):
        g, d = divmod(o, out_per_group)
        for i in range(in_per_group):
            for idx in np.ndindex(*shape[2:]):
                value = w[(o, i, *idx)]
                want = 1.0 if (i == d and idx == centre) else 0.0
                assert value == want, (o, i, idx, g)


# --- the truncated normal's moments ---------------------------------------------------------------------


def test_keras_truncation_constant():
    mean, std = truncated_normal_moments(-2.0, 2.0)
    assert abs(std - KERAS_TRUNC_STD) <= 1e-15
    assert abs(mean) <= 1e-15


@pytest.mark.parametrize(("a", "b"), [
    (-2.0, 2.0),
    (-1.0, 3.0),
    (0.5, 0.6),
    (3.0, 4.0),
    (5.0, 8.0),
    (-INF, -3.0),
    (0.0, INF),
    (-INF, 1.0),
    (-INF, INF),
    (8.0, INF),
    (-INF, -10.0),
    (-0.1, 0.1),
])  # fmt: skip
def test_truncated_normal_moments_match_scipy(a, b):
    mean, std = truncated_normal_moments(a, b)
    ref = stats.truncnorm(a, b)
    assert mean == pytest.approx(float(ref.mean()), rel=1e-9, abs=1e-14)
    assert std == pytest.approx(float(ref.std()), rel=1e-9)


def moments_by_quadrature(a: float, b: float) -> tuple[float, float]:
    """Mean and std of N(0, 1) restricted to a finite [a, b], by 40-point Gauss-Legendre quadrature.

    The density is smooth, so the rule is exact to rounding on these short intervals; the variance is
    integrated around the mean (two passes), which keeps it accurate however narrow the interval.
    """
    t, weights = np.polynomial.legendre.leggauss(40)
    x = (a + b) / 2 + (b - a) / 2 * t
    density = weights * np.exp(-0.5 * x * x)  # the constant factors cancel in the ratios
    mean = float(np.sum(density * x) / np.sum(density))
    var = float(np.sum(density * (x - mean) ** 2) / np.sum(density))
    return mean, math.sqrt(var)


@pytest.mark.parametrize(("a", "b"), [(-0.1, 0.1), (-0.01, 0.01), (0.0, 0.01), (1.0, 1.01)])
def test_truncated_normal_moments_narrow_intervals(a, b):
    mean, std = truncated_normal_moments(a, b)
    ref_mean, ref_std = moments_by_quadrature(a, b)
    assert mean == pytest.approx(ref_mean, rel=1e-8, abs=1e-15)
    assert std == pytest.approx(ref_std, rel=1e-6)


@pytest.mark.parametrize(("a", "b"), [(-1e-5, 1e-5), (-1e-6, 1e-6), (0.0, 1e-6), (2.0, 2.000001)])
def test_truncated_normal_moments_very_narrow_intervals(a, b):
    mean, std = truncated_normal_moments(a, b)
    ref_mean, ref_std = moments_by_quadrature(a, b)
    assert mean == pytest.approx(ref_mean, rel=1e-8, abs=1e-15)
    assert std == pytest.approx(ref_std, rel=1e-6)


@pytest.mark.parametrize(("a", "b"), [(1.0, 1.0), (2.0, -2.0)])
def test_truncated_normal_moments_reject_empty_interval(a, b):
    with pytest.raises(
        initlab.InitlabValueError,
        match=re.escape(
            f"The 'a' and 'b' arguments of truncated_normal_moments must satisfy a < b. Got a={a!r}, b={b!r}"
        ),
    ):
        truncated_normal_moments(a, b)


# --- error messages -----------------------------------------------------------------------------------------

E_VAL, E_TYPE = initlab.InitlabValueError, initlab.InitlabTypeError

# (id, call, error class, argument named, text of the given value)
BAD_ARGUMENTS: list[Any] = [
    ("normal-std<0", lambda: initlab.normal((3, 2), 0, std=-1.0), E_VAL, "std", "-1.0"),
    ("normal-std-nan", lambda: initlab.normal((3, 2), 0, std=math.nan), E_VAL, "std", "nan"),
    ("normal-mean-inf", lambda: initlab.normal((3, 2), 0, mean=INF), E_VAL, "mean", "inf"),
    ("normal-std-str", lambda: initlab.normal((3, 2), 0, std="0.1"), E_TYPE, "std", "'0.1'"),
    ("randn-scale<0", lambda: initlab.randn((3, 2), 0, scale=-0.01), E_VAL, "scale", "-0.01"),
    ("sparse-std<0", lambda: initlab.sparse((3, 2), 0, sparsity=0.5, std=-2.0), E_VAL, "std", "-2.0"),
    ("trunc-std<0", lambda: initlab.truncated_normal((3, 2), 0, std=-0.5), E_VAL, "std", "-0.5"),
    ("trunc-std=0", lambda: initlab.truncated_normal((3, 2), 0, std=0.0), E_VAL, "std", "0.0"),
    ("vs-scale<0", lambda: initlab.variance_scaling((3, 2), 0, scale=-2.0), E_VAL, "scale", "-2.0"),
    ("uniform-low>high", lambda: initlab.uniform((3, 2), 0, low=2.0, high=1.0), E_VAL, "low", "2.0"),
    ("uniform-low=high", lambda: initlab.uniform((3, 2), 0, low=0.5, high=0.5), E_VAL, "low", "0.5"),
    ("uniform-high-inf", lambda: initlab.uniform((3, 2), 0, high=INF), E_VAL, "high", "inf"),
    ("constant-nan", lambda: initlab.constant((3, 2), value=math.nan), E_VAL, "value", "nan"),
    ("trunc-sigmas-reversed", lambda: initlab.truncated_normal((3, 2), 0, sigmas=(1, -1)), E_VAL, "sigmas", "(1, -1)"),
    ("trunc-sigmas-single", lambda: initlab.truncated_normal((3, 2), 0, sigmas=(2,)), E_VAL, "sigmas", "(2,)"),
    ("trunc-bounds-equal", lambda: initlab.truncated_normal((3, 2), 0, bounds=(1, 1)), E_VAL, "bounds", "(1, 1)"),
    ("trunc-bounds-nan", lambda: initlab.truncated_normal((3, 2), 0, bounds=(math.nan, 1)), E_VAL, "bounds[0]", "nan"),
    (
        "trunc-sigmas-and-bounds",
        lambda: initlab.truncated_normal((3, 2), 0, sigmas=(-1, 1), bounds=(-0.5, 0.5)),
        E_VAL,
        "sigmas",
        "bounds=(-0.5, 0.5)",
    ),
    ("trunc-match_std-str", lambda: initlab.truncated_normal((3, 2), 0, match_std="yes"), E_VAL, "match_std", "'yes'"),
    (
        "trunc-match_std-unreachable",
        lambda: initlab.truncated_normal((3, 2), 0, std=0.3, bounds=(-0.1, 0.1), match_std=True),
        E_VAL,
        "std",
        "0.3",
    ),
    ("sparse-sparsity>1", lambda: initlab.sparse((3, 2), 0, sparsity=1.5), E_VAL, "sparsity", "1.5"),
    ("sparse-sparsity<0", lambda: initlab.sparse((3, 2), 0, sparsity=-0.1), E_VAL, "sparsity", "-0.1"),
    ("sparse-sparsity-nan", lambda: initlab.sparse((3, 2), 0, sparsity=math.nan), E_VAL, "sparsity", "nan"),
    ("dirac-groups", lambda: initlab.dirac((8, 4, 3), groups=3), E_VAL, "groups", "3"),
    ("dirac-groups0", lambda: initlab.dirac((8, 4, 3), groups=0), E_VAL, "groups", "0"),
    ("kaiming-a-relu", lambda: initlab.kaiming_normal((3, 2), 0, nonlinearity="relu", a=0.2), E_VAL, "a", "0.2"),
    ("kaiming_u-a-tanh", lambda: initlab.kaiming_uniform((3, 2), 0, nonlinearity="tanh", a=-1), E_VAL, "a", "-1"),
    (
        "kaiming-gain-relu",
        lambda: initlab.kaiming_normal((3, 2), 0, nonlinearity="relu", gain=1.0),
        E_VAL,
        "gain",
        "nonlinearity='relu'",
    ),
    ("kaiming_u-gain-a", lambda: initlab.kaiming_uniform((3, 2), 0, a=0.1, gain=1.0), E_VAL, "gain", "a=0.1"),
]


def _check_message(exc_info: Any, arg: str, shown: str) -> None:
    message = str(exc_info.value)
    assert f"'{arg}'" in message, message
    assert shown in message, message


@pytest.mark.parametrize(("call", "error", "arg", "shown"), [pytest.param(*c[1:], id=c[0]) for c in BAD_ARGUMENTS])
def test_bad_argument_message(call, error, arg, shown):
    with pytest.raises(error, match=re.escape(f"'{arg}'")) as exc_info:
        call()
    _check_message(exc_info, arg, shown)


GAIN_SCHEMES = {
    "xavier_uniform": (6, 3),
    "xavier_normal": (6, 3),
    "kaiming_normal": (6, 3),
    "kaiming_uniform": (6, 3),
    "orthogonal": (6, 3),
    "eye": (6, 3),
    "dirac": (6, 3, 3),
    "delta_orthogonal": (6, 3, 3),
}


@pytest.mark.parametrize(("gain", "shown"), [(INF, "inf"), (-INF, "-inf"), (math.nan, "nan"), (-1.0, "-1.0")])
@pytest.mark.parametrize("name", sorted(GAIN_SCHEMES))
def test_bad_gain(name, gain, shown):
    with pytest.raises(E_VAL, match=re.escape(f"'gain' argument of {name} must be a finite float >= 0")) as exc_info:
        getattr(initlab, name)(GAIN_SCHEMES[name], 0, gain=gain)
    _check_message(exc_info, "gain", shown)


@pytest.mark.parametrize("name", sorted(GAIN_SCHEMES))
def test_gain_of_wrong_type(name):
    with pytest.raises(E_TYPE, match=r"'gain' argument .*Got '2' instead"):
        getattr(initlab, name)(GAIN_SCHEMES[name], 0, gain="2")


# The largest std a truncated normal can have on [low, high] is the uniform's, (high - low) / sqrt(12),
# approached as the parent std grows without bound.
UNREACHABLE = [
    pytest.param(0.3, (-0.1, 0.1), id="0.3-in-[-0.1,0.1]"),
    pytest.param(1.0, (-0.1, 0.1), id="1.0-in-[-0.1,0.1]"),
    pytest.param(1.0, (-1.0, 1.0), id="1.0-in-[-1,1]"),
    pytest.param(0.5, (1.0, 2.0), id="0.5-in-[1,2]"),
    pytest.param(0.1, (0.5, 0.6), id="0.1-in-[0.5,0.6]"),
]


@pytest.mark.parametrize(("std", "bounds"), UNREACHABLE)
def test_unreachable_match_std_raises_with_the_largest_reachable_std(std, bounds):
    low, high = bounds
    with pytest.raises(E_VAL, match=r"'std' argument .*largest reachable std") as exc_info:
        initlab.truncated_normal((3, 2), 0, std=std, bounds=bounds, match_std=True)
    assert repr(std) in str(exc_info.value)
    assert f"{(high - low) / math.sqrt(12):.6g}" in str(exc_info.value)


# (function name, keyword, bad value, the valid choices listed, the suggestion)
CHOICES = [
    ("variance_scaling", "mode", "fan_im", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"], "fan_in"),
    ("variance_scaling", "mode", "fan_avgg", ["fan_in", "fan_out", "fan_avg", "fan_geo_avg"], "fan_avg"),
    ("kaiming_normal", "mode", "fanout", ["fan_in", "fan_out"], "fan_out"),
    ("kaiming_uniform", "mode", "fan_im", ["fan_in", "fan_out"], "fan_in"),
    ("variance_scaling", "distribution", "unifrom", ["normal", "uniform", "truncated_normal"], "uniform"),
    ("variance_scaling", "distribution", "truncated_norml", ["normal", "truncated_normal"], "truncated_normal"),
    ("kaiming_normal", "nonlinearity", "rleu", ["relu", "leaky_relu", "tanh", "sigmoid"], "relu"),
    ("kaiming_uniform", "nonlinearity", "tanhh", ["relu", "leaky_relu", "tanh", "selu"], "tanh"),
    ("kaiming_normal", "nonlinearity", "leaky-relu", ["leaky_relu"], "leaky_relu"),
]


@pytest.mark.parametrize(("name", "arg", "bad", "valid", "near"), CHOICES)
def test_unknown_choice_lists_valid_and_suggests_closest(name, arg, bad, valid, near):
    with pytest.raises(E_VAL, match=re.escape(f"'{arg}' argument of {name}")) as exc_info:
        getattr(initlab, name)((6, 3), 0, **{arg: bad})
    message = str(exc_info.value)
    assert repr(bad) in message
    for v in valid:
        assert repr(v) in message
    assert f"Did you mean {near!r}?" in message


def test_unknown_choice_of_wrong_type():
    with pytest.raises(E_VAL, match=r"'mode' argument .*Got 3 instead\.$"):
        initlab.variance_scaling((6, 3), 0, mode=3)


# shapes and dtypes and seeds, for every registered scheme

VALID_SHAPE = {"dirac": (6, 3, 3), "delta_orthogonal": (6, 3, 3)}
NEEDS = {"sparse": {"sparsity": 0.5}}
ALL_NAMES = sorted(initlab.initializers.INITIALIZERS)
FAN_BASED = [
    "variance_scaling",
    "xavier_uniform",
    "xavier_normal",
    "glorot_uniform",
    "glorot_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "torch_default",
    "orthogonal",
]
DETERMINISTIC = ["constant", "zeros", "ones", "eye", "identity", "dirac"]


def _call(name: str, shape: Any, rng: Any = 0, **kw: Any) -> np.ndarray:
    return initlab.initializers.INITIALIZERS[name](shape, rng, **NEEDS.get(name, {}), **kw)


def _bad_dim_shapes(name: str) -> list[tuple[int, ...]]:
    base = VALID_SHAPE.get(name, (6, 3))
    return [(0, *base[1:]), (*base[:-1], -2), (*base[:1], 0, *base[2:])]


@pytest.mark.parametrize(
    ("name", "shape"), [pytest.param(n, s, id=f"{n}-{s}") for n in ALL_NAMES for s in _bad_dim_shapes(n)]
)
def test_zero_or_negative_dimension(name, shape):
    # zeros/ones and randn delegate to constant and normal, whose name the message carries
    with pytest.raises(E_VAL, match=r"'shape' argument of \w+ must be .*ints >= 1.*" + re.escape(repr(shape))):
        _call(name, shape)


@pytest.mark.parametrize("name", FAN_BASED)
def test_one_dimensional_shape_for_fan_based_scheme(name):
    with pytest.raises(E_VAL, match=r"'shape' argument .*at least 2 entries.*" + re.escape("(5,)")):
        _call(name, (5,))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_shape_that_is_not_a_sequence(name):
    with pytest.raises(E_TYPE, match=r"'shape' argument .*Got 5 instead"):
        _call(name, 5)
    with pytest.raises(E_TYPE, match=r"'shape' argument .*Got \(3, 2\.5\) instead"):
        _call(name, (3, 2.5))


@pytest.mark.parametrize("dtype", [np.int32, "int64", bool, np.complex128], ids=str)
@pytest.mark.parametrize("name", ALL_NAMES)
def test_non_float_dtype(name, dtype):
    with pytest.raises(E_TYPE, match=r"'dtype' argument .*float16, float32, float64") as exc_info:
        _call(name, VALID_SHAPE.get(name, (6, 3)), dtype=dtype)
    assert str(np.dtype(dtype)) in str(exc_info.value) or repr(dtype) in str(exc_info.value)


@pytest.mark.parametrize(("seed", "error", "shown"), [
    (True, E_TYPE, "True"),
    (False, E_TYPE, "False"),
    (-1, E_VAL, "-1"),
    (np.int64(-7), E_VAL, "-7"),
    (0.5, E_TYPE, "0.5"),
    ("0", E_TYPE, "'0'"),
])  # fmt: skip
@pytest.mark.parametrize("name", [n for n in ALL_NAMES if n not in DETERMINISTIC])
def test_bad_seed(name, seed, error, shown):
    with pytest.raises(error, match=r"'rng' argument .*int seed >= 0") as exc_info:
        _call(name, VALID_SHAPE.get(name, (6, 3)), seed)
    assert shown in str(exc_info.value)


@pytest.mark.parametrize(("seed", "error"), [(True, E_TYPE), (-1, E_VAL)])
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_bad_seed_deterministic_schemes(name, seed, error):
    with pytest.raises(error, match=r"'rng' argument"):
        _call(name, VALID_SHAPE.get(name, (6, 3)), seed)
