"""The deeplearning.ai C2W1 initialization assignment, reproduced from the same data and RNG stream.

Layers [2, 10, 5, 1], relu/relu/sigmoid, learning rate 0.01, 15,000 iterations of gradient descent,
weights np.random.seed(3) then randn(n_l, n_{l-1}) * f per layer, biases zero.  The published costs
(printed every 1,000 iterations) and accuracies are the notebook's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab import data
from initlab.engine import MLP, accuracy, course_cost, forward, init_params, train

DIMS = [2, 10, 5, 1]
HE_COSTS = {0: 0.8830537463419761, 1000: 0.6879825919728063, 2000: 0.6751286264523371, 14000: 0.07357895962677369}


def run(weights) -> tuple[dict[int, float], float, float]:
    d = data.circles()
    net = MLP.make(DIMS, "relu", "bce")
    p = init_params(DIMS, weights=weights, rng=np.random.RandomState(3))
    costs = {}

    def course_cost_every_1000(info):  # the notebook prints its own cost every 1,000 iterations
        costs[info.step] = float(course_cost(net.loss.output(np, info.caches[-1][1]), d.Y_train))

    with np.errstate(divide="ignore"):
        train(net, p, d.X_train, d.Y_train, steps=15000, lr=0.01, record_every=1000, callback=course_cost_every_1000)
    return costs, float(accuracy(net, p, d.X_train, d.Y_train)), float(accuracy(net, p, d.X_test, d.Y_test))


def test_he_initialization_matches_the_course() -> None:
    weights = [f"normal(std={math.sqrt(2.0 / n)!r})" for n in DIMS[:-1]]  # randn * sqrt(2 / n_{l-1})
    costs, train_acc, test_acc = run(weights)
    for step, published in HE_COSTS.items():
        assert costs[step] == pytest.approx(published, rel=1e-9), step
    assert train_acc == pytest.approx(0.9933, abs=5e-5) and test_acc == pytest.approx(0.96, abs=1e-12)


def test_zero_initialization_matches_the_course() -> None:
    with pytest.warns(UserWarning, match="symmetry problem"):
        costs, train_acc, test_acc = run("zeros")
    assert all(c == pytest.approx(0.6931471805599453, rel=1e-12) for c in costs.values())
    assert train_acc == 0.5 and test_acc == 0.5


def test_large_random_initialization_matches_the_course() -> None:
    costs, train_acc, test_acc = run("normal(std=10)")
    assert costs[0] == math.inf  # the course's cost takes log(0) at iteration 0
    assert train_acc == pytest.approx(0.83, abs=1e-12) and test_acc == pytest.approx(0.86, abs=1e-12)


def test_our_loss_is_finite_where_the_course_prints_inf() -> None:
    d = data.circles()
    net = MLP.make(DIMS, "relu", "bce")
    p = init_params(DIMS, weights="normal(std=10)", rng=np.random.RandomState(3))
    ZL, _ = forward(net, p, d.X_train)
    ours = float(net.loss.value(np, ZL, d.Y_train))
    with np.errstate(divide="ignore"):
        theirs = float(course_cost(net.loss.output(np, ZL), d.Y_train))
    assert theirs == math.inf and math.isfinite(ours) and ours > 1
    # the inf comes from confidently wrong examples whose sigmoid rounds to exactly 0 or 1
    wrong = (ZL > 36.8) & (d.Y_train == 0) | (ZL < -745) & (d.Y_train == 1)
    assert wrong.any()


def test_the_course_experiment_reproduces_and_spreads() -> None:
    from initlab.experiments import course

    r = course.run(course.Config(seeds=(3, 7)))
    assert len(r.claims) == 4 and all(r.claims.values()), r.claims
    he_test = [row["value"] for row in r.metric("test_accuracy", init="he")]
    assert he_test[0] == pytest.approx(0.96, abs=1e-12) and len(he_test) == 2
    assert r.arrays["grid_logits"].shape == (6, 80, 80)
    assert r.answer.startswith("Seed 3 reproduces the notebook's published costs and accuracies")
    assert "He tests at 0.81 ± 0.15" in r.answer and "diverged" not in r.answer
    seed3 = {row["init"]: row for row in r.tables["Seed 3 against the notebook"]}
    assert seed3["large"]["course's cost at step 0"] == "inf" and seed3["he"]["test accuracy"] == "0.9600"
    assert r.command == "initlab run course --set seeds=3,7"


def test_the_course_experiment_with_a_huge_learning_rate() -> None:
    from initlab.experiments import course

    r = course.run(course.Config(seeds=(3,), steps=30, lr=1e300))
    at = {row["init"]: row["value"] for row in r.metric("diverged_at")}
    assert at["zeros"] == -1 and at["he"] >= 0 and at["large"] >= 0
    for row in r.metric("test_accuracy"):
        assert (row["value"] != row["value"]) == (at[row["init"]] >= 0)  # NaN, not the accuracy of a NaN net
    assert "2 of 3 models diverged" in r.answer and "He tests" not in r.answer
    assert not r.claims["he beats zeros on every seed"]
    assert {row["init"] for row in r.metric("last_finite_loss")} == {"zeros", "large", "he"}
