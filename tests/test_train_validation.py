"""train() checks its inputs before the first step, and says what it expected and what it got."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from initlab import InitlabTypeError, InitlabValueError
from initlab.engine import MLP, GradientDescent, SymmetryWarning, init_ensemble, init_params, train


def _setup(dims=(2, 3, 1), loss: str = "bce", m: int = 8):
    net = MLP.make(list(dims), "tanh", loss)
    p = init_params(net.layer_dims, weights="he_normal", rng=0)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((dims[0], m))
    if loss == "softmax_ce":
        Y = np.eye(dims[-1])[rng.integers(0, dims[-1], m)].T
    else:
        Y = (rng.random((dims[-1], m)) > 0.5).astype(float)
    return net, p, X, Y


def _untouched(p):
    return {k: v.copy() for k, v in p.items()}


def _assert_untouched(p, before) -> None:
    for key in before:
        assert np.array_equal(p[key], before[key]), key


@pytest.mark.parametrize(
    ("X_shape", "message"),
    [
        ((8, 2), r"'X' argument of train must have shape \(n_0, m\) = \(2, m\) .* Got shape \(8, 2\) .*transpose"),
        (
            (3, 8),
            r"'X' argument of train must have shape \(n_0, m\) = \(2, m\) for layer_dims \[2, 3, 1\]\. Got shape \(3, 8\)",
        ),
        ((2,), r"'X' argument of train must have shape .* Got shape \(2,\)"),
        ((2, 0), r"'X' argument of train must hold at least one example \(column\)\. Got 0"),
    ],
)
def test_X_shape_is_checked(X_shape, message: str) -> None:
    net, p, _, Y = _setup()
    before = _untouched(p)
    with pytest.raises(InitlabValueError, match=message):
        train(net, p, np.zeros(X_shape), Y, steps=2)
    _assert_untouched(p, before)


def test_Y_shape_is_checked() -> None:
    net, p, X, Y = _setup()
    with pytest.raises(InitlabValueError, match=r"'Y' argument of train must have shape \(n_L, m\) = \(1, 8\) .* "
                       r"Got shape \(8,\) instead"):  # fmt: skip
        train(net, p, X, Y.ravel(), steps=2)
    with pytest.raises(InitlabValueError, match=r"'Y' argument of train .* = \(1, 8\) .* Got shape \(1, 7\)"):
        train(net, p, X, Y[:, :7], steps=2)


@pytest.mark.parametrize("arg", ["X", "Y"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_is_refused(arg: str, bad: float) -> None:
    net, p, X, Y = _setup(loss="mse")
    data = {"X": X.copy(), "Y": Y.copy()}
    data[arg][0, 3] = bad
    before = _untouched(p)
    with pytest.raises(InitlabValueError, match=rf"'{arg}' argument of train must be finite. Got NaN or infinity in 1 "
                       r"of \d+ entries \(the first at \[0, 3\]\)"):  # fmt: skip
        train(net, p, data["X"], data["Y"], steps=2)
    _assert_untouched(p, before)


def test_bce_labels_must_be_0_or_1() -> None:
    net, p, X, Y = _setup()
    Y[0, 5] = 2.0
    with pytest.raises(InitlabValueError, match=r"'Y' argument of train must hold labels 0 or 1 for the loss 'bce'\. "
                       r"Got 2\.0 in 1 of 8 entries \(the first at \[0, 5\]\)"):  # fmt: skip
        train(net, p, X, Y, steps=2)
    Y[0, 5] = 0.5  # probabilities are not labels
    with pytest.raises(InitlabValueError, match="labels 0 or 1"):
        train(net, p, X, Y, steps=2)
    Y[0, 5] = 3.7  # mse takes any target
    mse = MLP.make([2, 3, 1], "tanh", "mse")
    train(mse, p, X, Y, steps=2)


def test_softmax_labels_must_be_one_hot_columns() -> None:
    net, p, X, Y = _setup(dims=(2, 3, 3), loss="softmax_ce")
    train(net, dict(p), X, Y, steps=2)
    Y2 = Y.copy()
    Y2[:, 4] = [1.0, 1.0, 0.0]
    with pytest.raises(InitlabValueError, match=r"one-hot for the loss 'softmax_ce'.* Got a column with 2 ones "
                       r"\(example 4\)"):  # fmt: skip
        train(net, p, X, Y2, steps=2)
    with pytest.raises(InitlabValueError, match="labels 0 or 1 for the loss 'softmax_ce'"):
        train(net, p, X, Y * 2, steps=2)


def test_params_must_match_the_net() -> None:
    net, p, X, Y = _setup()
    missing = {k: v for k, v in p.items() if k != "b2"}
    with pytest.raises(InitlabValueError, match=r"'params' argument of train must hold \['W1', 'b1', 'W2', 'b2'\] "
                       r"for layer_dims \[2, 3, 1\]\. It lacks \['b2'\]"):  # fmt: skip
        train(net, missing, X, Y, steps=2)
    extra = {**p, "W3": np.zeros((1, 1))}
    with pytest.raises(InitlabValueError, match=r"has keys the net does not: \['W3'\]"):
        train(net, extra, X, Y, steps=2)
    wrong = {**p, "W1": np.zeros((3, 4))}
    with pytest.raises(InitlabValueError, match=r"hold 'W1' of shape \(3, 2\) \(or \(M, 3, 2\) for an ensemble of M "
                       r"models\) for layer_dims \[2, 3, 1\]\. Got shape \(3, 4\)"):  # fmt: skip
        train(net, wrong, X, Y, steps=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymmetryWarning)
        stack = init_ensemble(net.layer_dims, seeds=[0, 1], weights="he_normal")
    mixed = {**stack, "W2": p["W2"]}
    with pytest.raises(InitlabValueError, match=r"the same number of models in every array\. Got W1: 2 models, "
                       r"b1: 2 models, W2: no model axis"):  # fmt: skip
        train(net, mixed, X, Y, steps=2)
    with pytest.raises(InitlabTypeError, match="'params' argument of train must hold float arrays. Got int64 for 'W1'"):
        train(net, {**p, "W1": np.zeros((3, 2), dtype=np.int64)}, X, Y, steps=2)
    with pytest.raises(InitlabTypeError, match="'params' argument of train must be a dict"):
        train(net, [p["W1"]], X, Y, steps=2)  # type: ignore[arg-type]


def test_lr_together_with_an_optimizer_instance_is_refused() -> None:
    net, p, X, Y = _setup()
    with pytest.raises(InitlabValueError, match=r"'lr' argument of train must be left out when 'optimizer' is an "
                       r"Optimizer: it has its own \(lr=0\.5\)\. Got lr=0\.1"):  # fmt: skip
        train(net, p, X, Y, steps=2, optimizer=GradientDescent(0.5), lr=0.1)
    train(net, p, X, Y, steps=2, optimizer=GradientDescent(0.5))  # its own rate, alone, is fine
    with pytest.raises(InitlabValueError, match=r"'optimizer' argument of train has 3 learning rates"):
        train(net, p, X, Y, steps=2, optimizer=GradientDescent([0.1, 0.2, 0.3]))


def test_backend_names_list_numba() -> None:
    net, p, X, Y = _setup()
    with pytest.raises(InitlabValueError, match=r"'backend' argument of train must be one of 'numpy', 'numba', "
                       r"'torch'\. Got 'nmba' instead\. Did you mean 'numba'\?"):  # fmt: skip
        train(net, p, X, Y, steps=2, backend="nmba")
    with pytest.raises(InitlabValueError, match=r"'device' argument of train needs backend='torch'"):
        train(net, p, X, Y, steps=2, device="cuda")


def test_lists_are_taken_as_arrays_and_strings_are_not() -> None:
    net, p, X, Y = _setup()
    h = train(net, dict(p), X.tolist(), Y.tolist(), steps=2, backend="numpy")
    assert h.loss.shape == (2, 1)
    with pytest.raises(InitlabTypeError, match="'X' argument of train must be an array of numbers"):
        train(net, p, [["a", "b"]] * 2, Y, steps=2)
