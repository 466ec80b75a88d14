"""Each health metric defined once: its formula, where it applies, batching, and the same numbers on torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab import data
from initlab.engine import (
    ACTIVATIONS,
    CLONE_TOL,
    METRICS,
    MLP,
    activation_mean,
    activation_std,
    backward,
    dead_share,
    distinct_units,
    forward,
    gradient_norm,
    init_ensemble,
    init_params,
    layer_stats,
    mean_slope,
    numerical_rank,
    saturated_share,
    update_ratio,
)

RNG = np.random.default_rng(0)
Z = RNG.standard_normal((3, 6, 25)) * 3  # a stack of 3 models, 6 units, 25 examples


def test_the_table_names_order_and_scope() -> None:
    assert list(METRICS) == ["act_mean", "act_std", "saturated", "dead", "dgz_mean", "grad_norm", "grad_ratio"]
    tanh, relu = ACTIVATIONS["tanh"], ACTIVATIONS["relu"]
    assert METRICS["saturated"].applies(tanh) and not METRICS["saturated"].applies(relu)
    assert METRICS["dead"].applies(relu) and not METRICS["dead"].applies(tanh)
    assert not METRICS["dgz_mean"].applies(None) and METRICS["act_std"].applies(None)  # None: the output layer
    assert METRICS["grad_ratio"].function is update_ratio and METRICS["grad_ratio"].inputs == ("dW", "W")
    assert all(m.description for m in METRICS.values())


def test_each_metric_against_its_formula() -> None:
    a = np.tanh(Z[0])
    assert activation_mean(np, a) == pytest.approx(a.mean(), rel=1e-14)
    assert activation_std(np, a) == pytest.approx(a.std(), rel=1e-13)
    tanh = ACTIVATIONS["tanh"]
    assert saturated_share(np, tanh, Z[0], a) == pytest.approx(np.mean(np.abs(a) > math.sqrt(0.98)), abs=1e-15)
    assert mean_slope(np, tanh, Z[0], a) == pytest.approx(np.mean(1 - a**2), rel=1e-14)
    relu = ACTIVATIONS["relu"]
    r = np.maximum(Z[0] + np.array([[-1e3], [0], [-1e3], [0], [0], [0]]), 0)  # units 0 and 2 are never on
    dead = np.mean([not row.any() for row in r])
    assert dead == 2 / 6 and dead_share(np, relu, r) == dead
    w = RNG.standard_normal((4, 5))
    assert gradient_norm(np, w) == pytest.approx(np.linalg.norm(w), rel=1e-14)
    assert update_ratio(np, w, 2 * w) == pytest.approx(0.5, rel=1e-14)
    assert update_ratio(np, w, 0 * w) == math.inf


def test_a_metric_that_means_nothing_is_nan_never_zero() -> None:
    relu, tanh = ACTIVATIONS["relu"], ACTIVATIONS["tanh"]
    assert math.isnan(saturated_share(np, relu, Z[0], np.maximum(Z[0], 0)))
    assert math.isnan(dead_share(np, tanh, np.tanh(Z[0])))
    out = saturated_share(np, relu, Z, Z)
    assert out.shape == (3,) and np.isnan(out).all()
    net = MLP.make([2, 6, 5, 1], ["relu", "tanh"])
    p = init_params(net.layer_dims, weights="he_normal", rng=0)
    X = RNG.standard_normal((2, 30))
    Y = (X[:1] > 0).astype(float)
    ZL, caches = forward(net, p, X)
    stats = layer_stats(net, p, caches, backward(net, p, caches, net.loss.grad(np, ZL, Y)))
    assert stats["saturated"][0, 0] != stats["saturated"][0, 0]  # relu layer: NaN
    assert 0 <= stats["saturated"][0, 1] <= 1  # tanh layer: a share
    assert np.isnan(stats["dead"][0, 1]) and 0 <= stats["dead"][0, 0] <= 1
    assert np.isnan(stats["dgz_mean"][0, 2]) and np.isnan(stats["saturated"][0, 2])  # the output layer
    assert np.isfinite(stats["grad_ratio"]).all()
    no_grads = layer_stats(net, p, caches, None)
    assert np.isnan(no_grads["grad_norm"]).all() and np.array_equal(no_grads["act_std"], stats["act_std"])


@pytest.mark.parametrize("order", ["C", "F"])
def test_batched_model_k_is_model_k_alone_bit_for_bit(order: str) -> None:
    stack = np.asarray(np.tanh(Z), order=order)
    tanh = ACTIVATIONS["tanh"]
    for k in range(3):
        alone = np.ascontiguousarray(stack[k])
        assert activation_mean(np, stack)[k] == activation_mean(np, alone)
        assert activation_std(np, stack)[k] == activation_std(np, alone)
        assert mean_slope(np, tanh, Z, stack)[k] == mean_slope(np, tanh, Z[k], alone)
        assert gradient_norm(np, stack)[k] == gradient_norm(np, alone)


def test_distinct_units_and_rank_with_non_finite_numbers() -> None:
    w = np.ones((4, 3))
    w[2, 0] = np.nan
    a = np.ones((4, 5))
    # three finite clones and one NaN unit: two groups (the NaN unit is never anyone's clone)
    assert distinct_units(w, np.zeros((4, 1)), a).tolist() == 2
    assert numerical_rank(w)[0] == -1 and math.isnan(numerical_rank(w)[1])
    assert CLONE_TOL == 1e-6


def test_the_clone_and_rank_metrics_have_one_public_home() -> None:
    import initlab.diagnostics as diag
    import initlab.engine as eng

    for name in ("CLONE_TOL", "clone_groups", "distinct_units", "numerical_rank"):
        assert name in eng.__all__ and name not in diag.__all__ and not hasattr(diag, name)


def test_diagnose_reports_the_engine_numbers_and_runs_forward_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import initlab.diagnostics._diagnose as dmod
    from initlab.diagnostics import diagnose

    net = MLP.make([2, 7, 4, 1], "tanh")
    p = init_params(net.layer_dims, weights="randn(scale=2)", rng=1)
    d = data.flower()
    calls = []
    real = dmod.forward
    monkeypatch.setattr(dmod, "forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    reports = diagnose(net, p, d.X_train, d.Y_train)[0]
    assert len(calls) == 1
    ZL, caches = forward(net, p, d.X_train)
    stats = layer_stats(net, p, caches, backward(net, p, caches, net.loss.grad(np, ZL, d.Y_train)))
    for r in reports:
        for metric in ("act_mean", "act_std", "saturated", "dgz_mean", "grad_norm", "grad_ratio"):
            assert getattr(r, metric) == stats[metric][0, r.layer - 1], (r.layer, metric)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_same_functions_give_the_same_numbers_on_torch(dtype: str) -> None:
    torch = pytest.importorskip("torch")
    from initlab.engine import namespace

    z = Z.astype(dtype)
    t = torch.as_tensor(z)
    xp = namespace(t)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for act in (ACTIVATIONS["tanh"], ACTIVATIONS["sigmoid"], ACTIVATIONS["relu"]):
        a, at = act.forward(np, z), act.forward(xp, t)
        cases = [
            (activation_mean(np, a), activation_mean(xp, at)),
            (activation_std(np, a), activation_std(xp, at)),
            (saturated_share(np, act, z, a), saturated_share(xp, act, t, at)),
            (dead_share(np, act, a), dead_share(xp, act, at)),
            (mean_slope(np, act, z, a), mean_slope(xp, act, t, at)),
            (gradient_norm(np, a), gradient_norm(xp, at)),
            (update_ratio(np, a, z), update_ratio(xp, at, t)),
        ]
        for i, (ref, got) in enumerate(cases):
            assert isinstance(got, torch.Tensor) and tuple(got.shape) == (3,)
            np.testing.assert_allclose(got.numpy(), ref, rtol=rtol, atol=0, err_msg=f"{act.name} case {i}")
    # and the whole record: layer_stats on torch tensors equals numpy's
    net = MLP.make([2, 8, 6, 1], ["relu", "tanh"])
    p = init_ensemble(net.layer_dims, seeds=[0, 1], weights="he_normal", dtype=dtype)
    X = RNG.standard_normal((2, 40)).astype(dtype)
    Y = (X[:1] > 0).astype(dtype)
    ZL, caches = forward(net, p, X)
    ref = layer_stats(net, p, caches, backward(net, p, caches, net.loss.grad(np, ZL, Y)))
    pt = {k: torch.as_tensor(v) for k, v in p.items()}
    Xt, Yt = torch.as_tensor(X), torch.as_tensor(Y)
    ZLt, ct = forward(net, pt, Xt, xp)
    got = layer_stats(net, pt, ct, backward(net, pt, ct, net.loss.grad(xp, ZLt, Yt), xp), xp)
    for metric in METRICS:
        np.testing.assert_allclose(got[metric], ref[metric], rtol=rtol * 100, atol=0, err_msg=metric)
