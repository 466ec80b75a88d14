"""The fused numba backend against the numpy reference engine."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from initlab import InitlabValueError, data
from initlab.engine import METRICS, MLP, init_ensemble, init_params, train

pytest.importorskip("numba")


def _pair(hidden: str, dtype, dims=(2, 16, 8, 1), seeds=(0, 1, 2)):
    d = data.circles()
    net = MLP.make(list(dims), hidden)
    p = init_ensemble(net.layer_dims, seeds=list(seeds), weights="xavier_normal", biases="normal(std=0.1)", dtype=dtype)
    return net, p, {k: v.copy() for k, v in p.items()}, d.X_train.astype(dtype), d.Y_train.astype(dtype)


@pytest.mark.parametrize("hidden", ["tanh", "relu", "sigmoid", "linear"])
@pytest.mark.parametrize(("dtype", "rtol"), [(np.float64, 1e-10), (np.float32, 2e-5)])
def test_fused_matches_the_reference(hidden: str, dtype, rtol: float) -> None:
    net, p, q, X, Y = _pair(hidden, dtype)
    lrs = [0.05, 0.1, 0.3]
    h = train(net, p, X, Y, steps=120, lr=lrs, record_every=30)
    hf = train(net, q, X, Y, steps=120, lr=lrs, record_every=30, backend="numba")
    np.testing.assert_allclose(hf.loss, h.loss, rtol=rtol)
    assert hf.record_steps.tolist() == h.record_steps.tolist() == [0, 30, 60, 90, 119]
    for key in p:
        assert q[key].dtype == p[key].dtype and q[key].shape == p[key].shape
        np.testing.assert_allclose(q[key], p[key], rtol=rtol * 100, atol=rtol)
    for metric in METRICS:
        ref, got = h.stats[metric], hf.stats[metric]
        assert np.array_equal(np.isnan(ref), np.isnan(got)), metric
        np.testing.assert_allclose(got, ref, rtol=rtol * 100, atol=rtol * 10, err_msg=metric)


def test_fused_single_model_and_wide_layers_use_blas() -> None:
    # 64 x 64 layers go through BLAS, the 2 -> 64 and 64 -> 1 layers through the kernel's own loops
    net = MLP.make([2, 64, 64, 1], "tanh")
    d = data.circles()
    p = init_params(net.layer_dims, weights="xavier_normal", rng=3)
    q = {k: v.copy() for k, v in p.items()}
    h = train(net, p, d.X_train, d.Y_train, steps=50, lr=0.1, record_every=10)
    hf = train(net, q, d.X_train, d.Y_train, steps=50, lr=0.1, record_every=10, backend="numba")
    assert q["W2"].shape == (64, 64)
    np.testing.assert_allclose(hf.loss, h.loss, rtol=1e-10)
    np.testing.assert_allclose(q["W2"], p["W2"], rtol=1e-9, atol=1e-12)


def test_fused_marks_divergence_and_trains_the_others() -> None:
    net, p, q, X, Y = _pair("relu", np.float64, seeds=(0, 1))
    lrs = [0.01, 1e100]  # the second model's weights overflow within a few steps
    hf = train(net, q, X, Y, steps=30, lr=lrs, record_every=5, backend="numba")
    h = train(net, p, X, Y, steps=30, lr=lrs, record_every=5)
    assert hf.diverged.tolist() == h.diverged.tolist() == [False, True]
    assert hf.diverged_at[1] == h.diverged_at[1] == 4
    np.testing.assert_allclose(hf.loss[:, 0], h.loss[:, 0], rtol=1e-10)


def test_fused_tanh_approximation_is_float32_accurate() -> None:
    from initlab.engine._fused_kernel import tanh32

    x = np.linspace(-12, 12, 200001).astype(np.float32)
    approx = np.array([tanh32(v) for v in x[::50]], dtype=np.float32)
    exact = np.tanh(x[::50].astype(np.float64))
    assert np.max(np.abs(approx - exact)) < 3e-7


@pytest.mark.parametrize(
    ("hidden", "loss", "optimizer", "message"),
    [
        ("gelu", "bce", "gd", "supports the hidden activations linear, tanh, relu, sigmoid. Got 'gelu'"),
        ("tanh", "mse", "gd", "supports the loss 'bce'. Got 'mse'"),
        ("tanh", "bce", "adam", "supports the optimizer 'gd'. Got 'adam'"),
    ],
)
def test_fused_says_what_it_does_not_support(hidden, loss, optimizer, message) -> None:
    net = MLP.make([2, 4, 1], hidden, loss)
    p = init_params(net.layer_dims, weights="he_normal", rng=0)
    X, Y = np.zeros((2, 5)), np.zeros((1, 5))
    with pytest.raises(InitlabValueError, match=message):
        train(net, p, X, Y, steps=2, optimizer=optimizer, backend="numba")


def test_fused_takes_no_callback() -> None:
    net = MLP.make([2, 4, 1], "tanh")
    p = init_params(net.layer_dims, weights="he_normal", rng=0)
    with pytest.raises(InitlabValueError, match="takes no callback"):
        train(net, p, np.zeros((2, 5)), np.zeros((1, 5)), steps=2, backend="numba", callback=print)


def test_the_kernel_writes_the_tables_columns_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # reorder the table: every metric must still come out under its own name
    from types import MappingProxyType

    import initlab.engine._fused as fused
    import initlab.engine._training as training

    net, p, q, X, Y = _pair("tanh", np.float64)
    h = train(net, p, X, Y, steps=20, lr=0.1, record_every=10, backend="numba")
    reordered = MappingProxyType(dict(reversed(list(METRICS.items()))))
    monkeypatch.setattr(fused, "METRICS", reordered)
    monkeypatch.setattr(training, "METRICS", reordered)
    assert fused._columns().tolist() == [6, 5, 4, 3, 2, 1, 0]
    hr = train(net, q, X, Y, steps=20, lr=0.1, record_every=10, backend="numba")
    for metric in METRICS:
        assert np.array_equal(hr.stats[metric], h.stats[metric], equal_nan=True), metric


def test_backend_none_takes_the_kernel_where_it_applies_and_pays(monkeypatch: pytest.MonkeyPatch) -> None:
    import initlab.engine._training as training

    net, p, _, X, Y = _pair("tanh", np.float32)

    def run(**kw):  # type: ignore[no-untyped-def]
        return train(net, {k: v.copy() for k, v in p.items()}, X, Y, steps=15, lr=0.1, record_every=5, **kw)

    fused, reference = run(backend="numba"), run(backend="numpy")
    assert not np.array_equal(fused.loss, reference.loss)  # float32 tanh: the kernel's own rounding
    assert np.array_equal(run().loss, reference.loss)  # a small run stays on numpy
    monkeypatch.setattr(training, "NUMBA_MIN_SECONDS", 0.0)
    assert np.array_equal(run().loss, fused.loss)  # a "large" run in scope takes the kernel
    assert np.array_equal(run(backend="numpy").loss, reference.loss)  # numpy forces the reference
    assert np.array_equal(run(callback=lambda s: None).loss, reference.loss)  # out of scope: a callback
    assert np.array_equal(run(optimizer="momentum").loss, run(optimizer="momentum", backend="numpy").loss)


_BITS_SCRIPT = """
import numpy as np
from initlab import data
from initlab.engine import MLP, init_ensemble, train
d = data.load("circles")
net = MLP.make([2, 8, 8, 1], "relu", "bce")
p = init_ensemble(net.layer_dims, seeds=[0, 1, 2], weights="xavier_normal")
h = train(net, p, d.X_train, d.Y_train, steps=30, lr=[0.05, 0.1, 0.2], record_every=0, backend="numba")
print(np.asarray(h.loss).view(np.uint64).sum(dtype=np.uint64), np.asarray(p["W1"]).view(np.uint64).sum(dtype=np.uint64))
"""


def test_the_kernel_gives_the_same_bits_compiled_here_or_loaded_from_the_cache(tmp_path: Path) -> None:
    """The first process compiles the kernel into an empty cache, the second loads it from there: same bits.
    (With fast-math flags they differed, and a sweep's driver and workers disagreed.)"""
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", _BITS_SCRIPT], env=env, capture_output=True, text=True, timeout=300)
            for _ in range(2)]  # fmt: skip
    assert all(r.returncode == 0 for r in runs), [r.stderr[-2000:] for r in runs]
    compiled, cached = (r.stdout.strip() for r in runs)
    assert any((tmp_path / "cache").rglob("*.nbi"))  # the first run did write the cache the second read
    assert compiled and compiled == cached
