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
    assert "exactly equal" in result.answer and "one distinct unit" in result.answer


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


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"widths": (1,)}, "'widths' argument of symmetry must be an int >= 2"), ({"seeds": 0}, "'seeds'"),
     ({"dataset": "digits"}, "must be a 2-D dataset"), ({"scale": 0.0}, "'scale'"), ({"lr": -1.0}, "'lr'")],
)  # fmt: skip
def test_bad_config(changes, message) -> None:
    with pytest.raises(InitlabValueError, match=message):
        symmetry.run(symmetry.Config(**changes))
