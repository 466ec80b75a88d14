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
    [({"activations": ("swish",)}, "'activations' argument of bias-vs-weights must list names"),
     ({"dataset": "flower"}, "binary dataset with a test split"), ({"width": 1}, "'width'"),
     ({"std": -1.0}, "'std'"), ({"target_loss": 0.0}, "'target_loss'")],
)  # fmt: skip
def test_bad_config(changes, message) -> None:
    with pytest.raises(InitlabValueError, match=message):
        bvw.run(bvw.Config(**changes))
