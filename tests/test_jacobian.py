"""Jacobians of the engine's networks, and the free-probability theory of their spectra (Pennington et al. 2017)."""

from __future__ import annotations

import numpy as np
import pytest

from initlab import InitlabValueError
from initlab.engine import (
    MLP,
    forward,
    init_ensemble,
    init_params,
    input_output_jacobian,
    jacobian_by_depth,
    layer_jacobians,
)
from initlab.theory import critical_point, jacobian_moments, measured_spectra, measured_spectrum, q_star


def _numeric_jacobian(net: MLP, params: dict, x: np.ndarray, *, output: bool, eps: float = 1e-6) -> np.ndarray:
    """Central differences of A[L-1] (or Z[L]) with respect to the input, one input entry at a time."""

    def f(v: np.ndarray) -> np.ndarray:
        ZL, caches = forward(net, params, v[:, None])
        return np.asarray(ZL if output else caches[-2][2])[:, 0]

    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        cols.append((f(x + e) - f(x - e)) / (2 * eps))
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "gelu"])
@pytest.mark.parametrize("output", [False, True])
def test_jacobian_matches_central_differences_in_float64(activation: str, output: bool) -> None:
    net = MLP.make([5, 6, 7, 4, 3], activation, "mse")
    p = init_params(net.layer_dims, weights="xavier_normal", biases="normal(std=0.1)", rng=3)
    x = np.random.default_rng(4).standard_normal(5)
    J = input_output_jacobian(net, p, x, include_output=output)
    assert J.shape == ((3, 5) if output else (4, 5))
    J_num = _numeric_jacobian(net, p, x, output=output)
    assert np.linalg.norm(J - J_num) / np.linalg.norm(J) < 1e-7


def test_layer_jacobians_are_diag_slope_times_w_and_their_product_is_the_jacobian() -> None:
    net = MLP.make([3, 4, 4, 2], "tanh", "mse")
    p = init_params(net.layer_dims, weights="orthogonal", biases="normal(std=0.2)", rng=0)
    x = np.array([[0.3], [-1.0], [0.5]])  # a column works as well as a vector
    J1, J2, J3 = layer_jacobians(net, p, x, include_output=True)
    Z1 = p["W1"] @ x + p["b1"]
    assert np.allclose(J1, (1 - np.tanh(Z1) ** 2) * p["W1"])
    assert np.array_equal(J3, p["W3"])
    assert np.allclose(J2 @ J1, input_output_jacobian(net, p, x))
    assert np.allclose(J3 @ J2 @ J1, input_output_jacobian(net, p, x, include_output=True))


def test_ensemble_model_k_is_model_k_alone() -> None:
    net = MLP.make([6, 8, 8, 8, 1], "relu", "bce")
    seeds = [0, 1, 2]
    ens = init_ensemble(net.layer_dims, seeds=seeds, weights="he_normal", biases="normal(std=0.1)")
    x = np.random.default_rng(9).standard_normal(6)
    J = input_output_jacobian(net, ens, x)
    by = jacobian_by_depth(net, ens, x, [1, 3])
    assert J.shape == (3, 8, 6) and by[1].shape == (3, 8, 6)
    for k, seed in enumerate(seeds):
        one = init_params(net.layer_dims, weights="he_normal", biases="normal(std=0.1)", rng=seed)
        assert np.allclose(J[k], input_output_jacobian(net, one, x), rtol=1e-12, atol=0)
        assert np.allclose(by[1][k], layer_jacobians(net, one, x)[0], rtol=1e-12, atol=0)
    assert np.allclose(by[3], J, rtol=1e-12, atol=0)


def test_jacobian_by_depth_is_the_jacobian_of_the_truncated_net() -> None:
    net = MLP.make([4, 5, 5, 5, 5, 1], "tanh", "mse")
    p = init_params(net.layer_dims, weights="xavier_normal", biases="normal(std=0.1)", rng=1)
    short = MLP.make([4, 5, 5, 1], "tanh", "mse")
    q = {k: v for k, v in p.items() if int(k[1:]) <= 2}
    q["W3"], q["b3"] = np.ones((1, 5)), np.zeros((1, 1))
    x = np.linspace(-1, 1, 4)
    assert np.allclose(jacobian_by_depth(net, p, x, [2])[2], input_output_jacobian(short, q, x))
    assert list(jacobian_by_depth(net, p, x, [4, 1])) == [1, 4]


@pytest.mark.torch
def test_torch_namespace_gives_numpy_s_jacobian() -> None:
    pytest.importorskip("torch")
    from initlab.engine import namespace, to_backend, to_numpy

    net = MLP.make([3, 4, 4, 1], "tanh", "mse")
    p = init_ensemble(net.layer_dims, seeds=[0, 1], weights="xavier_normal", biases="normal(std=0.1)")
    x = np.array([0.1, -0.3, 0.5])
    pt, xt = to_backend(p, "torch"), to_backend(x, "torch")
    J = input_output_jacobian(net, pt, xt, xp=namespace(xt))
    assert np.allclose(to_numpy(J), input_output_jacobian(net, p, x), rtol=1e-10, atol=1e-12)


def test_float32_parameters_give_a_float32_jacobian() -> None:
    net = MLP.make([3, 4, 1], "tanh", "mse")
    p = init_params(net.layer_dims, weights="xavier_normal", rng=0, dtype=np.float32)
    assert input_output_jacobian(net, p, np.ones(3)).dtype == np.float32


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (lambda n, p: input_output_jacobian(n, p, np.ones(4)), "'x'"),
        (lambda n, p: input_output_jacobian(n, p, np.ones((3, 2))), "'x'"),
        (lambda n, p: layer_jacobians(n, p, np.array(["a", "b", "c"])), "'x'"),
        (lambda n, p: jacobian_by_depth(n, p, np.ones(3), [3]), "'depths'"),
        (lambda n, p: jacobian_by_depth(n, p, np.ones(3), []), "'depths'"),
        (lambda n, p: jacobian_by_depth(n, p, np.ones(3), [0]), "'depths'"),
    ],
)
def test_bad_input_names_the_argument(call: object, arg: str) -> None:
    net = MLP.make([3, 4, 4, 1], "tanh", "mse")
    p = init_params(net.layer_dims, weights="xavier_normal", rng=0)
    with pytest.raises(InitlabValueError, match=arg):
        call(net, p)  # type: ignore[operator]


def test_a_net_without_hidden_layers_has_no_hidden_stack() -> None:
    net = MLP.make([3, 2], "tanh", "mse")
    p = init_params(net.layer_dims, weights="xavier_normal", rng=0)
    with pytest.raises(InitlabValueError, match="'net'"):
        input_output_jacobian(net, p, np.ones(3))
    assert np.array_equal(input_output_jacobian(net, p, np.ones(3), include_output=True), p["W1"])


# --- theory: closed forms ----------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 4, 32])
def test_linear_closed_forms(depth: int) -> None:
    g = jacobian_moments("linear", 1.0, 0.0, depth, weights="gaussian")
    o = jacobian_moments("linear", 1.0, 0.0, depth, weights="orthogonal")
    assert g.mean_sq_singular_value == 1.0 and g.spectrum_variance == depth
    assert o.mean_sq_singular_value == 1.0 and o.spectrum_variance == 0.0
    assert (g.s1, o.s1, g.mu1, g.mu2) == (-1.0, 0.0, 1.0, 1.0)


def test_relu_closed_forms_and_the_mean_off_criticality() -> None:
    g = jacobian_moments("relu", 2.0, 0.0, 10, weights="gaussian")
    o = jacobian_moments("relu", 2.0, 0.0, 10, weights="orthogonal")
    assert (g.mu1, g.mu2, g.chi_1) == (0.5, 0.5, 1.0)
    assert g.spectrum_variance == 20.0 and o.spectrum_variance == 10.0  # 2L and L
    off = jacobian_moments("relu", 1.8, 0.0, 10)
    assert off.mean_sq_singular_value == pytest.approx(0.9**10)
    assert off.spectrum_variance == pytest.approx(0.9**20 * 20)  # m1^2 L (2 - 1 + 1)


def test_tanh_nears_isometry_as_q_star_shrinks_only_with_orthogonal_weights() -> None:
    per_layer = {}
    for q in (1 / 256, 1 / 64, 1 / 4, 1.0):
        sw, sb = critical_point("tanh", q)
        assert q_star("tanh", sw, sb) == pytest.approx(q, rel=1e-9)
        o = jacobian_moments("tanh", sw, sb, 1, weights="orthogonal")
        assert o.chi_1 == pytest.approx(1.0, abs=1e-12)
        assert jacobian_moments("tanh", sw, sb, 1).per_layer_variance == pytest.approx(o.per_layer_variance + 1)
        per_layer[q] = o.per_layer_variance
    values = list(per_layer.values())
    assert values == sorted(values) and values[0] < 1e-3 < 0.3 < values[-1]
    assert per_layer[1 / 256] == pytest.approx(8 / 256**2, rel=0.05)  # Var(phi'^2) ~ 8 q*^2 at small q*


def test_critical_point_of_relu_and_a_q_star_no_critical_point_reaches() -> None:
    assert critical_point("relu", 0.7) == (2.0, 0.0)
    with pytest.raises(InitlabValueError, match="'q_star'"):
        critical_point("sigmoid", 1.0)
    with pytest.raises(InitlabValueError, match="'q_star'"):
        critical_point("tanh", 0.0)


@pytest.mark.parametrize(
    ("kwargs", "arg"),
    [
        ({"weights": "uniform"}, "'weights'"),
        ({"depth": 0}, "'depth'"),
        ({"sigma_w2": 0.0}, "'sigma_w2'"),
        ({"sigma_b2": -1.0}, "'sigma_b2'"),
    ],
)
def test_jacobian_moments_bad_input(kwargs: dict, arg: str) -> None:
    args = {"activation": "tanh", "sigma_w2": 1.5, "sigma_b2": 0.1, "depth": 3, **kwargs}
    with pytest.raises(InitlabValueError, match=arg):
        jacobian_moments(**args)


def test_measured_spectra_bad_input() -> None:
    with pytest.raises(InitlabValueError, match="'width'"):
        measured_spectra("relu", 2.0, 0.0, [2], 0)
    with pytest.raises(InitlabValueError, match="'depths'"):
        measured_spectra("relu", 2.0, 0.0, [], 10)
    with pytest.raises(InitlabValueError, match="'seeds'"):
        measured_spectra("relu", 2.0, 0.0, [2], 10, seeds=[])
    with pytest.raises(InitlabValueError, match="'weights'"):
        measured_spectrum("relu", 2.0, 0.0, 2, 10, weights="ortho")


# --- theory against engine ensembles (Monte Carlo) ------------------------------------------------------------
# Width 200, depths up to 12: finite-width corrections are of relative order L/N <= 0.06.  One net's
# var/mean^2 scatters by about 10-20 % at these depths; over 6 seeds the mean is held to 15 % + 3 standard
# errors, and the mean squared singular value to 3 sqrt(2 L / N) / sqrt(seeds) + 0.05.


def test_linear_orthogonal_stack_is_an_exact_isometry() -> None:
    s = measured_spectrum("linear", 1.0, 0.0, 20, 60, weights="orthogonal", seeds=[0, 1])
    assert np.allclose(s, 1.0, atol=1e-10)


@pytest.mark.parametrize(
    ("activation", "weights"),
    [
        ("linear", "gaussian"),
        ("relu", "gaussian"),
        ("relu", "orthogonal"),
        ("tanh", "gaussian"),
        ("tanh", "orthogonal"),
    ],
)
def test_measured_spectrum_agrees_with_the_prediction(activation: str, weights: str) -> None:
    sw, sb = critical_point(activation, 1 / 16)
    N, seeds = 200, list(range(6))
    spectra = measured_spectra(activation, sw, sb, [3, 12], N, weights=weights, seeds=seeds)
    for depth, s in spectra.items():
        pred = jacobian_moments(activation, sw, sb, depth, weights=weights)
        m1 = s.mean(axis=1)
        v = s.var(axis=1) / m1**2
        assert abs(m1.mean() - 1.0) <= 0.05 + 3 * np.sqrt(2 * depth / N) / np.sqrt(len(seeds))
        se = v.std(ddof=1) / np.sqrt(len(seeds))
        assert abs(v.mean() - pred.spectrum_variance) <= 0.15 * pred.spectrum_variance + 3 * se, (depth, v, pred)
