"""The same engine code on torch tensors: results agree with the numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from initlab import InitlabValueError, data
from initlab.engine import METRICS, MLP, init_ensemble, namespace, to_backend, train

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


@pytest.mark.parametrize("hidden", ["tanh", "relu", "leaky_relu", "sigmoid", "gelu", "silu", "elu", "selu"])
def test_torch_cpu_float64_agrees_with_numpy(hidden: str) -> None:
    d = data.circles()
    net = MLP.make([2, 16, 8, 1], hidden)
    p = init_ensemble(net.layer_dims, seeds=[0, 1, 2], weights="xavier_normal", biases="normal(std=0.1)")
    pt = {k: v.copy() for k, v in p.items()}
    lrs = [0.05, 0.1, 0.3]  # stable rates: a chaotic run (lr 1 on tanh) amplifies rounding by design
    h = train(net, p, d.X_train, d.Y_train, steps=150, lr=lrs, record_every=50)
    ht = train(net, pt, d.X_train, d.Y_train, steps=150, lr=lrs, record_every=50, backend="torch", device="cpu")
    assert isinstance(pt["W1"], np.ndarray)  # written back in the caller's type
    np.testing.assert_allclose(ht.loss, h.loss, rtol=1e-10)
    for key in p:
        np.testing.assert_allclose(pt[key], p[key], rtol=1e-8, atol=1e-12)
    for metric in METRICS:
        np.testing.assert_allclose(ht.stats[metric], h.stats[metric], rtol=1e-8, atol=1e-12)


def test_torch_float32_and_softmax() -> None:
    d = data.digits()
    net = MLP.make([64, 32, 10], "relu", "softmax_ce")
    p = init_ensemble(net.layer_dims, seeds=[0, 1], weights="he_normal", dtype=np.float32)
    X, Y = d.X_train.astype(np.float32), d.Y_train.astype(np.float32)
    pt = {k: torch.as_tensor(v.copy()) for k, v in p.items()}
    h = train(net, p, X, Y, steps=30, lr=0.1, record_every=10)
    ht = train(net, pt, torch.as_tensor(X), torch.as_tensor(Y), steps=30, lr=0.1, record_every=10)
    assert isinstance(pt["W1"], torch.Tensor) and pt["W1"].dtype == torch.float32
    np.testing.assert_allclose(ht.loss, h.loss, rtol=1e-4)


def test_to_backend_round_trip_and_errors() -> None:
    p = {"W1": np.arange(6.0).reshape(2, 3)}
    t = to_backend(p, "torch")
    assert isinstance(t["W1"], torch.Tensor) and t["W1"].dtype == torch.float64
    assert np.array_equal(to_backend(t, "numpy")["W1"], p["W1"])
    assert namespace(t["W1"]).__name__ == "array_api_compat.torch" and namespace(p["W1"]) is np
    with pytest.raises(InitlabValueError, match="'backend' argument of to_backend must be one of 'numpy', 'torch'"):
        to_backend(p, "jax")
    with pytest.raises(InitlabValueError, match="'device' argument of to_backend must be None for numpy"):
        to_backend(p, "numpy", "cuda")


@pytest.mark.gpu
def test_cuda_float64_agrees_with_numpy() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    d = data.circles()
    net = MLP.make([2, 16, 8, 1], "tanh")
    p = init_ensemble(net.layer_dims, seeds=[0, 1, 2], weights="xavier_normal")
    pc = {k: v.copy() for k, v in p.items()}
    h = train(net, p, d.X_train, d.Y_train, steps=100, lr=0.1, record_every=50)
    hc = train(net, pc, d.X_train, d.Y_train, steps=100, lr=0.1, record_every=50, backend="torch", device="cuda")
    np.testing.assert_allclose(hc.loss, h.loss, rtol=1e-6)
    for key in p:
        np.testing.assert_allclose(pc[key], p[key], rtol=1e-6, atol=1e-12)


def test_torch_ensemble_agrees_with_each_model_alone_to_rounding() -> None:
    # torch trains an ensemble as one batched computation: equal to rounding, which is what the engine promises
    d = data.circles()
    net = MLP.make([2, 16, 8, 1], "tanh")
    p = init_ensemble(net.layer_dims, seeds=[0, 1, 2], weights="xavier_normal", biases="normal(std=0.1)")
    singles = [{k: v[i].copy() for k, v in p.items()} for i in range(3)]
    h = train(net, p, d.X_train, d.Y_train, steps=60, lr=0.1, record_every=20, backend="torch")
    for k, alone in enumerate(singles):
        hk = train(net, alone, d.X_train, d.Y_train, steps=60, lr=0.1, record_every=20, backend="torch")
        np.testing.assert_allclose(h.loss[:, k], hk.loss[:, 0], rtol=1e-12)
        for metric in METRICS:
            np.testing.assert_allclose(h.stats[metric][:, k], hk.stats[metric][:, 0], rtol=1e-10, atol=1e-14)
