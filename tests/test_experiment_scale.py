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
    table = result.config["seed_table"]
    assert [row["initialization"] for row in table] == ["Zeros", "Random large", "Random small"]
    zeros, large, small = table
    assert zeros["symmetry"].startswith("No (tanh: 1 of 8") and zeros["outcome"].startswith("all units the same")
    assert large["symmetry"].startswith("Yes") and large["vanishing"].startswith("Yes")
    assert small["vanishing"].startswith("No (tanh: 0% saturated") and small["outcome"].startswith("stable training")
    assert "%" in large["vanishing"] and "train accuracy" in small["outcome"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"scales": (0.01, 100.0)}, "must include 0"), ({"large": 7.0}, "must be among 'scales'"),
     ({"activations": ("relu",)}, "'tanh' and/or 'sigmoid'"), ({"scales": (0.0, -1.0, 0.01, 100.0)}, "'scales'")],
)  # fmt: skip
def test_bad_config(changes, message) -> None:
    with pytest.raises(InitlabValueError, match=message):
        scale.run(scale.Config(**changes))
