"""What the papers' experiments need from the engine: heavy-ball and Nesterov momentum, mini-batch SGD, dA/dZ."""

from __future__ import annotations

import numpy as np
import pytest

from initlab import InitlabValueError
from initlab.engine import (
    MLP,
    OPTIMIZERS,
    HeavyBall,
    Nesterov,
    get_optimizer,
    init_ensemble,
    init_params,
    train,
)

# --- optimizers -----------------------------------------------------------------------------------


def test_heavy_ball_two_steps_by_hand() -> None:
    w0, g1, g2 = np.array([[1.0, -2.0]]), np.array([[0.5, 1.0]]), np.array([[-1.0, 0.25]])
    lr, mu = 0.1, 0.9
    p = {"W1": w0.copy()}
    opt = HeavyBall(lr, momentum=mu)
    opt.step(p, {"dW1": g1})
    v1 = -lr * g1
    np.testing.assert_array_equal(p["W1"], w0 + v1)
    opt.step(p, {"dW1": g2})
    v2 = mu * v1 - lr * g2
    np.testing.assert_array_equal(p["W1"], w0 + v1 + v2)
    # 1.0 - 0.05 = 0.95, then v2 = -0.045 + 0.1 = 0.055: 1.005; -2.0 - 0.1 = -2.1, then -0.09 - 0.025: -2.215
    np.testing.assert_allclose(p["W1"], [[1.005, -2.215]], rtol=0, atol=1e-15)


def test_nesterov_two_steps_by_hand() -> None:
    w0, g1, g2 = np.array([[1.0, -2.0]]), np.array([[0.5, 1.0]]), np.array([[-1.0, 0.25]])
    lr, mu = 0.1, 0.9
    p = {"W1": w0.copy()}
    opt = Nesterov(lr, momentum=mu)
    opt.step(p, {"dW1": g1})
    v1 = -lr * g1
    w1 = w0 + (mu * v1 - lr * g1)
    np.testing.assert_array_equal(p["W1"], w1)
    opt.step(p, {"dW1": g2})
    v2 = mu * v1 - lr * g2
    np.testing.assert_array_equal(p["W1"], w1 + (mu * v2 - lr * g2))
    # step 1: -0.045 - 0.05 = -0.095 -> 0.905; step 2: v2 = 0.055, 0.0495 + 0.1 = 0.1495 -> 1.0545
    np.testing.assert_allclose(p["W1"][0, 0], 1.0545, rtol=0, atol=1e-15)


def test_names_and_keywords() -> None:
    assert OPTIMIZERS["heavy_ball"] is HeavyBall and OPTIMIZERS["nesterov"] is Nesterov
    hb = get_optimizer("heavy_ball", 0.2)
    assert isinstance(hb, HeavyBall) and not isinstance(hb, Nesterov) and hb.momentum == 0.9 and hb.lr == 0.2
    ne = get_optimizer("nesterov", [0.1, 0.2], momentum=0.5)
    assert isinstance(ne, Nesterov) and ne.momentum == 0.5 and ne.lr == (0.1, 0.2)
    with pytest.raises(
        InitlabValueError, match="'momentum' argument of heavy_ball must be a finite float >= 0 and < 1"
    ):
        HeavyBall(0.1, momentum=1.0)
    with pytest.raises(InitlabValueError, match="'momentum' argument of nesterov must be a finite float >= 0 and < 1"):
        get_optimizer("nesterov", 0.1, momentum=-0.1)


@pytest.mark.parametrize(("name", "nesterov"), [("heavy_ball", False), ("nesterov", True)])
@pytest.mark.parametrize("mu", [0.9, 0.5])
def test_matches_torch_sgd_with_the_same_lr(name: str, nesterov: bool, mu: float) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(6)]
    lr = 0.05
    ours = get_optimizer(name, lr, momentum=mu)
    p = {"W1": w0.copy()}
    tw = torch.tensor(w0.copy(), requires_grad=True)
    theirs = torch.optim.SGD([tw], lr=lr, momentum=mu, nesterov=nesterov)
    for i, g in enumerate(grads):
        ours.step(p, {"dW1": g})
        tw.grad = torch.tensor(g)
        theirs.step()
        if i == 0 and not nesterov:  # one step is theta - lr g in both: the same bits
            np.testing.assert_array_equal(p["W1"], tw.detach().numpy())
        np.testing.assert_allclose(p["W1"], tw.detach().numpy(), rtol=1e-13, atol=1e-14)


def test_torch_backend_runs_the_new_optimizers() -> None:
    pytest.importorskip("torch")
    net = MLP.make([2, 6, 1], "tanh")
    X, Y = _toy(m=20)
    for name in ("heavy_ball", "nesterov"):
        a = init_params(net.layer_dims, weights="xavier_normal", rng=1)
        b = {k: v.copy() for k, v in a.items()}
        ha = train(net, a, X, Y, steps=15, optimizer=name, lr=0.3, backend="numpy", record_every=0)
        hb = train(net, b, X, Y, steps=15, optimizer=name, lr=0.3, backend="torch", record_every=0)
        np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-10)


# --- helpers ---------------------------------------------------------------------------------------


def _toy(n_x: int = 2, m: int = 30, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m))
    Y = (X[:1] * X[1:2] > 0).astype(float)
    return X, Y


WEIGHTS = ["xavier_normal", "he_normal", "randn(scale=0.5)", "orthogonal"]


def _ensemble_vs_alone(optimizer: str, dtype: type = np.float64, **kw: object) -> None:
    """Model k of a 4-model ensemble == model k alone, bit for bit (losses, parameters, records)."""
    dims = [2, 8, 6, 1]
    net = MLP.make(dims, "tanh", "bce")
    X, Y = _toy(m=37)
    X, Y = X.astype(dtype), Y.astype(dtype)
    seeds, lrs = [0, 1, 2, 3], [0.5, 0.1, 1.0, 0.05]
    stack = init_ensemble(dims, seeds=seeds, weights=WEIGHTS, biases="normal(std=0.1)", dtype=dtype)
    h = train(net, stack, X, Y, steps=41, optimizer=optimizer, lr=lrs, record_every=10, backend="numpy", **kw)
    for k in range(4):
        p = init_params(dims, weights=WEIGHTS[k], biases="normal(std=0.1)", rng=seeds[k], dtype=dtype)
        hk = train(net, p, X, Y, steps=41, optimizer=optimizer, lr=lrs[k], record_every=10, backend="numpy", **kw)
        np.testing.assert_array_equal(h.loss[:, k], hk.loss[:, 0], err_msg=str(k))
        for key in p:
            np.testing.assert_array_equal(stack[key][k], p[key], err_msg=f"{k} {key}")
        for metric, values in h.stats.items():
            np.testing.assert_array_equal(values[:, k], hk.stats[metric][:, 0], err_msg=f"{k} {metric}")


@pytest.mark.parametrize("optimizer", ["heavy_ball", "nesterov"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_k_of_an_ensemble_is_model_k_alone(optimizer: str, dtype: type) -> None:
    _ensemble_vs_alone(optimizer, dtype)
