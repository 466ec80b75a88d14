"""The engine: derivatives, losses, backprop, ensembles, optimizers, training records."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from initlab import InitlabTypeError, InitlabValueError
from initlab.engine import (
    ACTIVATIONS,
    LOSSES,
    METRICS,
    MLP,
    Adam,
    GradientDescent,
    Momentum,
    SymmetryWarning,
    accuracy,
    backward,
    course_cost,
    forward,
    get_activation,
    get_loss,
    get_optimizer,
    gradient_check,
    init_ensemble,
    init_params,
    loss_and_grads,
    train,
)

GRID = np.concatenate([np.linspace(-6, 6, 241), [-1e-3, 1e-3, 0.5, -0.5]])
GRID = GRID[np.abs(GRID) > 1e-4]  # keep away from relu-like kinks at 0


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_derivative_matches_central_differences(name: str) -> None:
    act = ACTIVATIONS[name]
    h = 1e-6
    z = GRID
    numeric = (act.forward(np, z + h) - act.forward(np, z - h)) / (2 * h)
    analytic = act.derivative(np, z, act.forward(np, z))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_activation_values_at_known_points() -> None:
    z = np.array([-2.0, 0.0, 3.0])
    assert np.allclose(ACTIVATIONS["relu"](z), [0, 0, 3])
    assert np.allclose(ACTIVATIONS["sigmoid"](z), 1 / (1 + np.exp(-z)))
    assert np.allclose(ACTIVATIONS["elu"](z), [math.expm1(-2), 0, 3])
    assert np.allclose(ACTIVATIONS["selu"](np.array([1.0])), [1.0507009873554805])
    assert np.allclose(ACTIVATIONS["silu"](z), z / (1 + np.exp(-z)))
    assert np.allclose(get_activation("leaky_relu(slope=0.2)")(z), [-0.4, 0, 3])
    # the sigmoid never overflows, even at |z| = 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(ACTIVATIONS["sigmoid"](np.array([-1000.0, 1000.0])), [0.0, 1.0])


def test_activation_errors() -> None:
    with pytest.raises(InitlabValueError, match="'activation' argument must be one of .* Did you mean 'tanh'"):
        get_activation("tahn")
    with pytest.raises(InitlabValueError, match="takes no arguments"):
        get_activation("tanh(slope=1)")
    with pytest.raises(InitlabValueError, match="takes the argument: slope"):
        get_activation("leaky_relu(alpha=1)")


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_matches_central_differences(name: str) -> None:
    loss = LOSSES[name]
    rng = np.random.default_rng(0)
    k = 1 if name == "bce" else 3
    Z = rng.standard_normal((k, 7)) * 3
    Y = (rng.random((k, 7)) > 0.5).astype(float) if name != "softmax_ce" else np.eye(3)[rng.integers(0, 3, 7)].T
    g = loss.grad(np, Z, Y)
    h = 1e-6
    numeric = np.zeros_like(Z)
    for idx in np.ndindex(Z.shape):
        Zp, Zm = Z.copy(), Z.copy()
        Zp[idx] += h
        Zm[idx] -= h
        numeric[idx] = (loss.value(np, Zp, Y) - loss.value(np, Zm, Y)) / (2 * h)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-10)


def test_bce_from_logits_is_finite_where_the_course_cost_is_inf() -> None:
    Z = np.array([[40.0, -3.0, 0.5]])
    Y = np.array([[0.0, 0.0, 1.0]])  # the first example is confidently wrong
    ours = LOSSES["bce"].value(np, Z, Y)
    assert math.isfinite(ours)
    expected = (40 + math.log1p(math.exp(-40)) + math.log1p(math.exp(-3)) + math.log1p(math.exp(-0.5))) / 3
    assert ours == pytest.approx(expected, rel=1e-14)
    a = LOSSES["bce"].output(np, Z)
    assert course_cost(a, Y) == math.inf
    # away from saturation the two agree
    Z2 = np.array([[2.0, -3.0, 0.5]])
    assert course_cost(LOSSES["bce"].output(np, Z2), Y) == pytest.approx(LOSSES["bce"].value(np, Z2, Y), rel=1e-14)


def test_loss_errors() -> None:
    with pytest.raises(InitlabValueError, match="'loss' argument must be one of 'bce', 'softmax_ce', 'mse'"):
        get_loss("cross_entropy")


# --- gradient check ------------------------------------------------------------------------


def _toy(n_x: int = 3, m: int = 6, k: int = 1, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m))
    Y = (rng.random((k, m)) > 0.5).astype(float) if k == 1 else np.eye(k)[rng.integers(0, k, m)].T
    return X, Y


@pytest.mark.parametrize(
    ("hidden", "loss", "k"),
    [("tanh", "bce", 1), ("sigmoid", "bce", 1), (["tanh", "sigmoid"], "bce", 1), ("tanh", "softmax_ce", 3),
     ("sigmoid", "mse", 2), ("gelu", "bce", 1), ("silu", "bce", 1), ("elu", "mse", 1)],
)  # fmt: skip
def test_gradient_check_below_1e_7(hidden, loss: str, k: int) -> None:
    dims = [3, 5, 4, k] if isinstance(hidden, list) else [3, 5, k]
    net = MLP.make(dims, hidden, loss)
    p = init_params(net.layer_dims, weights="xavier_normal(gain=1.5)", biases="normal(std=0.2)", rng=4)
    X, Y = _toy(k=k)
    assert gradient_check(net, p, X, Y) < 1e-7


def test_gradient_check_catches_a_wrong_derivative() -> None:
    # negative control: a tanh whose derivative is wrong by 10% must fail the check
    from initlab.engine import Activation

    bad = Activation("bad_tanh", ACTIVATIONS["tanh"].forward, lambda xp, z, a: 1.1 * (1 - a * a))
    net = MLP.make([3, 5, 1], bad)
    p = init_params(net.layer_dims, weights="xavier_normal", rng=0)
    X, Y = _toy()
    assert gradient_check(net, p, X, Y) > 1e-3


def test_backward_matches_torch_autograd() -> None:
    torch = pytest.importorskip("torch")
    net = MLP.make([3, 6, 4, 2], ["tanh", "relu"], "softmax_ce")
    p = init_params(net.layer_dims, weights="he_normal", biases="normal(std=0.1)", rng=7)
    X, Y = _toy(k=2)
    loss, grads = loss_and_grads(net, p, X, Y)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    A = torch.tensor(X)
    A = torch.tanh(tp["W1"] @ A + tp["b1"])
    A = torch.relu(tp["W2"] @ A + tp["b2"])
    Z = tp["W3"] @ A + tp["b3"]
    tl = torch.nn.functional.cross_entropy(Z.T, torch.tensor(Y.argmax(axis=0)))
    tl.backward()
    assert float(loss) == pytest.approx(tl.item(), rel=1e-13)
    for k, v in tp.items():
        np.testing.assert_allclose(grads["d" + k], v.grad.numpy(), rtol=1e-10, atol=1e-14)


# --- initialization and the symmetry warning --------------------------------------------------


def test_init_params_reproduces_the_course_rng_sequence() -> None:
    dims = [2, 4, 3, 1]
    p = init_params(dims, weights="randn(scale=0.01)", rng=np.random.RandomState(3))
    ref = np.random.RandomState(3)
    for l in range(1, 4):
        assert np.array_equal(p[f"W{l}"], ref.randn(dims[l], dims[l - 1]) * 0.01)
        assert np.array_equal(p[f"b{l}"], np.zeros((dims[l], 1)))


def test_zero_weights_warn_about_symmetry_and_random_biases_do_not() -> None:
    with pytest.warns(SymmetryWarning, match="All 4 units of layer 1 start with identical weights and biases"):
        init_params([2, 4, 1], weights="zeros", rng=0)
    with pytest.warns(SymmetryWarning, match="layer 1"):
        init_params([2, 4, 1], weights="constant(value=0.3)", rng=0)
    with pytest.warns(SymmetryWarning, match=r"layer 1 start with identical weights and biases \(in models \[0, 2\]\)"):
        init_ensemble([2, 4, 1], seeds=[0, 1, 2], weights=["zeros", "he_normal", "zeros"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init_params([2, 4, 1], weights="zeros", biases="normal(std=1)", rng=0)  # biases break the tie
        init_params([2, 4, 1], weights="randn", rng=0)


def test_per_layer_specs_and_errors() -> None:
    p = init_params([2, 3, 1], weights=["he_normal", "zeros"], biases=["zeros", "constant(value=0.5)"], rng=0)
    assert np.all(p["W2"] == 0) and np.all(p["b2"] == 0.5) and np.any(p["W1"] != 0)
    with pytest.raises(InitlabValueError, match="'weights' argument must be one spec for every layer or a list of 2"):
        init_params([2, 3, 1], weights=["he_normal"], rng=0)
    with pytest.raises(InitlabValueError, match="'layer_dims' argument of MLP must be an int >= 1. Got 0"):
        init_params([2, 0, 1], weights="he_normal")
    with pytest.raises(InitlabValueError, match="at least 2 sizes"):
        MLP.make([3])
    with pytest.raises(InitlabValueError, match="one activation per hidden layer"):
        MLP.make([2, 3, 3, 1], ["tanh"])
    with pytest.raises(InitlabTypeError, match="'rng' argument of init_params"):
        init_params([2, 3, 1], weights="he_normal", rng="seed")


def test_init_ensemble_models_are_the_single_models() -> None:
    dims = [3, 5, 4, 1]
    weights = ["he_normal", "randn(scale=0.1)", [f"normal(std={s})" for s in (0.5, 0.2, 1.0)]]
    biases = ["zeros", "normal(std=0.3)", "torch_default"]
    seeds = [11, 12, 13]
    stack = init_ensemble(dims, seeds=seeds, weights=weights, biases=biases, dtype=np.float32)
    assert stack["W1"].shape == (3, 5, 3) and stack["b3"].shape == (3, 1, 1) and stack["W1"].dtype == np.float32
    for k in range(3):
        alone = init_params(dims, weights=weights[k], biases=biases[k], rng=seeds[k], dtype=np.float32)
        for key in alone:
            assert np.array_equal(stack[key][k], alone[key]), (k, key)
    with pytest.raises(InitlabValueError, match="'weights' argument of init_ensemble must be one spec for all models"):
        init_ensemble(dims, seeds=seeds, weights=["he_normal"] * 2)


# --- training: ensembles in lockstep ------------------------------------------------------------


def _ensemble_vs_alone(hidden: str, dtype, steps: int = 60, dims=(2, 8, 6, 1), m: int = 40, optimizer: str = "gd",
                       backend: str = "numpy") -> None:  # fmt: skip
    net = MLP.make(list(dims), hidden, "bce")
    X, Y = _toy(n_x=dims[0], m=m, seed=5)
    X, Y = X.astype(dtype), Y.astype(dtype)
    seeds, lrs = [0, 1, 2, 3], [0.5, 0.1, 1.0, 0.05]
    # orthogonal comes out of QR as an F-ordered array: model 3 alone starts in another memory layout than its
    # slice of the stack (the cause of the old last-bit difference in grad_ratio)
    weights = ["xavier_normal", "he_normal", "randn(scale=0.5)", "orthogonal"]
    stack = init_ensemble(list(dims), seeds=seeds, weights=weights, biases="normal(std=0.1)", dtype=dtype)
    h = train(net, stack, X, Y, steps=steps, optimizer=optimizer, lr=lrs, record_every=20, backend=backend)
    for k in range(4):
        p = init_params(list(dims), weights=weights[k], biases="normal(std=0.1)", rng=seeds[k], dtype=dtype)
        hk = train(net, p, X, Y, steps=steps, optimizer=optimizer, lr=lrs[k], record_every=20, backend=backend)
        assert np.array_equal(h.loss[:, k], hk.loss[:, 0]), k
        for key in p:
            assert stack[key][k].dtype == p[key].dtype
            assert np.array_equal(stack[key][k], p[key]), (k, key)
        for metric in METRICS:
            np.testing.assert_array_equal(h.stats[metric][:, k], hk.stats[metric][:, 0], err_msg=f"{k} {metric}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_k_of_an_ensemble_is_bit_identical_to_model_k_alone(dtype) -> None:
    _ensemble_vs_alone("tanh", dtype)


def test_ensemble_bit_identity_with_relu() -> None:
    _ensemble_vs_alone("relu", np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", ["tanh", "relu"])
@pytest.mark.parametrize(("dims", "m"), [((2, 1, 1), 40), ((3, 5, 1), 1), ((2, 16, 16, 1), 33), ((2, 64, 64, 1), 50)])
def test_bit_identity_over_widths_and_example_counts(dims, m: int, hidden: str, dtype) -> None:
    # widths 1 to 64 (matrix-vector and matrix-matrix BLAS calls), a single example (m = 1)
    _ensemble_vs_alone(hidden, dtype, steps=41, dims=dims, m=m)


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_bit_identity_with_stateful_optimizers(optimizer: str) -> None:
    _ensemble_vs_alone("tanh", np.float64, steps=41, optimizer=optimizer)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("hidden", ["tanh", "relu"])
def test_bit_identity_of_the_fused_kernel(hidden: str, dtype) -> None:
    pytest.importorskip("numba")
    _ensemble_vs_alone(hidden, dtype, steps=41, dims=(2, 64, 8, 1), m=37, backend="numba")


def test_a_single_model_gives_the_same_bits_in_any_memory_layout() -> None:
    # the root cause, alone: the same model, C- and F-ordered, must train to the same bits
    net = MLP.make([3, 8, 8, 1], "tanh")
    X, Y = _toy(n_x=3, m=30)
    p = init_params(net.layer_dims, weights="xavier_normal", biases="normal(std=0.1)", rng=2)
    q = {k: np.asfortranarray(v) for k, v in p.items()}
    assert not q["W2"].flags.c_contiguous
    hp = train(net, p, X, Y, steps=30, lr=0.3, record_every=10, backend="numpy")
    hq = train(net, q, X, Y, steps=30, lr=0.3, record_every=10, backend="numpy")
    assert np.array_equal(hp.loss, hq.loss)
    for metric in METRICS:
        assert np.array_equal(hp.stats[metric], hq.stats[metric], equal_nan=True), metric


def test_train_leaves_the_callers_arrays_alone_and_writes_the_dict() -> None:
    net = MLP.make([2, 4, 1], "tanh")
    stack = init_ensemble(net.layer_dims, seeds=[0, 1], weights="xavier_normal")
    before = {k: v for k, v in stack.items()}
    copies = {k: v.copy() for k, v in stack.items()}
    X, Y = _toy(n_x=2, m=10)
    train(net, stack, X, Y, steps=5, lr=0.5, record_every=0)
    for key in copies:
        assert np.array_equal(before[key], copies[key])  # the old arrays are not written into
        assert stack[key].shape == copies[key].shape and not np.array_equal(stack[key], copies[key])


def test_the_callback_sees_the_stacked_ensemble_before_the_update() -> None:
    net = MLP.make([2, 5, 1], "tanh")
    stack = init_ensemble(net.layer_dims, seeds=[0, 1, 2], weights="xavier_normal")
    W1 = stack["W1"].copy()
    X, Y = _toy(n_x=2, m=12)
    seen = []
    h = train(
        net, stack, X, Y, steps=3, lr=0.5, record_every=2, callback=lambda s: seen.append(s) or s.params["W1"].copy()
    )
    first = seen[0]
    assert [s.step for s in seen] == [0, 2]
    assert np.array_equal(h.extra[0], W1) and h.extra[0].shape == (3, 5, 2)  # as it was at step 0
    assert first.caches[0][0] is not None and first.caches[0][1].shape == (3, 5, 12)
    assert first.grads["dW2"].shape == (3, 1, 5) and first.loss.shape == (3,)
    for k in range(3):
        alone = {key: v[k] for key, v in init_ensemble(net.layer_dims, seeds=[0, 1, 2],
                                                       weights="xavier_normal").items()}  # fmt: skip
        ZL, _ = forward(net, alone, X)
        assert np.array_equal(first.caches[1][1][k], ZL)
        assert first.loss[k] == net.loss.value(np, ZL, Y)


def test_last_finite_loss() -> None:
    from initlab.engine import History

    loss = np.array([[1.0, 2.0, np.nan], [0.5, np.inf, np.nan], [0.25, np.nan, np.nan]])
    h = History(loss, np.array([], dtype=int), {}, np.array([-1, 1, 0]))
    assert h.last_finite_loss[0] == 0.25 and h.last_finite_loss[1] == 2.0 and np.isnan(h.last_finite_loss[2])


def test_a_diverging_model_is_marked_and_the_others_train_on() -> None:
    dims = [2, 8, 1]
    net = MLP.make(dims, "relu", "mse")
    X, Y = _toy(n_x=2, m=30, seed=2)
    stack = init_ensemble(dims, seeds=[0, 1], weights="he_normal")
    h = train(net, stack, X, Y, steps=200, lr=[0.05, 50.0], record_every=50)
    assert h.diverged_at[0] == -1 and h.diverged_at[1] > 0
    assert h.diverged.tolist() == [False, True]
    assert np.isfinite(h.loss[:, 0]).all() and not np.isfinite(h.loss[h.diverged_at[1], 1])
    assert np.isfinite(h.loss[: h.diverged_at[1], 1]).all()
    alone = init_params(dims, weights="he_normal", rng=0)
    assert np.array_equal(train(net, alone, X, Y, steps=200, lr=0.05, record_every=50).loss[:, 0], h.loss[:, 0])


def test_history_records_and_callback() -> None:
    net = MLP.make([2, 6, 1], "tanh")
    p = init_params(net.layer_dims, weights="randn(scale=3)", rng=0)
    X, Y = _toy(n_x=2, m=50)
    seen = []
    h = train(net, p, X, Y, steps=25, lr=0.1, record_every=10, callback=lambda s: seen.append(s.step) or s.step * 2)
    assert h.record_steps.tolist() == [0, 10, 20, 24] and seen == [0, 10, 20, 24] and h.extra == [0, 20, 40, 48]
    assert h.loss.shape == (25, 1) and h.stats["saturated"].shape == (4, 1, 2)
    assert 0 < h.stats["saturated"][0, 0, 0] <= 1  # randn * 3 saturates tanh
    assert np.isnan(h.stats["dead"]).all()  # tanh units cannot die
    rows = list(h.rows())
    assert len(rows) == 25 + 4 * len(METRICS) * 2
    assert rows[0] == {"model": 0, "step": 0, "layer": 0, "metric": "loss", "value": h.loss[0, 0]}
    h0 = train(net, p, X, Y, steps=3, record_every=0)
    assert h0.record_steps.size == 0 and h0.stats["act_std"].shape == (0, 1, 2)


def test_dead_relu_units_are_counted() -> None:
    net = MLP.make([2, 4, 1], "relu")
    p = init_params(net.layer_dims, weights="randn(scale=0.5)", biases="constant(value=-100)", rng=0)
    X, Y = _toy(n_x=2, m=20)
    h = train(net, p, X, Y, steps=1, record_every=1)
    assert h.stats["dead"][0, 0, 0] == 1.0


def test_train_errors() -> None:
    net = MLP.make([2, 3, 1], "tanh")
    p = init_params(net.layer_dims, weights="he_normal", rng=0)
    X, Y = _toy(n_x=2)
    with pytest.raises(InitlabValueError, match="'steps' argument of train must be an int >= 1. Got 0"):
        train(net, p, X, Y, steps=0)
    with pytest.raises(InitlabValueError, match="'optimizer' argument of train must be one of 'gd', 'momentum', 'ad"):
        train(net, p, X, Y, optimizer="sgdd")
    with pytest.raises(InitlabValueError, match="'lr' argument of train has 2 learning rates .* a single model"):
        train(net, p, X, Y, lr=[0.1, 0.2])
    with pytest.raises(InitlabValueError, match="'lr' argument of train must be a finite float >= 0. Got -1"):
        train(net, p, X, Y, lr=-1)


# --- optimizers -------------------------------------------------------------------------------


def test_optimizers_match_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(5)]
    cases = [
        (GradientDescent(0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
        (Adam(0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
        (
            Adam(0.01, beta1=0.5, beta2=0.9, eps=1e-6),
            lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.5, 0.9), eps=1e-6),
        ),
    ]
    for ours, make in cases:
        p = {"W1": w0.copy()}
        tw = torch.tensor(w0.copy(), requires_grad=True)
        opt = make([tw])
        for g in grads:
            ours.step(p, {"dW1": g})
            tw.grad = torch.tensor(g)
            opt.step()
        np.testing.assert_allclose(p["W1"], tw.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_momentum_is_the_course_exponential_average() -> None:
    p = {"W1": np.array([[1.0]])}
    opt = Momentum(0.1, beta=0.9)
    opt.step(p, {"dW1": np.array([[2.0]])})  # v = 0.1 * 2 = 0.2
    opt.step(p, {"dW1": np.array([[4.0]])})  # v = 0.9 * 0.2 + 0.1 * 4 = 0.58
    assert p["W1"][0, 0] == pytest.approx(1 - 0.1 * 0.2 - 0.1 * 0.58, rel=1e-15)
    assert isinstance(get_optimizer("momentum", 0.1), Momentum)
    with pytest.raises(InitlabValueError, match="'beta' argument of momentum must be a finite float >= 0 and < 1"):
        Momentum(0.1, beta=1.0)


def test_accuracy_and_forward_shapes() -> None:
    net = MLP.make([2, 3, 1], "tanh")
    stack = init_ensemble(net.layer_dims, seeds=[0, 1, 2], weights="he_normal")
    X, Y = _toy(n_x=2, m=9)
    ZL, caches = forward(net, stack, X)
    assert ZL.shape == (3, 1, 9) and len(caches) == 2 and caches[0][1].shape == (3, 3, 9)
    acc = accuracy(net, stack, X, Y)
    assert acc.shape == (3,) and ((acc >= 0) & (acc <= 1)).all()
    grads = backward(net, stack, caches, net.loss.grad(np, ZL, Y))
    assert list(grads) == ["dW1", "db1", "dW2", "db2"] and grads["dW1"].shape == (3, 3, 2)


def test_blas_is_held_to_one_thread_for_small_matrices(monkeypatch: pytest.MonkeyPatch) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import initlab.engine._training as training

    def blas_threads(_info) -> list[int]:  # type: ignore[no-untyped-def]
        return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]

    outside = blas_threads(None)
    net = MLP.make([2, 8, 1], "tanh")
    p = init_params(net.layer_dims, weights="xavier_normal", rng=0)
    X, Y = _toy(n_x=2, m=20)
    h = train(net, p, X, Y, steps=2, record_every=1, callback=blas_threads, backend="numpy")
    assert h.extra == [[1] * len(outside)] * 2
    assert blas_threads(None) == outside  # restored after the run
    monkeypatch.setattr(training, "BLAS_ONE_THREAD_BELOW", 0)  # as if the matrices were large
    h = train(net, p, X, Y, steps=1, record_every=1, callback=blas_threads, backend="numpy")
    assert h.extra == [outside]
