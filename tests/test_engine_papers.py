"""What the papers' experiments need from the engine: heavy-ball and Nesterov momentum, mini-batch SGD, dA/dZ."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from initlab import InitlabValueError
from initlab.engine import (
    MLP,
    OPTIMIZERS,
    HeavyBall,
    History,
    Nesterov,
    StepInfo,
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


def _ensemble_vs_alone(optimizer: str, dtype: type = np.float64, **kw: Any) -> None:
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


# --- mini-batch SGD --------------------------------------------------------------------------------


def _run(params: dict[str, np.ndarray], steps: int = 25, **kw: Any) -> History:
    net = MLP.make([2, 8, 6, 1], "tanh", "bce")
    X, Y = _toy(m=37)
    return train(net, params, X, Y, steps=steps, lr=0.3, record_every=5, backend="numpy", **kw)


def _fresh() -> dict[str, np.ndarray]:
    return init_params([2, 8, 6, 1], weights="xavier_normal", biases="normal(std=0.1)", rng=4)


def test_batch_size_m_without_shuffle_is_the_full_batch_bit_for_bit() -> None:
    full, mini = _fresh(), _fresh()
    hf, hm = _run(full), _run(mini, batch_size=37)
    np.testing.assert_array_equal(hf.loss, hm.loss)
    for key in full:
        np.testing.assert_array_equal(full[key], mini[key])
    for metric in hf.stats:
        np.testing.assert_array_equal(hf.stats[metric], hm.stats[metric])


def test_a_step_is_one_mini_batch_in_order_without_a_shuffle() -> None:
    """With B = 10 and m = 37 the batches are columns 0-9, 10-19, 20-29, 30-36, then 0-9 again: step by step
    the same as full-batch steps on those columns."""
    net = MLP.make([2, 8, 6, 1], "tanh", "bce")
    X, Y = _toy(m=37)
    p = _fresh()
    h = train(net, p, X, Y, steps=6, lr=0.3, record_every=0, backend="numpy", batch_size=10)
    q = _fresh()
    for t, (a, b) in enumerate([(0, 10), (10, 20), (20, 30), (30, 37), (0, 10), (10, 20)]):
        Xb, Yb = np.ascontiguousarray(X[:, a:b]), np.ascontiguousarray(Y[:, a:b])
        hq = train(net, q, Xb, Yb, steps=1, lr=0.3, record_every=0, backend="numpy")
        assert h.loss[t, 0] == hq.loss[0, 0], t
    for key in p:
        np.testing.assert_array_equal(p[key], q[key])


def test_shuffle_is_seeded() -> None:
    a, b, c = _fresh(), _fresh(), _fresh()
    ha = _run(a, batch_size=8, shuffle_seed=11)
    hb = _run(b, batch_size=8, shuffle_seed=11)
    hc = _run(c, batch_size=8, shuffle_seed=12)
    np.testing.assert_array_equal(ha.loss, hb.loss)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(ha.loss, hc.loss) and not np.array_equal(a["W1"], c["W1"])
    # the first epoch's first mini-batch is the first 8 of default_rng(11).permutation(37)
    net = MLP.make([2, 8, 6, 1], "tanh", "bce")
    X, Y = _toy(m=37)
    idx = np.random.default_rng(11).permutation(37)[:8]
    first = train(net, _fresh(), X[:, idx], Y[:, idx], steps=1, lr=0.3, record_every=0, backend="numpy")
    assert first.loss[0, 0] == ha.loss[0, 0]


def test_each_epoch_draws_a_fresh_permutation() -> None:
    """m = 37, B = 20: steps 0, 1 are the first permutation's [:20] and [20:], step 2 the second's [:20]."""
    net = MLP.make([2, 8, 6, 1], "tanh", "bce")
    X, Y = _toy(m=37)
    p = _fresh()
    h = train(net, p, X, Y, steps=3, lr=0.3, record_every=0, backend="numpy", batch_size=20, shuffle_seed=5)
    rng = np.random.default_rng(5)
    first, second = rng.permutation(37), rng.permutation(37)
    assert not np.array_equal(first, second)
    q = _fresh()
    for t, idx in enumerate([first[:20], first[20:], second[:20]]):
        hq = train(net, q, X[:, idx], Y[:, idx], steps=1, lr=0.3, record_every=0, backend="numpy")
        assert h.loss[t, 0] == hq.loss[0, 0], t
    for key in p:
        np.testing.assert_array_equal(p[key], q[key])


@pytest.mark.parametrize(
    ("optimizer", "batching"),
    [
        ("gd", {"batch_size": 8}),
        ("gd", {"batch_size": 5, "shuffle_seed": 3}),
        ("heavy_ball", {"batch_size": 10, "shuffle_seed": 0}),
        ("nesterov", {"batch_size": 1, "shuffle_seed": 7}),
        ("adam", {"batch_size": 37, "shuffle_seed": 1}),
    ],
)
def test_mini_batch_ensembles_are_the_models_alone(optimizer: str, batching: dict[str, int]) -> None:
    _ensemble_vs_alone(optimizer, np.float64, **batching)


def test_mini_batch_float32_ensemble() -> None:
    _ensemble_vs_alone("heavy_ball", np.float32, batch_size=6, shuffle_seed=2)


def test_mini_batch_on_torch_matches_numpy() -> None:
    pytest.importorskip("torch")
    net = MLP.make([2, 6, 1], "tanh")
    X, Y = _toy(m=23)
    a = init_params(net.layer_dims, weights="xavier_normal", rng=1)
    b = {k: v.copy() for k, v in a.items()}
    kw: dict[str, Any] = {
        "steps": 12,
        "optimizer": "nesterov",
        "lr": 0.3,
        "record_every": 0,
        "batch_size": 4,
        "shuffle_seed": 9,
    }
    ha = train(net, a, X, Y, backend="numpy", **kw)
    hb = train(net, b, X, Y, backend="torch", **kw)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-10)
    np.testing.assert_allclose(a["W1"], b["W1"], rtol=1e-10)


def test_backend_none_falls_back_to_numpy_for_mini_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    import initlab.engine._training as training

    monkeypatch.setattr(training, "NUMBA_MIN_SECONDS", 0.0)  # full batch would take the kernel
    called: list[int] = []
    monkeypatch.setattr(training, "_train_numba", lambda *a, **k: called.append(1))
    a, b = _fresh(), _fresh()
    net = MLP.make([2, 8, 6, 1], "tanh", "bce")
    X, Y = _toy(m=37)
    h = train(net, a, X, Y, steps=5, lr=0.3, record_every=0, batch_size=9, shuffle_seed=0)
    hn = train(net, b, X, Y, steps=5, lr=0.3, record_every=0, batch_size=9, shuffle_seed=0, backend="numpy")
    assert not called
    np.testing.assert_array_equal(h.loss, hn.loss)


def test_mini_batch_errors() -> None:
    net = MLP.make([2, 4, 1], "tanh")
    X, Y = _toy(m=10)
    p = init_params(net.layer_dims, weights="xavier_normal", rng=0)
    with pytest.raises(InitlabValueError, match=r"'batch_size' argument of train must be an int >= 1. Got 0"):
        train(net, p, X, Y, steps=2, batch_size=0)
    with pytest.raises(InitlabValueError, match=r"'batch_size' argument of train must be at most the number of examples"
                       r" m = 10 \(the columns of X\). Got 11 instead"):  # fmt: skip
        train(net, p, X, Y, steps=2, batch_size=11)
    with pytest.raises(InitlabValueError, match="'shuffle_seed' argument of train needs a 'batch_size'"):
        train(net, p, X, Y, steps=2, shuffle_seed=1)
    with pytest.raises(InitlabValueError, match="'shuffle_seed' argument of train must be an int >= 0. Got -1"):
        train(net, p, X, Y, steps=2, batch_size=2, shuffle_seed=-1)
    with pytest.raises(InitlabValueError, match=r"'numba' backend of train trains on the full batch only"):
        train(net, p, X, Y, steps=2, batch_size=2, backend="numba")


# --- dA and dZ for callbacks -------------------------------------------------------------------------


@pytest.mark.parametrize("loss", ["bce", "softmax_ce", "mse"])
def test_step_info_carries_the_backpropagated_dA_and_dZ(loss: str) -> None:
    k = 3 if loss == "softmax_ce" else 1
    dims = [2, 7, 5, k]
    net = MLP.make(dims, ["relu", "tanh"], loss)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 13))
    Y = np.eye(k)[rng.integers(0, k, 13)].T if k > 1 else (rng.random((1, 13)) > 0.5).astype(float)
    stack = init_ensemble(dims, seeds=[0, 1], weights="he_normal", biases="normal(std=0.1)")
    seen: list[tuple[int, list[np.ndarray], list[np.ndarray], dict[str, np.ndarray]]] = []

    def keep(info: StepInfo) -> None:
        params = {key: v.copy() for key, v in info.params.items()}
        assert len(info.dA) == len(info.dZ) == 3
        for l, (_, Z, _) in enumerate(info.caches):
            assert info.dZ[l].shape == Z.shape == info.dA[l].shape
        ZL = info.caches[-1][1]
        np.testing.assert_array_equal(info.dZ[-1], net.loss.grad(np, ZL, Y))  # the loss gradient at the output
        assert info.dA[-1] is info.dZ[-1]
        for m in range(2):  # course notation per model: dA[l] = W[l+1]^T dZ[l+1]
            for l in (1, 2):  # layers l = 1, 2 are list entries l - 1
                np.testing.assert_allclose(
                    info.dA[l - 1][m], params[f"W{l + 1}"][m].T @ info.dZ[l][m], rtol=1e-12, atol=1e-15
                )
                g = net.hidden[l - 1].derivative(np, info.caches[l - 1][1][m], info.caches[l - 1][2][m])
                np.testing.assert_array_equal(info.dZ[l - 1][m], info.dA[l - 1][m] * g)
            np.testing.assert_allclose(info.grads["dW1"][m], info.dZ[0][m] @ X.T, rtol=1e-12, atol=1e-15)
        seen.append((info.step, info.dA, info.dZ, params))

    train(net, stack, X, Y, steps=4, lr=0.1, record_every=2, callback=keep, backend="numpy")
    assert [s[0] for s in seen] == [0, 2, 3]


def test_dZ_of_model_k_is_model_k_alone() -> None:
    dims = [2, 8, 6, 1]
    net = MLP.make(dims, "tanh")
    X, Y = _toy(m=21)
    stack = init_ensemble(dims, seeds=[0, 1, 2], weights="xavier_normal")

    def grab(info: StepInfo) -> tuple[list[np.ndarray], list[np.ndarray]]:
        return [a.copy() for a in info.dA], [z.copy() for z in info.dZ]

    h = train(net, stack, X, Y, steps=3, optimizer="nesterov", lr=[0.1, 0.2, 0.3], record_every=1, callback=grab,
              batch_size=7, shuffle_seed=0, backend="numpy")  # fmt: skip
    for k, seed in enumerate([0, 1, 2]):
        p = init_params(dims, weights="xavier_normal", rng=seed)
        hk = train(net, p, X, Y, steps=3, optimizer="nesterov", lr=[0.1, 0.2, 0.3][k], record_every=1, callback=grab,
                   batch_size=7, shuffle_seed=0, backend="numpy")  # fmt: skip
        for (dA, dZ), (dAk, dZk) in zip(h.extra, hk.extra, strict=True):
            for l in range(3):
                np.testing.assert_array_equal(dA[l][k], dAk[l])
                np.testing.assert_array_equal(dZ[l][k], dZk[l])
