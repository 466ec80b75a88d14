"""engine.lsuv: afterwards every layer's output std is within tol of the target, re-measured here."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from initlab import InitlabTypeError, InitlabValueError
from initlab.engine import MLP, LSUVWarning, forward, init_ensemble, init_params, lsuv


def stds(net: MLP, params: dict, X: np.ndarray) -> np.ndarray:
    """Each layer's output Z[l] std (population, over units and examples), per model: measured independently."""
    _, caches = forward(net, params, X)
    return np.stack([np.asarray(Z, dtype=np.float64).reshape(*Z.shape[:-2], -1).std(axis=-1) for _, Z, _ in caches],
                    axis=-1)  # fmt: skip


@pytest.fixture
def batch() -> np.ndarray:
    return np.random.default_rng(5).standard_normal((20, 300)) * 3.0 + 1.0


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "linear"])
@pytest.mark.parametrize("target", [1.0, 0.5])
def test_every_layer_within_tol_of_target(act: str, target: float, batch: np.ndarray) -> None:
    net = MLP.make([20, 64, 64, 64, 3], act, "softmax_ce")
    p = init_params(net.layer_dims, weights="randn(scale=0.01)", biases="normal(std=0.1)", rng=1)
    report = lsuv(net, p, batch, target=target, tol=0.05, rng=3)
    assert report.ok
    got = stds(net, p, batch)
    assert np.all(np.abs(got - target) <= 0.05 * target + 1e-9)
    assert np.allclose(got, report.std_after[0])
    # the pre-init is orthonormal up to the scale applied: W W^T = scale^2 I (rows fewer than columns)
    w = p["W2"] / report.scale[0, 1]
    assert np.allclose(w @ w.T, np.eye(64), atol=1e-9)


def test_keeps_given_weights_without_pre_init(batch: np.ndarray) -> None:
    net = MLP.make([20, 32, 32, 2], "relu", "softmax_ce")
    p = init_params(net.layer_dims, weights="he_normal", rng=0)
    w0 = {k: v.copy() for k, v in p.items()}
    report = lsuv(net, p, batch, pre_init=False)
    for l in (1, 2, 3):
        assert np.allclose(p[f"W{l}"], w0[f"W{l}"] * report.scale[0, l - 1])
        assert np.array_equal(p[f"b{l}"], w0[f"b{l}"])  # biases are never rescaled
    assert report.rows()[0]["status"] == "ok" and len(report.rows()) == 3


def test_relu_gain_is_about_sqrt2_after_the_first_layer() -> None:
    X = np.random.default_rng(0).standard_normal((100, 512))  # unit-variance inputs
    net = MLP.make([100] + [256] * 6 + [10], "relu", "softmax_ce")
    p = init_params(net.layer_dims, weights="he_normal", rng=0)
    lsuv(net, p, X, tol=0.01, rng=0)
    gains = [p[f"W{l}"].std() * np.sqrt(net.layer_dims[l - 1]) for l in range(2, 7)]
    assert np.allclose(gains, np.sqrt(2), rtol=0.08)


@pytest.mark.parametrize("pre_init", [True, False])
def test_ensemble_model_k_is_model_k_alone(pre_init: bool, batch: np.ndarray) -> None:
    net = MLP.make([20, 48, 48, 4], "tanh", "softmax_ce")
    seeds = [3, 4, 5]
    specs = ["randn(scale=0.01)", "he_normal", "randn(scale=1)"]
    p = init_ensemble(net.layer_dims, seeds=seeds, weights=specs, biases="normal(std=0.2)")
    alone = [
        init_params(net.layer_dims, weights=s, biases="normal(std=0.2)", rng=k)
        for k, s in zip(seeds, specs, strict=True)
    ]
    report = lsuv(net, p, batch, pre_init=pre_init, rng=[10, 11, 12], tol=0.02)
    for k in range(3):
        r = lsuv(net, alone[k], batch, pre_init=pre_init, rng=10 + k, tol=0.02)
        for key, value in alone[k].items():
            assert np.array_equal(p[key][k], value), (k, key)
        assert np.array_equal(report.scale[k], r.scale[0])
        assert np.array_equal(report.iterations[k], r.iterations[0])
    assert report.ensemble and report.scale.shape == (3, 3)


def test_not_reached_warns_with_the_numbers(batch: np.ndarray) -> None:
    net = MLP.make([20, 16, 2], "relu", "softmax_ce")
    p = init_params(net.layer_dims, weights="he_normal", biases=["normal(std=5)", "zeros"], rng=0)
    with pytest.warns(LSUVWarning, match=r"layer 1 .*max_iter=3"):
        report = lsuv(net, p, batch, max_iter=3)
    assert not report.ok
    assert report.rows()[0]["status"] == "not reached"


def test_zero_variance_names_the_layer(batch: np.ndarray) -> None:
    net = MLP.make([20, 16, 16, 2], "relu", "softmax_ce")
    p = init_params(net.layer_dims, weights="he_normal", biases=["constant(value=-100)", "zeros", "zeros"], rng=0)
    with pytest.raises(InitlabValueError, match="layer 2.*zero variance"):
        lsuv(net, p, batch, pre_init=False)
    with pytest.raises(InitlabValueError, match="layer 1.*zero variance"):
        lsuv(net, init_params(net.layer_dims, weights="he_normal", rng=0), np.ones((20, 8)))


def test_non_finite_output_is_refused() -> None:
    net = MLP.make([3, 4, 2], "relu", "softmax_ce")
    X = np.full((3, 5), np.nan)
    with pytest.raises(InitlabValueError, match="not finite"):
        lsuv(net, init_params(net.layer_dims, weights="he_normal", rng=0), X)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"target": 0.0}, "target"), ({"tol": -1.0}, "tol"), ({"max_iter": 0}, "max_iter"), ({"rng": -1}, "rng")],
)
def test_bad_arguments_are_named(kwargs: dict, name: str, batch: np.ndarray) -> None:
    net = MLP.make([20, 8, 2], "relu", "softmax_ce")
    with pytest.raises(InitlabValueError, match=name):
        lsuv(net, init_params(net.layer_dims, weights="he_normal", rng=0), batch, **kwargs)


def test_bad_shapes_and_types_are_named(batch: np.ndarray) -> None:
    net = MLP.make([20, 8, 2], "relu", "softmax_ce")
    p = init_params(net.layer_dims, weights="he_normal", rng=0)
    with pytest.raises(InitlabValueError, match="'X'"):
        lsuv(net, p, batch[:5])
    with pytest.raises(InitlabValueError, match="'params'.*W2"):
        lsuv(net, {**p, "W2": p["W2"].T}, batch)
    with pytest.raises(InitlabValueError, match="'rng'.*list of 2"):
        lsuv(net, init_ensemble(net.layer_dims, seeds=[0, 1], weights="he_normal"), batch, rng=0)
    with pytest.raises(InitlabTypeError, match="'net'"):
        lsuv("net", p, batch)  # type: ignore[arg-type]
    with pytest.raises(InitlabTypeError, match="pre_init"):
        lsuv(net, p, batch, pre_init=1)  # type: ignore[arg-type]


@pytest.mark.torch
def test_same_scales_as_the_torch_adapter(batch: np.ndarray) -> None:
    torch = pytest.importorskip("torch")
    from torch import nn

    from initlab.torch import lsuv as torch_lsuv

    net = MLP.make([20, 32, 32, 3], "tanh", "softmax_ce")
    p = init_params(net.layer_dims, weights="randn(scale=0.05)", biases="normal(std=0.1)", rng=2)
    model = nn.Sequential(nn.Linear(20, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 3)).double()
    with torch.no_grad():
        for i, l in zip((0, 2, 4), (1, 2, 3), strict=True):
            model[i].weight.copy_(torch.from_numpy(p[f"W{l}"]))
            model[i].bias.copy_(torch.from_numpy(p[f"b{l}"][:, 0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = lsuv(net, p, batch, pre_init=False, tol=0.01)
        theirs = torch_lsuv(model, torch.from_numpy(batch.T.copy()), orthogonal=False, tol=0.01)
    assert np.allclose(ours.scale[0], [layer.scale for layer in theirs.layers], rtol=1e-9)
    assert np.allclose(ours.std_after[0], [layer.std_after for layer in theirs.layers], rtol=1e-9)
    assert np.allclose(p["W2"], model[2].weight.detach().numpy(), rtol=1e-9)
