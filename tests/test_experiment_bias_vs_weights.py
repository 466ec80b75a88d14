"""The bias-vs-weights experiment: the discussion's question answered on the numbers."""

from __future__ import annotations

import pytest

from initlab import InitlabValueError
from initlab.experiments import bias_vs_weights as bvw


@pytest.fixture(scope="module")
def result():
    return bvw.run(bvw.Config(seeds=3, steps=1500, record_every=250))


def test_every_claim_holds(result) -> None:
    assert len(result.claims) == 6 and all(result.claims.values()), result.claims
    assert result.answer.startswith("Yes, random biases break the exact symmetry")
    assert "W[1] starts at rank 0" in result.answer and "test worse than random weights" in result.answer
    assert result.question.endswith("?") and "--set seeds=3" in result.command
    table = result.tables["Each start, by activation"]
    assert len(table) == 15 and all(row["diverged"] == 0 for row in table)


def test_a_huge_learning_rate_diverges_and_is_said() -> None:
    r = bvw.run(bvw.Config(seeds=2, steps=40, record_every=20, lr=1e300, activations=("tanh", "relu")))
    at = [row["value"] for row in r.metric("diverged_at")]
    assert len(at) == len(r.metric("last_finite_loss")) == 2 * 9 and any(a >= 0 for a in at)
    assert "diverged" in r.answer and "did not learn" in r.answer and "nan" not in r.answer
    for row in r.metric("test_accuracy"):
        div = next(x["value"] for x in r.metric("diverged_at", activation=row["activation"], model=row["model"]))
        assert (div >= 0) == (row["value"] != row["value"])
    assert not r.claims["rand W: every unit distinct"]


def test_random_biases_break_the_tie_but_random_weights_learn(result) -> None:
    for act in ("tanh", "sigmoid", "relu"):
        zb_distinct = [r["value"] for r in result.metric("distinct_units", activation=act, init="zero W, rand b")]
        zz_distinct = [r["value"] for r in result.metric("distinct_units", activation=act, init="zero W, zero b")]
        assert min(zb_distinct[1:]) > 1 and set(zz_distinct) == {1.0}
        zb_test = [r["value"] for r in result.metric("test_accuracy", activation=act, init="zero W, rand b")]
        rw_test = [r["value"] for r in result.metric("test_accuracy", activation=act, init="rand W, zero b")]
        mean_rw, mean_zb = sum(rw_test) / len(rw_test), sum(zb_test) / len(zb_test)
        assert mean_rw > 0.8 and mean_rw > mean_zb + 0.1, (act, rw_test, zb_test)


def test_relu_units_with_negative_bias_are_dead_from_the_start(result) -> None:
    dead = result.metric("dead", activation="relu", init="zero W, rand b")
    first = [r["value"] for r in dead if r["step"] == 0]
    last = [r["value"] for r in dead if r["step"] == max(d["step"] for d in dead)]
    assert min(first) > 0 and sum(last) >= sum(first)
    # zero weights, zero biases: relu(0) = 0 on every example, so every unit is dead
    assert {r["value"] for r in result.metric("dead", activation="relu", init="zero W, zero b")} == {1.0}


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"activations": ("swish",)}, "'activations' setting of bias-vs-weights must be a non-empty list of distinct"),
     ({"dataset": "flower"}, "one of 'circles'"), ({"width": 1}, "'width'"),
     ({"std": -1.0}, "'std'"), ({"target_loss": 0.0}, "'target_loss'")],
)  # fmt: skip
def test_bad_config(changes, message) -> None:
    with pytest.raises(InitlabValueError, match=message):
        bvw.Config(**changes)
