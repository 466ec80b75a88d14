"""The scale experiment: small vs large random weights on tanh and sigmoid, and the seed's table."""

from __future__ import annotations

import pytest

from initlab import InitlabValueError
from initlab.experiments import scale


@pytest.fixture(scope="module")
def result():
    return scale.run(scale.Config(scales=(0.0, 0.01, 1.0, 100.0), seeds=2, steps=1000, record_every=100))


def test_every_claim_holds(result) -> None:
    assert len(result.claims) == 5 and all(result.claims.values()), result.claims


def test_saturation_grows_with_the_scale(result) -> None:
    for act in ("tanh", "sigmoid"):
        sat = {}
        for c in (0.0, 0.01, 1.0, 100.0):
            rows = [r["value"] for r in result.metric("saturated", activation=act, scale=c, step=0)]
            sat[c] = sum(rows) / len(rows)
        assert sat[0.0] == sat[0.01] == 0.0 and sat[100.0] > 0.5 and sat[100.0] > sat[1.0]


def test_the_seed_table_is_rebuilt_with_numbers(result) -> None:
    assert "seed_table" not in result.config
    table = result.tables["The seed's table, from the numbers"]
    assert [row["initialization"] for row in table] == ["Zeros", "Random large", "Random small"]
    zeros, large, small = table
    assert zeros["symmetry"].startswith("No (tanh: 1 of 8") and zeros["outcome"].startswith("all units the same")
    assert large["symmetry"].startswith("Yes") and large["vanishing"].startswith("Yes")
    assert small["vanishing"].startswith("No (tanh: 0% saturated") and small["outcome"].startswith("stable training")
    assert "%" in large["vanishing"] and "train accuracy" in small["outcome"]


def test_the_answer_is_short_and_names_the_regimes(result) -> None:
    assert result.answer.startswith("Zero weights keep the 8 hidden units as one")
    assert "c = 0.01" in result.answer and "c = 100" in result.answer and result.answer.count(". ") <= 2
    by_scale = result.tables["By scale"]
    assert len(by_scale) == 8 and {r["diverged"] for r in by_scale} == {0}


def test_a_huge_learning_rate_is_never_called_stable_training() -> None:
    r = scale.run(scale.Config(scales=(0.0, 0.01, 100.0), seeds=2, steps=40, record_every=20, lr=1e300))
    table = r.tables["The seed's table, from the numbers"]
    assert "stable training" not in str(table) and "the loss grew instead of falling (tanh" in table[2]["outcome"]
    assert "diverged (sigmoid: all 1 models" in table[0]["outcome"]
    for row in r.metric("distinct_units"):  # NaN units are not counted as distinct
        assert row["value"] != row["value"] or row["value"] <= 8
    nan_units = [row for row in r.metric("distinct_units", activation="sigmoid", scale=0.0) if row["step"] == 39]
    assert nan_units and all(row["value"] != row["value"] for row in nan_units)
    assert len(r.metric("diverged_at")) == len(r.metric("last_finite_loss")) == 2 * 5
    assert "diverged" in r.answer and "did not learn" in r.answer and "train accuracy" not in r.answer
    assert not r.claims["small random weights end with a better accuracy than large ones"]
    assert not r.claims["zero weights keep one distinct unit"]  # the sigmoid one diverged: no evidence, no claim
    assert "never broken" not in r.answer  # nor a sentence that says it


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"scales": (0.01, 100.0)}, "must include 0"), ({"large": 7.0}, "must be among 'scales'"),
     ({"activations": ("relu",)}, "one of 'tanh', 'sigmoid'"), ({"scales": (0.0, -1.0, 0.01, 100.0)}, "'scales'")],
)  # fmt: skip
def test_bad_config(changes, message) -> None:
    with pytest.raises(InitlabValueError, match=message):
        scale.Config(**changes)
