"""The symmetry experiment: the lecture's claims asserted on its numbers."""

from __future__ import annotations

import pytest

from initlab import InitlabValueError
from initlab.experiments import EXPERIMENTS, symmetry


@pytest.fixture(scope="module")
def result() -> symmetry.Result:
    return symmetry.run(symmetry.Config(widths=(2, 4, 16), seeds=3, steps=600, record_every=100))


def test_every_claim_holds(result) -> None:
    assert result.claims and all(result.claims.values()), result.claims
    assert "were equal at every one of 600 steps" in result.answer and "one distinct unit" in result.answer
    assert result.question.endswith("?") and result.command == "initlab run symmetry --set seeds=3 --set steps=600"
    assert "diverged" not in result.answer and result.answer.count(". ") <= 2  # two or three plain sentences
    table = result.tables["Distinct units and train accuracy by width and start"]
    assert {(r["width"], r["start"]) for r in table} >= {(16, "constant 0"), (16, "randn, random b")}
    assert all(r["diverged"] == 0 for r in table)


def test_equal_weights_collapse_to_one_unit_at_every_width(result) -> None:
    for width in (2, 4, 16):
        for init in ("constant 0", "constant 0.5"):
            rows = result.metric("distinct_units", width=width, init=init)
            assert rows and rows[-1]["value"] == 1 and all(r["value"] == 1 for r in rows)
            spreads = [r["value"] for r in result.rows if r["width"] == width and r["init"] == init
                       and r["metric"].startswith("max_spread_")]  # fmt: skip
            assert spreads and max(spreads) == 0.0  # exactly, at every step


def test_random_weights_are_all_distinct_and_learn(result) -> None:
    for width in (4, 16):
        for row in result.metric("distinct_units", width=width, init="randn, zero b"):
            assert row["value"] == width
        random_acc = [r["value"] for r in result.metric("train_accuracy", width=width) if r["init"].startswith("randn")]
        equal_acc = [r["value"] for r in result.metric("train_accuracy", width=width) if r["init"].startswith("const")]
        assert min(random_acc) > max(equal_acc) + 0.1


def test_tidy_rows_and_arrays(result) -> None:
    row = result.rows[0]
    assert {"model", "step", "layer", "metric", "value", "width", "init", "seed"} <= set(row)
    assert result.arrays["width4_a1"].shape == (600, 2 + 2 * 3)
    assert result.config["widths"] == (2, 4, 16)
    assert EXPERIMENTS["symmetry"] is symmetry


def test_a_huge_learning_rate_diverges_and_is_said() -> None:
    r = symmetry.run(symmetry.Config(widths=(2, 4), seeds=2, steps=30, record_every=10, lr=1e300, hidden="relu"))
    at = {(row["width"], row["model"]): row["value"] for row in r.metric("diverged_at")}
    assert len(at) == 2 * (2 + 4) and at[(4, 0)] == -1 and at[(4, 2)] >= 0  # zeros never move; randn blows up
    for row in r.metric("train_accuracy"):  # a diverged model's accuracy is not reported as if it trained
        assert (at[(row["width"], row["model"])] >= 0) == (row["value"] != row["value"])
    last = [row["value"] for row in r.metric("last_finite_loss")]
    assert len(last) == 12 and all(v == v for v in last[:1])
    assert "10 of 12 models diverged" in r.answer and "left out" in r.answer
    assert not r.claims["randn * scale: every hidden unit distinct after training"]  # NaN units are not distinct
    assert all(row["value"] != row["value"] for row in r.metric("distinct_units", width=4, init="randn, zero b")
               if row["step"] == 29)  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"widths": (1,)}, "'widths' setting of symmetry must be a non-empty list of distinct values, each an int >= 2"),
     ({"widths": (4, 4)}, "distinct values"), ({"seeds": 0}, "'seeds'"), ({"dataset": "digits"}, "'flower'"),
     ({"scale": 0.0}, "'scale'"), ({"lr": -1.0}, "'lr'"), ({"hidden": "tanhh"}, "Did you mean 'tanh'")],
)  # fmt: skip
def test_bad_config(changes, message) -> None:
    with pytest.raises(InitlabValueError, match=message):
        symmetry.Config(**changes)
