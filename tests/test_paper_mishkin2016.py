"""Mishkin & Matas (2016): LSUV lands on He's sqrt(2) gain for relu, and trains a deep net as well as He's init."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from initlab import results
from initlab._validation import InitlabValueError
from initlab.papers import make_config
from initlab.papers.mishkin2016 import Config, run

SMALL = Config(layers=8, width=128, batch=256, seeds=3, train_width=32, train_seeds=2, train_steps=60)


@pytest.fixture(scope="module")
def small() -> results.Result:
    return run(SMALL)


def test_small_run_bears_out_the_paper(small: results.Result) -> None:
    gain_findings = [k for k in small.claims if "gain" in k or "share of layers" in k or "orthonormal start" in k]
    assert len(gain_findings) == 7
    assert all(small.claims[k] for k in gain_findings), small.tables["Paper vs ours"]
    relu = small.arrays["relu/gain"]  # (seeds, L)
    assert relu.shape == (3, 9)
    assert abs(np.median(relu[:, 1:]) - math.sqrt(2)) < 0.07
    # every layer's output std is within Tol_var of 1 after LSUV, re-measured by the run's own forward pass
    for act in ("relu", "tanh"):
        assert np.all(np.abs(small.arrays[f"{act}/std_after"] - 1.0) <= 0.1 + 1e-9)


def test_training_run_is_recorded(small: results.Result) -> None:
    assert small.arrays["train/loss"].shape == (3, 2, 60)
    assert small.arrays["train/test_acc"].shape == (3, 2)
    assert {r["init"] for r in small.rows if r["metric"] == "test_acc"} == {"lsuv", "he", "orthogonal"}
    # the orthonormal start (gain 1) loses the signal through 8 relu layers: it learns slower than LSUV
    loss = small.arrays["train/loss"][:, :, -10:].mean(axis=(1, 2))
    assert loss[0] < loss[2]


def test_negative_control_loose_tolerance_misses_sqrt2() -> None:
    # with Tol_var = 0.9 a layer counts as done at once (|std - 1| <= 0.9 holds for std in [0.1, 1.9]): the
    # orthonormal start's gain 1 stays, and the relu gain finding fails
    r = run(Config(layers=6, width=64, batch=128, seeds=2, activations=("relu",), tol=0.9, train_steps=0))
    claims = {k: v for k, v in r.claims.items() if "median gain" in k}
    assert list(claims.values()) == [False]
    assert abs(np.median(r.arrays["relu/gain"][:, 1:]) - 1.0) < 0.3


def test_no_training_run_without_steps() -> None:
    r = run(Config(layers=3, width=32, batch=64, seeds=1, activations=("tanh",), train_steps=0))
    assert "train/loss" not in r.arrays
    assert len(r.claims) == 3


@pytest.mark.parametrize(
    ("key", "value"),
    [("layers", 1), ("batch", 2000), ("tol", 0.0), ("max_iter", 0), ("activations", ("gelu",)), ("lr", 0.0)],
)
def test_bad_setting_names_it(key: str, value: object) -> None:
    with pytest.raises(InitlabValueError, match=key):
        Config(**{key: value})


def test_bad_setting_text_names_it() -> None:
    with pytest.raises(InitlabValueError, match="width"):
        make_config("mishkin2016", {"width": "-3"})


def test_figure_draws_after_round_trip(small: results.Result, tmp_path: object) -> None:
    import matplotlib.pyplot as plt

    loaded = results.load(results.save(small, tmp_path, figures=True))
    figs = results.figures(loaded)
    assert set(figs) == {"mishkin2016_lsuv", "mishkin2016_training"}
    for fig in figs.values():
        plt.close(fig)


@pytest.mark.slow
def test_default_run_holds() -> None:
    r = run()
    assert all(r.claims.values()), r.tables["Paper vs ours"]


@pytest.mark.slow
def test_full_run_holds_with_fewer_seeds() -> None:
    # The LSUV findings at the full size (30 layers of 512). The training comparison is not asserted here: at
    # 30 layers of 128 units one LSUV seed of five stalled in a full run (its accuracy is in the report's table).
    r = run(make_config("mishkin2016", full=True, seeds=2, settings={"train_seeds": "2", "train_steps": "300"}))
    lsuv_claims = {k: v for k, v in r.claims.items() if "training run" not in k}
    assert len(lsuv_claims) == 7 and all(lsuv_claims.values()), r.tables["Paper vs ours"]
    acc = r.arrays["train/test_acc"]  # (lsuv, he, orthogonal) x seeds
    assert acc[0].mean() > acc[2].mean() + 0.3  # LSUV learns where the plain orthonormal start does not
