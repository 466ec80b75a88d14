"""Diagnostics: clones, rank, saturation, dead units, vanishing and exploding signal, verdicts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from initlab import data
from initlab.diagnostics import cosine_similarity, diagnose
from initlab.engine import MLP, SymmetryWarning, clone_groups, init_ensemble, init_params, numerical_rank, train


def test_clone_groups_exact_and_within_tolerance() -> None:
    f = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0], [1.0, 2.0, 3.0 + 1e-9], [1.0, 2.0, 3.1]])
    assert clone_groups(f) == [[0, 2], [1], [3]]
    assert clone_groups(f, tol=0.0) == [[0], [1], [2], [3]]
    assert clone_groups(f, tol=0.05) == [[0, 2, 3], [1]]
    # many identical rows among random ones, in scrambled order
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((50, 7))
    rows[[3, 17, 41]] = rows[8]
    assert [g for g in clone_groups(rows) if len(g) > 1] == [[3, 8, 17, 41]]


def test_rank_and_cosine() -> None:
    assert numerical_rank(np.zeros((3, 2)))[0] == 0
    assert numerical_rank(np.outer([1.0, 2, 3], [4.0, 5]))[0] == 1
    assert numerical_rank(np.eye(4))[0] == 4
    c = cosine_similarity(np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 0.0]]))
    assert c[0, 1] == pytest.approx(1.0) and c[0, 2] == pytest.approx(0.0) and math.isnan(c[0, 3])


def _flower():
    d = data.flower()
    return d.X_train, d.Y_train


@pytest.mark.parametrize("width", [2, 8, 64])
def test_zero_weights_stay_one_unit_after_training(width: int) -> None:
    X, Y = _flower()
    net = MLP.make([2, width, 1], "tanh")
    with pytest.warns(SymmetryWarning):
        p = init_params(net.layer_dims, weights="zeros", rng=0)
    train(net, p, X, Y, steps=300, lr=1.2, record_every=0)
    report = diagnose(net, p, X, Y)[0][0]
    assert report.distinct_units == 1 and report.verdict == "symmetric"
    assert report.rank <= 1


def test_small_random_weights_break_the_symmetry() -> None:
    X, Y = _flower()
    net = MLP.make([2, 8, 1], "tanh")
    p = init_params(net.layer_dims, weights="randn(scale=0.01)", rng=np.random.RandomState(2))
    train(net, p, X, Y, steps=300, lr=1.2, record_every=0)
    report = diagnose(net, p, X, Y)[0][0]
    assert report.distinct_units == 8 and report.rank == 2  # W[1] is 8 x 2
    assert report.verdict != "symmetric"


def test_verdicts_dead_saturated_vanishing_healthy() -> None:
    X = np.random.default_rng(0).standard_normal((20, 300))
    Y = (X[:1] > 0).astype(float)
    dims = [20] + [100] * 10 + [1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymmetryWarning)
        dead = init_params([20, 30, 1], weights="zeros", biases="constant(value=-1)", rng=0)
    r = diagnose(MLP.make([20, 30, 1], "relu"), dead, X, Y)[0][0]
    assert r.dead == 1.0 and r.reasons and any(s.startswith("dead") for s in r.reasons)
    big = init_params(dims, weights="randn(scale=1)", rng=0)
    last = diagnose(MLP.make(dims, "tanh"), big, X, Y)[0][-1]
    assert last.verdict == "saturated" and last.saturated > 0.7  # width 100: z has std ~9 (about 90% at 500)
    small = init_params(dims, weights="randn(scale=0.01)", rng=0)
    last = diagnose(MLP.make(dims, "tanh"), small, X, Y)[0][-1]
    assert last.verdict == "vanishing" and last.act_std < 1e-6
    he = init_params(dims, weights="he_normal", rng=0)
    reports = diagnose(MLP.make(dims, "relu"), he, X, Y)[0]
    assert all(r.verdict == "healthy" for r in reports), [(r.layer, r.reasons) for r in reports]


def test_diagnose_an_ensemble_model_by_model() -> None:
    X, _ = _flower()
    net = MLP.make([2, 4, 1], "tanh")
    with pytest.warns(SymmetryWarning, match=r"in models \[0\]"):
        p = init_ensemble(net.layer_dims, seeds=[0, 1], weights=["zeros", "xavier_normal"])
    reports = diagnose(net, p, X)
    assert [r[0].distinct_units for r in reports] == [1, 4]
    assert math.isnan(reports[1][0].grad_norm)  # no Y, no gradients
    assert reports[0][0].to_dict()["verdict"] == "symmetric"
