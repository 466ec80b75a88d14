"""Mean-field theory: closed forms, quadrature accuracy, known critical points, and Monte Carlo on the engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab._validation import InitlabTypeError, InitlabValueError
from initlab.engine import MLP, Activation, forward, init_ensemble
from initlab.theory import (
    QuadratureWarning,
    c_star,
    chi_1,
    correlation_map,
    critical_sigma_w2,
    depth_scales,
    phase_diagram,
    predict_layers,
    q_star,
    variance_map,
)


def _sin(z: np.ndarray) -> np.ndarray:
    return np.asarray(np.sin(z))


def _relu_kernel(q: float, c: np.ndarray) -> np.ndarray:
    """E[relu(u1) relu(u2)], recomputed here (Cho & Saul 2009): q (sin t + (pi - t) cos t) / (2 pi), t = arccos c."""
    t = np.arccos(c)
    return np.asarray(q * (np.sin(t) + (math.pi - t) * np.cos(t)) / (2 * math.pi))


# --- closed forms -------------------------------------------------------------------------


@pytest.mark.parametrize("sw, sb", [(0.5, 0.0), (1.0, 0.1), (1.9, 0.3)])
def test_relu_closed_forms(sw: float, sb: float) -> None:
    q = np.array([0.0, 0.2, 1.0, 7.5])
    np.testing.assert_allclose(variance_map(q, "relu", sw, sb), sw * q / 2 + sb, rtol=1e-15)
    assert chi_1("relu", sw, sb) == pytest.approx(sw / 2, rel=1e-15)
    assert q_star("relu", sw, sb) == pytest.approx(sb / (1 - sw / 2), rel=1e-14, abs=1e-300)
    xi_q, xi_c = depth_scales("relu", sw, sb)
    assert xi_q == pytest.approx(-1 / math.log(sw / 2), rel=1e-12)
    if sb > 0:  # c* = 1 and the map's slope there is sigma_w2 / 2
        assert c_star("relu", sw, sb) == pytest.approx(1.0, abs=1e-10)
        assert xi_c == pytest.approx(-1 / math.log(sw / 2), rel=1e-6)


def test_linear_closed_forms() -> None:
    np.testing.assert_allclose(variance_map([0.5, 2.0], "linear", 0.8, 0.1), [0.5, 1.7])
    assert q_star("linear", 0.8, 0.1) == pytest.approx(0.5)
    assert chi_1("linear", 0.8, 0.1) == pytest.approx(0.8)
    assert critical_sigma_w2(0.3, "linear") == 1.0


@pytest.mark.parametrize("sb", [0.0, 0.05, 1.0])
def test_relu_critical_line(sb: float) -> None:
    assert critical_sigma_w2(sb, "relu") == 2.0
    if sb == 0:  # with a bias the quadrature line is reached only as q* -> infinity
        assert critical_sigma_w2(sb, "relu", method="quadrature") == pytest.approx(2.0, rel=1e-12)
    else:
        with pytest.raises(InitlabValueError, match="no transition at a finite q"):
            critical_sigma_w2(sb, "relu", method="quadrature")


@pytest.mark.parametrize("slope", [0.01, 0.2, 0.7])
def test_leaky_relu_closed_forms_match_quadrature(slope: float) -> None:
    act = f"leaky_relu(slope={slope})"
    q, c = np.array([0.3, 2.0]), np.linspace(-1, 1, 9)
    np.testing.assert_allclose(variance_map(q, act, 1.2, 0.1), 1.2 * (1 + slope**2) * q / 2 + 0.1, rtol=1e-15)
    np.testing.assert_allclose(
        variance_map(q, act, 1.2, 0.1, method="quadrature", nodes=100), variance_map(q, act, 1.2, 0.1), rtol=1e-13
    )
    exact = correlation_map(c, act, 1.2, 0.1)
    quad = correlation_map(c, act, 1.2, 0.1, method="quadrature", nodes=300)
    assert np.abs(quad - exact).max() < 1e-3  # the kink: ~1/n, as relu
    assert chi_1(act, 1.2, 0.1) == pytest.approx(1.2 * (1 + slope**2) / 2, rel=1e-15)
    assert critical_sigma_w2(0.05, act) == pytest.approx(2 / (1 + slope**2), rel=1e-15)
    assert critical_sigma_w2(0.0, act, method="quadrature") == pytest.approx(2 / (1 + slope**2), rel=1e-10)


def test_relu_diverges_above_two() -> None:
    with pytest.raises(InitlabValueError, match="no finite stable fixed point.*relu"):
        q_star("relu", 2.5, 0.0)
    with pytest.raises(InitlabValueError, match="grows without bound"):
        chi_1("relu", 2.0, 0.1)
    with pytest.raises(InitlabValueError, match="grows without bound"):
        q_star("relu", 2.5, 0.0, method="quadrature")


def test_relu_correlation_map_is_the_arc_cosine_kernel() -> None:
    sw, sb = 1.5, 0.2
    q = sb / (1 - sw / 2)
    c = np.linspace(-1, 1, 11)
    np.testing.assert_allclose(correlation_map(c, "relu", sw, sb), (sw * _relu_kernel(q, c) + sb) / q, rtol=1e-13)


def test_callable_sin_has_its_closed_form() -> None:
    """E[sin(sqrt(q) z)^2] = (1 - exp(-2 q)) / 2; E[cos^2] = (1 + exp(-2 q)) / 2 (through the central difference)."""
    q = np.array([0.1, 1.0, 3.0])
    np.testing.assert_allclose(variance_map(q, _sin, 2.0, 0.1), 2.0 * (1 - np.exp(-2 * q)) / 2 + 0.1, rtol=1e-13)
    qs = q_star(_sin, 2.0, 0.1)
    assert qs == pytest.approx(2.0 * (1 - math.exp(-2 * qs)) / 2 + 0.1, rel=1e-12)
    assert chi_1(_sin, 2.0, 0.1) == pytest.approx(2.0 * (1 + math.exp(-2 * qs)) / 2, rel=1e-9)


# --- quadrature against the closed forms --------------------------------------------------


@pytest.mark.parametrize("nodes", [40, 100, 300])
def test_relu_quadrature_one_dimensional_maps_are_exact(nodes: int) -> None:
    """With an even node count no node sits on the kink and the nodes are symmetric: E[relu(u)^2] is exact."""
    q = np.array([0.01, 1.0, 50.0])
    exact = variance_map(q, "relu", 1.7, 0.2)
    with pytest.warns(QuadratureWarning, match="cannot resolve relu at variance q = 50"):  # true of the 2-D map
        quad = variance_map(q, "relu", 1.7, 0.2, method="quadrature", nodes=nodes)
    assert np.abs(quad - exact).max() < 1e-12 * exact.max()
    assert chi_1("relu", 1.7, 0.2, method="quadrature", nodes=nodes) == pytest.approx(0.85, abs=1e-14)


def test_relu_quadrature_of_the_correlation_map_converges_like_one_over_n() -> None:
    """The kink limits the 2-D grid: the error falls about as 1/n (measured: 6.7e-3, 1.3e-3, 4.4e-4 at 20, 100, 300)."""
    c = np.linspace(-0.99, 0.999, 9)
    exact = correlation_map(c, "relu", 1.0, 0.1)
    errors = [
        np.abs(correlation_map(c, "relu", 1.0, 0.1, method="quadrature", nodes=n) - exact).max() for n in (20, 100, 300)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-3
    assert errors[0] / errors[2] > 5  # roughly 1/n: 15x fewer nodes, ~15x the error


def test_tanh_quadrature_converges_fast_at_moderate_q() -> None:
    """A smooth activation: at q <= 1, 150 and 300 nodes agree to 1e-13; at q = 5 the steep tanh needs more."""
    q = np.array([0.1, 0.5, 1.0])
    a = variance_map(q, "tanh", 1.5, 0.05, nodes=150)
    b = variance_map(q, "tanh", 1.5, 0.05, nodes=300)
    np.testing.assert_allclose(a, b, rtol=1e-13)
    ref = float(variance_map(5.0, "tanh", 1.0, 0.0, nodes=300))
    with pytest.warns(QuadratureWarning, match=r"sqrt\(q\) pi / sqrt\(2 n\) = 0.702"):  # 50 nodes warn, 100 do not
        err = [abs(float(variance_map(5.0, "tanh", 1.0, 0.0, nodes=50)) / ref - 1)]
    err += [abs(float(variance_map(5.0, "tanh", 1.0, 0.0, nodes=n)) / ref - 1) for n in (100, 200)]
    assert err[0] > 1e-4 and 1e-6 < err[1] < 1e-4 and err[2] < 1e-6  # measured 1.2e-3, 2.8e-5, 1.2e-7
    c = np.array([-0.5, 0.3, 0.9])
    np.testing.assert_allclose(
        correlation_map(c, "tanh", 1.5, 0.05, nodes=100), correlation_map(c, "tanh", 1.5, 0.05, nodes=200), rtol=1e-12
    )


# --- tanh: the known critical points ------------------------------------------------------


def test_tanh_critical_point_at_zero_bias() -> None:
    assert critical_sigma_w2(0.0, "tanh") == pytest.approx(1.0, abs=1e-10)


def test_tanh_critical_point_at_sigma_b2_005() -> None:
    """Schoenholz et al. (2017): ~1.76.  Converged in the node count: 1.76140709 (20), 1.76095469 (50), 1.7609546396 (100 to 300)."""
    values = [critical_sigma_w2(0.05, "tanh", nodes=n) for n in (50, 100, 300)]
    assert abs(values[1] - values[2]) < 1e-11 and abs(values[0] - values[2]) < 1e-7
    assert values[-1] == pytest.approx(1.7609546396, abs=1e-9)
    sw = values[-1]
    assert chi_1("tanh", sw, 0.05) == pytest.approx(1.0, abs=1e-9)
    assert chi_1("tanh", sw * 0.95, 0.05) < 1 < chi_1("tanh", sw * 1.05, 0.05)


def test_tanh_phases() -> None:
    """Ordered: c* = 1, finite xi_c; chaotic: c* < 1; near the line xi_c is large."""
    assert c_star("tanh", 1.2, 0.05) == pytest.approx(1.0, abs=1e-9)
    assert c_star("tanh", 3.0, 0.05) < 0.5
    sw = critical_sigma_w2(0.05, "tanh")
    assert depth_scales("tanh", sw * 1.01, 0.05)[1] > 5 * depth_scales("tanh", 3.0, 0.05)[1]


def test_xi_c_diverges_on_both_sides_of_the_line() -> None:
    """Schoenholz et al. (2017): xi_c -> infinity at chi_1 = 1, from the ordered and from the chaotic side."""
    sw = critical_sigma_w2(0.05, "tanh")
    below, above = depth_scales("tanh", sw * 0.999, 0.05)[1], depth_scales("tanh", sw * 1.001, 0.05)[1]
    assert below > 1000 and above > 1000  # measured 2662 and 2669
    assert depth_scales("tanh", sw * 0.9, 0.05)[1] < below / 10


def test_tanh_quadrature_against_mpmath() -> None:
    """An independent reference: mpmath's adaptive quadrature of E[tanh(sqrt(q) z)^2] at 30 digits."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 30
    for q, tol in [(0.3, 1e-14), (1.0, 1e-10), (5.0, 1e-4)]:  # measured at 100 nodes: ~1e-16, 1.6e-11, 2.8e-5
        f = lambda x: mpmath.tanh(mpmath.sqrt(q) * x) ** 2 * mpmath.exp(-(x**2) / 2) / mpmath.sqrt(2 * mpmath.pi)  # noqa: E731,B023
        exact = float(mpmath.quad(f, [-mpmath.inf, -1, 0, 1, mpmath.inf]))
        assert abs(float(variance_map(q, "tanh", 1.0, 0.0)) / exact - 1) < tol


def test_quadrature_warns_where_it_cannot_resolve_phi() -> None:
    """tanh at sigma_w2 = sigma_b2 = 1e6 has q* = 2e6: its bend falls between the nodes (chi_1 would read ~0)."""
    with pytest.warns(QuadratureWarning, match="cannot resolve tanh"):
        chi_1("tanh", 1e6, 1e6)
    with pytest.warns(QuadratureWarning):
        critical_sigma_w2(0.05, "tanh", nodes=8)  # the walk itself is quiet; the crossing (1.895, not 1.761) warns


def test_phase_diagram_shapes_and_nan() -> None:
    d = phase_diagram([0.5, 1.5, 3.0], [0.0, 0.1], "relu")
    assert d.chi_1.shape == d.q_star.shape == d.xi_c.shape == (3, 2)
    np.testing.assert_allclose(d.chi_1[:2], [[0.25, 0.25], [0.75, 0.75]])
    assert np.isnan(d.chi_1[2]).all() and np.isnan(d.q_star[2]).all()
    t = phase_diagram([1.0, 2.5], [0.05], "tanh")
    assert t.chi_1[0, 0] < 1 < t.chi_1[1, 0]


# --- Monte Carlo on the engine's ensembles ------------------------------------------------

_SIN = Activation("sin", lambda xp, z: xp.sin(z), lambda xp, z, a: xp.cos(z))


def _measured(act: str | Activation, sw: float, sb: float, depth: int, q0: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer mean of Z[l]^2 over an ensemble of 32 width-300 nets, and its standard error over the models."""
    n, m, M = 300, 32, 32
    dims = [n] * (depth + 1)
    weights = f"normal(std={math.sqrt(sw / n)!r})"  # W[l] ~ N(0, sigma_w2 / n_{l-1})
    biases = "zeros" if sb == 0 else f"normal(std={math.sqrt(sb)!r})"
    params = init_ensemble(dims, seeds=list(range(M)), weights=weights, biases=biases)
    X = np.random.default_rng(1000).standard_normal((n, m))
    X *= np.sqrt(q0 * n / (X**2).sum(axis=0))  # every input has ||x||^2 / n_0 = q0 exactly
    _, caches = forward(MLP.make(dims, act, "mse"), params, X)
    per_model = np.array([(Z**2).mean(axis=(1, 2)) for _, Z, _ in caches])  # (depth, M); models are independent
    return per_model.mean(axis=1), per_model.std(axis=1, ddof=1) / math.sqrt(M)


@pytest.mark.parametrize(
    "act, theory_act, sw, sb, q0",
    [
        ("tanh", "tanh", 1.76, 0.05, 1.0),
        ("tanh", "tanh", 3.0, 0.1, 0.5),
        ("relu", "relu", 2.0, 0.1, 1.0),
        ("relu", "relu", 1.5, 0.0, 2.0),
        ("leaky_relu(slope=0.2)", "leaky_relu(slope=0.2)", 1.9, 0.05, 1.0),
        (_SIN, _sin, 2.0, 0.05, 1.0),  # the theory sees only the callable (quadrature + central difference)
    ],
)
def test_predicted_variances_match_the_engine(
    act: str | Activation, theory_act: object, sw: float, sb: float, q0: float
) -> None:
    depth = 6
    mean, se = _measured(act, sw, sb, depth, q0)
    predicted = predict_layers(theory_act, sw, sb, depth, q0).q
    assert predicted.shape == (depth,)
    assert np.all(np.abs(mean - predicted) < 4 * se), (mean, predicted, se)
    assert np.all(se < 0.05 * predicted)  # the check has teeth: a 5 % miss would fail


@pytest.mark.parametrize(
    "act, sw, sb, c0", [("tanh", 3.0, 0.05, 0.5), ("relu", 1.8, 0.05, 0.0), ("tanh", 1.2, 0.05, 0.2)]
)
def test_predicted_correlations_match_the_engine(act: str, sw: float, sb: float, c0: float) -> None:
    """Two inputs of mean square 1 and correlation c0 through 32 width-300 nets: c^l within 4 standard errors."""
    n, M, depth = 300, 32, 6
    dims = [n] * (depth + 1)
    params = init_ensemble(
        dims,
        seeds=list(range(M)),
        weights=f"normal(std={math.sqrt(sw / n)!r})",
        biases=f"normal(std={math.sqrt(sb)!r})",
    )
    pairs = 16
    x1, x2 = np.random.default_rng(7).standard_normal((2, n, pairs))
    x2 -= (x2 * x1).sum(0) / (x1 * x1).sum(0) * x1  # orthogonal to x1, then mixed in to give exactly c0
    x1, x2 = x1 / np.sqrt((x1 * x1).mean(0)), x2 / np.sqrt((x2 * x2).mean(0))
    X = np.concatenate([x1, c0 * x1 + math.sqrt(1 - c0**2) * x2], axis=1)  # (n, 2 * pairs): pair k is k, pairs + k
    _, caches = forward(MLP.make(dims, act, "mse"), params, X)
    per_layer = []
    for _, Z, _ in caches:  # Z: (M, n, 2 * pairs)
        z1, z2 = Z[..., :pairs], Z[..., pairs:]
        c = (z1 * z2).sum(1) / np.sqrt((z1 * z1).sum(1) * (z2 * z2).sum(1))  # (M, pairs)
        per_layer.append(c.mean(axis=1))
    measured = np.array(per_layer)  # (depth, M): per model, the mean correlation of its 16 pairs in layer l
    mean, se = measured.mean(axis=1), measured.std(axis=1, ddof=1) / math.sqrt(M)
    predicted = predict_layers(act, sw, sb, depth, 1.0, c0=c0).c
    assert predicted is not None
    assert np.all(np.abs(mean - predicted) < 4 * se), (mean, predicted, se)
    assert np.abs(predicted[-1] - predicted[0]) > 10 * se.max()  # the correlation does move across the layers


def test_predict_layers_correlations() -> None:
    p = predict_layers("relu", 1.0, 0.1, 30, 1.0, c0=0.0)
    assert p.c is not None and p.c.shape == (30,)
    assert np.all(np.diff(p.c) > 0) and p.c[-1] == pytest.approx(1.0, abs=1e-6)  # ordered: inputs merge
    assert p.q[-1] == pytest.approx(q_star("relu", 1.0, 0.1), rel=1e-6)
    t = predict_layers("tanh", 3.0, 0.05, 300, 1.0, c0=0.9)  # xi_c = 9: 300 layers reach c* to ~1e-15
    assert t.c is not None and t.c[-1] == pytest.approx(c_star("tanh", 3.0, 0.05), abs=1e-6)  # chaotic
    assert predict_layers("tanh", 1.0, 0.0, 3, 1.0).c is None


def test_predict_layers_keeps_overflow_as_data() -> None:
    """relu above the line overflows after ~1,700 layers: inf (and a NaN correlation), no warning, no error."""
    p = predict_layers("relu", 3.0, 0.1, 5000, 1.0, c0=0.5)
    assert np.isfinite(p.q[:1000]).all() and np.isinf(p.q[-1])
    assert p.c is not None and np.isnan(p.c[-1])
    c = predict_layers("tanh", 1.0, 0.0, 2, 0.0, c0=0.5).c
    assert c is not None and np.isnan(c).all()  # q = 0: no correlation
    d = phase_diagram([0.0], [0.0], "tanh")  # no signal at all
    assert d.q_star[0, 0] == 0.0 and np.isnan(d.xi_c[0, 0])


# --- bad arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: variance_map(-1.0, "relu", 1.0, 0.0), InitlabValueError, "'q' argument of variance_map"),
        (lambda: variance_map(1.0, "relu", -1.0, 0.0), InitlabValueError, "'sigma_w2' argument of variance_map"),
        (lambda: variance_map(1.0, "relu", 1.0, float("nan")), InitlabValueError, "'sigma_b2'"),
        (lambda: variance_map(1.0, "rleu", 1.0, 0.0), InitlabValueError, "Did you mean 'relu'"),
        (lambda: variance_map(1.0, 3, 1.0, 0.0), InitlabTypeError, "'activation' argument of variance_map"),
        (lambda: variance_map(1.0, "tanh", 1.0, 0.0, method="exact"), InitlabValueError, "'method'"),
        (lambda: q_star("tanh", 1.0, 0.0, nodes=1), InitlabValueError, "'nodes' argument of q_star"),
        (lambda: q_star("tanh", 1.0, 0.0, nodes=1000), InitlabValueError, "<= 300"),
        (lambda: correlation_map(1.5, "tanh", 1.0, 0.1), InitlabValueError, "'c' argument of correlation_map"),
        (lambda: predict_layers("tanh", 1.0, 0.0, 0, 1.0), InitlabValueError, "'depth' argument of predict_layers"),
        (lambda: predict_layers("tanh", 1.0, 0.0, 3, -1.0), InitlabValueError, "'q0' argument"),
        (lambda: predict_layers("tanh", 1.0, 0.0, 3, 1.0, c0=2.0), InitlabValueError, "'c0' argument"),
        (lambda: phase_diagram([], [0.0], "tanh"), InitlabValueError, "'sigma_w2_grid'"),
        (lambda: phase_diagram([1.0], np.zeros((1, 1)), "tanh"), InitlabValueError, "'sigma_b2_grid'"),
        (lambda: critical_sigma_w2(-0.1, "tanh"), InitlabValueError, "'sigma_b2' argument of critical_sigma_w2"),
        (lambda: q_star(math.tanh, 1.0, 0.1), InitlabTypeError, "callable tanh must map a numpy array"),
        (lambda: q_star(np.sum, 1.0, 0.1), InitlabValueError, "it returned shape"),
    ],
)
def test_errors(call: object, exc: type[Exception], message: str) -> None:
    with pytest.raises(exc, match=message):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("act", ["tanh", "relu", "sigmoid"])
def test_predicted_activation_moments_against_sampling(act) -> None:
    """``act_mean``/``act_sq``/``act_std`` are E[phi(sqrt(q) z)], E[phi^2] and the std of A at each layer's q."""
    from initlab.engine import get_activation

    p = predict_layers(act, [1.5, 2.0, 0.5], 0.1, 3, 1.0)
    z = np.random.default_rng(0).standard_normal(400_000)
    phi = get_activation(act).forward
    for l in range(3):
        a = phi(np, np.sqrt(p.q[l]) * z)
        se = a.std() / np.sqrt(z.size)
        assert abs(p.act_mean[l] - a.mean()) < 5 * se
        assert p.act_std[l] == pytest.approx(a.std(), rel=5e-3)


def test_predict_layers_sigma_w2_per_layer() -> None:
    one = predict_layers("tanh", 1.2, 0.05, 4, 1.0)
    each = predict_layers("tanh", [1.2] * 4, 0.05, 4, 1.0)
    assert np.array_equal(one.q, each.q) and np.array_equal(one.act_std, each.act_std)
    first = predict_layers("relu", [4.0, 2.0, 2.0], 0.0, 3, 1.0)
    assert first.q.tolist() == [4.0, 4.0, 4.0]
    with pytest.raises(InitlabValueError, match="one per layer \\(3 values\\). Got 2 values"):
        predict_layers("relu", [1.0, 2.0], 0.0, 3, 1.0)
    with pytest.raises(
        InitlabValueError, match="'sigma_w2' argument of predict_layers must be a finite float >= 0. Got -2.0"
    ):
        predict_layers("relu", [1.0, -2.0, 1.0], 0.0, 3, 1.0)
